//===- Utils.cpp - small IR helpers shared by dqmlir's libraries ----------===//

#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

Value dq::emptyLike(ImplicitLocOpBuilder &b, Value like, Type elementType) {
  return emptyWithShapeOf(b, tensor::getMixedSizes(b, b.getLoc(), like),
                          elementType);
}

Value dq::emptyWithShapeOf(ImplicitLocOpBuilder &b,
                           ArrayRef<OpFoldResult> sizes, Type elementType) {
  return tensor::EmptyOp::create(b, sizes, elementType);
}

AffineMap dq::qparamMap(MLIRContext *ctx, unsigned rank, bool perRow) {
  if (!perRow)
    return AffineMap::get(rank, 0, {}, ctx);
  SmallVector<AffineExpr> dims;
  for (unsigned i = 0; i + 1 < rank; ++i)
    dims.push_back(getAffineDimExpr(i, ctx));
  return AffineMap::get(rank, 0, dims, ctx);
}

SmallVector<utils::IteratorType> dq::iterators(unsigned rank,
                                               ArrayRef<unsigned> reductions) {
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::parallel);
  for (unsigned r : reductions)
    its[r] = utils::IteratorType::reduction;
  return its;
}

SmallVector<Value> dq::delinearizeRow(ImplicitLocOpBuilder &b, Value m,
                                     ArrayRef<Value> leadDims) {
  // A rank-1 input has no leading dims: its one row has no index.
  if (leadDims.empty())
    return {};
  SmallVector<Value> idx(leadDims.size());
  for (size_t d = leadDims.size(); d-- > 1;) {
    idx[d] = arith::RemUIOp::create(b, m, leadDims[d]);
    m = arith::DivUIOp::create(b, m, leadDims[d]);
  }
  idx[0] = m;
  return idx;
}

std::pair<SmallVector<Value>, Value> dq::leadingDims(ImplicitLocOpBuilder &b,
                                                     Value input) {
  SmallVector<Value> dims;
  Value rows = constIndex(b, 1);
  unsigned rank = cast<RankedTensorType>(input.getType()).getRank();
  for (unsigned d = 0; d + 1 < rank; ++d) {
    dims.push_back(getValueOrCreateConstantIndexOp(
        b, b.getLoc(), tensor::getMixedSize(b, b.getLoc(), input, d)));
    rows = arith::MulIOp::create(b, rows, dims.back());
  }
  return {dims, rows};
}

Value dq::constF32(ImplicitLocOpBuilder &b, float v) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
}
Value dq::constF32Vector(ImplicitLocOpBuilder &b, ArrayRef<float> values,
                         int64_t size) {
  SmallVector<float> padded(values);
  padded.resize(size, 0.0f);
  auto type = VectorType::get({size}, b.getF32Type());
  return arith::ConstantOp::create(
      b, DenseElementsAttr::get(type, ArrayRef<float>(padded)));
}
Value dq::constF64(ImplicitLocOpBuilder &b, double v) {
  return arith::ConstantOp::create(b, b.getF64FloatAttr(v));
}
Value dq::constI32(ImplicitLocOpBuilder &b, int32_t v) {
  return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
}
Value dq::constIndex(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}
Value dq::constIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

bool dq::insideParallelLoop(Operation *op) {
  return isa<scf::ForallOp, scf::ParallelOp>(op) ||
         op->getParentOfType<scf::ForallOp>() ||
         op->getParentOfType<scf::ParallelOp>();
}

std::pair<Value, Value> dq::chunkBounds(ImplicitLocOpBuilder &b, Value chunk,
                                        Value chunks, Value total) {
  auto start = [&](Value c) -> Value {
    return arith::DivUIOp::create(b, arith::MulIOp::create(b, c, total),
                                  chunks);
  };
  Value next = arith::AddIOp::create(b, chunk, constIndex(b, 1));
  return {start(chunk), start(next)};
}
