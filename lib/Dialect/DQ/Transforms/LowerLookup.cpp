//===- LowerLookup.cpp - dq.lookup to element extracts --------------------===//
//
// The portable lowering of dq.lookup. On x86 with AVX-512, 16-lane lookups
// are one vpermi2ps each instead (convert-dq-to-dqx86, which runs first).
//
//===----------------------------------------------------------------------===//

#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Dialect/DQ/Transforms/Passes.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::dq {
#define GEN_PASS_DEF_DQLOWERLOOKUP
#include "lib/Dialect/DQ/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {

/// table[index] for one i32 index (an extractelement).
Value extract(ImplicitLocOpBuilder &b, Value table, Value index) {
  Value i = arith::IndexCastOp::create(b, b.getIndexType(), index);
  return vector::ExtractOp::create(b, table, ArrayRef<OpFoldResult>{i});
}

struct LowerLookup : OpRewritePattern<dq::LookupOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(dq::LookupOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    ArrayRef<float> values = op.getTable();
    auto vecType = dyn_cast<VectorType>(op.getType());
    if (!vecType) {
      Value table = dq::constF32Vector(b, values, values.size());
      rewriter.replaceOp(op, extract(b, table, op.getIndex()));
      return success();
    }
    // Element by element on the flattened vector.
    int64_t n = vecType.getNumElements();
    auto flatType = VectorType::get({n}, b.getF32Type());
    Value index = vector::ShapeCastOp::create(
        b, VectorType::get({n}, b.getI32Type()), op.getIndex());
    Value table = dq::constF32Vector(b, values, values.size());
    Value result = arith::ConstantOp::create(
        b, DenseElementsAttr::get(flatType, 0.0f));
    for (int64_t lane = 0; lane < n; ++lane) {
      Value i = vector::ExtractOp::create(b, index, lane);
      result = vector::InsertOp::create(b, extract(b, table, i), result, lane);
    }
    rewriter.replaceOpWithNewOp<vector::ShapeCastOp>(op, vecType, result);
    return success();
  }
};

struct DQLowerLookup : dq::impl::DQLowerLookupBase<DQLowerLookup> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerLookup>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
