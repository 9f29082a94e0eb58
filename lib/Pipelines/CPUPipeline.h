//===- CPUPipeline.h - dq on tensors to LLVM for x86 CPUs -------*- C++ -*-===//
//
// `dq-cpu-pipeline` as named steps. buildCPUPipeline calls them in order;
// each adds the passes of one stage of the lowering, so a tool or a test can
// also build a pipeline of its own from them.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_PIPELINES_CPUPIPELINE_H
#define DQMLIR_PIPELINES_CPUPIPELINE_H

#include "lib/Conversion/DQToLinalg/DQToLinalg.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::dq {

/// Which kernel dq.linear_dynamic with constant weights gets.
enum class KernelMode { Auto, AMX, VNNI, AVX2, Generic };

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  Option<KernelMode> kernel{
      *this, "kernel",
      llvm::cl::desc(
          "Kernel for dq.linear_dynamic with constant weights: auto (AMX if "
          "the host has amx-int8 and this process was granted the tile state, "
          "else VNNI if the host has avx512vnni, else AVX2 if it has avx2, "
          "else generic), amx (convert-dq-to-amx; the code then needs such "
          "a CPU and the permission), vnni (convert-dq-to-vnni; the code "
          "then needs avx512vnni), avx2 (convert-dq-to-avx2), generic "
          "(linalg, convert-dq-to-linalg)"),
      llvm::cl::init(KernelMode::Auto),
      llvm::cl::values(
          clEnumValN(KernelMode::Auto, "auto", "best the host can run"),
          clEnumValN(KernelMode::AMX, "amx", "AMX-INT8 tiles"),
          clEnumValN(KernelMode::VNNI, "vnni", "AVX-512 VNNI"),
          clEnumValN(KernelMode::AVX2, "avx2", "AVX2 vpmaddubsw"),
          clEnumValN(KernelMode::Generic, "generic", "linalg"))};
  Option<int64_t> threads{
      *this, "threads",
      llvm::cl::desc("Threads for the VNNI and AMX kernels, large per-tensor "
                     "activation ranges and large float ops (as async tasks: "
                     "the code then needs the MLIR async runtime); 1: "
                     "sequential code"),
      llvm::cl::init(1)};
  Option<bool> outlineLayers{
      *this, "outline-layers",
      llvm::cl::desc("Compile repeated layers once, as one function called "
                     "per layer (dq-outline-layers)"),
      llvm::cl::init(true)};
  Option<bool> bufferCache{
      *this, "buffer-cache",
      llvm::cl::desc("Allocate through _mlir_memref_to_llvm_alloc/free "
                     "(finalize-memref-to-llvm{use-generic-functions}); the "
                     "runtime library resolves them to its buffer cache "
                     "(lib/Runtime/BufferCache.h). Off: malloc/free"),
      llvm::cl::init(false)};
  Option<bool> profile{
      *this, "profile",
      llvm::cl::desc("Time each op kind of a call (dq-profile-ops; the "
                     "runtime's dqmlir_profile_read gives the sums)"),
      llvm::cl::init(false)};
};

/// The kernel that `requested` means on this host: `auto` becomes what the
/// host CPU (and, for AMX, the OS) lets this process run, for dq-opt runs
/// whose output is run here; dq-compile always names its target's kernel.
/// Any other choice is kept.
KernelMode selectKernel(KernelMode requested);

/// The kernel option's value `name` (the names of `kernel`'s values above),
/// or none.
std::optional<KernelMode> parseKernelMode(StringRef name);

/// The CPUs whose PyTorch build a selected kernel's code reproduces: the
/// AVX-512 one for AMX and VNNI, the AVX2 one otherwise.
VendorISA vendorISA(KernelMode kernel);

/// The steps of dq-cpu-pipeline, in its order. `kernel` is a selected one
/// (not Auto); `threads` > 1 makes the passes with a `threads` option split
/// their work into that many chunks.

/// Run-time assertions of the entry function to a status result
/// (dq-runtime-checks): bad input never aborts or reads out of bounds.
void addRuntimeChecks(OpPassManager &pm);
/// The int8 kernel of dq.linear_dynamic with constant weights
/// (convert-dq-to-amx, -vnni or -avx2; nothing for Generic).
void addInt8Kernel(OpPassManager &pm, KernelMode kernel, int64_t threads);
/// The remaining dq ops to linalg, tensor, scf and vector on tensors, the
/// vendor kernels as PyTorch runs them on `isa`'s CPUs.
void addDQToLinalg(OpPassManager &pm, int64_t threads,
                   VendorISA isa = VendorISA::AVX512);
/// Repeated layers become calls of one function (dq-outline-layers).
void addLayerOutlining(OpPassManager &pm);
/// Canonicalization and CSE.
void addCleanup(OpPassManager &pm);
/// bf16/f16 arithmetic as f32 ops each rounded back (before fusion).
void addHalfPrecisionEmulation(OpPassManager &pm);
/// torch-mlir's chains of elementwise ops fused, unit dims dropped.
void addElementwiseFusion(OpPassManager &pm);
/// Tensors to buffers, each freed right after its last use.
void addBufferization(OpPassManager &pm);
/// The float linalg ops to vector code; dq.lookup to vpermi2ps (16 lanes,
/// on AVX-512 `isa`) or element extracts.
void addVectorization(OpPassManager &pm, int64_t threads, VendorISA isa);
/// The kernels' and vectorized ops' parallel loops to async tasks.
void addAsyncParallelism(OpPassManager &pm, int64_t threads);
/// What is left of linalg to loops, N-d vectors to 1-D transfers.
void addLowerToLoops(OpPassManager &pm);
/// Everything to the LLVM dialect.
void addLowerToLLVM(OpPassManager &pm, bool bufferCache);

/// dq + linalg on tensors -> LLVM dialect, ready to translate (dq-compile).
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers `dq-cpu-pipeline`.
void registerCPUPipeline();

} // namespace mlir::dq

#endif // DQMLIR_PIPELINES_CPUPIPELINE_H
