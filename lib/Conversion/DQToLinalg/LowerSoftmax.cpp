//===- LowerSoftmax.cpp - dq.softmax as ATen's CPU kernels compute it -----===//
//
// torch.softmax / torch.log_softmax on contiguous f32 CPU tensors run
// aten/src/ATen/native/cpu/SoftMaxKernel.cpp (PyTorch 2.13, AVX-512 build:
// Vectorized<float> has 16 lanes; exp and log are SLEEF's expf_u10 and
// logf_u10). CPUs without AVX-512 run its AVX2 build, the same steps on 8
// lanes (isa=avx2: atenLanes is 8, the lane tree 4, 2, 1); the numbers
// below are the AVX-512 ones. With one thread (parallel_for over all rows
// in one chunk):
//
// Last dim (_vec_softmax_lastdim, _vec_log_softmax_lastdim), per row of N:
//   m   = vec::reduce_all(maximum, x)   acc = x[0:16], acc = max(acc, next
//         16), the N % 16 last into their lanes (Vec::set), then lanes
//         l^8, l^4, l^2, l^1 (vec_reduce_all); for N < 16 lanes 0, 1, 2, ...
//         folded in turn. maximum(a, b) is _mm512_max_ps (b unless a > b)
//         with NaN propagated.
//   e   = (x - m).exp()                 every element, tails as vectors
//   sum = e reduced the same way with +
//   softmax:     e * (1 / sum)
//   log_softmax: (x - m) - log(sum)     (map_reduce_all: no e stored)
//
// Another dim (_vec_softmax, serial_vec_logsoftmax_range), x as [outer, N,
// inner]: each inner position is reduced over N one element at a time.
// Positions in whole vectors of 16 (all but the inner % 16 last, whatever
// the blocking, since positions are independent) and the inner % 16 last
// ones (scalar code) round differently:
//   softmax     vectors: m = maximum fold from x_0, e = exp (SLEEF), s = 0 +
//               e_0 + e_1 ..., e / s; scalars: m = std::max fold from x_0,
//               e = expf (libm), same sum, e / s
//   log_softmax m = -inf, then x > m ? x : m; s = 0 + exp(x - m) ... (SLEEF
//               in vectors, libm's expf in the scalar tail); log(s) (SLEEF
//               for all: vec::map over the sums); (x - m) - log(s)
//
// The lowering is that code on tensors: scf.for over rows (positions), 16-
// lane vector transfers, one masked transfer for a tail. Scalar math.exp
// on f32 becomes a call of libm's expf, the function ATen calls.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/AtenLoop.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Utils/SleefMath.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include <functional>
#include <limits>

using namespace mlir;
using namespace mlir::dq;


namespace {

using Body = std::function<SmallVector<Value>(ImplicitLocOpBuilder &, Value,
                                              ValueRange)>;

/// scf.for from `lb` to `ub` by `step` carrying `inits`; `body` returns
/// the values to yield.
SmallVector<Value> loop(ImplicitLocOpBuilder &b, Value lb, Value ub,
                        Value step, ValueRange inits, const Body &body) {
  auto op = scf::ForOp::create(
      b, lb, ub, step, inits,
      [&](OpBuilder &nb, Location loc, Value iv, ValueRange iters) {
        ImplicitLocOpBuilder ib(loc, nb);
        scf::YieldOp::create(ib, body(ib, iv, iters));
      });
  return SmallVector<Value>(op.getResults());
}

SmallVector<Value> concat(ArrayRef<Value> a, ArrayRef<Value> b) {
  SmallVector<Value> r(a);
  r.append(b.begin(), b.end());
  return r;
}

/// The f32 arithmetic of the kernels, on scalars or vector<16xf32>.
struct Ops {
  ImplicitLocOpBuilder &b;
  int64_t numLanes;
  VectorType vType;
  Ops(ImplicitLocOpBuilder &b, int64_t numLanes)
      : b(b), numLanes(numLanes),
        vType(VectorType::get({numLanes}, b.getF32Type())) {}

