//===- CPUPipeline.cpp - dq on tensors to LLVM for x86 CPUs ---------------===//
//
// Upstream passes do most of the work after the dq lowerings. The order was
// tuned; the comment at each step says why it is where it is. Rules that
// hold across steps:
// - the int8 kernels (vpdpbusd, AMX tiles) only run on CPUs that have them:
//   the backend aborts on their intrinsics otherwise, and AMX needs the
//   process's permission (see selectKernel);
// - linalg-specialize-generic-ops is never run: MLIR 22 turns the u8 x s8
//   contraction into a signed linalg.matmul (wrong results);
// - buffer-cache: allocations call _mlir_memref_to_llvm_alloc/free, which
//   python/dqmlir/runtime.py binds to lib/Runtime/BufferCache;
// - threads > 1: the code calls the MLIR async runtime API, which
//   python/dqmlir/runtime.py binds to lib/Runtime/AsyncRuntime.
//
//===----------------------------------------------------------------------===//

#include "lib/Pipelines/CPUPipeline.h"
#include "lib/Conversion/DQToAMX/DQToAMX.h"
#include "lib/Conversion/DQToAVX2/DQToAVX2.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Conversion/DQToVNNI/DQToVNNI.h"
#include "lib/Conversion/DQToX86/DQToX86.h"
#include "lib/Conversion/X86ToLLVM/X86ToLLVM.h"
#include "lib/Dialect/DQ/Transforms/Passes.h"
#include "lib/Target/X86/HostCPU.h"
#include "lib/Transforms/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/AsyncToLLVM/AsyncToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Async/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Vector/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

dq::KernelMode dq::selectKernel(KernelMode requested) {
  if (requested != KernelMode::Auto)
    return requested;
  // `auto` compiles for this host and process: AMX only if the process may
  // use the tiles, else VNNI if the CPU has it, else AVX2.
  if (hostHasAMX() && processMayUseAMX())
    return KernelMode::AMX;
  if (hostHasVNNI())
    return KernelMode::VNNI;
  return hostHasAVX2() ? KernelMode::AVX2 : KernelMode::Generic;
}

std::optional<dq::KernelMode> dq::parseKernelMode(StringRef name) {
  return llvm::StringSwitch<std::optional<KernelMode>>(name)
      .Case("auto", KernelMode::Auto)
      .Case("amx", KernelMode::AMX)
      .Case("vnni", KernelMode::VNNI)
      .Case("avx2", KernelMode::AVX2)
      .Case("generic", KernelMode::Generic)
      .Default(std::nullopt);
}

dq::VendorISA dq::vendorISA(KernelMode kernel) {
  return kernel == KernelMode::AMX || kernel == KernelMode::VNNI
             ? VendorISA::AVX512
             : VendorISA::AVX2;
}

void dq::addRuntimeChecks(OpPassManager &pm) {
  // On the entry function as it came from the frontend, before any lowering
  // adds asserts or divisions of its own that the checks must not guard.
  pm.addPass(createDQRuntimeChecks());
}

void dq::addInt8Kernel(OpPassManager &pm, KernelMode kernel,
                       int64_t threads) {
  // First, on the dq ops: the kernels take over dq.linear_dynamic (and a
  // dq.gelu or residual add after it) before convert-dq-to-linalg lowers
  // what is left. Non-constant weights stay for convert-dq-to-linalg.
  if (kernel == KernelMode::AMX) {
    ConvertDQToAMXOptions options;
    options.threads = threads;
    pm.addPass(createConvertDQToAMX(options));
  } else if (kernel == KernelMode::VNNI) {
    ConvertDQToVNNIOptions options;
    options.threads = threads;
    pm.addPass(createConvertDQToVNNI(options));
  } else if (kernel == KernelMode::AVX2) {
    ConvertDQToAVX2Options options;
    options.threads = threads;
    pm.addPass(createConvertDQToAVX2(options));
  }
}

