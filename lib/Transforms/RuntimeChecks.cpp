//===- RuntimeChecks.cpp - run-time checks as a status result ------------===//
//
// torch-mlir guards what can go wrong at run time with `cf.assert`, which
// lowers to abort(): an index out of range in an embedding, a size that
// does not broadcast. Integer division by a size or value of 0 traps
// (SIGFPE), and some gathers (aten.index) are not guarded at all: a bad
// index reads outside its buffer. None of that may end the caller's process
// or give it a silently wrong result. This pass makes every such check
// report into a status that the entry function returns as an extra
// `tensor<i32>` result (0: all checks held; k: check k failed first), with
// the messages in the function's `dq.checks` attribute, and makes sure that
// nothing reads or writes outside its buffers once a check failed:
//
// - checks inside a linalg.generic body (an assert, a data-dependent
//   `tensor.extract` index, an integer division by a data-dependent value)
//   are computed first, by a reduction over the same inputs (only the loops
//   the checked values depend on: an embedding's check runs over the
//   indices, not over the hidden dim); in the generic itself the index is
//   clamped into its dim and a zero divisor becomes 1, so it runs safely
//   whatever the data (its results are then garbage, and never returned);
// - a write into an argument (`tensor.insert_slice`: a KV cache's slots,
//   placed by other inputs' sizes) is checked to fit in the argument;
// - checks at the top level (asserts, divisions by a size) whose condition
//   is arithmetic on the argument sizes move to the start, where they guard
//   the whole body at once; the others guard the rest of their block from
//   where they stand (an `scf.if` around the remainder, whose other branch
//   yields empty results).
//
// The runtime raises the message of a non-zero status as a Python exception
// (its prefix names the class: IndexError, ZeroDivisionError, RuntimeError).
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "dq-runtime-checks"

namespace mlir::dq {
#define GEN_PASS_DEF_DQRUNTIMECHECKS
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {

/// A point where a check decides whether what follows may run.
struct CheckPoint {
  enum Kind { Status, Return } kind;
  Operation *at;   // Status: the generic; Return: what follows it is skipped
  Value ok;        // i1, true when the check holds
  int64_t code;    // 1 + index into the messages
};

/// "'<module path>' (<fx node>)" from the importer's NameLoc, or "".
std::string where(Location loc) {
  std::string text;
  loc->walk([&](Location l) {
    if (auto name = dyn_cast<NameLoc>(l)) {
      auto [path, node] = name.getName().strref().split('|');
      text = node.empty() ? ("'" + path + "'").str()
                          : ("'" + (path.empty() ? "<root>" : path) + "' (" +
                             node + ")")
                                .str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return text.empty() ? "" : " in " + text;
}

bool isIntegerDivision(Operation *op) {
  return isa<arith::DivSIOp, arith::DivUIOp, arith::RemSIOp, arith::RemUIOp,
             arith::FloorDivSIOp, arith::CeilDivSIOp, arith::CeilDivUIOp>(op);
}

bool isSignedDivision(Operation *op) {
  return isa<arith::DivSIOp, arith::RemSIOp, arith::FloorDivSIOp,
             arith::CeilDivSIOp>(op);
}

/// Whether `v` (used in `body`) depends on the data the generic reads: a
/// block argument or a value extracted from a tensor.
bool dependsOnData(Value v, Block *body) {
  SmallVector<Value> work{v};
  DenseSet<Value> seen;
  while (!work.empty()) {
    Value x = work.pop_back_val();
    if (!seen.insert(x).second)
      continue;
    if (auto arg = dyn_cast<BlockArgument>(x)) {
      if (arg.getOwner() == body)
        return true;
      continue;
    }
    Operation *def = x.getDefiningOp();
    if (def->getBlock() != body)
      continue;
    if (isa<tensor::ExtractOp>(def))
      return true;
    llvm::append_range(work, def->getOperands());
  }
  return false;
}

/// `lhs == min && rhs == -1` is false (signed overflow traps too) and
/// `rhs != 0`: the condition under which the division is defined.
Value divisionDefined(OpBuilder &b, Location loc, Value lhs, Value rhs,
                      bool isSigned) {
  Type t = rhs.getType();
  auto zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(t));
  Value ok =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, rhs, zero);
  if (!isSigned || t.isIndex())
    return ok;
  unsigned width = t.getIntOrFloatBitWidth();
  auto min = arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(t, APInt::getSignedMinValue(width)));
  auto minusOne = arith::ConstantOp::create(b, loc, b.getIntegerAttr(t, -1));
  Value overflow = arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lhs, min),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rhs, minusOne));
  Value noOverflow = arith::XOrIOp::create(
      b, loc, overflow, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  return arith::AndIOp::create(b, loc, ok, noOverflow);
}

