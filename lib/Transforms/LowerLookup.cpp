//===- LowerLookup.cpp - dq.lookup to permutes or extracts ----------------===//
//
// A table of up to 32 floats fits two zmm registers, and vpermi2ps selects
// from both with one index vector: that is how oneDNN's GELU reads its
// coefficients, and what 16-lane lookups become here. LLVM has no generic
// instruction for a variable in-register permute, hence the intrinsic.
//
//===----------------------------------------------------------------------===//

#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::dq {
#define GEN_PASS_DEF_DQLOWERLOOKUP
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {

/// `values` padded with zeros to `size`, as a constant vector<size x f32>.
Value tableVector(ImplicitLocOpBuilder &b, ArrayRef<float> values,
                  int64_t size) {
  SmallVector<float> padded(values);
  padded.resize(size, 0.0f);
  auto type = VectorType::get({size}, b.getF32Type());
  return arith::ConstantOp::create(
      b, DenseElementsAttr::get(type, ArrayRef<float>(padded)));
}

/// table[index] for one i32 index (an extractelement).
Value extract(ImplicitLocOpBuilder &b, Value table, Value index) {
  Value i = arith::IndexCastOp::create(b, b.getIndexType(), index);
  return vector::ExtractOp::create(b, table, ArrayRef<OpFoldResult>{i});
}

struct LowerLookup : OpRewritePattern<dq::LookupOp> {
  LowerLookup(MLIRContext *ctx, bool avx512)
      : OpRewritePattern(ctx), avx512(avx512) {}

  LogicalResult matchAndRewrite(dq::LookupOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    ArrayRef<float> values = op.getTable();
    auto vecType = dyn_cast<VectorType>(op.getType());
    if (!vecType) {
      Value table = tableVector(b, values, values.size());
      rewriter.replaceOp(op, extract(b, table, op.getIndex()));
      return success();
    }
    if (avx512 && vecType.getRank() == 1 && vecType.getNumElements() == 16 &&
        !vecType.isScalable()) {
      Value lo = tableVector(b, values.take_front(std::min<size_t>(16, values.size())), 16);
      Value hi = tableVector(b, values.drop_front(std::min<size_t>(16, values.size())), 16);
      rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
          op, vecType, b.getStringAttr("llvm.x86.avx512.vpermi2var.ps.512"),
          ValueRange{lo, op.getIndex(), hi});
      return success();
    }
    // Any other shape: element by element on the flattened vector.
    int64_t n = vecType.getNumElements();
    auto flatType = VectorType::get({n}, b.getF32Type());
    Value index = vector::ShapeCastOp::create(
        b, VectorType::get({n}, b.getI32Type()), op.getIndex());
    Value table = tableVector(b, values, values.size());
    Value result = arith::ConstantOp::create(
        b, DenseElementsAttr::get(flatType, 0.0f));
    for (int64_t lane = 0; lane < n; ++lane) {
      Value i = vector::ExtractOp::create(b, index, lane);
      result = vector::InsertOp::create(b, extract(b, table, i), result, lane);
    }
    rewriter.replaceOpWithNewOp<vector::ShapeCastOp>(op, vecType, result);
    return success();
  }

  bool avx512;
};

struct DQLowerLookup : dq::impl::DQLowerLookupBase<DQLowerLookup> {
  using DQLowerLookupBase::DQLowerLookupBase;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerLookup>(&getContext(), avx512);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
