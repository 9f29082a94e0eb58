//===- Utils.h - small IR helpers shared by dqmlir's libraries --*- C++ -*-===//
//
// Constants, index arithmetic and linalg boilerplate that the conversions,
// the kernels and the transforms all need; nothing here knows about dq ops.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_UTILS_UTILS_H
#define DQMLIR_UTILS_UTILS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::dq {

/// tensor.empty with the (possibly dynamic) sizes of `like` and `elementType`.
Value emptyLike(ImplicitLocOpBuilder &b, Value like, Type elementType);
/// tensor.empty of `sizes` (static or dynamic) and `elementType`.
Value emptyWithShapeOf(ImplicitLocOpBuilder &b, ArrayRef<OpFoldResult> sizes,
                       Type elementType);

/// The indexing map of a qparam tensor inside a loop nest over the input of
/// rank `rank`: rank-0 (per tensor) reads a scalar, per row drops the last
/// loop.
AffineMap qparamMap(MLIRContext *ctx, unsigned rank, bool perRow);

/// The iterator types of a linalg.generic of `rank` loops: all parallel
/// except `reductions`.
SmallVector<utils::IteratorType> iterators(unsigned rank,
                                           ArrayRef<unsigned> reductions = {});

/// The indices into `leadDims` (sizes, outermost first) of linear row `m`.
/// Vector code walks the rows of an N-d input this way instead of
/// reshaping it: expanding a result back ([?*?] -> [?, ?]) is not supported
/// by expand-strided-metadata. Empty (and `m` unused) for a rank-1 input.
SmallVector<Value> delinearizeRow(ImplicitLocOpBuilder &b, Value m,
                                  ArrayRef<Value> leadDims);

/// Chunk `chunk` of [0, total) split into `chunks` near-equal parts (the
/// iterations of a threads' scf.forall): [c * total / chunks,
/// (c + 1) * total / chunks).
std::pair<Value, Value> chunkBounds(ImplicitLocOpBuilder &b, Value chunk,
                                    Value chunks, Value total);

/// Whether `op` is, or sits inside, a parallel loop (scf.forall,
/// scf.parallel): code there gets no parallel region of its own, the
/// threads are busy with the loop's iterations.
bool insideParallelLoop(Operation *op);

/// The leading dims (all but the last) of `input` and their product.
std::pair<SmallVector<Value>, Value> leadingDims(ImplicitLocOpBuilder &b,
                                                 Value input);

Value constF32(ImplicitLocOpBuilder &b, float v);
/// A constant vector<size x f32> of `values` padded with zeros.
Value constF32Vector(ImplicitLocOpBuilder &b, ArrayRef<float> values,
                     int64_t size);
Value constF64(ImplicitLocOpBuilder &b, double v);
Value constI32(ImplicitLocOpBuilder &b, int32_t v);
Value constIndex(ImplicitLocOpBuilder &b, int64_t v);
Value constIndex(OpBuilder &b, Location loc, int64_t v);

} // namespace mlir::dq

#endif // DQMLIR_UTILS_UTILS_H
