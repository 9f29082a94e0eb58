//===- InitAll.cpp - register dqmlir's dialects and passes ----------------===//

#include "lib/InitAll.h"
#include "lib/Conversion/DQToAMX/DQToAMX.h"
#include "lib/Conversion/DQToAVX2/DQToAVX2.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Conversion/DQToVNNI/DQToVNNI.h"
#include "lib/Conversion/DQToX86/DQToX86.h"
#include "lib/Conversion/X86ToLLVM/X86ToLLVM.h"
#include "lib/Dialect/DQ/IR/DQDialect.h"
#include "lib/Dialect/DQ/Transforms/Passes.h"
#include "lib/Dialect/X86/IR/X86Dialect.h"
#include "lib/Pipelines/CPUPipeline.h"
#include "lib/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"

void mlir::dq::registerAllDialects(DialectRegistry &registry) {
  registry.insert<DQDialect, x86::X86Dialect>();
}

void mlir::dq::registerAllPasses() {
  registerDQToLinalgPasses();
  registerDQToVNNIPasses();
  registerDQToAMXPasses();
  registerDQToAVX2Passes();
  registerDQToX86Passes();
  registerDQX86ToLLVMPasses();
  registerDQDialectTransformsPasses();
  registerDQTransformsPasses();
  registerCPUPipeline();
}
