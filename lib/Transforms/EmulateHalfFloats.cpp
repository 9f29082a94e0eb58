//===- EmulateHalfFloats.cpp - bf16/f16 math in f32, rounded per op -------===//
//
// ATen computes an elementwise op on bfloat16 or float16 tensors in float and
// rounds the result back to the half type after every op. Upstream's
// arith-emulate-unsupported-floats does the type conversion but marks the
// casts it inserts `fastmath<contract>`, which lets canonicalization fold
// extf(truncf(x)) into x: once torch-mlir's generics are fused, a chain such
// as (x * 2.5 - 1.0) in bf16 then kept its f32 intermediate and rounded once.
// This pass runs the same conversion and clears that flag on the casts that
// involve a half type, so every rounding stays.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::dq {
#define GEN_PASS_DEF_DQEMULATEHALFFLOATS
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

static bool isHalf(Type t) {
  Type e = getElementTypeOrSelf(t);
  return e.isBF16() || e.isF16();
}

namespace {
struct DQEmulateHalfFloats
    : dq::impl::DQEmulateHalfFloatsBase<DQEmulateHalfFloats> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    SmallVector<Type> half = {BFloat16Type::get(ctx), Float16Type::get(ctx)};
    TypeConverter converter;
    arith::populateEmulateUnsupportedFloatsConversions(converter, half,
                                                       Float32Type::get(ctx));
    RewritePatternSet patterns(ctx);
    arith::populateEmulateUnsupportedFloatsPatterns(patterns, converter);
    ConversionTarget target(*ctx);
    arith::populateEmulateUnsupportedFloatsLegality(target, converter);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();
    auto none = arith::FastMathFlagsAttr::get(ctx, arith::FastMathFlags::none);
    getOperation()->walk([&](Operation *op) {
      if (isa<arith::ExtFOp>(op) && isHalf(op->getOperand(0).getType()))
        cast<arith::ExtFOp>(op).setFastmathAttr(none);
      else if (isa<arith::TruncFOp>(op) && isHalf(op->getResult(0).getType()))
        cast<arith::TruncFOp>(op).setFastmathAttr(none);
    });
  }
};
} // namespace
