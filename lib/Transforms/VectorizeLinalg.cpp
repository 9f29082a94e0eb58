//===- VectorizeLinalg.cpp - tile and vectorize float linalg ops ----------===//
//
// Each op gets one schedule, decided from its iterators alone:
//
//   all parallel           tile [1, ..., 1, V]          vectorize [1,..,1,V]
//   innermost reduction    tile [1, ..., 1, V]  (loops in dim order: the
//   f32 contraction        tile [1, .., R (m), C (n), 1 (k)]  reduction is
//                                                       the innermost loop)
//
// The loops of tiles wider than 1 are peeled: their full tiles are static
// and vectorize without masks, and one masked tile handles the edge, so one
// schedule serves every batch and sequence length (a contraction's
// schedule also depends on its rows: tileContraction). In the full tiles the
// output tile of a contraction or reduction stays in registers across the
// innermost loop (hoistAccumulator). An op the vectorizer rejects keeps its
// tiled (scalar) form, which is still correct.
//
// It runs on buffers: on tensors, one-shot bufferization's in-place analysis
// of these loops next to the int8 kernels' loops took minutes (value-bounds
// comparisons of slices through nested scf.for).
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/ApproximateMath.h"
#include "lib/Transforms/VmlTanh.h"
#include "lib/Transforms/Passes.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
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

/// With threads > 1: the loop over dim 0 of a tiled op whose dim 0 is
/// parallel and tiled by 1 (batch x heads of attention, rows of GELU and
/// softmax) becomes an scf.parallel over chunks of its iterations, which
/// dq-cpu-pipeline gives to async-parallel-for: `threads` chunks when the
/// op has at least `minIterations` iterations per thread (a hand-off costs
/// microseconds), else one, which runs inline in the caller. One copy of
/// the body serves both: a sequential copy beside the parallel one doubled
/// the code of every such op (and the JIT's time). With `twoLoops`, the
/// dim-1 loop nested in it (also parallel, tiled by 1) joins the chunked
/// range: with a batch of 1, the heads or rows are what there is to split.
/// Iterations write disjoint slices of the output: the dims are parallel
/// dims of it. Returns the scf.parallel.
Operation *parallelizeOuterLoop(RewriterBase &rewriter, scf::ForOp loop,
                                bool twoLoops, Value iterations,
                                int64_t threads, int64_t minIterations) {
  rewriter.setInsertionPoint(loop);
  ImplicitLocOpBuilder b(loop.getLoc(), rewriter);
  Value worth =
      arith::CmpIOp::create(b, arith::CmpIPredicate::uge, iterations,
                            dq::constIndex(b, threads * minIterations));
  Value chunks = arith::SelectOp::create(b, worth, dq::constIndex(b, threads),
                                         dq::constIndex(b, 1));
  SmallVector<scf::ForOp> loops = {loop};
  if (twoLoops)
    loops.push_back(cast<scf::ForOp>(&loop.getBody()->front()));
  // The loops' iterations, numbered row-major: trip counts and their
  // product.
  SmallVector<Value> trips;
  Value total = dq::constIndex(b, 1);
  for (scf::ForOp l : loops) {
    trips.push_back(arith::CeilDivUIOp::create(
        b, arith::SubIOp::create(b, l.getUpperBound(), l.getLowerBound()),
        l.getStep()));
    total = arith::MulIOp::create(b, total, trips.back());
  }
  auto parallel = scf::ParallelOp::create(
      b, ValueRange{dq::constIndex(b, 0)}, ValueRange{chunks},
      ValueRange{dq::constIndex(b, 1)},
      [&](OpBuilder &pb, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder cb(loc, pb);
        auto [lo, hi] = dq::chunkBounds(cb, ivs[0], chunks, total);
        scf::ForOp::create(
            pb, loc, lo, hi, dq::constIndex(cb, 1), ValueRange{},
            [&](OpBuilder &fb, Location, Value i, ValueRange) {
              IRMapping map;
              for (size_t d = loops.size(); d-- > 0;) {
                Value at = i;
                if (d + 1 < loops.size()) {
                  at = arith::DivUIOp::create(fb, loc, i, trips[d + 1]);
                } else if (loops.size() > 1) {
                  at = arith::RemUIOp::create(fb, loc, i, trips[d]);
                }
                scf::ForOp l = loops[d];
                map.map(l.getInductionVar(),
                        arith::AddIOp::create(
                            fb, loc, l.getLowerBound(),
                            arith::MulIOp::create(fb, loc, at, l.getStep())));
              }
              for (Operation &op : loops.back().getBody()->without_terminator())
                fb.clone(op, map);
              scf::YieldOp::create(fb, loc);
            });
      });
  rewriter.eraseOp(loop);
  return parallel;
}

