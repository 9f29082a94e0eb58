"""Bugs the frontend fuzzer (test/fuzz/fuzz_frontend.py) found, one test each
on a minimized module. Calls that once ended the process run in a child
interpreter (conftest.run_python)."""
import json
import textwrap

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import Fn, run_python

import dqmlir



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


def test_float64_gelu_compiles():
    # convert-math-to-libm scalarized the f64 erf vector after
    # convert-vector-to-llvm had run: the ExecutionEngine refused the module.
    m = Fn(F.gelu).eval()
    c = dqmlir.compile(m, (torch.randn(2, 3, 5, dtype=torch.float64),))
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    torch.testing.assert_close(c(x), m(x), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("perm", [(2, 0, 1), (1, 2, 0), (0, 2, 1)])
def test_permute_compiles(perm):
    # dq-vectorize-linalg's 16 x 16 register transposes with a unit-tiled
    # loop in between left a masked write of the wrong mask shape.
    m = Fn(lambda x: x.permute(*perm) * 2).eval()
    c = dqmlir.compile(m, (torch.randn(2, 8, 24),))
    for shape in [(3, 21, 24), (1, 1, 24), (2, 33, 24)]:
        x = torch.randn(*shape)
        assert torch.equal(c(x), m(x))


@pytest.mark.parametrize("shape", [(0, 3, 34), (2, 0, 34), (0, 0, 34), (1, 1, 34)])
def test_view_of_empty_tensors(shape):
    # torch-mlir's aten.view divides numel by the other sizes for a -1 dim;
    # dq-runtime-checks refused a zero divisor even where no -1 dim uses the
    # quotient ("a size computation divides by zero").
    m = Fn(lambda x: x.view(x.shape[0], x.shape[1], 2, 17) + 1).eval()
    c = dqmlir.compile(m, (torch.randn(2, 3, 34),))
    x = torch.randn(*shape)
    ours = c(x)
    assert ours.shape == m(x).shape and torch.equal(ours, m(x))


def test_layer_norm_without_affine_is_exact():
    # F.layer_norm without weight (or with a weight only) went through
    # torch-mlir's decomposition (1-ulp differences); ATen's kernel gives the
    # bits of its affine kernel with ones and zeros, which dq.layer_norm is.
    w = torch.randn(24) * 0.3 + 1
    for fn in (lambda x: F.layer_norm(x, (24,)), lambda x: F.layer_norm(x, (24,), w),
               lambda x: F.layer_norm(x, (24,), eps=0.1)):
        m = Fn(fn).eval()
        c = dqmlir.compile(m, (torch.randn(2, 5, 24),))
        assert "dq.layer_norm" in c.ir("dq")
        for shape in [(2, 5, 24), (1, 33, 24), (3, 64, 24)]:
            x = torch.randn(*shape) * 5
            assert torch.equal(c(x), m(x))


_SIZES_BELOW_TWO = textwrap.dedent(r"""
    import json, torch, dqmlir
    class Fn(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn
        def forward(self, x):
            return self.fn(x)
    cases = {
        "head": lambda x: x[:, :1] * 2,
        "tail": lambda x: x[:, 1:] * 2,
        "last": lambda x: x[:, -1] * 2,
        "head_sum": lambda x: x[:, :1].sum(1),
    }
    out = {}
    for name, fn in cases.items():
        c = dqmlir.compile(Fn(fn).eval(), (torch.randn(2, 3, 8),))
        res = {}
        for s in (0, 1, 4):
            x = torch.randn(2, s, 8)
            try:
                ref = fn(x)
            except Exception as e:
                ref = e
            theirs = type(ref).__name__ if isinstance(ref, Exception) else None
            try:
                ours = c(x)
            except Exception as e:
                res[s] = ["raise", type(e).__name__, theirs]
                continue
            res[s] = ["result", theirs is None and torch.equal(ours, ref), theirs]
        out[name] = res
    print(json.dumps(out))
""")


def test_sizes_below_the_export_assumption():
    # torch.export assumes dynamic sizes >= 2 and simplifies with it
    # (x[:, :1] has size 1, x[:, 1:] size S - 1); the signature let sizes 0
    # and 1 through, and x[:, :1] at S = 0 read past the empty input
    # (SIGSEGV). Now size_probe.py finds the smallest size each symbol's
    # program holds for; smaller calls raise what PyTorch raises there, or
    # ValueError where PyTorch has a result the program cannot give.
    p = run_python(_SIZES_BELOW_TWO)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for name, res in out.items():
        for s, (kind, what, theirs) in res.items():
            if kind == "result":
                assert what, (name, s)                        # equal to PyTorch's
            else:
                assert what == (theirs or "ValueError"), (name, s, what, theirs)
        assert res["4"][:2] == ["result", True], (name, res)
    assert out["head"]["1"][:2] == ["result", True] and out["head"]["0"][0] == "raise"
    assert out["last"]["0"] == ["raise", "IndexError", "IndexError"]   # as PyTorch
    assert out["tail"]["1"][:2] == ["result", True]


def test_torch_mlir_output_that_does_not_verify_is_a_compile_error():
    # A linalg.transpose with a static result dim for a dynamic input dim
    # (torch-mlir's output for nn.MultiheadAttention after an nn.GRU) failed
    # MLIR 22's verifier as an MLIRError, not one of dqmlir's errors.
    from dqmlir import ir as dqir
    from dqmlir.frontend.to_dq import to_dq
    text = """
    func.func @main(%a: tensor<?x?x1xf32>) -> tensor<4x?x1xf32> {
      %c0 = arith.constant 0 : index
      %d = tensor.dim %a, %c0 : tensor<?x?x1xf32>
      %e = tensor.empty(%d) : tensor<4x?x1xf32>
      %t = linalg.transpose ins(%a : tensor<?x?x1xf32>) outs(%e : tensor<4x?x1xf32>)
          permutation = [1, 0, 2]
      return %t : tensor<4x?x1xf32>
    }
    """
    ctx = dqir.make_context()
    with pytest.raises(dqmlir.CompileError, match="torch-mlir.s output"):
        to_dq(text, {}, [], "main", ctx)


def test_code_generation_failure_is_a_compile_error():
    # A module the backend cannot lower fails in dq-compile (a child
    # process): the error carries MLIR's diagnostic and the stage.
    src = """
    func.func @forward(%a: tensor<4xf32>) -> tensor<4xf32> {
      %t, %r = async.execute -> !async.value<tensor<4xf32>> {
        async.yield %a : tensor<4xf32>
      }
      %v = async.await %r : !async.value<tensor<4xf32>>
      return %v : tensor<4xf32>
    }"""
    with pytest.raises(dqmlir.CompileError, match="async.await") as e:
        dqmlir.compile_mlir(src)
    assert e.value.stage == "dq-compile"


_ALIASED_RESULTS = textwrap.dedent(r"""
    import torch, dqmlir
    class M(torch.nn.Module):
        def __init__(self, how):
            super().__init__()
            self.how = how
            self.lin = torch.nn.Linear(24, 9)
        def forward(self, x):
            y = self.lin(x)
            if self.how == "same":
                return y, y
            if self.how == "slice":
                return y, y[:, :3]
            if self.how == "chunk":
                return y.chunk(3, -1)[1], y
            return {"flat": y.view(-1), "y": y}
    for how in ("same", "slice", "chunk", "view"):
        for dynamic in (True, False):
            torch.manual_seed(0)
            m = torch.ao.quantization.quantize_dynamic(M(how).eval(), {torch.nn.Linear},
                                                       dtype=torch.qint8)
            c = dqmlir.compile(m, (torch.randn(2, 24),), dynamic=dynamic)
            for _ in range(4):
                x = torch.randn(2, 24)
                ours, ref = c(x), m(x)
                ours = ours.values() if isinstance(ours, dict) else ours
                ref = ref.values() if isinstance(ref, dict) else ref
                assert all(torch.equal(a, b) for a, b in zip(ours, ref)), how
                del ours
    print("ok")
""")


def test_results_that_share_a_buffer():
    # Two results on one buffer (y and y, or y and a slice or view of it):
    # each became a tensor that freed the buffer: a double free, a corrupted
    # buffer cache and a SIGSEGV some calls later. With the buffer cache off
    # glibc catches the double free at once.
    p = run_python(_ALIASED_RESULTS, env={"DQMLIR_BUFFER_CACHE_MB": "0"})
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), \
        (p.returncode, p.stderr[-3000:])


