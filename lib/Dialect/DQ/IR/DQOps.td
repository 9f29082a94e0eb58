//===- DQOps.td - dq dialect operations --------------------*- tablegen -*-===//

#ifndef DQ_OPS_TD
#define DQ_OPS_TD

include "lib/Dialect/DQ/IR/DQDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class DQ_Op<string mnemonic, list<Trait> traits = []>
    : Op<DQ_Dialect, mnemonic, traits>;

def DQ_F32Tensor : RankedTensorOf<[F32]>;
def DQ_I32Tensor : RankedTensorOf<[I32]>;

def DQ_ChooseQParamsOp : DQ_Op<"choose_qparams", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>]> {
  let summary = "compute scale and zero point from the values of a tensor";
  let description = [{
    Computes quantization parameters at run time, exactly as PyTorch's
    `ChooseQuantizationParams` (fbgemm engine) does for `asymmetric` mode:
    the range `[min(x, 0), max(x, 0)]` is mapped onto `[0, 255]`, or
    `[0, 127]` with `reduce_range`; a zero scale becomes 0.1, scales below
    6.1e-5 are raised to it, and the zero point is taken from whichever end
    of the range gives the smaller error, rounded half to even and clamped.
    `symmetric` mode gives int8 parameters with zero point 0 (torchao 0.18's
    per-row `Int8Tensor` activations: scale = max(amax / 127.5, f32 eps)).

    With `per_tensor` the results are rank-0; with `per_row` there is one
    scale and zero point per row, i.e. the results have the input's shape
    without its last dimension.

    ```mlir
    %scale, %zp = dq.choose_qparams %x asymmetric per_tensor reduce_range
        : tensor<?x768xf32> -> tensor<f32>, tensor<i32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$input,
                       DQ_QuantModeAttr:$mode,
                       DQ_GranularityAttr:$granularity,
                       UnitAttr:$reduce_range);
  let results = (outs DQ_F32Tensor:$scale, DQ_I32Tensor:$zero_point);
  let assemblyFormat = [{
    $input $mode $granularity (`reduce_range` $reduce_range^)? attr-dict
    `:` type($input) `->` type($scale) `,` type($zero_point)
  }];
  let hasVerifier = 1;
}

def DQ_QuantizeOp : DQ_Op<"quantize", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>]> {
  let summary = "quantize fp32 values with runtime qparams";
  let description = [{
    `q = clamp(round_half_even(x * (1 / scale)) + zero_point, lo, hi)`, with
    `[lo, hi]` the range of the result element type: `ui8` gives [0, 255]
    (also with reduce_range, as fbgemm does), `si8` gives [-128, 127].
    `scale` and `zero_point` are rank-0 (per tensor) or have the input's
    shape without its last dimension (per row).

    ```mlir
    %q = dq.quantize %x, %scale, %zp
        : tensor<?x768xf32>, tensor<f32>, tensor<i32> -> tensor<?x768xui8>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$input, DQ_F32Tensor:$scale,
                       DQ_I32Tensor:$zero_point);
  let results = (outs RankedTensorOf<[UI8, SI8]>:$output);
  let assemblyFormat = [{
    $input `,` $scale `,` $zero_point attr-dict `:` type($input) `,`
    type($scale) `,` type($zero_point) `->` type($output)
  }];
  let hasVerifier = 1;
}

def DQ_DequantizeOp : DQ_Op<"dequantize", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>]> {
  let summary = "dequantize int8 values with runtime qparams";
  let description = [{
    `x = float(q - zero_point) * scale`, the inverse of `dq.quantize`, with
    the same shapes for `scale` and `zero_point`.

    ```mlir
    %x = dq.dequantize %q, %scale, %zp
        : tensor<?x768xui8>, tensor<f32>, tensor<i32> -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[UI8, SI8]>:$input, DQ_F32Tensor:$scale,
                       DQ_I32Tensor:$zero_point);
  let results = (outs DQ_F32Tensor:$output);
  let assemblyFormat = [{
    $input `,` $scale `,` $zero_point attr-dict `:` type($input) `,`
    type($scale) `,` type($zero_point) `->` type($output)
  }];
  let hasVerifier = 1;
}

def DQ_LinearDynamicOp : DQ_Op<"linear_dynamic", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>]> {
  let summary = "dynamically quantized linear layer (quantized::linear_dynamic)";
  let description = [{
    `y = dequant(quant(x) @ W^T) + bias` with activation qparams chosen at run
    time, as PyTorch's `quantized::linear_dynamic` computes it:

    ```
    s, zp = choose_qparams(x)                  (act mode, granularity, reduce_range)
    acc[m, n] = sum_k quant(x)[m, k] * W[n, k] (exact int32)
    y[m, n] = float(acc[m, n] - zp * sum_k W[n, k]) * s * w_scale[n] + bias[n]
    ```

    The input has rank >= 2 with the reduction dimension last; every leading
    dimension is a row. The weight is int8 `[N, K]` (`i8` or `si8`, read as
    signed) with zero point 0; `weight_scale` is rank-0 (per tensor) or `[N]`
    (per output channel). The bias is optional.

    ```mlir
    %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range
        : tensor<?x?x768xf32>, tensor<3072x768xi8>, tensor<f32>, tensor<3072xf32>
        -> tensor<?x?x3072xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$input,
                       RankedTensorOf<[I8, SI8]>:$weight,
                       DQ_F32Tensor:$weight_scale,
                       Optional<DQ_F32Tensor>:$bias,
                       DQ_QuantModeAttr:$act_mode,
                       DQ_GranularityAttr:$act_granularity,
                       UnitAttr:$reduce_range);
  let results = (outs DQ_F32Tensor:$output);
  let assemblyFormat = [{
    $input `,` $weight `,` $weight_scale (`bias` $bias^)?
    `act` $act_mode $act_granularity (`reduce_range` $reduce_range^)? attr-dict
    `:` type($input) `,` type($weight) `,` type($weight_scale)
    (`,` type($bias)^)? `->` type($output)
  }];
  let hasVerifier = 1;
}

def DQ_LayerNormOp : DQ_Op<"layer_norm", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>]> {
  let summary = "layer norm over the last dimension, bit-exact to ATen's CPU kernel";
  let description = [{
    `y = (x - mean) * rstd * gamma + beta` per row (all leading dimensions
    are rows), `rstd = 1 / sqrt(var + eps)`, with the biased variance, as
    `torch.nn.functional.layer_norm` with a 1-D `normalized_shape` computes
    it on x86 CPUs, rounding for rounding: the lowering reproduces ATen's
    `RowwiseMoments` (Welford within chunks of 16 vectors of 8 floats, a
    cascade of chunk merges, then the lanes and the tail) and the fused
    multiply-adds its AVX2 build contains. It is a separate op so that
    passes that rewrite generic fp32 code leave its numerics alone.

    The last dimension must be static; `gamma` and `beta` are `[N]`.

    ```mlir
    %y = dq.layer_norm %x, %gamma, %beta eps 1.0e-12
        : tensor<?x?x384xf32>, tensor<384xf32>, tensor<384xf32> -> tensor<?x?x384xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$input, DQ_F32Tensor:$gamma,
                       DQ_F32Tensor:$beta, F32Attr:$eps);
  let results = (outs DQ_F32Tensor:$output);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta `eps` $eps attr-dict `:` type($input) `,`
    type($gamma) `,` type($beta) `->` type($output)
  }];
  let hasVerifier = 1;
}

def DQ_GeluOp : DQ_Op<"gelu", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>, SameOperandsAndResultType]> {
  let summary = "exact (erf) GELU, bit-exact to PyTorch's CPU kernel";
  let description = [{
    `y = x * (1 + erf(x / sqrt(2))) / 2` elementwise, rounded as
    `torch.nn.functional.gelu(x)` (approximate="none") rounds it for f32
    tensors of more than one element on x86: PyTorch 2.13 hands those to
    oneDNN 3.12, whose JIT kernel computes `erf(x / sqrt 2)` as a degree-5
    polynomial in `|x|` with coefficients looked up from 23 intervals (four
    per binade), then `(x * (1 + sign(x) p(|x|))) * 0.5`. The lowering
    repeats that sequence (table and index arithmetic read off the kernel
    oneDNN emits, see LowerGelu.cpp). A tensor of one element is ATen's
    scalar form, `(x * 0.5) * (1 + erff(x * 0.70710677))` with libm's erff:
    PyTorch keeps those from oneDNN, and so does the lowering (with a test
    of the element count at run time when no static dim exceeds 1).

    With `aten_inner_dims = k`, the rounding is that of ATen's own kernel,
    which PyTorch runs on non-contiguous tensors: the frontend has permuted
    the input to its memory order, so that the last k dims are the ones
    TensorIterator coalesces into its inner loop. Each such loop of n
    elements goes by pairs of AVX-512 vectors,
    `(x * 0.5) * (1 + erf(x * 0.70710677))` with Vectorized<float>::erf
    (Abramowitz-Stegun 7.1.26 with SLEEF's expf); its last `n % 32` elements
    take the scalar form. (PyTorch with more than one thread splits tensors
    of more than 6144 elements between threads, each with its own tail: this
    is its one-thread result.)

    ```mlir
    %y = dq.gelu %x : tensor<?x128x1536xf32>
    %z = dq.gelu %t {aten_inner_dims = 2 : i64} : tensor<?x40x8xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$input,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>>:$aten_inner_dims);
  let results = (outs DQ_F32Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let extraClassDeclaration = [{
    /// True when every call runs oneDNN's kernel: no `aten_inner_dims`, and some
    /// static dims multiply to more than one element.
    bool alwaysOneDNN();
  }];
  let hasVerifier = 1;
}

def DQ_SigmoidOp : DQ_Op<"sigmoid", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>, SameOperandsAndResultType]> {
  let summary = "sigmoid rounded as ATen's CPU kernel rounds it along the last dim";
  let description = [{
    `y = 1 / (1 + exp(-x))` elementwise, rounded as `torch.sigmoid` rounds
    an f32 tensor whose last dim is TensorIterator's inner loop (the gates
    of PyTorch's quantized LSTM and GRU cells, `chunk(...)[i].sigmoid_()`).
    ATen runs each row of n elements by pairs of AVX-512 vectors,
    `1 / ((0 - x).exp() + 1)` with SLEEF's expf_u10, and its last `n % 32`
    elements through the scalar lambda `1 / (1 + expf(-x))` with glibc's
    expf. The lowering repeats both forms (the scalar one calls libm).
    (PyTorch with several threads splits tensors of more than 32768
    elements between threads; this is its one-thread result.)

    ```mlir
    %y = dq.sigmoid %x : tensor<?x200xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$input);
  let results = (outs DQ_F32Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def DQ_TanhOp : DQ_Op<"tanh", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>, SameOperandsAndResultType]> {
  let summary = "tanh as PyTorch's CPU kernel computes it (MKL's vsTanh)";
  let description = [{
    `torch.tanh` of an f32 CPU tensor is MKL's `vmsTanh` in its high
    accuracy mode (VML_HA, denormals kept): ATen's vml::vtanh. Its rounding
    is MKL's own and depends on neither the position nor the length of the
    array, so the lowering calls it per element through the runtime's
    `dqmlirTanhf`, which loads MKL's `libmkl_rt` (the `mkl` PyPI package) on
    first use. A module holding this op exports `dqmlir_needs_mkl`, and the
    runtime refuses to open it where MKL cannot be loaded.

    ```mlir
    %y = dq.tanh %x : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$input);
  let results = (outs DQ_F32Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def DQ_SoftmaxOp : DQ_Op<"softmax", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>, SameOperandsAndResultType]> {
  let summary = "softmax or log-softmax along one dimension, bit-exact to ATen's CPU kernels";
  let description = [{
    `torch.softmax(x, dim)` (or `torch.log_softmax` with `log`) as PyTorch
    2.13 computes it for contiguous f32 tensors on x86 CPUs with one thread
    (aten/src/ATen/native/cpu/SoftMaxKernel.cpp, AVX-512 build:
    Vectorized<float> has 16 lanes, its exp and log are SLEEF's expf_u10
    and logf_u10). Over the last dimension, per row of length N:

      m   = max(x)     vec::reduce_all: lane-wise over vectors of 16 (the
                       N % 16 last into their lanes), then lanes l^8, l^4,
                       l^2, l^1; for N < 16 lane 0, then 1, 2, ... in turn
      e   = exp(x - m)
      sum = e summed the same way
      softmax: e * (1 / sum)      log_softmax: (x - m) - log(sum)

    Over another dimension (size N; inner = the product of the dimensions
    after it), each inner position is reduced over N one element at a time:
    positions in the vectors of 16 (all but the inner % 16 last ones) take
    max with NaN propagation, SLEEF's exp and e / sum; the inner % 16 last
    take std::max, libm's expf and e / sum (softmax), or libm's expf and
    SLEEF's log (log_softmax, whose max ignores NaN everywhere). A row of
    -inf gives NaN, as in PyTorch.

    ```mlir
    %p = dq.softmax %scores dim 3 : tensor<?x12x?x?xf32>
    %l = dq.softmax %logits dim 1 log : tensor<?x?x30522xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$input, I64Attr:$dim, UnitAttr:$log);
  let results = (outs DQ_F32Tensor:$output);
  let assemblyFormat = "$input `dim` $dim (`log` $log^)? attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def DQ_FlashSoftmaxOp : DQ_Op<"flash_softmax", [Pure, DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>]> {
  let summary = "attention softmax numerator and 1/sum, bit-exact to PyTorch's CPU flash attention";
  let description = [{
    The softmax part of `torch.nn.functional.scaled_dot_product_attention`
    as PyTorch 2.13 computes it on x86 CPUs for f32 (cpu_flash_attention in
    aten/src/ATen/native/cpu/FlashAttentionKernel.cpp, AVX-512 build) when
    all keys fit one kv block (at most 512). `scores` are the unscaled
    `q @ k^T` rows; per row of length N:

      t   = fma(s, scale, mask)       (s * scale without a mask)
      m   = max(t)
      e_j = exp_u20(t_j - m)          for j < N - N % 16 (Vectorized<float>::exp_u20)
      e_j = float(exp(double(t_j - m)))   for the N % 16 last (libm exp)
      sum = the 16 lane sums (lane l: e_l + e_{l+16} + ...), added as
            l^8, l^4, l^2, l^1 (vec_reduce_all), then the tail one by one
      inv = 1 / sum

    A row whose maximum is -inf gives e = 0 and inv = 1 (PyTorch's output 0).
    Results: `exp` (the shape of `scores`) and `inv_sum` (the shape of
    `scores` with the last dimension 1). The caller finishes attention as
    `(exp @ v) * inv_sum`, which is what the kernel's second gemm and final
    scaling compute. `mask` is rank 0 (no mask) or has the rank of `scores`
    with leading dimensions equal or 1 (broadcast) and the same last
    dimension.

    ```mlir
    %e, %inv = dq.flash_softmax %s, %mask scale 0.17677669
        : tensor<?x12x?x?xf32>, tensor<?x1x?x?xf32> -> tensor<?x12x?x?xf32>, tensor<?x12x?x1xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$scores, DQ_F32Tensor:$mask, F32Attr:$scale);
  let results = (outs DQ_F32Tensor:$exp, DQ_F32Tensor:$inv_sum);
  let assemblyFormat = [{
    $scores `,` $mask `scale` $scale attr-dict `:` type($scores) `,` type($mask)
    `->` type($exp) `,` type($inv_sum)
  }];
  let hasVerifier = 1;
}

def DQ_FlashScoresFixupOp : DQ_Op<"flash_scores_fixup",
    [DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>, Pure, AllTypesMatch<["scores", "result"]>]> {
  let summary = "q @ k^T rows that MKL computes in another order inside flash attention";
  let description = [{
    `scores` is `q @ k^T` ([..., L, Lk] from q [..., L, 32] and k
    [..., Lk, 32]) as an fma chain along the head dim, which is what MKL's
    sgemm computes for cpu_flash_attention's blocks of queries. Two shapes
    take other MKL kernels (read off their results, PyTorch 2.13's MKL
    2024.2, AVX-512); their rows are recomputed here:
      - a last block of one query (L % qSplit == 1, L > 1; qSplit = 32, 64,
        256 for L < 192, < 768, else): gemv, per key: lane 0 starts at
        q0 k0, lanes take fma of elements 1-16, lanes added l^8, l^4, l^2,
        l^1; that sum starts lane 0 again for elements 17-31; added again.
        The last key when Lk % 8 == 1: lane l = fma(q_{17+l}, k_{17+l},
        q_{1+l} k_{1+l}), added l^8 .. l^1, then q0 k0 + that.
      - L = Lk = 2 or 3: per output, lane l = q_l k_l + q_{l+16} k_{l+16}
        (an fma onto q_l k_l in odd rows, two products added in even rows),
        lanes added l^8, l^4, l^2, l^1.
    Other scores pass through. Only for a head dim of 32 (a no-op otherwise).

    ```mlir
    %s2 = dq.flash_scores_fixup %s, %q, %k
        : tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>, tensor<?x12x?x32xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$scores, DQ_F32Tensor:$query, DQ_F32Tensor:$key);
  let results = (outs DQ_F32Tensor:$result);
  let assemblyFormat = [{
    $scores `,` $query `,` $key attr-dict `:` type($scores) `,` type($query) `,` type($key)
  }];
  let hasVerifier = 1;
}

def DQ_FlashOutputFixupOp : DQ_Op<"flash_output_fixup",
    [DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>, Pure, AllTypesMatch<["output", "result"]>]> {
  let summary = "e @ v rows that MKL computes in another order inside flash attention";
  let description = [{
    `output` is `e @ v` ([..., L, 32] from e [..., L, Lk] and v [..., Lk, 32])
    as an fma chain along Lk. For a last block of one query (L % qSplit == 1,
    L > 1, see dq.flash_scores_fixup) MKL's gemv sums that row as
    ((x0+x2)+(x1+x3))+((x4+x6)+(x5+x7)), then per block of 8 from 8:
    +x6, +x4 (fma), +(x5+x7), +((x0+x2)+(x1+x3)), then the rest one by one
    (fma), where (xi+xj) = fma(e_i, v_i, e_j v_j). That row is recomputed
    here. Only for a head dim of 32 (a no-op otherwise).

    ```mlir
    %o2 = dq.flash_output_fixup %o, %e, %v
        : tensor<?x12x?x32xf32>, tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>
    ```
  }];
  let arguments = (ins DQ_F32Tensor:$output, DQ_F32Tensor:$exp, DQ_F32Tensor:$value);
  let results = (outs DQ_F32Tensor:$result);
  let assemblyFormat = [{
    $output `,` $exp `,` $value attr-dict `:` type($output) `,` type($exp) `,` type($value)
  }];
  let hasVerifier = 1;
}

def DQ_LookupOp : DQ_Op<"lookup", [Pure, ElementwiseMappable]> {
  let summary = "f32 table lookup by i32 index, elementwise";
  let description = [{
    `result[i] = table[index[i]]` for a constant table of at most 32 f32
    values, on scalars or vectors (elementwise mappable: the linalg
    vectorizer widens it with the rest of a generic's body). An index outside
    `[0, size)` gives an unspecified value, never a memory access.
    `convert-dq-to-dqx86` makes a lookup on 16 lanes one AVX-512 two-table
    permute (`dqx86.vpermi2ps`); `dq-lower-lookup` lowers every other one
    to element extracts.

    ```mlir
    %c = dq.lookup %idx [1.0, 2.0, 4.0] : vector<16xi32> -> vector<16xf32>
    ```
  }];
  let arguments = (ins AnyTypeOf<[I32, VectorOfAnyRankOf<[I32]>]>:$index,
                       DenseF32ArrayAttr:$table);
  let results = (outs AnyTypeOf<[F32, VectorOfAnyRankOf<[F32]>]>:$result);
  let assemblyFormat =
      "$index $table attr-dict `:` type($index) `->` type($result)";
  let hasVerifier = 1;
}

#endif // DQ_OPS_TD