  Value cst(Type t, float v) {
    if (auto vt = dyn_cast<VectorType>(t))
      return arith::ConstantOp::create(
          b, DenseElementsAttr::get(vt, b.getF32FloatAttr(v)));
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value splat(float v) { return cst(vType, v); }
  Value broadcast(Value s) { return vector::BroadcastOp::create(b, vType, s); }
  Value cmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }

  /// vec::maximum: _mm512_max_ps(x, y) (y unless x > y), NaN if either is.
  Value maximum(Value x, Value y) {
    Value m = select(cmp(arith::CmpFPredicate::OGT, x, y), x, y);
    return select(cmp(arith::CmpFPredicate::UNO, x, y),
                  cst(x.getType(), std::numeric_limits<float>::quiet_NaN()),
                  m);
  }
  /// std::max(x, y): y if x < y, else x.
  Value stdMax(Value x, Value y) {
    return select(cmp(arith::CmpFPredicate::OLT, x, y), y, x);
  }
  /// The log-softmax kernels' running max: y > x ? y : x (NaN ignored).
  Value blendMax(Value x, Value y) {
    return select(cmp(arith::CmpFPredicate::OGT, y, x), y, x);
  }

  /// vec_reduce_all of the AVX-512 build: lanes l and l ^ s combined for
  /// s = 8, 4, 2, 1 (op(v, shuffled)); lane 0.
  Value tree(Value v, Value (Ops::*op)(Value, Value)) {
    for (int64_t s = numLanes / 2; s >= 1; s /= 2) {
      SmallVector<int64_t> perm;
      for (int64_t l = 0; l < numLanes; ++l)
        perm.push_back(l ^ s);
      v = (this->*op)(v, vector::ShuffleOp::create(b, v, v, perm));
    }
    return vector::ExtractOp::create(b, v, int64_t{0});
  }

  /// vec_reduce_all(op, v, n) for n < 16: lane 0, then op with lane 1, 2, ...
  Value foldLanes(Value v, Value n, Value (Ops::*op)(Value, Value)) {
    Value first = vector::ExtractOp::create(b, v, int64_t{0});
    return loop(b, constIndex(b, 1), n, constIndex(b, 1), {first},
                [&](ImplicitLocOpBuilder &lb, Value i, ValueRange it) {
                  Ops o(lb, numLanes);
                  Value lane = vector::ExtractOp::create(
                      lb, v, ArrayRef<OpFoldResult>{i});
                  return SmallVector<Value>{(o.*op)(it[0], lane)};
                })[0];
  }