/// Tiles `op` by `sizes` (0 = not tiled), then peels the loops whose tiles
/// are wider than 1 (`peel`): their full tiles get static sizes, vectorize
/// without masks, and let hoistAccumulator keep accumulators in registers;
/// the last, partial tile keeps a masked copy. `staticTiles` folds the full
/// tiles' constant sizes into their types. Returns the tiled op and all its
/// peeled copies.
FailureOr<SmallVector<linalg::LinalgOp>>
tileAndPeel(RewriterBase &rewriter, linalg::LinalgOp op,
            ArrayRef<int64_t> sizes, bool peel,
            const FrozenRewritePatternSet &staticTiles, int64_t threads,
            int64_t minIterations, ArrayRef<int64_t> interchange = {}) {
  Value iterations;
  SmallVector<utils::IteratorType> iteratorTypes = op.getIteratorTypesArray();
  // Inside a parallel loop (the frontend's blocked attention) the threads
  // are already busy with its iterations: a nested region would only add a
  // hand-off and a wait per iteration (attention 8x12x128x64 on 2 threads:
  // 4.6 ms, 10% of it waiting, with the matmuls' regions nested).
  bool outerParallel = threads > 1 && !dq::insideParallelLoop(op) &&
                       sizes.size() >= 2 && sizes[0] == 1 &&
                       linalg::isParallelIterator(iteratorTypes[0]);
  if (outerParallel) {
    rewriter.setInsertionPoint(op);
    Location loc = op.getLoc();
    iterations = dq::constIndex(rewriter, loc, 1);
    for (Range r : op.createLoopRanges(rewriter, loc))
      iterations = arith::MulIOp::create(
          rewriter, loc, iterations,
          getValueOrCreateConstantIndexOp(rewriter, loc, r.size));
  }
  scf::SCFTilingOptions options;
  options.setTileSizes(indexAttrs(rewriter, sizes));
  if (!interchange.empty())
    options.setInterchange(interchange);
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
      rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled) || tiled->loops.empty())
    return failure();
  rewriter.eraseOp(op);
  // The loop nest, and the partial copy of its outermost loop if peeled.
  SmallVector<Operation *> roots = {tiled->loops.front()};
  if (peel) {
    // Loops come in the order of the tiled dims (interchanged). Peeling the
    // innermost first makes each outer peel clone both versions of the
    // loops inside it.
    SmallVector<int64_t> order;
    for (size_t i = 0; i < sizes.size(); ++i)
      order.push_back(interchange.empty() ? int64_t(i) : interchange[i]);
    unsigned loop = tiled->loops.size();
    for (int64_t dim : llvm::reverse(order)) {
      int64_t size = sizes[dim];
      if (size == 0)
        continue;
      auto forOp = dyn_cast<scf::ForOp>(tiled->loops[--loop].getOperation());
      scf::ForOp partial;
      if (size > 1 && forOp &&
          succeeded(scf::peelForLoopAndSimplifyBounds(rewriter, forOp, partial)) &&
          loop == 0)
        roots.push_back(partial);
    }
  }
  if (outerParallel)
    if (auto loop = dyn_cast<scf::ForOp>(roots.front());
        loop && loop.getNumRegionIterArgs() == 0) {
      // Dim 1 joins when it is a parallel loop of its own, tiled by 1, the
      // only op in dim 0's loop (the loops of the vector dims are inside).
      auto inner = dyn_cast<scf::ForOp>(&loop.getBody()->front());
      bool twoLoops =
          sizes.size() >= 3 && sizes[1] == 1 && inner &&
          inner.getNumRegionIterArgs() == 0 &&
          loop.getBody()->getOperations().size() == 2 &&
          linalg::isParallelIterator(iteratorTypes[1]);
      roots.front() = parallelizeOuterLoop(rewriter, loop, twoLoops,
                                           iterations, threads, minIterations);
    }
  // The full tiles' sizes are constants now; fold them into the subviews'
  // types (and through memref.cast into the tiled ops) so that those ops
  // are static and vectorize without masks.
  SmallVector<linalg::LinalgOp> ops;
  SmallVector<Operation *> nested;
  for (Operation *root : roots)
    root->walk([&](Operation *inner) {
      if (inner != root)
        nested.push_back(inner);
    });
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
  (void)applyOpPatternsGreedily(nested, staticTiles, config);
  for (Operation *root : roots)
    root->walk([&](linalg::LinalgOp inner) { ops.push_back(inner); });
  return ops;
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

