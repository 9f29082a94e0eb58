//===- RowChunks.h - rows of a result split over threads -------*- C++ -*-===//
#ifndef DQMLIR_UTILS_ROWCHUNKS_H
#define DQMLIR_UTILS_ROWCHUNKS_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::dq {

/// Builds one chunk: linear rows [first, first + count) of the input, whose
/// results go to `slice` (leading sizes `sliceDims`, all columns): input row
/// first + m is `slice`'s row m. Returns the new slice.
using RowChunkBuilder =
    function_ref<Value(ImplicitLocOpBuilder &b, Value first, Value count,
                       ArrayRef<Value> sliceDims, Value slice)>;

/// Where rows are split. A chunk must be a box, and an [?, ?, N] result
/// cannot be reshaped to [?, N] and back (expand-strided-metadata), so the
/// split dim is the first leading dim whose size is not 1 (or the last):
/// the ones before it are 1, and a range of it is a range of linear rows.
/// The split is as even as that dim allows (3 x 128 rows on 2 threads: 128
/// and 256).
struct RowSplit {
  SmallVector<Value> leadDims;
  /// Per leading dim: whether it is the split one (i1).
  SmallVector<Value> isSplit;
  /// The split dim's size, and the rows in one of its entries.
  Value size, rowsPerEntry;
};

/// The split of rows with leading sizes `leadDims` (at least one).
RowSplit splitRows(ImplicitLocOpBuilder &b, ArrayRef<Value> leadDims);

/// Emits `body` over the rows of `out` (leading sizes split.leadDims, then
/// N) as an `scf.forall` of `chunks` (at run time) chunks of split.size,
/// each writing its own box of `out` (tensor.parallel_insert_slice). One
/// chunk runs inline in the caller.
Value emitRowChunks(ImplicitLocOpBuilder &b, Value out, const RowSplit &split,
                    Value chunks, RowChunkBuilder body);

/// Fewest elements per thread for which a row-wise op splits (also the
/// per-tensor ranges of VectorRange.h): with fewer, the hand-off and the
/// wait cost about what the thread saves. BERT-base's 128 x 768 rows (98304
/// floats) split.
inline constexpr int64_t kMinElementsPerThread = int64_t(1) << 14;

/// How many chunks the rows of a row-wise op split into: `threads` when
/// `numRows` rows of `rowElements` elements give each thread at least
/// kMinElementsPerThread, else 1 (decided at run time).
Value rowChunkCount(ImplicitLocOpBuilder &b, Value numRows, int64_t rowElements,
                    int64_t threads);

/// Builds one row: reads input row `in` (indices into the leading dims)
/// and writes its result to row `out` of `dest`; returns the new `dest`.
using RowBuilder = function_ref<Value(ImplicitLocOpBuilder &b,
                                      ArrayRef<Value> in, ArrayRef<Value> out,
                                      Value dest)>;

/// `row` over all rows of `out` (leading sizes `leadDims`, `numRows` in
/// all, `rowElements` elements each): an scf.for, or with `threads` > 1 an
/// scf.forall of rowChunkCount row chunks (emitRowChunks). Sequential inside
/// a parallel loop, whose iterations already occupy the threads.
Value emitRowLoop(ImplicitLocOpBuilder &b, Value out, ArrayRef<Value> leadDims,
                  Value numRows, int64_t rowElements, int64_t threads,
                  RowBuilder row);

} // namespace mlir::dq

#endif // DQMLIR_UTILS_ROWCHUNKS_H