  Value read(Value t, ArrayRef<Value> idx, bool inBounds, float pad) {
    bool bounds[] = {inBounds};
    return vector::TransferReadOp::create(b, vType, t, idx,
                                          constF32(b, pad), bounds);
  }
  Value write(Value v, Value t, ArrayRef<Value> idx, bool inBounds) {
    bool bounds[] = {inBounds};
    return vector::TransferWriteOp::create(b, v, t, idx, bounds).getResult();
  }
  Value exp(Value v) { return buildSleefExp(b, v); }
  /// SLEEF's log of a scalar (ATen maps it over the sums as vectors).
  Value log(Value s) {
    return vector::ExtractOp::create(b, buildSleefLog(b, broadcast(s)),
                                     int64_t{0});
  }
};

/// scf.if `cond` yielding the one value `thenBody` or `elseBody` builds.
Value ifElse(ImplicitLocOpBuilder &b, int64_t numLanes, Value cond,
             const std::function<Value(Ops &)> &thenBody,
             const std::function<Value(Ops &)> &elseBody) {
  auto branch = [numLanes](const std::function<Value(Ops &)> &body) {
    return [&body, numLanes](OpBuilder &nb, Location loc) {
      ImplicitLocOpBuilder ib(loc, nb);
      Ops o(ib, numLanes);
      scf::YieldOp::create(ib, body(o));
    };
  };
  return scf::IfOp::create(b, cond, branch(thenBody), branch(elseBody))
      .getResult(0);
}

/// Runs `body(col, inBounds)` on the whole 16-column vectors of [0, n) and
/// then once, masked, on the n % 16 last columns (at col = n - n % 16, a
/// no-op if none), threading `inits` through.
SmallVector<Value> forVectors(ImplicitLocOpBuilder &b, int64_t numLanes, Value n,
                              ValueRange inits,
                              const std::function<SmallVector<Value>(
                                  ImplicitLocOpBuilder &, Value, bool,
                                  ValueRange)> &body) {
  Value lanes = constIndex(b, numLanes);
  Value nVec = arith::SubIOp::create(b, n, arith::RemUIOp::create(b, n, lanes));
  SmallVector<Value> it =
      loop(b, constIndex(b, 0), nVec, lanes, inits,
           [&](ImplicitLocOpBuilder &lb, Value col, ValueRange iters) {
             return body(lb, col, true, iters);
           });
  return body(b, nVec, false, it);
}

struct LowerSoftmax : OpRewritePattern<SoftmaxOp> {
  LowerSoftmax(MLIRContext *ctx, VendorISA isa)
      : OpRewritePattern(ctx), isa(isa) {}
  VendorISA isa;

  LogicalResult matchAndRewrite(SoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    int64_t numLanes = atenLanes(isa);
    Value x = op.getInput();
    int64_t rank = op.getInput().getType().getRank();
    int64_t dim = op.getDim();
    Value out = emptyLike(b, x, b.getF32Type());
    Value result = dim + 1 == rank ? lastDim(b, x, out, op.getLog(), numLanes)
                                   : otherDim(b, x, out, dim, op.getLog(),
                                              numLanes);
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(b, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }

  static SmallVector<Value> dims(ImplicitLocOpBuilder &b, Value x, int64_t from,
                                 int64_t to) {
    SmallVector<Value> r;
    for (int64_t d = from; d < to; ++d)
      r.push_back(tensor::DimOp::create(b, x, d));
    return r;
  }
  static Value product(ImplicitLocOpBuilder &b, ArrayRef<Value> sizes) {
    Value p = constIndex(b, 1);
    for (Value s : sizes)
      p = arith::MulIOp::create(b, p, s);
    return p;
  }

  /// _vec_softmax_lastdim / _vec_log_softmax_lastdim.
  static Value lastDim(ImplicitLocOpBuilder &b, Value x, Value out, bool log,
                       int64_t numLanes) {
    int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
    auto [leadDims, numRows] = leadingDims(b, x);
    Value c0 = constIndex(b, 0), c1 = constIndex(b, 1);
    Value n = tensor::DimOp::create(b, x, rank - 1);
    Value lanes = constIndex(b, numLanes);
    Value nVec = arith::SubIOp::create(b, n, arith::RemUIOp::create(b, n, lanes));
    Value short_ =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, n, lanes);
    // No rows to reduce when the last dim is empty.
    Value rows = arith::SelectOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, n, c0), c0,
        numRows);
    const float negInf = -std::numeric_limits<float>::infinity();

