//===- ParallelPanels.cpp - weight panels split over threads --------------===//
//
// Panels (output columns) are split, not rows: every thread then reads only
// its share of the weights, which dominate the bytes for M up to a few
// hundred, and the 5 layer shapes dqmlir targets have 8-96 panels, enough
// for an even split. (The AMX kernel splits rows from 128 rows per thread,
// where that measured faster: LinearToAMX.cpp, emitTiles.)
//
//===----------------------------------------------------------------------===//

#include "lib/Kernels/ParallelPanels.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dq;

Value dq::worthThreads(ImplicitLocOpBuilder &b, Value numRows, int64_t k,
                       int64_t n, int64_t threads, int64_t minMacsLog2) {
  int64_t perRow = std::max<int64_t>(1, k * n);
  int64_t minRows =
      llvm::divideCeil(threads * (int64_t(1) << minMacsLog2), perRow);
  return arith::CmpIOp::create(b, arith::CmpIPredicate::uge, numRows,
                               constIndex(b, minRows));
}

Value dq::emitPanels(ImplicitLocOpBuilder &b, Value out, int64_t numPanels,
                     int64_t cols, int64_t threads, Value parallel,
                     PanelRangeBuilder body) {
  if (numPanels == 0)
    return out;
  if (threads <= 1 || numPanels == 1)
    return body(b, constIndex(b, 0), constIndex(b, numPanels * cols), Value(),
                out);

  Value chunks = arith::SelectOp::create(
      b, parallel, constIndex(b, std::min(threads, numPanels)),
      constIndex(b, 1));
  auto forall = scf::ForallOp::create(
      b, ArrayRef<OpFoldResult>{chunks}, ValueRange{out}, std::nullopt);
  Block *forallBody = forall.getBody();
  Value c = forallBody->getArgument(0), shared = forallBody->getArgument(1);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forallBody);
  // Chunk c: panels [c P / chunks, (c + 1) P / chunks), as columns.
  auto [firstPanel, endPanel] =
      chunkBounds(b, c, chunks, constIndex(b, numPanels));
  Value lb = arith::MulIOp::create(b, firstPanel, constIndex(b, cols));
  Value ub = arith::MulIOp::create(b, endPanel, constIndex(b, cols));
  Value width = arith::SubIOp::create(b, ub, lb);

  auto outType = cast<RankedTensorType>(out.getType());
  int64_t rank = outType.getRank();
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes =
      tensor::getMixedSizes(b, b.getLoc(), shared);
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  offsets.back() = lb;
  sizes.back() = width;
  Value slice =
      tensor::ExtractSliceOp::create(b, shared, offsets, sizes, strides);
  Value result = body(b, lb, ub, lb, slice);

  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, result, shared, offsets, sizes,
                                        strides);
  return forall.getResult(0);
}