/// When every use of `div`'s result is an arm of an `arith.select` whose
/// condition is defined before `div`, an i1 that is true when no select
/// picks the quotient (then a zero divisor does no harm); null otherwise.
/// torch-mlir's aten.view computes the size of an inferred (-1) dim as
/// numel / (product of the other sizes) and selects it only for a dim that
/// is negative: with a size of 0 and no -1 the quotient is never used.
Value quotientUnused(OpBuilder &b, Location loc, Operation *div) {
  Value q = div->getResult(0);
  if (q.use_empty())
    return nullptr;
  Value picked;
  for (OpOperand &use : q.getUses()) {
    auto sel = dyn_cast<arith::SelectOp>(use.getOwner());
    if (!sel || use.getOperandNumber() == 0 || sel->getBlock() != div->getBlock())
      return nullptr;
    Value c = sel.getCondition();
    if (!isa<IntegerType>(c.getType()))
      return nullptr;
    Operation *def = c.getDefiningOp();
    if (def && (def->getBlock() != div->getBlock() || !def->isBeforeInBlock(div)))
      return nullptr;
    if (use.getOperandNumber() == 2) // the false arm: picked when !c
      c = arith::XOrIOp::create(b, loc, c,
                                arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
    picked = picked ? arith::OrIOp::create(b, loc, picked, c).getResult() : c;
  }
  return arith::XOrIOp::create(b, loc, picked,
                               arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
}

/// The in-body checks of one generic and what they say when they fail.
struct BodyChecks {
  SmallVector<cf::AssertOp> asserts;
  SmallVector<std::pair<tensor::ExtractOp, unsigned>> indices; // op, operand
  SmallVector<Operation *> divisions;
  std::string message;
};

BodyChecks findBodyChecks(linalg::GenericOp g) {
  BodyChecks c;
  Block *body = g.getBody();
  body->walk([&](Operation *op) {
    if (auto a = dyn_cast<cf::AssertOp>(op))
      c.asserts.push_back(a);
    else if (auto e = dyn_cast<tensor::ExtractOp>(op)) {
      for (auto [i, idx] : llvm::enumerate(e.getIndices()))
        if (dependsOnData(idx, body))
          c.indices.push_back({e, 1 + i});
    } else if (isIntegerDivision(op) && dependsOnData(op->getOperand(1), body))
      c.divisions.push_back(op);
  });
  std::string at = where(g.getLoc());
  bool indexAssert = llvm::any_of(c.asserts, [](cf::AssertOp a) {
    return a.getMsg().contains("index");
  });
  if (!c.indices.empty() || indexAssert)
    c.message = "IndexError: index out of range" + at +
                ": an index is negative or not below the size it indexes";
  else if (!c.divisions.empty())
    c.message = "ZeroDivisionError: integer division by zero" + at;
  else if (!c.asserts.empty())
    c.message = ("RuntimeError: " + c.asserts.front().getMsg()).str() + at;
  return c;
}

/// The loops of `g` the checked values depend on, and the inputs that bound
/// them; false if some loop is bounded by none of those inputs.
bool projectLoops(linalg::GenericOp g, const llvm::SetVector<Operation *> &slice,
                  ArrayRef<Value> roots, SmallVector<unsigned> &inputs,
                  SmallVector<unsigned> &loops) {
  Block *body = g.getBody();
  DenseSet<unsigned> usedArgs, indexLoops;
  auto noteArg = [&](Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v))
      if (arg.getOwner() == body)
        usedArgs.insert(arg.getArgNumber());
  };
  for (Value r : roots)
    noteArg(r);
  for (Operation *op : slice) {
    for (Value v : op->getOperands())
      noteArg(v);
    if (auto index = dyn_cast<linalg::IndexOp>(op))
      indexLoops.insert(index.getDim());
  }
  llvm::SmallBitVector used(g.getNumLoops()), bounded(g.getNumLoops());
  for (unsigned arg : usedArgs) {
    if (arg >= g.getNumDpsInputs())
      return false; // reads the output: not checkable ahead
    inputs.push_back(arg);
    AffineMap map = g.getIndexingMapsArray()[arg];
    for (AffineExpr e : map.getResults()) {
      e.walk([&](AffineExpr s) {
        if (auto d = dyn_cast<AffineDimExpr>(s))
          used.set(d.getPosition());
      });
      if (auto d = dyn_cast<AffineDimExpr>(e))
        bounded.set(d.getPosition());
    }
  }
  for (unsigned d : indexLoops)
    used.set(d);
  for (unsigned d : used.set_bits()) {
    if (!bounded.test(d))
      return false;
    loops.push_back(d);
  }
  llvm::sort(inputs);
  return true;
}