void dq::addDQToLinalg(OpPassManager &pm, int64_t threads, VendorISA isa) {
  ConvertDQToLinalgOptions options;
  options.threads = threads;
  // The vendor kernels (oneDNN's GELU) as PyTorch runs them on CPUs of the
  // kernel's level.
  options.isa = isa;
  pm.addPass(createConvertDQToLinalg(options));
}

void dq::addLayerOutlining(OpPassManager &pm) {
  // Before canonicalization and CSE, which would share values between the
  // layers and make the first one differ from the others.
  pm.addPass(createDQOutlineLayers());
}

void dq::addCleanup(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void dq::addHalfPrecisionEmulation(OpPassManager &pm) {
  // Before elementwise fusion, which would put chains of such ops in one
  // body (see the pass).
  pm.addPass(createDQEmulateHalfFloats());
}

void dq::addElementwiseFusion(OpPassManager &pm) {
  // Fuses torch-mlir's chains of elementwise generics (and most boolean
  // intermediates with them); contractions are never fused into.
  pm.addPass(createDQFuseElementwise());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // keepdim reductions lose their unit dims (for dq-vectorize-linalg).
  OpPassManager &func = pm.nest<func::FuncOp>();
  func.addPass(createLinalgFoldUnitExtentDimsPass());
  func.addPass(createCanonicalizerPass());
}

void dq::addBufferization(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // A recurrence (dqmlir::lstm_scan) yields each step's new state, a new
  // buffer, as the next step's: the ownership-based deallocation below frees
  // the previous one.
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(bufferization::createDropEquivalentBufferResultsPass());
  // State (a KV cache) the step updated out of place: into its argument.
  pm.addPass(createDQBindState());
  bufferization::buildBufferDeallocationPipeline(pm);
  // Clones the deallocation adds (buffers yielded by scf.if: the run-time
  // checks guard the body with one) become allocations and copies.
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createCanonicalizerPass());
  // Frees each buffer after its last use instead of at the return: the
  // peak (and glibc's heap growth and trim, page faults, on every call)
  // is then that of the live buffers, not of all intermediates.
  pm.nest<func::FuncOp>().addPass(createDQEarlyDealloc());
}

void dq::addVectorization(OpPassManager &pm, int64_t threads, VendorISA isa) {
  // Everything else (attention, softmax, GELU, norms) in vectors, on
  // buffers: on tensors, one-shot bufferization's analysis of these loops
  // next to the int8 kernels' took minutes.
  OpPassManager &func = pm.nest<func::FuncOp>();
  DQVectorizeLinalgOptions vectorize;
  vectorize.threads = threads;
  if (isa == VendorISA::AVX2) {
    // 16 ymm registers: a 6 x 16 f32 tile is 12 accumulators, two B
    // vectors and a broadcast. The AVX-512 default, 8 x 32, is 32 ymm
    // accumulators here: spilled every k step, 29 against 59 GFLOP/s on a
    // 128 x 768 x 768 linear (AVX2-only EPYC; 5 x 16, 7 x 16, 3 x 32 and
    // 4 x 16 measured 35-54).
    vectorize.contractionRows = 6;
    vectorize.contractionCols = 16;
    // A [256, 16] block of B (16 KiB) stays in L1 across a strip's row
    // tiles: 128 x 3072 x 768 went 40 -> 52-63 GFLOP/s (128 and 512: 55,
    // 64); no change where K <= 768.
    vectorize.contractionKBlock = 256;
  }
  func.addPass(createDQVectorizeLinalg(vectorize));
  // After vectorization, which widens the lookups in linalg bodies: 16
  // lanes to vpermi2ps, which needs AVX-512F (the hosts of both int8
  // kernels have it), the others to element extracts.
  if (isa == VendorISA::AVX512)
    func.addPass(createConvertDQToDQX86());
  func.addPass(createDQLowerLookup());
  func.addPass(createCanonicalizerPass());
  func.addPass(createCSEPass());
}

