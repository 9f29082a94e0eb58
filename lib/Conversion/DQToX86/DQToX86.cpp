//===- DQToX86.cpp - the convert-dq-to-dqx86 pass -------------------------===//

#include "lib/Conversion/DQToX86/DQToX86.h"
#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Dialect/X86/IR/X86Ops.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::dq {
#define GEN_PASS_DEF_CONVERTDQTODQX86
#include "lib/Conversion/DQToX86/DQToX86.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {
/// Lanes of a vpermi2ps, and entries of each of its two tables.
constexpr int64_t kLanes = 16;

struct LookupToVpermi2ps : OpRewritePattern<dq::LookupOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(dq::LookupOp op,
                                PatternRewriter &rewriter) const override {
    auto vecType = dyn_cast<VectorType>(op.getType());
    if (!vecType || vecType.getRank() != 1 ||
        vecType.getNumElements() != kLanes || vecType.isScalable())
      return rewriter.notifyMatchFailure(op, "not 16 lanes");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    ArrayRef<float> values = op.getTable();
    size_t half = std::min<size_t>(kLanes, values.size());
    Value lo = dq::constF32Vector(b, values.take_front(half), kLanes);
    Value hi = dq::constF32Vector(b, values.drop_front(half), kLanes);
    rewriter.replaceOpWithNewOp<dq::x86::Vpermi2psOp>(op, vecType, lo,
                                                      op.getIndex(), hi);
    return success();
  }
};

struct ConvertDQToDQX86 : dq::impl::ConvertDQToDQX86Base<ConvertDQToDQX86> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    dq::populateDQToDQX86Patterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::dq::populateDQToDQX86Patterns(RewritePatternSet &patterns) {
  patterns.add<LookupToVpermi2ps>(patterns.getContext());
}
