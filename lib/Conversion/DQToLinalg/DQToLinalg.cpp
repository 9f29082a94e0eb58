//===- DQToLinalg.cpp - the convert-dq-to-linalg pass ---------------------===//

#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Dialect/DQ/IR/DQDialect.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::dq {
#define GEN_PASS_DEF_CONVERTDQTOLINALG
#include "lib/Conversion/DQToLinalg/DQToLinalg.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {
struct ConvertDQToLinalg
    : dq::impl::ConvertDQToLinalgBase<ConvertDQToLinalg> {
  using ConvertDQToLinalgBase::ConvertDQToLinalgBase;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    dq::populateLowerLinearDynamicPatterns(patterns);
    dq::populateLowerChooseQParamsPatterns(patterns, threads);
    dq::populateLowerQuantizePatterns(patterns, threads);
    dq::populateLowerLayerNormPatterns(patterns, threads);
    dq::VendorISA vendor = isa;
    dq::populateLowerGeluPatterns(patterns, vendor);
    dq::populateLowerSigmoidPatterns(patterns, vendor);
    dq::populateLowerTanhPatterns(patterns);
    dq::populateLowerSoftmaxPatterns(patterns, vendor);
    dq::populateLowerFlashSoftmaxPatterns(patterns, vendor);
    dq::populateLowerFlashFixupPatterns(patterns);
    // Everything but dq is legal: a dq op left over is an error that names
    // it, not a silent partial lowering.
    ConversionTarget target(*ctx);
    target.addIllegalDialect<dq::DQDialect>();
    // Table lookups (GELU) stay until dq-lower-lookup, after vectorization.
    target.addLegalOp<dq::LookupOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