def test_reciprocal_of_zero_and_nan():
    # torch-mlir lowers aten.reciprocal with an assert that no element is 0
    # (which NaN fails too): RuntimeError "unimplemented: tensor with zero
    # element" where PyTorch gives inf and NaN. It is a division now.
    m = Fn(lambda x: 1.0 / x).eval()
    c = dqmlir.compile(m, (torch.randn(2, 8),))
    x = torch.tensor([[0.0, -0.0, float("nan"), float("inf"), 3.0, -2.0, 1e-40, 7.0]])
    ours, ref = c(x), m(x)
    assert torch.equal(ours.nan_to_num(nan=123.0), ref.nan_to_num(nan=123.0))
    assert torch.equal(ours.isnan(), ref.isnan()) and torch.equal(ours.signbit(), ref.signbit())


def test_op_torch_mlir_cannot_lower_is_unsupported():
    # aten.erfinv fails in torch-mlir's legalization: that is an
    # UnsupportedModuleError naming the op, not a CompileError of the import.
    # (x[arange(B), idx], the example here before, now decomposes.)
    class M(nn.Module):
        def forward(self, x):
            return torch.special.erfinv(x.tanh())

    with pytest.raises(dqmlir.UnsupportedModuleError,
                       match=r"torch-mlir cannot lower torch\.aten\.erfinv"):
        dqmlir.compile(M().eval(), (torch.randn(2, 5, 8),))


