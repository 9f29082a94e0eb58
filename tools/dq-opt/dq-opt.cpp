//===- dq-opt.cpp - the dqmlir pass driver --------------------------------===//
//
// mlir-opt with the dq dialect and the dq passes and pipelines added.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToAMX/DQToAMX.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Conversion/DQToVNNI/DQToVNNI.h"
#include "lib/Dialect/DQ/IR/DQDialect.h"
#include "lib/Pipelines/CPUPipeline.h"
#include "lib/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::dq::registerDQToLinalgPasses();
  mlir::dq::registerDQToVNNIPasses();
  mlir::dq::registerDQToAMXPasses();
  mlir::dq::registerDQTransformsPasses();
  mlir::dq::registerCPUPipeline();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::dq::DQDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "dqmlir optimizer driver\n", registry));
}