/// Builds, before `g`, the reduction that tells whether every in-body check
/// of `g` holds for the values it will read; returns that i1, or null when a
/// check cannot be computed ahead (then its assert is left in place).
Value buildBodyCheck(OpBuilder &b, linalg::GenericOp g, BodyChecks &checks) {
  Location loc = g.getLoc();
  Block *body = g.getBody();
  SmallVector<Value> roots;
  for (cf::AssertOp a : checks.asserts)
    roots.push_back(a.getArg());
  for (auto [e, i] : checks.indices)
    roots.push_back(e->getOperand(i));
  for (Operation *d : checks.divisions)
    llvm::append_range(roots, d->getOperands());
  // Ops of the body the checked values are computed from, in body order.
  llvm::SetVector<Operation *> slice;
  SmallVector<Value> work(roots.begin(), roots.end());
  while (!work.empty()) {
    Operation *def = work.pop_back_val().getDefiningOp();
    if (!def || def->getBlock() != body || slice.contains(def))
      continue;
    if (def->getNumRegions())
      return nullptr;
    slice.insert(def);
    llvm::append_range(work, def->getOperands());
  }
  SmallVector<Operation *> ordered(slice.begin(), slice.end());
  llvm::sort(ordered, [](Operation *x, Operation *y) {
    return x->isBeforeInBlock(y);
  });

  SmallVector<unsigned> inputs, loops;
  bool projected = projectLoops(g, slice, roots, inputs, loops);
  SmallVector<Value> operands;
  SmallVector<AffineMap> maps;
  SmallVector<AffineMap> all = g.getIndexingMapsArray();
  unsigned numLoops = g.getNumLoops();
  if (projected) {
    // Renumber the loops kept to 0..n-1.
    SmallVector<AffineExpr> renumber(numLoops, b.getAffineConstantExpr(0));
    for (auto [i, d] : llvm::enumerate(loops))
      renumber[d] = b.getAffineDimExpr(i);
    for (unsigned i : inputs) {
      operands.push_back(g->getOperand(i));
      maps.push_back(all[i].replaceDimsAndSymbols(renumber, {}, loops.size(), 0));
    }
    numLoops = loops.size();
  } else {
    // Every loop, bounded by all operands (the outputs only for their shape).
    for (OpOperand &o : g->getOpOperands())
      operands.push_back(o.get()), maps.push_back(all[o.getOperandNumber()]);
  }
  Type i1 = b.getI1Type();
  Value init = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, i1);
  init = linalg::FillOp::create(
             b, loc, ValueRange{arith::ConstantOp::create(b, loc, b.getBoolAttr(true))},
             ValueRange{init})
             .getResult(0);
  maps.push_back(AffineMap::get(numLoops, 0, {}, b.getContext()));
  SmallVector<utils::IteratorType> iterators(numLoops,
                                             utils::IteratorType::reduction);
  // Dims of the tensors indexed, taken outside the loops.
  SmallVector<Value> bounds;
  for (auto [e, i] : checks.indices) {
    if (e.getTensor().getParentBlock() == body)
      return nullptr;
    bounds.push_back(tensor::DimOp::create(b, loc, e.getTensor(), i - 1));
  }

  auto check = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, operands, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
        IRMapping map;
        if (projected) {
          for (auto [k, i] : llvm::enumerate(inputs))
            map.map(body->getArgument(i), args[k]);
          // linalg.index of a kept loop: its new number.
          for (Operation *op : ordered) {
            if (auto index = dyn_cast<linalg::IndexOp>(op)) {
              unsigned d = llvm::find(loops, index.getDim()) - loops.begin();
              map.map(index.getResult(),
                      linalg::IndexOp::create(nb, l, d).getResult());
            }
          }
        } else {
          for (unsigned i = 0; i < body->getNumArguments(); ++i)
            map.map(body->getArgument(i), args[i]);
        }
        for (Operation *op : ordered) {
          if (map.contains(op->getResult(0)))
            continue;
          Operation *copy = nb.clone(*op, map);
          // An extract feeding a checked index reads within bounds here.
          if (auto e = dyn_cast<tensor::ExtractOp>(copy)) {
            for (auto [i, idx] : llvm::enumerate(e.getIndices())) {
              Value dim = tensor::DimOp::create(nb, l, e.getTensor(), i);
              Value last = arith::SubIOp::create(
                  nb, l, dim, arith::ConstantIndexOp::create(nb, l, 1));
              Value clamped = arith::MaxSIOp::create(
                  nb, l, arith::MinSIOp::create(nb, l, idx, last),
                  arith::ConstantIndexOp::create(nb, l, 0));
              e->setOperand(1 + i, clamped);
            }
          }
        }
        Value ok = args.back();
        for (cf::AssertOp a : checks.asserts)
          ok = arith::AndIOp::create(nb, l, ok, map.lookup(a.getArg()));
        for (auto [k, ei] : llvm::enumerate(checks.indices)) {
          Value idx = map.lookup(ei.first->getOperand(ei.second));
          Value zero = arith::ConstantIndexOp::create(nb, l, 0);
          ok = arith::AndIOp::create(
              nb, l, ok,
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, idx, zero));
          ok = arith::AndIOp::create(
              nb, l, ok,
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, idx,
                                    bounds[k]));
        }
        for (Operation *d : checks.divisions)
          ok = arith::AndIOp::create(
              nb, l, ok,
              divisionDefined(nb, l, map.lookup(d->getOperand(0)),
                              map.lookup(d->getOperand(1)), isSignedDivision(d)));
        linalg::YieldOp::create(nb, l, ok);
      });
  return tensor::ExtractOp::create(b, loc, check.getResult(0), ValueRange{});
}