/// The vectorizer makes vector.contract of named contractions only: a
/// linalg.generic one (a batch_matmul generalized by reshape propagation in
/// linalg-fuse-elementwise-ops, as with static shapes) would come out as
/// mulf + multi_reduction, two roundings where PyTorch's sgemm fuses and
/// scalar code for the unit k tile. As linalg.contract with the same maps it
/// is named. Only all-f32 ones: their body is then exactly mulf + addf.
linalg::LinalgOp asNamedContraction(RewriterBase &rewriter,
                                    linalg::LinalgOp op) {
  if (!isa<linalg::GenericOp>(op.getOperation()) ||
      !llvm::all_of(op->getOperandTypes(), [](Type t) {
        return getElementTypeOrSelf(t).isF32();
      }))
    return op;
  rewriter.setInsertionPoint(op);
  auto named = linalg::ContractOp::create(
      rewriter, op.getLoc(), op.getDpsInputs(), op.getDpsInits(),
      rewriter.getAffineMapArrayAttr(op.getIndexingMapsArray()));
  rewriter.eraseOp(op);
  return named;
}

/// Keeps the output tile of a vectorized contraction or reduction in
/// registers across its innermost (k or reduction) loop: the unmasked read
/// and write of `tile` move out of `loop` and the tile becomes loop-carried.
/// Upstream's hoistRedundantVectorTransfers gives up on these: the output
/// buffer has views (reshapes) elsewhere and dynamic sizes. Here `tile` is the
/// output operand of one tiled linalg op, which nothing else in the loop
/// touches (bufferization never aliases a contraction's output with its
/// inputs).
void hoistAccumulator(RewriterBase &rewriter, scf::ForOp loop, Value tile) {
  (void)moveLoopInvariantCode(cast<LoopLikeOpInterface>(loop.getOperation()));
  if (!loop.isDefinedOutsideOfLoop(tile))
    return;
  vector::TransferReadOp read;
  vector::TransferWriteOp write;
  for (Operation *user : tile.getUsers()) {
    if (!loop->isAncestor(user))
      continue;
    auto r = dyn_cast<vector::TransferReadOp>(user);
    auto w = dyn_cast<vector::TransferWriteOp>(user);
    if (r && !read && r->getParentOp() == loop)
      read = r;
    else if (w && !write && w->getParentOp() == loop)
      write = w;
    else
      return; // another access, or a masked one (inside vector.mask)
  }
  // Same indices: equal values, or constants of equal value (the vectorizer
  // makes a separate `arith.constant 0` for each transfer; in a big function
  // nothing has folded them into one yet).
  auto sameIndices = [](ValueRange a, ValueRange b) {
    return a.size() == b.size() &&
           llvm::all_of(llvm::zip(a, b), [](auto ab) {
             return isEqualConstantIntOrValue(std::get<0>(ab),
                                              std::get<1>(ab));
           });
  };
  if (!read || !write || read.getMask() || write.getMask() ||
      !sameIndices(read.getIndices(), write.getIndices()) ||
      read.getVectorType() != write.getVectorType() ||
      read.getPermutationMap() != write.getPermutationMap() ||
      !read->isBeforeInBlock(write) ||
      llvm::any_of(read->getOperands(),
                   [&](Value v) { return !loop.isDefinedOutsideOfLoop(v); }))
    return;
  loop.moveOutOfLoop(read);
  rewriter.moveOpAfter(write, loop);
  NewYieldValuesFn yield = [&](OpBuilder &, Location, ArrayRef<BlockArgument>) {
    return SmallVector<Value>{write.getVector()};
  };
  FailureOr<LoopLikeOpInterface> carried =
      cast<LoopLikeOpInterface>(loop.getOperation())
          .replaceWithAdditionalYields(rewriter, read.getResult(),
                                       /*replaceInitOperandUsesInLoop=*/true,
                                       yield);
  if (succeeded(carried))
    write.getValueToStoreMutable().assign(
        carried->getOperation()->getResults().back());
}

