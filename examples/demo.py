"""The main job: compile a dynamically quantized model with dqmlir and compare
it with PyTorch (fbgemm) for accuracy and speed, in one process.

Now: a BERT-sized quantized Linear (768 -> 3072, per-tensor and per-channel
weights), the layer that dominates BERT's FFN.
"""
import statistics
import time
import warnings

import torch

import dqmlir

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
torch.set_num_threads(1)
torch.backends.quantized.engine = "fbgemm"


def median_ms(fn, reps=15):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main():
    torch.manual_seed(0)
    k, n = 768, 3072
    lin = torch.nn.Linear(k, n)
    print(f"dqmlir demo: quantize_dynamic'd nn.Linear({k}, {n}), 1 thread, PyTorch {torch.__version__} (fbgemm)")
    for name, qconfig in [("per-tensor", torch.ao.quantization.default_dynamic_qconfig),
                          ("per-channel", torch.ao.quantization.per_channel_dynamic_qconfig)]:
        q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear: qconfig},
                                                   dtype=torch.qint8)[0]
        t = time.perf_counter()
        compiled = dqmlir.compile(q, (torch.randn(1, 128, k),))
        compile_s = time.perf_counter() - t
        print(f"\n[{name} weights] compiled in {compile_s:.2f} s "
              f"({', '.join(f'{s} {v:.2f}s' for s, v in compiled.timings.items())})")
        for shape in [(1, 128, k), (8, 128, k), (1, 1, k)]:
            x = torch.randn(*shape) * 2
            ours, ref = compiled(x), q(x)
            exact = torch.equal(ours, ref)
            diff = (ours - ref).abs().max().item()
            fp32 = lin(x).detach()
            cos = torch.nn.functional.cosine_similarity(ours.flatten(), fp32.flatten(), dim=0).item()
            m = x.numel() // k
            t_ours = median_ms(lambda: compiled(x))
            t_ref = median_ms(lambda: q(x))
            t_fp32 = median_ms(lambda: torch.nn.functional.linear(x, lin.weight.detach(), lin.bias.detach()))
            gops = 2 * m * k * n / 1e9
            print(f"  x{list(shape)}: vs PyTorch int8 {'bit-exact' if exact else f'max|diff| {diff:.3g}'}, "
                  f"cos vs fp32 {cos:.5f} | dqmlir {t_ours:.3f} ms ({gops / t_ours * 1e3:.0f} GOP/s), "
                  f"PyTorch int8 {t_ref:.3f} ms ({t_ref / t_ours:.2f}x), fp32 {t_fp32:.3f} ms ({t_fp32 / t_ours:.2f}x)")


if __name__ == "__main__":
    main()
