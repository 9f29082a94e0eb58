//===- CPUPipeline.h - dq on tensors to LLVM for x86 CPUs -------*- C++ -*-===//
#ifndef DQMLIR_PIPELINES_CPUPIPELINE_H
#define DQMLIR_PIPELINES_CPUPIPELINE_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::dq {

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {};

/// dq + linalg on tensors -> LLVM dialect, ready to JIT or translate.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers `dq-cpu-pipeline`.
void registerCPUPipeline();

} // namespace mlir::dq

#endif // DQMLIR_PIPELINES_CPUPIPELINE_H
