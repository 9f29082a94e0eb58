//===- Kernel.cpp - what the parts of the VNNI and AMX kernels share ------===//

#include "lib/Kernels/Kernel.h"
#include "lib/Conversion/DQToLinalg/Builders.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::dq;

KernelContext mlir::dq::makeKernelContext(ImplicitLocOpBuilder &b,
                                          LinearDynamicOp op,
                                          Attribute packedData,
                                          Attribute colsums, int64_t k4,
                                          bool quantize) {
  QuantizedActivations act =
      quantize ? quantizeActivations(b, op) : activationQParams(b, op);
  auto wType = op.getWeight().getType();
  KernelContext kc;
  kc.n = wType.getDimSize(0);
  kc.k = wType.getDimSize(1);
  kc.k4 = k4;
  kc.symmetric = op.getActMode() == QuantMode::Symmetric;
  kc.perRow = op.getActGranularity() == Granularity::PerRow;
  kc.perChannel = op.getWeightScale().getType().getRank() != 0;
  kc.input = op.getInput();
  kc.q = act.q;
  kc.packed = arith::ConstantOp::create(b, cast<TypedAttr>(packedData));
  kc.colsums = arith::ConstantOp::create(b, cast<TypedAttr>(colsums));
  kc.scale = act.scale;
  kc.zeroPoint = act.zeroPoint;
  kc.weightScale = op.getWeightScale();
  kc.bias = op.getBias();
  return kc;
}