/// The loop an f32 input of an all-parallel op is contiguous along, when
/// that is not the innermost loop, along which the output is: a transpose
/// (BERT's K^T, [B, S, H, D] -> [B, H, D, S]). Tiled [.., V, .., V], each
/// tile is read and written as V contiguous vectors and transposed in
/// registers (lowerTileTransposes); tiled by 1 there, every lane of the
/// output vector was a scalar load of its own (4% of a BERT-base call).
std::optional<unsigned> transposedLoop(linalg::LinalgOp op) {
  unsigned n = op.getNumLoops();
  if (n < 2 || op.getNumDpsInits() != 1)
    return std::nullopt;
  AffineMap out = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (out.getNumResults() == 0)
    return std::nullopt;
  auto outLast = dyn_cast<AffineDimExpr>(out.getResults().back());
  if (!outLast || outLast.getPosition() != n - 1)
    return std::nullopt;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    if (!getElementTypeOrSelf(in->get().getType()).isF32() ||
        map.getNumResults() == 0 || !map.isProjectedPermutation() ||
        !map.isFunctionOfDim(n - 1))
      continue;
    unsigned last = cast<AffineDimExpr>(map.getResults().back()).getPosition();
    // Only the loop next to the innermost one: with a loop tiled by 1 in
    // between, the [V, 1, .., V] tiles' masked edge copies come out of the
    // unit-dim cleanup with a mask of the wrong shape (x.permute(2, 0, 1)
    // did not compile); those keep the scalar-lane form.
    if (last == n - 2)
      return last;
  }
  return std::nullopt;
}

/// The 16 x 16 f32 transposes of transposedLoop's tiles as 64 AVX-512
/// shuffles (upstream's Shuffle16x16 lowering). Only those: other
/// vector.transposes keep their lowering in convert-vector-to-llvm.
LogicalResult lowerTileTransposes(Operation *root) {
  SmallVector<Operation *> tiles;
  root->walk([&](vector::TransposeOp t) {
    VectorType type = t.getSourceVectorType();
    SmallVector<int64_t> wide;
    for (int64_t size : type.getShape())
      if (size != 1)
        wide.push_back(size);
    if (type.getElementType().isF32() && wide == SmallVector<int64_t>{16, 16})
      tiles.push_back(t);
  });
  if (tiles.empty())
    return success();
  RewritePatternSet patterns(root->getContext());
  vector::populateVectorTransposeLoweringPatterns(
      patterns, vector::VectorTransposeLowering::Shuffle16x16);
  return applyOpPatternsGreedily(tiles, std::move(patterns));
}

