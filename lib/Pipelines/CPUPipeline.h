//===- CPUPipeline.h - dq on tensors to LLVM for x86 CPUs -------*- C++ -*-===//
#ifndef DQMLIR_PIPELINES_CPUPIPELINE_H
#define DQMLIR_PIPELINES_CPUPIPELINE_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::dq {

/// Whether dq.linear_dynamic gets the AVX-512 VNNI kernel (convert-dq-to-vnni).
enum class VNNIMode { Auto, On, Off };

/// Which kernel dq.linear_dynamic with constant weights gets.
enum class KernelMode { Auto, AMX, VNNI, Generic };

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  Option<VNNIMode> vnni{
      *this, "vnni",
      llvm::cl::desc("Use the AVX-512 VNNI kernel for dq.linear_dynamic with "
                     "constant weights: auto (if the host CPU has "
                     "avx512vnni), on (code then needs such a CPU), off"),
      llvm::cl::init(VNNIMode::Auto),
      llvm::cl::values(clEnumValN(VNNIMode::Auto, "auto", "if the host has it"),
                       clEnumValN(VNNIMode::On, "on", "always"),
                       clEnumValN(VNNIMode::Off, "off", "never"))};
  Option<KernelMode> kernel{
      *this, "kernel",
      llvm::cl::desc(
          "Kernel for dq.linear_dynamic with constant weights: auto (AMX if "
          "the host has amx-int8 and this process was granted the tile state, "
          "else as `vnni` says), amx (convert-dq-to-amx; the code then needs "
          "such a CPU and the permission), vnni (convert-dq-to-vnni), generic "
          "(linalg)"),
      llvm::cl::init(KernelMode::Auto),
      llvm::cl::values(
          clEnumValN(KernelMode::Auto, "auto", "best the host can run"),
          clEnumValN(KernelMode::AMX, "amx", "AMX-INT8 tiles"),
          clEnumValN(KernelMode::VNNI, "vnni", "AVX-512 VNNI"),
          clEnumValN(KernelMode::Generic, "generic", "linalg"))};
  Option<int64_t> threads{
      *this, "threads",
      llvm::cl::desc("Threads for the VNNI and AMX kernels (their rows or "
                     "weight panels as async tasks: the code then needs the "
                     "MLIR async runtime); 1: sequential code"),
      llvm::cl::init(1)};
  Option<bool> bufferCache{
      *this, "buffer-cache",
      llvm::cl::desc("Allocate through _mlir_memref_to_llvm_alloc/free "
                     "(finalize-memref-to-llvm{use-generic-functions}); the "
                     "Python runtime binds them to its buffer cache "
                     "(lib/Runtime/BufferCache.h). Off: malloc/free"),
      llvm::cl::init(false)};
};

/// dq + linalg on tensors -> LLVM dialect, ready to JIT or translate.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers `dq-cpu-pipeline`.
void registerCPUPipeline();

} // namespace mlir::dq

#endif // DQMLIR_PIPELINES_CPUPIPELINE_H
