"""f32 Conv1d / Conv2d through the frontend's im2col decomposition
(decompositions._convolution): one contraction per convolution (per group
for grouped ones), compared with PyTorch (oneDNN) within fp32 rounding, at
dynamic lengths; convolutions of more than 64 groups (depthwise) keep
linalg.conv_*."""
import re

import pytest
import torch
from torch.export import Dim

import dqmlir

CASES = {
    "1d": (lambda: torch.nn.Conv1d(4, 6, 3), (2, 4, 20)),
    "1d-stride-nobias": (lambda: torch.nn.Conv1d(4, 6, 10, stride=5, bias=False), (2, 4, 83)),
    "1d-pad-dilation": (lambda: torch.nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2),
                        (2, 4, 31)),
    "2d-patches": (lambda: torch.nn.Conv2d(3, 8, 4, stride=4), (2, 3, 16, 16)),
    "2d-pad": (lambda: torch.nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 2)),
               (2, 3, 11, 9)),
    "1d-groups": (lambda: torch.nn.Conv1d(4, 6, 3, groups=2), (2, 4, 20)),
    # Wav2Vec2's positional convolution, narrow: even kernel, padding, groups.
    "1d-groups-positional": (lambda: torch.nn.Conv1d(32, 32, 16, padding=8, groups=4),
                             (2, 32, 23)),
    "1d-groups-stride-dilation-nobias": (
        lambda: torch.nn.Conv1d(6, 9, 3, stride=2, padding=2, dilation=3, groups=3, bias=False),
        (2, 6, 30)),
    "1d-depthwise": (lambda: torch.nn.Conv1d(8, 16, 5, padding=2, groups=8), (2, 8, 19)),
    "2d-groups": (lambda: torch.nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, groups=2),
                  (2, 4, 10, 9)),
    "1d-depthwise-wide": (lambda: torch.nn.Conv1d(72, 72, 3, padding=1, groups=72),
                          (2, 72, 12)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_convolution(name):
    build, shape = CASES[name]
    torch.manual_seed(0)
    m = build().eval()
    last = len(shape) - 1
    c = dqmlir.compile(m, (torch.randn(*shape),),
                       dynamic={"input": {0: Dim.DYNAMIC, last: Dim.DYNAMIC}})
    scalar = m.groups > 64
    assert bool(re.search(r"linalg\.(depthwise_)?conv", c.ir("linalg"))) == scalar
    for size in [shape, (1,) + shape[1:-1] + (shape[-1] + 7,)]:
        x = torch.randn(*size)
        with torch.no_grad():
            ref = m(x)
        ours = c(x)
        assert ours.shape == ref.shape
        assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-5), (ours - ref).abs().max()


def test_input_shorter_than_the_kernel_raises():
    m = torch.nn.Conv1d(4, 6, 10, stride=5).eval()
    c = dqmlir.compile(m, (torch.randn(2, 4, 83),), dynamic={"input": {2: Dim.DYNAMIC}})
    x = torch.randn(2, 4, 7)
    with pytest.raises(RuntimeError):
        m(x)
    with pytest.raises((RuntimeError, ValueError)):
        c(x)
