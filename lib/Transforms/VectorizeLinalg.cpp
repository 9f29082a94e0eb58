//===- VectorizeLinalg.cpp - tile and vectorize float linalg ops ----------===//
//
// Each op gets one schedule, decided from its iterators alone:
//
//   all parallel           tile [1, ..., 1, V]          vectorize [1,..,1,V]
//   innermost reduction    tile [1, ..., 1, V]  (loops in dim order: the
//   f32 contraction        tile [1, .., R (m), V (n), 1 (k)]  reduction is
//                                                       the innermost loop)
//
// The tiles of dynamic (or not divisible) sizes are vectorized with masks,
// so one schedule serves every batch and sequence length. An op the
// vectorizer rejects keeps its tiled (scalar) form, which is still correct.
//
// It runs on buffers: on tensors, one-shot bufferization's in-place analysis
// of these loops next to the int8 kernels' loops took minutes (value-bounds
// comparisons of slices through nested scf.for). Accumulators (contraction
// tiles, reduction results) are then kept in registers across the innermost
// loop by upstream's hoistRedundantVectorTransfers.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/ApproximateMath.h"
#include "lib/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

namespace mlir::dq {
#define GEN_PASS_DEF_DQVECTORIZELINALG
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {

/// Ops worth vectorizing here: float ops without boolean operands (i1
/// memrefs are rewritten to bytes later, element by element) and without
/// gathers (embedding lookups, index broadcasts: small, and irregular).
bool isCandidate(linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumLoops() == 0)
    return false;
  bool anyFloat = false;
  for (Value v : op->getOperands()) {
    Type t = getElementTypeOrSelf(v.getType());
    if (t.isInteger(1))
      return false;
    anyFloat |= isa<FloatType>(t);
  }
  if (!anyFloat)
    return false;
  WalkResult r = op->walk([](Operation *inner) {
    // math.fpowi: MathToLLVM emits an invalid vector llvm.intr.powi.
    return isa<tensor::ExtractOp, memref::LoadOp,
               math::FPowIOp>(inner)
               ? WalkResult::interrupt()
               : WalkResult::advance();
  });
  return !r.wasInterrupted();
}

SmallVector<OpFoldResult> indexAttrs(OpBuilder &b, ArrayRef<int64_t> sizes) {
  return llvm::map_to_vector(sizes, [&](int64_t s) -> OpFoldResult {
    return b.getIndexAttr(s);
  });
}

/// Tiles `op` by `sizes` (0 = not tiled); returns the tiled op.
FailureOr<linalg::LinalgOp> tile(RewriterBase &rewriter, linalg::LinalgOp op,
                                 ArrayRef<int64_t> sizes) {
  scf::SCFTilingOptions options;
  options.setTileSizes(indexAttrs(rewriter, sizes));
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
      rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled))
    return failure();
  rewriter.eraseOp(op);
  auto tiledOp = dyn_cast<linalg::LinalgOp>(tiled->tiledOps.back());
  if (!tiledOp)
    return failure();
  return tiledOp;
}

/// Vectorizes `op` with `sizes` (masked where its shape is smaller or
/// dynamic); leaves it alone when the vectorizer says no.
void vectorize(RewriterBase &rewriter, linalg::LinalgOp op,
               ArrayRef<int64_t> sizes, bool contraction = false) {
  SmallVector<bool> scalable(sizes.size(), false);
  if (failed(linalg::vectorizeOpPrecondition(op, sizes, scalable)))
    return;
  rewriter.setInsertionPoint(op);
  // Contractions become vector.contract (then outer products of a column
  // of A and a row of B: broadcast + fma), not broadcasts and transposes.
  FailureOr<linalg::VectorizationResult> result = linalg::vectorize(
      rewriter, op, sizes, scalable, /*vectorizeNDExtract=*/false,
      /*flatten1DDepthwiseConv=*/false,
      /*assumeDynamicDimsMatchVecSizes=*/false, contraction);
  if (succeeded(result))
    rewriter.replaceOp(op, result->replacements);
}

/// Lanes for a loop of `size` iterations: V, or the size if smaller.
int64_t lanes(int64_t size, int64_t v) {
  return ShapedType::isDynamic(size) ? v : std::min(size, v);
}

struct VectorizeLinalg
    : mlir::dq::impl::DQVectorizeLinalgBase<VectorizeLinalg> {
  using DQVectorizeLinalgBase::DQVectorizeLinalgBase;

  void schedule(RewriterBase &rewriter, linalg::LinalgOp op) {
    unsigned n = op.getNumLoops();
    SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
    unsigned numReductions = op.getNumReductionLoops();
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    SmallVector<int64_t> tiles(n, 1), vec(n, 1);
    tiles[n - 1] = vectorSize;
    vec[n - 1] = lanes(ranges[n - 1], vectorSize);
    bool contraction = linalg::isaContractionOpInterface(op);

    if (contraction) {
      FailureOr<linalg::ContractionDimensions> dims =
          linalg::inferContractionDims(op);
      if (!contractions || failed(dims) || dims->m.size() != 1 ||
          dims->n.size() != 1 || dims->k.size() != 1 ||
          dims->n[0] != n - 2 || dims->k[0] != n - 1 ||
          !getElementTypeOrSelf(op.getDpsInits()[0].getType()).isF32())
        return;
      unsigned m = dims->m[0], nn = dims->n[0], k = dims->k[0];
      tiles[m] = contractionRows;
      tiles[nn] = vectorSize;
      tiles[k] = 1;
      vec[m] = lanes(ranges[m], contractionRows);
      vec[nn] = lanes(ranges[nn], vectorSize);
      vec[k] = 1;
    } else if (numReductions != 0 &&
               (!reductions || numReductions != 1 ||
                !linalg::isReductionIterator(iters[n - 1]))) {
      // Only one innermost reduction (softmax max/sum, norms) is handled.
      return;
    }
    if (auto tiled = tile(rewriter, op, tiles); succeeded(tiled))
      vectorize(rewriter, *tiled, vec, contraction);
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isCandidate(op))
        ops.push_back(op);
    });
    IRRewriter rewriter(ctx);
    for (auto [i, op] : llvm::enumerate(ops))
      if (maxOps < 0 || static_cast<int64_t>(i) < maxOps)
        schedule(rewriter, op);

    // Clean up what vectorization left: unit dims, masks, and math
    // functions that only vectorize as polynomials.
    RewritePatternSet patterns(ctx);
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
    vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
    vector::populateVectorTransferDropUnitDimsPatterns(patterns);
    vector::populateVectorMaskLoweringPatternsForSideEffectingOps(patterns);
    dq::populateApproximateMathPatterns(patterns);
    vector::TransferReadOp::getCanonicalizationPatterns(patterns, ctx);
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns, ctx);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();

    // Masks and reads of loop-invariant data out of the loops, then the
    // accumulators' read/write pairs around the innermost loops.
    getOperation().walk([](LoopLikeOpInterface loop) {
      moveLoopInvariantCode(loop);
    });
    if (hoist)
      linalg::hoistRedundantVectorTransfers(getOperation());
  }
};

} // namespace
