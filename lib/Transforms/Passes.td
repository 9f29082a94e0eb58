//===- Passes.td - dqmlir's target-independent transforms --*- tablegen -*-===//

#ifndef DQMLIR_TRANSFORMS_PASSES_TD
#define DQMLIR_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def DQEmulateHalfFloats : Pass<"dq-emulate-half-floats"> {
  let summary = "bf16/f16 arithmetic in f32, rounded back after every op";
  let description = [{
    ATen computes elementwise ops on bfloat16 and float16 tensors in float
    and rounds each result to the half type. This runs upstream's
    `arith-emulate-unsupported-floats` conversion (source types bf16 and f16,
    target f32) and then clears the `contract` flag it puts on its casts, so
    that canonicalization does not fold `extf(truncf(x))` into `x` once
    elementwise generics are fused. Run it before elementwise fusion.

    ```mlir
    %m = arith.mulf %x, %c : bf16
    %s = arith.subf %m, %d : bf16
    ```
    becomes
    ```mlir
    %x32 = arith.extf %x : bf16 to f32
    %m32 = arith.mulf %x32, %c32 : f32
    %m = arith.truncf %m32 : f32 to bf16
    %m2 = arith.extf %m : bf16 to f32
    %s32 = arith.subf %m2, %d32 : f32
    %s = arith.truncf %s32 : f32 to bf16
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def DQFuseElementwise : Pass<"dq-fuse-elementwise"> {
  let summary = "linalg-fuse-elementwise-ops, never into or through a contraction";
  let description = [{
    Upstream's `linalg-fuse-elementwise-ops` (elementwise fusion of single-use
    producers, reshape folding by expansion, constant folding, its
    canonicalizations, in its order) with one rule added to its cost
    function: a contraction (`linalg.contract`, `linalg.matmul`, a generic
    with a contraction body) neither absorbs a producer nor has a reshape
    folded through it. A producer fused into a contraction is recomputed
    for every iteration of the loops it does not index; a reshape folded
    through one splits its dims.

    ```mlir
    %g = linalg.generic {... ["parallel", "parallel"]} ins(%x) { math.tanh }
    %y = linalg.contract indexing_maps = [#x, #w, #y] ins(%g, %w) outs(%acc)
    ```
    keeps both ops: the tanh runs once per element of %x, not once per
    element of %x and column of %y.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def DQWidenBoolMemrefs : Pass<"dq-widen-bool-memrefs", "ModuleOp"> {
  let summary = "Store i1 memrefs as bytes (memref<...xi1> -> memref<...xi8>)";
  let description = [{
    torch-mlir's lowering of attention masks and softmax guards leaves boolean
    tensors, which bufferize to `memref<...xi1>`. MLIR 22's MemRefToLLVM
    asserts (aborting the process) on loads and stores of sub-byte elements.
    This pass gives every i1 memref an i8 element type: allocations, globals
    and views change type, loads are followed by `arith.trunci`, stores are
    preceded by `arith.extui`. Run it after the loops are materialized and
    before finalize-memref-to-llvm.

    ```mlir
    %m = memref.alloc(%n) : memref<?x4xi1>
    memref.store %lt, %m[%i, %c0] : memref<?x4xi1>
    %v = memref.load %m[%i, %c1] : memref<?x4xi1>
    ```
    becomes
    ```mlir
    %m = memref.alloc(%n) : memref<?x4xi8>
    %e = arith.extui %lt : i1 to i8
    memref.store %e, %m[%i, %c0] : memref<?x4xi8>
    %b = memref.load %m[%i, %c1] : memref<?x4xi8>
    %v = arith.trunci %b : i8 to i1
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}

def DQVectorizeLinalg : Pass<"dq-vectorize-linalg", "func::FuncOp"> {
  let summary = "Tile and vectorize the float linalg ops torch-mlir leaves";
  let description = [{
    Everything of a model that is not a quantized linear (attention
    batch_matmul, softmax, GELU, layer norm, residual adds) reaches us as
    linalg on tensors with dynamic batch and sequence sizes; lowered to loops
    it runs one scalar at a time. This pass tiles each such op so that its
    innermost dimension becomes one vector of `vector-size` lanes (masked at
    the edge) and vectorizes the tile with upstream `linalg::vectorize`:

    - elementwise/broadcast/transpose ops: tiles [1, ..., 1, V];
    - innermost reductions (max, sum): the rows are tiled by 1 and the
      reduction by V;
    - f32 contractions (batch_matmul, matmul): tiles of `rows` x `cols` in
      the registers, the reduction dimension walked one step at a time (a
      `linalg.generic` contraction is first made a `linalg.contract`, so
      that it too becomes `vector.contract`, then fma).

    The vector loops are peeled: full tiles are static and unmasked (their
    accumulators stay in registers across the innermost loop), one masked
    tile takes the edge. exp on vectors becomes SLEEF's polynomial
    (ApproximateMath.cpp, PyTorch's vector exp), which vectorizes; other
    math functions (erf, tanh, log) stay libm calls per element. Ops with
    boolean operands or gathers are left as they are. Runs on buffers
    (after bufferization).

    ```mlir
    linalg.generic {indexing_maps = [#id, #id],
                    iterator_types = ["parallel", "parallel"]}
        ins(%x : memref<?x?xf32>) outs(%y : memref<?x?xf32>) {
    ^bb0(%in: f32, %out: f32):
      %e = math.exp %in : f32
      linalg.yield %e : f32
    }
    ```
    becomes, in outline,
    ```mlir
    scf.for %i = %c0 to %rows step %c1 {
      scf.for %j = %c0 to %full step %c16 {     // full tiles: unmasked
        %v = vector.transfer_read %x[%i, %j], %pad {in_bounds = [true]}
            : memref<?x?xf32>, vector<16xf32>
        // expf_u10 as a vector polynomial
        vector.transfer_write %e, %y[%i, %j] : vector<16xf32>, memref<?x?xf32>
      }
      // the last, partial tile: the same under vector.create_mask
    }
    ```
  }];
  let options = [
    Option<"threads", "threads", "int64_t", "1",
           "> 1: the dim-0 loop of ops with a parallel dim 0 tiled by 1 "
           "becomes an scf.parallel over `threads` chunks of it, one chunk "
           "for small ops (async tasks in dq-cpu-pipeline)">,
    Option<"parallelLog2", "parallel-log2", "int64_t", "14",
           "With threads > 1: more than one chunk only when each thread "
           "gets at least 2^N iterations of the op">,
    Option<"vectorSize", "vector-size", "int64_t", "16",
           "Lanes of the innermost dimension of each tile">,
    Option<"contractionRows", "rows", "int64_t", "8",
           "Rows of a contraction tile held in registers (dq-cpu-pipeline "
           "sets 6 x 16 for AVX2's 16 ymm registers)">,
    Option<"contractionCols", "cols", "int64_t", "32",
           "Columns of a contraction tile held in registers (each A element "
           "broadcast once for cols / vector-size fmas)">,
    Option<"contractionKBlock", "k-block", "int64_t", "0",
           "> 0: a contraction's k loop is split in blocks of this many, "
           "outside its row tiles, so that a strip's block of B stays in L1 "
           "for all the row tiles (0: k whole inside each tile)">,
    Option<"reductions", "reductions", "bool", "true",
           "Vectorize innermost reductions">,
    Option<"contractions", "contractions", "bool", "true",
           "Vectorize f32 contractions">,
    Option<"peel", "peel", "bool", "true",
           "Peel the vector loops: full tiles static and unmasked, one "
           "masked tile at the end">,
    Option<"hoist", "hoist", "bool", "true",
           "Keep accumulators in registers (hoistRedundantVectorTransfers)">,
    Option<"maxOps", "max-ops", "int64_t", "-1",
           "Schedule only the first N candidate ops of each function "
           "(bisecting a miscompile); -1: all">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect"];
}

def DQEarlyDealloc : Pass<"dq-early-dealloc", "func::FuncOp"> {
  let summary = "Free each buffer right after its last use";
  let description = [{
    Upstream's ownership-based buffer deallocation frees a buffer at the end
    of the block that allocates it. A whole model is one block, so every
    intermediate stays allocated until the function returns: MiniLM at
    8 x 128 peaks at 220 MiB, which glibc takes from the kernel (brk) and
    returns (trim) on every call, 56,000 page faults (~100 ms) per call, and
    no buffer is ever reused while it is still in the cache.

    This pass moves each `memref.dealloc` of a `memref.alloc` of the same
    block up to just after the last op of the block that uses the buffer or
    any of its aliases (upstream's BufferViewFlowAnalysis: views, region
    results and block arguments, and conservatively every memref result of an
    unknown op). Buffers that may escape (returned, passed to a call, turned
    into a pointer) keep their dealloc where it is. Run it after
    buffer-deallocation-pipeline.

    ```mlir
    %a = memref.alloc(%n) : memref<?xf32>
    linalg.fill ins(%one : f32) outs(%a : memref<?xf32>)
    %b = memref.alloc(%n) : memref<?xf32>
    memref.copy %a, %b : memref<?xf32> to memref<?xf32>
    memref.copy %b, %out : memref<?xf32> to memref<?xf32>
    memref.dealloc %a : memref<?xf32>
    memref.dealloc %b : memref<?xf32>
    ```
    becomes
    ```mlir
    %a = memref.alloc(%n) : memref<?xf32>
    linalg.fill ins(%one : f32) outs(%a : memref<?xf32>)
    %b = memref.alloc(%n) : memref<?xf32>
    memref.copy %a, %b : memref<?xf32> to memref<?xf32>
    memref.dealloc %a : memref<?xf32>
    memref.copy %b, %out : memref<?xf32> to memref<?xf32>
    memref.dealloc %b : memref<?xf32>
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def DQBindState : Pass<"dq-bind-state", "ModuleOp"> {
  let summary = "Write state results into their arguments' buffers";
  let description = [{
    A function result marked `dq.state = N` is the new value of argument N
    (a decoder's KV cache, updated in place by the step): the caller keeps
    argument N's buffer and expects the update there. Run after one-shot
    bufferization and drop-equivalent-buffer-results (which already drop
    the state results bufferized in place); every `dq.state` result left is
    copied into its argument (unless it is that buffer on every path, e.g.
    through an `scf.if` of the run-time checks) and removed from the
    function.

    ```mlir
    func.func @step(%cache: memref<?xf32>, %x: memref<?xf32>)
        -> (memref<?xf32> {dq.state = 0 : i64}, memref<f32>) {
      ...
      return %new, %y : memref<?xf32>, memref<f32>
    }
    ```
    becomes
    ```mlir
    func.func @step(%cache: memref<?xf32>, %x: memref<?xf32>) -> memref<f32> {
      ...
      memref.copy %new, %cache : memref<?xf32> to memref<?xf32>
      return %y : memref<f32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def DQRuntimeChecks : Pass<"dq-runtime-checks", "ModuleOp"> {
  let summary = "Turn run-time assertions into a status result; never abort";
  let description = [{
    For each entry function (`llvm.emit_c_interface`): every `cf.assert`,
    every data-dependent `tensor.extract` index inside a `linalg.generic`
    (gathers, embeddings) and every integer division by a value that may be
    zero becomes a check whose failure sets a status, returned as an extra
    last result `tensor<i32>` (0: fine; k: the k-th message of the
    function's `dq.checks` attribute). Code a check protects does not run
    once a check failed: generics with in-body checks run under an `scf.if`
    (their check, a reduction over just the loops the checked values depend
    on, runs first); top-level checks on argument sizes move to the start and
    guard the whole body; other top-level checks guard the rest of their
    block. A `tensor.insert_slice` into an argument (state written in place,
    see dq-bind-state) is checked to fit in it; where a check skips code, a `dq.state` result keeps the value it
    had there. Messages start with the Python exception to raise
    (IndexError, ZeroDivisionError, RuntimeError, or the class an assert's
    message names) and name the module path from the importer's locations.

    Example:
    ```mlir
    func.func @f(%t: tensor<10xf32>, %i: tensor<?xi64>) -> tensor<?xf32>
        attributes {llvm.emit_c_interface} {
      // a gather: %t[%i[k]] for every k
      ...
    }
    // becomes
    func.func @f(...) -> (tensor<?xf32>, tensor<i32>)
        attributes {dq.checks = ["IndexError: index out of range ..."], ...}
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def DQOutlineLayers : Pass<"dq-outline-layers", "ModuleOp"> {
  let summary = "Compile repeated layers once: one function, called per layer";
  let description = [{
    Finds the layers of a model in an entry function (`llvm.emit_c_interface`)
    by the module paths of the importer's locations (`encoder.layer.3...` is
    layer 3 of `encoder.layer`), compares their ops structurally (constants
    compared by value per position), and replaces each class of two or more
    equal layers by calls of one private function `@dq_layer_<n>` that takes
    the layer's inputs and the constants that differ between the layers (its
    weights) as arguments. Run after the int8 kernels packed the weights and
    before fusion and bufferization: everything after, LLVM included, then
    compiles one copy of the layer.

    Example:
    ```mlir
    %h1 = ...ops of encoder.layer.0 on %h0 with %w0...
    %h2 = ...the same ops of encoder.layer.1 on %h1 with %w1...
    // becomes
    %h1 = func.call @dq_layer_0(%h0, %w0) : ...
    %h2 = func.call @dq_layer_0(%h1, %w1) : ...
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def DQProfileOps : Pass<"dq-profile-ops", "ModuleOp"> {
  let summary = "Time each op of a call (dqmlir.profile)";
  let description = [{
    After every op of a function that computes a tensor (at the top level
    and in `scf.if` branches), calls `dqmlir_profile_tick(id)`, which
    charges the time since the previous tick to entry `id` of the module's
    `dq.profile_ops` table: `[kind, label]`. The kinds are int8 linears, f32
    matmuls, softmax, layer norm, GELU, tanh and sigmoid, copies,
    elementwise ops, reductions, loops, other
    (lib/Transforms/ProfileKinds.h); the label is the op's module path (the
    importer's location, integer components as `*`), its name and result
    type, so the copies of a layer's op share an entry and the layers stay
    equal for `dq-outline-layers`. Each function's entry ticks -1, which
    starts the clock. Runs first in `dq-cpu-pipeline{profile=true}`
    (`dq-compile --profile`, which writes the table to the manifest), on dq
    ops, so that an int8 linear is one op whatever its kernel becomes (with
    the GELU or residual add its kernel fuses, where it fuses one). The
    runtime (lib/Runtime/Profile.cpp) keeps the sums.

    Example:
    ```mlir
    module attributes {dq.profile_ops = [[3 : i32, "encoder.layer.*.output: dq.layer_norm -> tensor<?x64xf32>"]]} {
      ...
      %y = dq.layer_norm %x, %g, %b eps 1.0e-12 : ... loc("encoder.layer.0.output|layer_norm")
      %c0 = arith.constant 0 : i32
      func.call @dqmlir_profile_tick(%c0) : (i32) -> ()
    ```
  }];
  let options = [
    Option<"fusedEpilogues", "fused-epilogues", "bool", "true",
           "The int8 kernels will fuse a linear's GELU or residual add "
           "(lib/Kernels/FuseEpilogue.h): count that op as the linear">,
  ];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::func::FuncDialect"];
}

#endif // DQMLIR_TRANSFORMS_PASSES_TD