/// Clamps `g`'s checked indices into their dims and makes its checked
/// divisors 1 where they are 0 (or would overflow), and drops its asserts:
/// once its check (computed before it) failed, it still reads within its
/// operands.
void makeSafe(OpBuilder &b, linalg::GenericOp g, BodyChecks &checks) {
  for (auto [e, i] : checks.indices) {
    b.setInsertionPoint(g);
    Location loc = e.getLoc();
    Value dim = tensor::DimOp::create(b, loc, e.getTensor(), i - 1);
    Value last =
        arith::SubIOp::create(b, loc, dim, arith::ConstantIndexOp::create(b, loc, 1));
    b.setInsertionPoint(e);
    Value idx = e->getOperand(i);
    Value clamped = arith::MaxSIOp::create(
        b, loc, arith::MinSIOp::create(b, loc, idx, last),
        arith::ConstantIndexOp::create(b, loc, 0));
    e->setOperand(i, clamped);
  }
  for (Operation *d : checks.divisions) {
    b.setInsertionPoint(d);
    Location loc = d->getLoc();
    Value lhs = d->getOperand(0), rhs = d->getOperand(1);
    Value defined = divisionDefined(b, loc, lhs, rhs, isSignedDivision(d));
    Value one = arith::ConstantOp::create(b, loc, b.getIntegerAttr(rhs.getType(), 1));
    d->setOperand(1, arith::SelectOp::create(b, loc, defined, rhs, one));
  }
  for (cf::AssertOp a : checks.asserts)
    a.erase();
}

