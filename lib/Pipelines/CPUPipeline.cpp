//===- CPUPipeline.cpp - dq on tensors to LLVM for x86 CPUs ---------------===//
//
// Upstream passes do the work after the dq lowerings. Things to keep:
// - dq-linear-to-vnni runs only when the code will run on a CPU with
//   avx512vnni: the backend aborts on the vpdpbusd intrinsic otherwise. The
//   JIT compiles for the host, hence `vnni=auto` asks the host.
// - linalg-specialize-generic-ops is never run: MLIR 22 turns the u8 x s8
//   contraction into a signed linalg.matmul (wrong results).
// - math is lowered to LLVM intrinsics, not libm (glibc has no rsqrtf).
// - buffer-cache: allocations call _mlir_memref_to_llvm_alloc/free, which
//   python/dqmlir/runtime.py binds to lib/Runtime/BufferCache.
// - threads > 1: the kernels' scf.forall (bufferized in place) becomes
//   async tasks after buffer deallocation; the code then calls the MLIR
//   async runtime API, which python/dqmlir/runtime.py binds to
//   lib/Runtime/AsyncRuntime.
//
//===----------------------------------------------------------------------===//

#include "lib/Pipelines/CPUPipeline.h"
#include "lib/Conversion/DQToAMX/DQToAMX.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

static constexpr const char *kPipeline =
    "dq-lower-to-linalg,"
    "canonicalize,cse,"
    // Fuses torch-mlir's chains of elementwise generics (and most boolean
    // intermediates with them); contractions are never fused into.
    "linalg-fuse-elementwise-ops,"
    "canonicalize,cse,"
    // keepdim reductions lose their unit dims (for dq-vectorize-linalg).
    "func.func(linalg-fold-unit-extent-dims,canonicalize),"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "drop-equivalent-buffer-results,"
    "buffer-deallocation-pipeline,"
    // Clones the deallocation adds (buffers yielded by scf.if: the run-time
    // checks guard the body with one) become allocations and copies.
    "convert-bufferization-to-memref,"
    "canonicalize,"
    // Frees each buffer after its last use instead of at the return: the
    // peak (and glibc's heap growth and trim, page faults, on every call)
    // is then that of the live buffers, not of all intermediates.
    "func.func(dq-early-dealloc),"
    // Everything else (attention, softmax, GELU, norms) in vectors.
    "func.func(dq-vectorize-linalg,dq-lower-lookup{avx512=AVX512},canonicalize,cse),"
    "func.func(convert-linalg-to-loops),"
    // N-d vectors of the vectorized ops down to 1-D transfers.
    "func.func(lower-vector-mask,lower-vector-multi-reduction,"
    "convert-vector-to-scf{full-unroll}),"
    // MemRefToLLVM asserts on i1 loads/stores: keep booleans in bytes.
    "dq-widen-bool-memrefs,"
    "lower-affine,"
    // The AMX kernel: amx ops to intrinsics, tiles in scf.for iter_args
    // included (before scf-to-cf: block arguments are not converted).
    "dq-amx-to-llvm,"
    "convert-scf-to-cf,"
    "expand-strided-metadata,"
    "lower-affine,"
    // The VNNI kernel: dq.vpdpbusd to its intrinsic (only now: buffer
    // deallocation rejects calls of unknown effects), 1-D transfers to
    // (masked) loads and stores.
    "dq-vnni-to-llvm,"
    "convert-vector-to-llvm{vector-contract-lowering=outerproduct},"
    "finalize-memref-to-llvm,"
    "convert-math-to-llvm,"
    // What has no LLVM intrinsic (erf for GELU) becomes a libm call; after
    // math-to-llvm so that rsqrt is not turned into glibc's missing rsqrtf.
    "convert-math-to-libm,"
    // math-to-libm scalarizes vector math it has no vector function for
    // (f64 erf) into vector.extract/insert: those still need lowering.
    "convert-vector-to-llvm,"
    "convert-arith-to-llvm,"
    "convert-index-to-llvm,"
    "convert-func-to-llvm,"
    "convert-cf-to-llvm,"
    "convert-ub-to-llvm,"
    "reconcile-unrealized-casts";

// scf.forall on buffers -> async tasks on the async runtime's thread pool.
// The kernels emit at most `threads` iterations, so min-task-size=1 makes
// one task per iteration; one iteration runs inline in the caller.
static std::string asyncPasses(const std::string &threads) {
  return "scf-forall-to-parallel,"
         "async-parallel-for{min-task-size=1 num-workers=" +
         threads +
         "},"
         "async-to-async-runtime,"
         "func.func(async-runtime-ref-counting,async-runtime-ref-counting-opt),"
         "convert-async-to-llvm,";
}

bool dq::hostHasVNNI() {
  auto features = llvm::sys::getHostCPUFeatures();
  return features.lookup("avx512f") && features.lookup("avx512bw") &&
         features.lookup("avx512vnni");
}

void dq::buildCPUPipeline(OpPassManager &pm,
                          const CPUPipelineOptions &options) {
  bool vnni = options.vnni == VNNIMode::On ||
              (options.vnni == VNNIMode::Auto && hostHasVNNI());
  // kernel=auto takes AMX only if this process may run it (the JIT runs in
  // the process that compiles), else it keeps what `vnni` says.
  bool amx = options.kernel == KernelMode::AMX ||
             (options.kernel == KernelMode::Auto &&
              options.vnni == VNNIMode::Auto && hostHasAMX() &&
              processMayUseAMX());
  if (options.kernel != KernelMode::Auto)
    vnni = options.kernel == KernelMode::VNNI;
  std::string pipeline = kPipeline;
  // vpermi2ps needs AVX-512F; the VNNI kernel's hosts have it.
  size_t at = pipeline.find("AVX512");
  pipeline.replace(at, 6, vnni || amx ? "true" : "false");
  if (options.bufferCache) {
    llvm::StringLiteral pass = "finalize-memref-to-llvm";
    pipeline.replace(pipeline.find(pass), pass.size(),
                     "finalize-memref-to-llvm{use-generic-functions=true}");
  }
  std::string threads;
  if (options.threads > 1) {
    std::string n = std::to_string(options.threads);
    pipeline.insert(pipeline.find("func.func(convert-linalg-to-loops)"),
                    asyncPasses(n));
    threads = "{threads=" + n + "}";
    // The passes with a `threads` option of their own.
    for (llvm::StringRef pass : {llvm::StringRef("dq-lower-to-linalg"),
                                 llvm::StringRef("dq-vectorize-linalg")})
      pipeline.insert(pipeline.find(pass) + pass.size(), threads);
  }
  if (amx)
    pipeline = "dq-linear-to-amx" + threads + "," + pipeline;
  else if (vnni)
    pipeline = "dq-linear-to-vnni" + threads + "," + pipeline;
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (failed(parsePassPipeline(pipeline, pm, os)))
    llvm::report_fatal_error(llvm::Twine("dq-cpu-pipeline: ") + errors);
}

void dq::registerCPUPipeline() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "dq-cpu-pipeline",
      "Lower dq and linalg on tensors to the LLVM dialect for x86 CPUs",
      buildCPUPipeline);
}