def test_model_that_fails_in_pytorch_fails_to_compile():
    # torch.export checks shapes, not what PyTorch's kernels refuse: a
    # float32 layer norm on a float64 input exported and compiled, and the
    # compiled model returned a result where PyTorch raises ("mixed dtype").
    m = nn.Sequential(nn.LayerNorm(4)).eval()
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="mixed dtype") as info:
        dqmlir.compile(m, (x,))
    assert any("raised this in PyTorch on the example inputs" in n
               for n in getattr(info.value, "__notes__", []))


def test_torchao_linear_after_an_overflow():
    # A row whose first linear overflows to inf makes the second linear's
    # per-token scale inf: torchao's quantize turns those lanes into NaN and
    # .to(int8) into 0, so the row is NaN; dqmlir gave +-inf (NaN clamped to
    # the range bound, as fbgemm's kernel does for uint8). (A NaN reaching a
    # quantized linear is a documented difference: docs/semantics.md.)
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    torch.manual_seed(685755113)
    m = nn.Sequential(nn.Linear(5, 3), nn.Linear(3, 3)).eval()
    quantize_(m, Int8DynamicActivationInt8WeightConfig())
    c = dqmlir.compile(m, (torch.randn(2, 5),))
    x = torch.randn(4, 5)
    x[0, 3] = -3e38            # overflows in the first linear
    ours, ref = c(x), m(x)
    assert ref.isnan().any()
    assert torch.equal(ours.isnan(), ref.isnan())
    assert torch.equal(ours.nan_to_num(), ref.nan_to_num())