/// tensor.dim of a tensor.reshape: the element of its shape operand (which
/// torch-mlir builds with tensor.from_elements, so the extract folds to the
/// size computation itself).
struct DimOfReshape : OpRewritePattern<tensor::DimOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(tensor::DimOp dim,
                                PatternRewriter &rewriter) const override {
    auto reshape = dim.getSource().getDefiningOp<tensor::ReshapeOp>();
    if (!reshape)
      return failure();
    Location loc = dim.getLoc();
    Value size = tensor::ExtractOp::create(rewriter, loc, reshape.getShape(),
                                           ValueRange{dim.getIndex()});
    if (!size.getType().isIndex())
      size = arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(),
                                        size);
    rewriter.replaceOp(dim, size);
    return success();
  }
};

/// The ops of `block` that `v` is computed from, if all are pure arithmetic
/// on the function's arguments and constants (so the check can move to the
/// start); false otherwise.
bool hoistableSlice(Value v, Block *block, llvm::SetVector<Operation *> &out) {
  SmallVector<Value> work{v};
  llvm::SetVector<Operation *> slice;
  while (!work.empty()) {
    Value x = work.pop_back_val();
    Operation *def = x.getDefiningOp();
    if (!def)
      continue; // an argument
    if (def->getBlock() != block)
      return false;
    if (slice.contains(def))
      continue;
    if (def->getNumRegions() || !isMemoryEffectFree(def)) {
      LLVM_DEBUG(llvm::dbgs() << "not hoistable (regions, effects): " << *def
                              << "\n");
      return false;
    }
    bool tensorResult = llvm::any_of(def->getResultTypes(), [](Type t) {
      return isa<ShapedType>(t);
    });
    if (tensorResult && !isa<arith::ConstantOp>(def)) {
      LLVM_DEBUG(llvm::dbgs() << "not hoistable (a tensor): " << *def << "\n");
      return false;
    }
    if (auto dim = dyn_cast<tensor::DimOp>(def)) {
      Value src = dim.getSource();
      if (src.getDefiningOp() && !isa<arith::ConstantOp>(src.getDefiningOp())) {
        LLVM_DEBUG(llvm::dbgs() << "not hoistable (the size of an intermediate): "
                                << *src.getDefiningOp() << "\n");
        return false; // the size of an intermediate
      }
    }
    slice.insert(def);
    llvm::append_range(work, def->getOperands());
  }
  out.insert(slice.begin(), slice.end());
  return true;
}

/// The value `state` (what the guarded code yields for a state result) had
/// where `guard` begins: followed back through the writes into it (inserts,
/// ops with a tied init, nested guards) to a value from before the guard.
/// Null if it cannot be followed.
Value stateBefore(Value state, scf::IfOp guard) {
  while (state && guard->isAncestor(state.getParentRegion()->getParentOp())) {
    Operation *def = state.getDefiningOp();
    if (!def)
      return nullptr;
    if (auto insert = dyn_cast<tensor::InsertSliceOp>(def))
      state = insert.getDest();
    else if (auto inner = dyn_cast<scf::IfOp>(def))
      state = inner.thenYield().getOperand(cast<OpResult>(state).getResultNumber());
    else if (auto dps = dyn_cast<DestinationStyleOpInterface>(def))
      state = dps.getTiedOpOperand(cast<OpResult>(state))->get();
    else
      return nullptr;
  }
  return state;
}

