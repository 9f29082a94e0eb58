//===- RowChunks.cpp - rows of a result split over threads ----------------===//
//
// Row-wise ops (the AMX kernel by rows, dq.quantize, dq.layer_norm) split
// their rows over threads: one leading dim is split (see RowSplit), each
// chunk writes its own box of the result, and a chunk's rows run one after
// the other.
//
//===----------------------------------------------------------------------===//

#include "lib/Utils/RowChunks.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dq;

RowSplit dq::splitRows(ImplicitLocOpBuilder &b, ArrayRef<Value> leadDims) {
  int64_t rank = leadDims.size();
  assert(rank > 0 && "no rows to split");
  // isSplit[d]: the dims before d are 1, and d is not (or is the last).
  // The size and rows per entry by selects: no division, a dim may be 0.
  Value yes = arith::ConstantIntOp::create(b, 1, 1);
  RowSplit s{SmallVector<Value>(leadDims), SmallVector<Value>(rank),
             leadDims[rank - 1], constIndex(b, 1)};
  SmallVector<Value> rowsAfter(rank);
  rowsAfter[rank - 1] = constIndex(b, 1);
  for (int64_t d = rank - 1; d-- > 0;)
    rowsAfter[d] = arith::MulIOp::create(b, rowsAfter[d + 1], leadDims[d + 1]);
  Value onesBefore = yes;
  for (int64_t d = 0; d + 1 < rank; ++d) {
    Value one = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, leadDims[d],
                                      constIndex(b, 1));
    s.isSplit[d] = arith::AndIOp::create(b, onesBefore,
                                         arith::XOrIOp::create(b, one, yes));
    onesBefore = arith::AndIOp::create(b, onesBefore, one);
  }
  s.isSplit[rank - 1] = onesBefore;
  for (int64_t d = rank - 1; d-- > 0;) {
    s.size = arith::SelectOp::create(b, s.isSplit[d], leadDims[d], s.size);
    s.rowsPerEntry =
        arith::SelectOp::create(b, s.isSplit[d], rowsAfter[d], s.rowsPerEntry);
  }
  return s;
}

Value dq::emitRowChunks(ImplicitLocOpBuilder &b, Value out,
                        const RowSplit &split, Value chunks,
                        RowChunkBuilder body) {
  int64_t rank = split.leadDims.size();
  auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{chunks},
                                      ValueRange{out}, std::nullopt);
  Block *forallBody = forall.getBody();
  Value c = forallBody->getArgument(0), shared = forallBody->getArgument(1);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forallBody);
  auto [lo, hi] = chunkBounds(b, c, chunks, split.size);
  Value len = arith::SubIOp::create(b, hi, lo);
  SmallVector<OpFoldResult> offsets, sizes;
  SmallVector<Value> sliceDims;
  for (int64_t d = 0; d < rank; ++d) {
    offsets.push_back(
        arith::SelectOp::create(b, split.isSplit[d], lo, constIndex(b, 0))
            .getResult());
    sliceDims.push_back(
        arith::SelectOp::create(b, split.isSplit[d], len, split.leadDims[d]));
    sizes.push_back(sliceDims.back());
  }
  offsets.push_back(b.getIndexAttr(0));
  sizes.push_back(tensor::getMixedSize(b, b.getLoc(), shared, rank));
  SmallVector<OpFoldResult> strides(rank + 1, b.getIndexAttr(1));
  Value slice =
      tensor::ExtractSliceOp::create(b, shared, offsets, sizes, strides);
  Value result =
      body(b, arith::MulIOp::create(b, lo, split.rowsPerEntry),
           arith::MulIOp::create(b, len, split.rowsPerEntry), sliceDims, slice);

  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, result, shared, offsets, sizes,
                                        strides);
  return forall.getResult(0);
}

Value dq::rowChunkCount(ImplicitLocOpBuilder &b, Value numRows,
                        int64_t rowElements, int64_t threads) {
  int64_t minRows = llvm::divideCeil(threads * kMinElementsPerThread,
                                     std::max<int64_t>(rowElements, 1));
  return arith::SelectOp::create(
      b,
      arith::CmpIOp::create(b, arith::CmpIPredicate::uge, numRows,
                            constIndex(b, minRows)),
      constIndex(b, threads), constIndex(b, 1));
}

Value dq::emitRowLoop(ImplicitLocOpBuilder &b, Value out,
                      ArrayRef<Value> leadDims, Value numRows,
                      int64_t rowElements, int64_t threads, RowBuilder row) {
  auto sequential = [&](ImplicitLocOpBuilder &lb, Value first, Value count,
                        ArrayRef<Value> outDims, Value dest) -> Value {
    return scf::ForOp::create(
               lb, constIndex(lb, 0), count, constIndex(lb, 1),
               ValueRange{dest},
               [&](OpBuilder &nb, Location loc, Value m, ValueRange iter) {
                 ImplicitLocOpBuilder ib(loc, nb);
                 Value at = first ? arith::AddIOp::create(ib, first, m) : m;
                 SmallVector<Value> in = delinearizeRow(ib, at, leadDims);
                 SmallVector<Value> to = first
                                             ? delinearizeRow(ib, m, outDims)
                                             : in;
                 scf::YieldOp::create(ib, row(ib, in, to, iter[0]));
               })
        .getResult(0);
  };
  // Inside a parallel loop the threads are busy with its iterations already.
  if (threads <= 1 || leadDims.empty() ||
      insideParallelLoop(b.getInsertionBlock()->getParentOp()))
    return sequential(b, Value(), numRows, leadDims, out);
  Value chunks = rowChunkCount(b, numRows, rowElements, threads);
  return emitRowChunks(b, out, splitRows(b, leadDims), chunks,
                       [&](ImplicitLocOpBuilder &cb, Value first, Value count,
                           ArrayRef<Value> sliceDims, Value slice) {
                         return sequential(cb, first, count, sliceDims, slice);
                       });
}