void dq::addAsyncParallelism(OpPassManager &pm, int64_t threads) {
  // scf.forall on buffers (bufferized in place, past deallocation) -> async
  // tasks on the async runtime's thread pool. The kernels and vectorized ops
  // emit at most `threads` iterations, so min-task-size=1 makes one task per
  // iteration; one iteration runs inline in the caller.
  pm.addPass(createForallToParallelLoopPass());
  AsyncParallelForPassOptions parallelFor;
  parallelFor.numWorkerThreads = threads;
  parallelFor.minTaskSize = 1;
  pm.addPass(createAsyncParallelForPass(parallelFor));
  pm.addPass(createAsyncToAsyncRuntimePass());
  OpPassManager &func = pm.nest<func::FuncOp>();
  func.addPass(createAsyncRuntimeRefCountingPass());
  func.addPass(createAsyncRuntimeRefCountingOptPass());
  pm.addPass(createConvertAsyncToLLVMPass());
}

void dq::addLowerToLoops(OpPassManager &pm) {
  pm.nest<func::FuncOp>().addPass(createConvertLinalgToLoopsPass());
  // N-d vectors of the vectorized ops down to 1-D transfers.
  OpPassManager &func = pm.nest<func::FuncOp>();
  func.addPass(vector::createLowerVectorMaskPass());
  func.addPass(vector::createLowerVectorMultiReductionPass());
  func.addPass(createConvertVectorToSCFPass(
      VectorTransferToSCFOptions().enableFullUnroll(true)));
  // MemRefToLLVM asserts on i1 loads/stores: keep booleans in bytes.
  pm.addPass(createDQWidenBoolMemrefs());
  pm.addPass(createLowerAffinePass());
}

void dq::addLowerToLLVM(OpPassManager &pm, bool bufferCache) {
  // The kernels' x86 ops (amx, vpdpbusd, vpermi2ps) to intrinsics: after
  // buffer deallocation, which rejects calls of unknown effects, and before
  // scf-to-cf, whose block arguments (tiles in scf.for iter_args) would not
  // be converted.
  pm.addPass(createConvertDQX86ToLLVM());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // bf16 conversions as integer ops (round to nearest even, as PyTorch):
  // LLVM would call compiler-rt's __truncsfbf2 (lib/Runtime/Exports.cpp
  // provides it for what LLVM still legalizes that way).
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  // 1-D transfers to (masked) loads and stores.
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.vectorContractLowering =
      vector::VectorContractLowering::OuterProduct;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  memrefToLLVM.useGenericFunctions = bufferCache;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  pm.addPass(createConvertMathToLLVMPass());
  // What has no LLVM intrinsic (erf for GELU) becomes a libm call; after
  // math-to-llvm so that rsqrt is not turned into glibc's missing rsqrtf.
  pm.addPass(createConvertMathToLibmPass());
  // math-to-libm scalarizes vector math it has no vector function for
  // (f64 erf) into vector.extract/insert: those still need lowering.
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void dq::buildCPUPipeline(OpPassManager &pm,
                          const CPUPipelineOptions &options) {
  KernelMode kernel = selectKernel(options.kernel);
  int64_t threads = options.threads;
  addRuntimeChecks(pm);
  if (options.profile) {
    DQProfileOpsOptions profile;
    profile.fusedEpilogues = kernel != KernelMode::Generic;
    pm.addPass(createDQProfileOps(profile));
  }
  addInt8Kernel(pm, kernel, threads);
  VendorISA isa = vendorISA(kernel);
  addDQToLinalg(pm, threads, isa);
  if (options.outlineLayers)
    addLayerOutlining(pm);
  addCleanup(pm);
  addHalfPrecisionEmulation(pm);
  addElementwiseFusion(pm);
  addBufferization(pm);
  addVectorization(pm, threads, isa);
  if (threads > 1)
    addAsyncParallelism(pm, threads);
  else
    // The frontend's scf.forall (blocked attention), one iteration after
    // the other.
    pm.addPass(createForallToForLoopPass());
  addLowerToLoops(pm);
  addLowerToLLVM(pm, options.bufferCache);
}

void dq::registerCPUPipeline() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "dq-cpu-pipeline",
      "Lower dq and linalg on tensors to the LLVM dialect for x86 CPUs",
      buildCPUPipeline);
}