/// Values standing in for the function's results where `guard`'s code does
/// not run: a state result (`dq.state = N`, see dq-bind-state) keeps the
/// value it had there (the written slots so far; argument N if nothing was
/// written), the others are empty.
SmallVector<Value> placeholders(OpBuilder &b, Location loc, func::FuncOp f,
                                scf::IfOp guard, ValueRange yielded) {
  TypeRange types = yielded.getTypes();
  SmallVector<Value> out;
  for (auto [i, t] : llvm::enumerate(types)) {
    if (f.getResultAttr(i, "dq.state")) {
      if (Value before = stateBefore(yielded[i], guard);
          before && before.getType() == t) {
        out.push_back(before);
        continue;
      }
    }
    if (auto tensor = dyn_cast<RankedTensorType>(t)) {
      SmallVector<Value> dynamic;
      for (int64_t d = 0; d < tensor.getRank(); ++d)
        if (tensor.isDynamicDim(d))
          dynamic.push_back(arith::ConstantIndexOp::create(b, loc, 0));
      out.push_back(tensor::EmptyOp::create(b, loc, tensor.getShape(),
                                            tensor.getElementType(), dynamic));
    } else {
      out.push_back(arith::ConstantOp::create(b, loc, b.getZeroAttr(t)));
    }
  }
  return out;
}

/// Whether every index `insert` writes lies inside its destination. (Its
/// offsets and sizes are arithmetic on the argument sizes, so the check
/// moves to the start; whether the source fills the slice, torch-mlir
/// having clamped the slice's bounds, is the frontend's to assert: the
/// source's sizes are an intermediate's, and a check on them would guard
/// the rest of the function from the middle of every layer.)
Value sliceFits(OpBuilder &b, Location loc, tensor::InsertSliceOp insert) {
  auto index = [&](OpFoldResult r) {
    return getValueOrCreateConstantIndexOp(b, loc, r);
  };
  auto cmp = [&](arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y).getResult();
  };
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value ok = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  for (int64_t d = 0, e = insert.getDestType().getRank(); d < e; ++d) {
    Value offset = index(insert.getMixedOffsets()[d]);
    Value size = index(insert.getMixedSizes()[d]);
    Value stride = index(insert.getMixedStrides()[d]);
    Value dim = tensor::DimOp::create(b, loc, insert.getDest(), d);
    // offset >= 0 and offset + (size - 1) * stride < dim, or nothing written.
    Value last = arith::AddIOp::create(
        b, loc, offset,
        arith::MulIOp::create(b, loc, arith::SubIOp::create(b, loc, size, one),
                              stride));
    Value inside = arith::AndIOp::create(
        b, loc, cmp(arith::CmpIPredicate::sge, offset, zero),
        cmp(arith::CmpIPredicate::slt, last, dim));
    Value fits = arith::OrIOp::create(
        b, loc, cmp(arith::CmpIPredicate::eq, size, zero), inside);
    ok = arith::AndIOp::create(b, loc, ok, fits);
  }
  return ok;
}