/// Lanes for a loop of `size` iterations: V, or the size if smaller.
int64_t lanes(int64_t size, int64_t v) {
  return ShapedType::isDynamic(size) ? v : std::min(size, v);
}

struct VectorizeLinalg
    : mlir::dq::impl::DQVectorizeLinalgBase<VectorizeLinalg> {
  using DQVectorizeLinalgBase::DQVectorizeLinalgBase;

  /// Canonicalizations that make peeled full tiles static (tileAndPeel),
  /// built once per pass instance rather than once per op.
  FrozenRewritePatternSet staticTilePatterns;

  LogicalResult initialize(MLIRContext *ctx) override {
    RewritePatternSet patterns(ctx);
    memref::SubViewOp::getCanonicalizationPatterns(patterns, ctx);
    memref::CastOp::getCanonicalizationPatterns(patterns, ctx);
    affine::AffineMinOp::getCanonicalizationPatterns(patterns, ctx);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
    staticTilePatterns = FrozenRewritePatternSet(std::move(patterns));
    return success();
  }

  void schedule(RewriterBase &rewriter, linalg::LinalgOp op) {
    unsigned n = op.getNumLoops();
    // Nothing to tile: rank-0 ops (a recurrence's scalar bookkeeping).
    if (n == 0 || op.getNumDpsInits() == 0)
      return;
    SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
    unsigned numReductions = op.getNumReductionLoops();
    SmallVector<int64_t> tiles(n, 1);
    tiles[n - 1] = vectorSize;
    bool contraction = linalg::isaContractionOpInterface(op);

    if (contraction) {
      FailureOr<linalg::ContractionDimensions> dims =
          linalg::inferContractionDims(op);
      // Several m dims (an fp32 linear of [B, S, K] activations, with no
      // reshape: fp32_linear.py): the innermost one takes the rows, the
      // others are tiled by 1. Several k dims, the innermost loops (an
      // einsum over two dims): each tiled by 1, so the vector contraction
      // is the same one-k step.
      unsigned numK = failed(dims) ? 0 : dims->k.size();
      // The k dims are distinct: all among the last numK loops means they
      // are those loops.
      auto kInnermost = [&] {
        return llvm::all_of(dims->k, [&](unsigned k) { return k >= n - numK; });
      };
      if (!contractions || failed(dims) || dims->m.empty() ||
          dims->n.size() != 1 || numK == 0 || !kInnermost() ||
          dims->n[0] != n - numK - 1 ||
          !getElementTypeOrSelf(op.getDpsInits()[0].getType()).isF32())
        return;
      tiles[*llvm::max_element(dims->m)] = contractionRows;
      tiles[dims->n[0]] = contractionCols;
      for (unsigned k : dims->k)
        tiles[k] = 1;
      op = asNamedContraction(rewriter, op);
    } else if (numReductions != 0 &&
               (!reductions || numReductions != 1 ||
                !linalg::isReductionIterator(iters[n - 1]))) {
      // Only one innermost reduction (softmax max/sum, norms) is handled.
      return;
    } else if (numReductions == 0) {
      if (std::optional<unsigned> loop = transposedLoop(op))
        tiles[*loop] = vectorSize;
    }
    FailureOr<SmallVector<linalg::LinalgOp>> tiled =
        contraction && peel
            ? tileContraction(rewriter, op, tiles)
            : tileAndPeel(rewriter, op, tiles, peel, staticTilePatterns,
                          threads, int64_t(1) << parallelLog2);
    if (failed(tiled))
      return;
    // Each copy's vector shape: its tile, or its static size if smaller.
    for (linalg::LinalgOp copy : *tiled) {
      SmallVector<int64_t> copyRanges = copy.getStaticLoopRanges();
      SmallVector<int64_t> vec = llvm::map_to_vector(
          llvm::zip(copyRanges, tiles),
          [](auto rt) { return lanes(std::get<0>(rt), std::get<1>(rt)); });
      auto loop = copy->getParentOfType<scf::ForOp>();
      Value tile = copy.getDpsInits()[0];
      vectorize(rewriter, copy, vec, contraction);
      if (hoist && loop && (contraction || numReductions != 0))
        hoistAccumulator(rewriter, loop, tile);
    }
  }

  /// A contraction's schedule depends on its rows (m), known at run time
  /// only as a rule, so both are emitted under an scf.if on M:
  ///
  /// - M >= R: column strips of C outside (each strip of the [K, N] weights,
  ///   K rows a page apart, then stays in L2 for all the row tiles), R x C
  ///   tiles inside with k innermost and the accumulators in registers
  ///   across k; a strip's edge rows one at a time the same way (1 x C).
  /// - M < R (a decode step's M = 1, a GEMV): rows one at a time with k
  ///   outside the rows and columns, so that each k streams one contiguous
  ///   weight row (the prefetchers do not follow a strip's page-apart
  ///   rows) into the rows' cache-resident outputs.
  ///
  /// Every output element sums over k in the same order either way.
  FailureOr<SmallVector<linalg::LinalgOp>>
  tileContraction(RewriterBase &rewriter, linalg::LinalgOp op,
                  ArrayRef<int64_t> tiles) {
    linalg::ContractionDimensions dims = *linalg::inferContractionDims(op);
    unsigned row = *llvm::max_element(dims.m);
    int64_t rows = op.getStaticLoopRanges()[row];
    if (!ShapedType::isDynamic(rows))
      return rows >= tiles[row] ? tileStrips(rewriter, op, tiles, dims)
                                : tileRows(rewriter, op, tiles, dims);
    // Both schedules, chosen by M (memref ops: the scf.if yields nothing).
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    SmallVector<Range> ranges = op.createLoopRanges(rewriter, loc);
    Value m = getValueOrCreateConstantIndexOp(rewriter, loc, ranges[row].size);
    Value many = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::sge, m,
        dq::constIndex(rewriter, loc, tiles[row]));
    auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{}, many,
                                  /*withElseRegion=*/true);
    rewriter.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    auto strips = cast<linalg::LinalgOp>(rewriter.clone(*op.getOperation()));
    rewriter.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    auto single = cast<linalg::LinalgOp>(rewriter.clone(*op.getOperation()));
    rewriter.eraseOp(op);
    SmallVector<linalg::LinalgOp> out;
    for (auto [copy, isStrips] : {std::pair{strips, true}, {single, false}}) {
      FailureOr<SmallVector<linalg::LinalgOp>> tiled =
          isStrips ? tileStrips(rewriter, copy, tiles, dims)
                   : tileRows(rewriter, copy, tiles, dims);
      if (failed(tiled))
        out.push_back(copy);
      else
        llvm::append_range(out, *tiled);
    }
    return out;
  }

  /// M >= R (see tileContraction).
  FailureOr<SmallVector<linalg::LinalgOp>>
  tileStrips(RewriterBase &rewriter, linalg::LinalgOp op,
             ArrayRef<int64_t> tiles,
             const linalg::ContractionDimensions &dims) {
    unsigned row = *llvm::max_element(dims.m);
    // The strips (and the batch dims, tiled by 1, outermost: threads).
    SmallVector<int64_t> stripSizes(tiles);
    stripSizes[row] = 0;
    for (unsigned k : dims.k)
      stripSizes[k] = 0;
    // Blocks of k inside each strip: every element still sums over k in
    // order (block after block, through the output buffer).
    if (contractionKBlock > 0 && dims.k.size() == 1)
      stripSizes[dims.k[0]] = contractionKBlock;
    FailureOr<SmallVector<linalg::LinalgOp>> strips = tileAndPeel(
        rewriter, op, stripSizes, /*peel=*/true, staticTilePatterns, threads,
        int64_t(1) << parallelLog2);
    if (failed(strips))
      return failure();
    SmallVector<linalg::LinalgOp> out;
    for (linalg::LinalgOp strip : *strips) {
      SmallVector<int64_t> sizes(tiles.size(), 0);
      sizes[row] = tiles[row];
      for (unsigned k : dims.k)
        sizes[k] = 1;
      FailureOr<SmallVector<linalg::LinalgOp>> inStrip = tileAndPeel(
          rewriter, strip, sizes, /*peel=*/true, staticTilePatterns, 1, 1);
      if (failed(inStrip)) {
        out.push_back(strip);
        continue;
      }
      for (linalg::LinalgOp copy : *inStrip) {
        // The strip's edge rows (fewer than R): one at a time, 1 x C.
        if (copy.getStaticLoopRanges()[row] == tiles[row]) {
          out.push_back(copy);
          continue;
        }
        SmallVector<int64_t> one(tiles.size(), 0);
        one[row] = 1;
        for (unsigned k : dims.k)
          one[k] = 1;
        FailureOr<SmallVector<linalg::LinalgOp>> edge = tileAndPeel(
            rewriter, copy, one, /*peel=*/false, staticTilePatterns, 1, 1);
        if (failed(edge))
          out.push_back(copy);
        else
          llvm::append_range(out, *edge);
      }
    }
    return out;
  }

  /// M < R (see tileContraction).
  FailureOr<SmallVector<linalg::LinalgOp>>
  tileRows(RewriterBase &rewriter, linalg::LinalgOp op, ArrayRef<int64_t> tiles,
           const linalg::ContractionDimensions &dims) {
    unsigned row = *llvm::max_element(dims.m), col = dims.n[0];
    SmallVector<int64_t> sizes(tiles);
    sizes[row] = 1;
    // Loops: the batch dims, k, the rows, the columns.
    SmallVector<int64_t> interchange;
    for (int64_t d = 0, e = tiles.size(); d < e; ++d)
      if (d != col && d != row && !llvm::is_contained(dims.k, d))
        interchange.push_back(d);
    llvm::append_range(interchange, dims.k);
    interchange.push_back(row);
    interchange.push_back(col);
    // Threads split the outermost loop: only a batch dim's (not k's).
    bool batchOutside = interchange.front() == 0 && row != 0;
    return tileAndPeel(rewriter, op, sizes, /*peel=*/true, staticTilePatterns,
                       batchOutside ? threads : 1, int64_t(1) << parallelLog2,
                       interchange);
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
    dq::populateVmlTanhPatterns(patterns);
    vector::TransferReadOp::getCanonicalizationPatterns(patterns, ctx);
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns, ctx);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns)))) {
      getOperation().emitError("dq-vectorize-linalg: cleanup patterns did not "
                               "converge");
      return signalPassFailure();
    }

    if (failed(lowerTileTransposes(getOperation()))) {
      getOperation().emitError("dq-vectorize-linalg: transpose lowering did "
                               "not converge");
      return signalPassFailure();
    }

    // Transfers through subviews become transfers of the whole buffer: the
    // hoisting below gives up on sources that are (or have) views. (A pattern
    // set of its own: the unit-dim patterns above make the subviews these
    // fold, and together they never reach a fixpoint.) Without the folders
    // through expand_shape and collapse_shape: MLIR 22 folds a transfer_read
    // through memref.expand_shape wrongly (a vector<16x1x1> read along dim 1
    // becomes one along dim 0 of the source, test/fuzz/upstream/).
    RewritePatternSet folds(ctx);
    memref::populateFoldMemRefAliasOpPatterns(folds);
    llvm::erase_if(folds.getNativePatterns(), [](const auto &pattern) {
      StringRef name = pattern->getDebugName();
      return name.contains("ExpandShape") || name.contains("CollapseShape");
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(folds)))) {
      getOperation().emitError("dq-vectorize-linalg: view folding did not "
                               "converge");
      return signalPassFailure();
    }

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