def test_fp32_linear_fixes_the_feature_dim():
    # With dim 1 of a [batch, features] input dynamic by default, the fp32
    # linear's custom op did not tie it to the weight: a [4, 1] call ran
    # (reading past the row) where nn.Linear raises. Fuzz seed 1, module 320.
    m = nn.Sequential(nn.Linear(2, 16), nn.GELU()).eval()
    c = dqmlir.compile(m, (torch.randn(4, 2),))
    with pytest.raises(ValueError, match="dim 1 must be 2"):
        c(torch.randn(4, 1))
    x = torch.randn(3, 2)
    torch.testing.assert_close(c(x), m(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_chain_rounds_after_every_op(dtype):
    # ATen rounds to the half type after each op; once fused, the chain kept
    # its f32 intermediate (make fuzz-frontend seed 1, module 278).
    # A Python number is a float to ATen (never rounded to the half type),
    # and a half-type matmul accumulates in f32 (seed 1, module 1070).
    def f(x):
        h = x.to(dtype)
        return ((h * 2.5 - 1.0).float() + (h / 2.4495).float()
                + (h.unflatten(-1, (4, 4)) @ h.unflatten(-1, (4, 4)).transpose(-1, -2))
                .flatten(-2).float())
    m = Fn(f).eval()
    c = dqmlir.compile(m, (torch.randn(2, 16),))
    for shape in [(8, 16), (3, 16)]:
        x = torch.randn(*shape) * 5
        assert torch.equal(c(x), m(x))


_INT_DIV = {
    "floor": lambda a, b: a // b,
    "trunc": lambda a, b: torch.div(a, b, rounding_mode="trunc"),
    "floor_mode": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "remainder": lambda a, b: a % b,
    "scalar": lambda a, b: (a // 7) + (a % -3) + b * 0,
    "broadcast": lambda a, b: a // b[:1],
}


class Fn2(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, a, b):
        return self.fn(a, b)


@pytest.mark.parametrize("name", list(_INT_DIV))
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_integer_division_is_exact_and_checks_zero(name, dtype):
    # torch-mlir divides integers in f64 (wrong above 2^53) and a zero
    # divisor gave INT_MIN; PyTorch raises (make fuzz-frontend seed 1, module 786).
    m = Fn2(_INT_DIV[name]).eval()
    info = torch.iinfo(dtype)
    g = torch.Generator().manual_seed(0)
    a = torch.randint(info.min // 2, info.max // 2, (3, 9), generator=g, dtype=dtype)
    b = torch.randint(-1000, 1000, (3, 9), generator=g, dtype=dtype)
    b[b == 0] = 7
    a[0, :4] = torch.tensor([-7, 7, -1, 2**53 + 1 if dtype == torch.int64 else 2**30 + 1])
    c = dqmlir.compile(m, (a, b))
    assert torch.equal(c(a, b), m(a, b))
    assert torch.equal(c(a[:1], b[:1]), m(a[:1], b[:1]))
    if name != "scalar":
        b[0, 5] = 0
        with pytest.raises(ZeroDivisionError):
            c(a, b)


@pytest.mark.parametrize("reduce", [lambda x: x.max(dim=1).values, lambda x: x.amax(-1),
                                    lambda x: x.argmin(1)])
def test_reduction_without_identity_over_an_empty_dim(reduce):
    # ATen raises IndexError; the fake run of the size probe did not (meta
    # functions skip the check) and the compiled model returned a result
    # (make fuzz-frontend seed 1, modules 1274, 1768, 1776).
    m = Fn(reduce).eval()
    c = dqmlir.compile(m, (torch.randn(2, 5),))
    with pytest.raises(IndexError):
        m(torch.randn(2, 0))
    with pytest.raises(IndexError):
        c(torch.randn(2, 0))
    x = torch.randn(3, 4)
    assert torch.equal(c(x), m(x))


VARIANCES = {
    "var": lambda x: x.var(1),
    "var_correction_2": lambda x: x.var(1, correction=2),
    "var_correction_1.5": lambda x: x.var(1, correction=1.5),
    "var_biased": lambda x: x.var(1, unbiased=False),
    "std_keepdim": lambda x: x.std(-1, keepdim=True),
    "var_all": lambda x: x.var(),
    "var_mean": lambda x: torch.var_mean(x, 1),
    "std_mean_all_dims": lambda x: torch.std_mean(x, [0, 1], keepdim=True),
}


@pytest.mark.parametrize("name", sorted(VARIANCES))
def test_variance_with_few_elements(name):
    # ATen divides the sum of squares by max(N - correction, 0): NaN over an
    # empty dim, inf (or NaN for equal values) when N <= correction.
    # torch-mlir divided by N - correction (-0 over an empty dim) and raised
    # its own run-time error for correction > N + 1 (make fuzz-frontend seed 1).
    fn = VARIANCES[name]
    m = Fn(fn).eval()
    c = dqmlir.compile(m, (torch.randn(2, 3),), verbose=False)
    torch.manual_seed(0)
    for n in (0, 1, 2, 3, 50, 300):
        for x in (torch.randn(2, n) * 10 + 3, torch.ones(2, n)):
            want, got = m(x), c(x)
            want = want if isinstance(want, tuple) else (want,)
            got = got if isinstance(got, tuple) else (got,)
            for a, b in zip(want, got):
                assert a.shape == b.shape and a.dtype == b.dtype, (name, n)
                assert torch.equal(a.isnan(), b.isnan()), (name, n, a, b)
                assert torch.equal(a[~a.isnan()], b[~b.isnan()]), (name, n, a, b)


@pytest.mark.parametrize("fn", [lambda x: F.normalize(x, p=2, dim=-1),
                                lambda x: torch.linalg.vector_norm(x, ord=3, dim=-1)])
def test_norm_over_one_element(fn):
    # ATen's norm of a reduction over one element is |x|; squaring first
    # overflowed from 1.8e19 on (F.normalize of 1e30: -0 where PyTorch gives
    # -1; make fuzz-frontend seed 1, module 1063). The dim is dynamic here:
    # the one-element case is chosen at run time.
    m = Fn(fn).eval()
    c = dqmlir.compile(m, (torch.randn(2, 3),), verbose=False)
    for shape in [(2, 1), (3, 1), (2, 3), (1, 5)]:
        for x in (torch.randn(shape) * 1e30, torch.randn(shape), torch.full(shape, 2e19)):
            assert torch.equal(c(x), m(x)), (shape, x.flatten()[:2].tolist())


def test_input_dim_fixed_by_a_layer_norm_stays_static():
    # dims 0 and 1 are dynamic by default; export makes the feature dim a
    # constant (the layer norm fixes it), but torch-mlir typed the SymInt as
    # `?` and dq.layer_norm refused a dynamic normalized dim: CompileError
    # in 111 of 2,000 modules (make fuzz-frontend seed 1, e.g. module 14).
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln = nn.LayerNorm(32)
            self.lin = nn.Linear(32, 32)

        def forward(self, x):
            return torch.cat([self.lin(x), x], dim=1), self.ln(x)

    torch.manual_seed(0)
    q = torch.ao.quantization.quantize_dynamic(M().eval(), {nn.Linear}, dtype=torch.qint8)
    c = dqmlir.compile(q, (torch.randn(1, 32),), verbose=False)
    assert "tensor<?x32xf32>" in c.ir("dq")
    for b in (1, 3, 7):
        x = torch.randn(b, 32)
        for ours, ref in zip(c(x), q(x)):
            assert torch.equal(ours, ref)
    with pytest.raises(ValueError):
        c(torch.randn(2, 33))