class RuntimeChecks
    : public dq::impl::DQRuntimeChecksBase<RuntimeChecks> {
public:
  void runOnOperation() override {
    for (auto f : getOperation().getOps<func::FuncOp>()) {
      if (f.isExternal() || !f->hasAttr("llvm.emit_c_interface") ||
          f->hasAttr("dq.checks"))
        continue;
      if (failed(process(f)))
        return signalPassFailure();
    }
  }

private:
  SmallVector<Attribute> messages;
  Type i32;

  int64_t addMessage(OpBuilder &b, StringRef message) {
    messages.push_back(b.getStringAttr(message));
    return messages.size();
  }

  /// The status after a check: the first failure's code is kept.
  Value update(OpBuilder &b, Location loc, Value status, Value ok,
               int64_t code) {
    Value zero = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0));
    Value failed = arith::SelectOp::create(
        b, loc, ok, zero,
        arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(code)));
    Value clean =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, status, zero);
    return arith::SelectOp::create(b, loc, clean, failed, status);
  }

  Value isClean(OpBuilder &b, Location loc, Value status) {
    return arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::eq, status,
        arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0)));
  }

  LogicalResult process(func::FuncOp f) {
    MLIRContext *ctx = f.getContext();
    OpBuilder b(ctx);
    i32 = b.getI32Type();
    messages.clear();
    // Sizes of intermediates in terms of the arguments' sizes, so that shape
    // checks can move to the start.
    {
      RewritePatternSet patterns(ctx);
      memref::populateResolveRankedShapedTypeResultDimsPatterns(patterns);
      memref::populateResolveShapedTypeResultDimsPatterns(patterns);
      patterns.add<DimOfReshape>(ctx);
      // Among them DimOfForallOp: a dim of an scf.forall result (emit.py's
      // blocked attention) is its shared output's, so that sizes after it
      // stay arithmetic on the arguments.
      scf::ForallOp::getCanonicalizationPatterns(patterns, ctx);
      tensor::ExtractOp::getCanonicalizationPatterns(patterns, ctx);
      if (failed(applyPatternsGreedily(f, std::move(patterns))))
        return f.emitError("dq-runtime-checks: size resolution did not converge");
    }
    Block &entry = f.getBody().front();
    SmallVector<CheckPoint> points;
    SmallVector<std::pair<Value, int64_t>> hoisted; // (ok, code)
    llvm::SetVector<Operation *> moved;
    SmallVector<Operation *> topLevel;
    for (Operation &op : entry.without_terminator())
      topLevel.push_back(&op);
    for (Operation *op : topLevel) {
      Location loc = op->getLoc();
      if (auto g = dyn_cast<linalg::GenericOp>(op)) {
        BodyChecks checks = findBodyChecks(g);
        if (checks.message.empty())
          continue;
        b.setInsertionPoint(g);
        Value ok = buildBodyCheck(b, g, checks);
        if (!ok) {
          g.emitWarning("dq-runtime-checks: this op's checks depend on its "
                        "outputs; its asserts stay (abort on failure)");
          continue;
        }
        makeSafe(b, g, checks);
        points.push_back({CheckPoint::Status, g, ok,
                          addMessage(b, checks.message)});
        continue;
      }
      Value ok;
      std::string message;
      Operation *after = op;
      if (auto a = dyn_cast<cf::AssertOp>(op)) {
        ok = a.getArg();
        // torch-mlir's messages are PyTorch's RuntimeErrors; one the
        // frontend wrote may name its class ("IndexError: ...").
        StringRef msg = a.getMsg();
        StringRef kind = msg.split(':').first;
        bool named = msg.contains(':') && kind.ends_with("Error") &&
                     llvm::all_of(kind, [](char c) { return llvm::isAlpha(c); });
        message = ((named ? "" : "RuntimeError: ") + msg).str() + where(loc);
      } else if (isIntegerDivision(op) &&
                 !matchPattern(op->getOperand(1), m_Constant())) {
        b.setInsertionPoint(op);
        Value defined = divisionDefined(b, loc, op->getOperand(0),
                                        op->getOperand(1), isSignedDivision(op));
        ok = defined;
        // Only a quotient that is used must be defined.
        if (Value unused = quotientUnused(b, loc, op))
          ok = arith::OrIOp::create(b, loc, defined, unused);
        after = ok.getDefiningOp();
        // The division itself never traps: its check reports, and the size
        // computations it feeds may be evaluated (hoisted) before any guard.
        Value one = arith::ConstantOp::create(
            b, loc, b.getIntegerAttr(op->getOperand(1).getType(), 1));
        op->setOperand(1, arith::SelectOp::create(b, loc, defined,
                                                  op->getOperand(1), one));
        message = "RuntimeError: a size computation" + where(loc) +
                  " divides by zero: an input has a size the model cannot "
                  "take (a zero-size dim?)";
      } else if (auto insert = dyn_cast<tensor::InsertSliceOp>(op);
                 insert && isa<BlockArgument>(insert.getDest())) {
        // A write into a caller-owned buffer (state updated in place, a
        // KV cache's slots): its place comes from the input sizes, which
        // nothing else ties to the buffer's size.
        b.setInsertionPoint(op);
        ok = sliceFits(b, loc, insert);
        message = "IndexError: the slots written" + where(loc) +
                  " do not fit in argument " +
                  std::to_string(cast<BlockArgument>(insert.getDest())
                                     .getArgNumber()) +
                  " (a KV cache with fewer positions than the attention "
                  "mask asks for?)";
      } else {
        continue;
      }
      int64_t code = addMessage(b, message);
      if (hoistableSlice(ok, &entry, moved))
        hoisted.push_back({ok, code});
      else
        points.push_back({CheckPoint::Return, after, ok, code});
    }
    if (messages.empty())
      return success();

    // Hoisted conditions first, in their order, then one guard for the body.
    Operation *anchor = &entry.front();
    while (anchor && moved.contains(anchor))
      anchor = anchor->getNextNode();
    SmallVector<Operation *> order(moved.begin(), moved.end());
    llvm::sort(order, [](Operation *x, Operation *y) {
      return x->isBeforeInBlock(y);
    });
    for (Operation *op : order)
      op->moveBefore(anchor);
    b.setInsertionPoint(anchor);
    Location loc = f.getLoc();
    Value status = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0));
    for (auto [ok, code] : hoisted)
      status = update(b, loc, status, ok, code);
    if (!hoisted.empty())
      points.insert(points.begin(),
                    {CheckPoint::Return, status.getDefiningOp(), nullptr, 0});

    Operation *ret = entry.getTerminator();
    status = guard(b, &entry, points, status);
    // Top-level asserts are done with: their conditions feed the status.
    for (Operation *op : topLevel)
      if (isa<cf::AssertOp>(op))
        op->erase();
    // The status as the last result.
    b.setInsertionPoint(ret);
    Value statusTensor =
        tensor::FromElementsOp::create(b, loc, RankedTensorType::get({}, i32),
                                       ValueRange{status});
    ret->insertOperands(ret->getNumOperands(), statusTensor);
    // (insertResult keeps the result attributes in step: dq.state.)
    if (failed(f.insertResult(f.getNumResults(), statusTensor.getType(),
                              DictionaryAttr::get(ctx))))
      return failure();
    f->setAttr("dq.checks", b.getArrayAttr(messages));
    return success();
  }

  /// Applies `points` (all in `block`, in order) and returns the status at
  /// the end of `block`.
  Value guard(OpBuilder &b, Block *block, ArrayRef<CheckPoint> points,
              Value status) {
    for (size_t i = 0; i < points.size(); ++i) {
      const CheckPoint &p = points[i];
      Location loc = p.at->getLoc();
      if (p.kind == CheckPoint::Status) {
        b.setInsertionPoint(p.at);
        status = update(b, loc, status, p.ok, p.code);
        continue;
      }
      b.setInsertionPointAfter(p.at);
      if (p.ok)
        status = update(b, loc, status, p.ok, p.code);
      // Everything after the check, up to the terminator, runs under an
      // scf.if of the status. (Not an early return: with more than one
      // block, MLIR 22's ownership-based deallocation asserts when it
      // orders buffers defined in different blocks.)
      Operation *term = block->getTerminator();
      SmallVector<Type> types(term->getOperandTypes());
      types.push_back(i32);
      auto ifOp = scf::IfOp::create(b, loc, types, isClean(b, loc, status),
                                    /*addThenBlock=*/true,
                                    /*addElseBlock=*/true);
      Block *then = ifOp.thenBlock();
      b.setInsertionPointToStart(then);
      auto thenYield = scf::YieldOp::create(b, loc, term->getOperands());
      for (Operation *op = ifOp->getNextNode(); op != term;) {
        Operation *next = op->getNextNode();
        op->moveBefore(thenYield);
        op = next;
      }
      Value inner = guard(b, then, points.drop_front(i + 1), status);
      thenYield->insertOperands(thenYield->getNumOperands(), inner);
      b.setInsertionPointToStart(ifOp.elseBlock());
      SmallVector<Value> empty =
          placeholders(b, loc, block->getParent()->getParentOfType<func::FuncOp>(),
                       ifOp, thenYield.getOperands().drop_back());
      empty.push_back(status);
      scf::YieldOp::create(b, loc, empty);
      term->setOperands(ifOp.getResults().drop_back());
      return ifOp.getResults().back();
    }
    return status;
  }
};
} // namespace