    return loop(b, c0, rows, c1, {out}, [&](ImplicitLocOpBuilder &rb, Value r,
                                            ValueRange iters) {
      Ops o(rb, numLanes);
      SmallVector<Value> row = delinearizeRow(rb, r, leadDims);
      auto at = [&](Value col) { return concat(row, {col}); };
      // Lanes past the tail: the padding of the masked read.
      Value tailMask = vector::CreateMaskOp::create(
          rb, VectorType::get({numLanes}, rb.getI1Type()),
          ValueRange{arith::SubIOp::create(rb, n, nVec)});

      // m = reduce_all(maximum, x).
      Value m = ifElse(
          rb, numLanes, short_,
          [&](Ops &t) {
            return t.foldLanes(t.read(x, at(c0), false, 0.0f), n,
                               &Ops::maximum);
          },
          [&](Ops &e) {
            Value first = e.read(x, at(c0), true, 0.0f);
            Value acc = loop(e.b, lanes, nVec, lanes, {first},
                             [&](ImplicitLocOpBuilder &lb, Value col,
                                 ValueRange it) {
                               Ops l(lb, numLanes);
                               return SmallVector<Value>{l.maximum(
                                   it[0], l.read(x, at(col), true, 0.0f))};
                             })[0];
            // maximum(acc, -inf) leaves the lanes past the tail as they are.
            acc = e.maximum(acc, e.read(x, at(nVec), false, negInf));
            return e.tree(acc, &Ops::maximum);
          });
      Value mV = o.broadcast(m);

      // e = exp(x - m) (stored for softmax), summed lane by lane; the tail
      // call also returns the tail vector alone (all of a short row).
      SmallVector<Value> inits = {o.splat(0.0f)};
      if (!log)
        inits.push_back(iters[0]);
      SmallVector<Value> sums = forVectors(
          rb, numLanes, n, inits,
          [&](ImplicitLocOpBuilder &lb, Value col, bool inBounds,
              ValueRange it) {
            Ops l(lb, numLanes);
            Value e = l.exp(l.sub(l.read(x, at(col), inBounds, 0.0f), mV));
            // Lanes past the end add nothing (acc + 0 = acc: sums of exp
            // are never -0).
            if (!inBounds)
              e = l.select(tailMask, e, l.splat(0.0f));
            SmallVector<Value> next = {l.add(it[0], e)};
            if (!log)
              next.push_back(l.write(e, it[1], at(col), inBounds));
            if (!inBounds)
              next.push_back(e);
            return next;
          });
      Value sum = ifElse(
          rb, numLanes, short_,
          [&](Ops &t) { return t.foldLanes(sums.back(), n, &Ops::add); },
          [&](Ops &e) { return e.tree(sums[0], &Ops::add); });

      if (log) {
        Value lsV = o.broadcast(o.log(sum));
        return forVectors(rb, numLanes, n, {iters[0]},
                          [&](ImplicitLocOpBuilder &lb, Value col,
                              bool inBounds, ValueRange it) {
                            Ops l(lb, numLanes);
                            Value v = l.read(x, at(col), inBounds, 0.0f);
                            Value y = l.sub(l.sub(v, mV), lsV);
                            return SmallVector<Value>{
                                l.write(y, it[0], at(col), inBounds)};
                          });
      }
      Value inv = arith::DivFOp::create(rb, constF32(rb, 1.0f), sum);
      Value invV = o.broadcast(inv);
      return forVectors(
          rb, numLanes, n, {sums[1]},
          [&](ImplicitLocOpBuilder &lb, Value col, bool inBounds,
              ValueRange it) {
            Ops l(lb, numLanes);
            Value e = l.read(it[0], at(col), inBounds, 0.0f);
            return SmallVector<Value>{l.write(
                arith::MulFOp::create(lb, e, invV), it[0], at(col), inBounds)};
          });
    })[0];
  }

  /// _vec_softmax / serial_vec_logsoftmax_range: x as [outer, N, inner].
  static Value otherDim(ImplicitLocOpBuilder &b, Value x, Value out,
                        int64_t dim, bool log, int64_t numLanes) {
    int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
    Value c0 = constIndex(b, 0), c1 = constIndex(b, 1);
    SmallVector<Value> outerDims = dims(b, x, 0, dim);
    SmallVector<Value> midDims = dims(b, x, dim + 1, rank - 1);
    Value n = tensor::DimOp::create(b, x, dim);
    Value w = tensor::DimOp::create(b, x, rank - 1);
    Value numMid = product(b, midDims);
    Value inner = arith::MulIOp::create(b, numMid, w);
    Value tailStart = arith::SubIOp::create(
        b, inner, arith::RemUIOp::create(b, inner, constIndex(b, numLanes)));
    // Nothing to reduce over an empty dim (and x[.., 0, ..] to avoid).
    Value numOuter = arith::SelectOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, n, c0), c0,
        product(b, outerDims));
    SmallVector<Value> innerDims = concat(midDims, {w});

    return loop(b, c0, numOuter, c1, {out}, [&](ImplicitLocOpBuilder &ob,
                                                 Value o, ValueRange iters) {
      SmallVector<Value> oIdx = delinearizeRow(ob, o, outerDims);
      auto at = [&](Value d, ArrayRef<Value> innerIdx) {
        return concat(concat(oIdx, {d}), innerIdx);
      };
      // Every inner position as vector code, 16 columns of the last dim at
      // a time; the inner % 16 last positions are then redone as scalars.
      Value res =
          loop(ob, c0, numMid, c1, {iters[0]},
               [&](ImplicitLocOpBuilder &qb, Value q, ValueRange qit) {
                 SmallVector<Value> qIdx = delinearizeRow(qb, q, midDims);
                 return forVectors(
                     qb, numLanes, w, {qit[0]},
                     [&](ImplicitLocOpBuilder &lb, Value col, bool inBounds,
                         ValueRange it) {
                       Ops l(lb, numLanes);
                       auto idx = [&](Value d) {
                         return at(d, concat(qIdx, {col}));
                       };
                       return SmallVector<Value>{
                           vectorPositions(l, x, it[0], n, idx, inBounds, log)};
                     });
               })[0];
      return loop(ob, tailStart, inner, c1, {res},
                  [&](ImplicitLocOpBuilder &sb, Value t, ValueRange it) {
                    Ops l(sb, numLanes);
                    SmallVector<Value> tIdx = delinearizeRow(sb, t, innerDims);
                    auto idx = [&](Value d) { return at(d, tIdx); };
                    return SmallVector<Value>{
                        scalarPosition(l, x, it[0], n, idx, log)};
                  });
    })[0];
  }

  using Index = std::function<SmallVector<Value>(Value)>;

  /// 16 positions (indices idx(d), d < n) of the vectorized kernels.
  static Value vectorPositions(Ops &o, Value x, Value out, Value n,
                               const Index &idx, bool inBounds, bool log) {
    ImplicitLocOpBuilder &b = o.b;
    Value c0 = constIndex(b, 0), c1 = constIndex(b, 1);
    auto read = [&](Ops &l, Value t, Value d) {
      return l.read(t, idx(d), inBounds, 0.0f);
    };
    auto overDim = [&](Value from, ValueRange inits, auto step) {
      return loop(b, from, n, c1, inits,
                  [&](ImplicitLocOpBuilder &lb, Value d, ValueRange it) {
                    Ops l(lb, o.numLanes);
                    return step(l, d, it);
                  });
    };
    if (log) {
      Value m = overDim(c0, {o.splat(-std::numeric_limits<float>::infinity())},
                        [&](Ops &l, Value d, ValueRange it) {
                          return SmallVector<Value>{
                              l.blendMax(it[0], read(l, x, d))};
                        })[0];
      Value s = overDim(c0, {o.splat(0.0f)},
                        [&](Ops &l, Value d, ValueRange it) {
                          return SmallVector<Value>{l.add(
                              it[0], l.exp(l.sub(read(l, x, d), m)))};
                        })[0];
      Value ls = buildSleefLog(b, s);
      return overDim(c0, {out}, [&](Ops &l, Value d, ValueRange it) {
        Value y = l.sub(l.sub(read(l, x, d), m), ls);
        return SmallVector<Value>{l.write(y, it[0], idx(d), inBounds)};
      })[0];
    }
    Value m = overDim(c1, {read(o, x, c0)},
                      [&](Ops &l, Value d, ValueRange it) {
                        return SmallVector<Value>{
                            l.maximum(it[0], read(l, x, d))};
                      })[0];
    SmallVector<Value> sumOut =
        overDim(c0, {o.splat(0.0f), out}, [&](Ops &l, Value d, ValueRange it) {
          Value e = l.exp(l.sub(read(l, x, d), m));
          return SmallVector<Value>{l.add(it[0], e),
                                    l.write(e, it[1], idx(d), inBounds)};
        });
    return overDim(c0, {sumOut[1]}, [&](Ops &l, Value d, ValueRange it) {
      Value y = arith::DivFOp::create(l.b, read(l, it[0], d), sumOut[0]);
      return SmallVector<Value>{l.write(y, it[0], idx(d), inBounds)};
    })[0];
  }

  /// One position of the kernels' scalar tails (libm's expf).
  static Value scalarPosition(Ops &o, Value x, Value out, Value n,
                              const Index &idx, bool log) {
    ImplicitLocOpBuilder &b = o.b;
    Value c0 = constIndex(b, 0), c1 = constIndex(b, 1);
    auto get = [&](Ops &l, Value t, Value d) {
      return tensor::ExtractOp::create(l.b, t, idx(d)).getResult();
    };
    auto overDim = [&](Value from, ValueRange inits, auto step) {
      return loop(b, from, n, c1, inits,
                  [&](ImplicitLocOpBuilder &lb, Value d, ValueRange it) {
                    Ops l(lb, o.numLanes);
                    return step(l, d, it);
                  });
    };
    auto expf = [](Ops &l, Value v) {
      return math::ExpOp::create(l.b, v).getResult();
    };
    if (log) {
      Value m = overDim(c0, {constF32(b, -std::numeric_limits<float>::infinity())},
                        [&](Ops &l, Value d, ValueRange it) {
                          return SmallVector<Value>{
                              l.blendMax(it[0], get(l, x, d))};
                        })[0];
      Value s = overDim(c0, {constF32(b, 0.0f)},
                        [&](Ops &l, Value d, ValueRange it) {
                          return SmallVector<Value>{
                              l.add(it[0], expf(l, l.sub(get(l, x, d), m)))};
                        })[0];
      Value ls = o.log(s);
      return overDim(c0, {out}, [&](Ops &l, Value d, ValueRange it) {
        Value y = l.sub(l.sub(get(l, x, d), m), ls);
        return SmallVector<Value>{
            tensor::InsertOp::create(l.b, y, it[0], idx(d)).getResult()};
      })[0];
    }
    Value m = overDim(c1, {get(o, x, c0)}, [&](Ops &l, Value d, ValueRange it) {
      return SmallVector<Value>{l.stdMax(it[0], get(l, x, d))};
    })[0];
    SmallVector<Value> sumOut = overDim(
        c0, {constF32(b, 0.0f), out}, [&](Ops &l, Value d, ValueRange it) {
          Value e = expf(l, l.sub(get(l, x, d), m));
          return SmallVector<Value>{
              l.add(it[0], e),
              tensor::InsertOp::create(l.b, e, it[1], idx(d)).getResult()};
        });
    return overDim(c0, {sumOut[1]}, [&](Ops &l, Value d, ValueRange it) {
      Value y = arith::DivFOp::create(l.b, get(l, it[0], d), sumOut[0]);
      return SmallVector<Value>{
          tensor::InsertOp::create(l.b, y, it[0], idx(d)).getResult()};
    })[0];
  }
};

} // namespace

void mlir::dq::populateLowerSoftmaxPatterns(RewritePatternSet &patterns,
                                   VendorISA isa) {
  patterns.add<LowerSoftmax>(patterns.getContext(), isa);
}
