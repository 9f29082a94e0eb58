"""Bugs the frontend fuzzer (test/fuzz/fuzz_frontend.py) found, one test each
on a minimized module. Calls that once ended the process run in a child
interpreter (conftest.run_python)."""
import json
import textwrap

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import run_python

import dqmlir


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)



def test_fp32_linear_without_bias_compiles():
    # registry.rewrite_to_calls built the "operand was None" attribute
    # without a context: CompileError from the torch-mlir import.
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8, bias=False)).eval()
    c = dqmlir.compile(m, (torch.randn(3, 4),))
    x = torch.randn(5, 4)
    torch.testing.assert_close(c(x), m(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_and_results(dtype):
    # TensorSpec had no f16/bf16: KeyError 'bf16' at compile.
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 4)

        def forward(self, x, h):
            return self.lin(x.float()) * 2, (h * 3).to(dtype), x + 1

    torch.manual_seed(0)
    q = torch.ao.quantization.quantize_dynamic(M().eval(), {nn.Linear}, dtype=torch.qint8)
    c = dqmlir.compile(q, (torch.randn(2, 3).to(dtype), torch.randn(2, 5)))
    x, h = torch.randn(4, 3).to(dtype), torch.randn(4, 5)
    for ours, ref in zip(c(x, h), q(x, h)):
        assert ours.dtype == ref.dtype and torch.equal(ours, ref)
