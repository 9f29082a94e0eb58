//===- OutlineLayers.cpp - one function per repeated layer ---------------===//
//
// A transformer is N copies of one layer with other weights. Inlined, every
// pass after this one and LLVM's code generation do the work N times (the
// backend's time grows with the module; most of a BERT-base compile). Here
// the copies become calls of one function that takes the weights as
// arguments.
//
// Layers are found by the importer's locations: an op of module
// `encoder.layer.3.attention` belongs to layer 3 of `encoder.layer` (the
// first integer component of its module path). Layer i spans its first to
// its last op in the block. Spans are compared structurally: the same ops
// with the same attributes and types, operands that refer to the same
// positions inside the span or to the same slots outside it, constants of
// the same types in the same places. Each class of two or more equal spans
// becomes a private function (@dq_layer_<n>: outer values, then the
// constants that differ between the layers, their weights, as arguments;
// the values the rest of the block reads as results), and each span a call
// of it. Spans whose values escape as memrefs, or that differ, stay inline.
//
// It runs after the int8 kernels took the linears (their weights are packed
// constants by then, which become arguments) and before fusion and
// bufferization, so everything after sees one copy.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <set>

namespace mlir::dq {
#define GEN_PASS_DEF_DQOUTLINELAYERS
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {
/// (list prefix, index) of the module path in `loc`, e.g. ("encoder.layer",
/// 3) for "encoder.layer.3.attention.self|view_5".
std::optional<std::pair<std::string, int64_t>> layerOf(Location loc) {
  std::optional<std::pair<std::string, int64_t>> found;
  loc->walk([&](Location l) {
    auto name = dyn_cast<NameLoc>(l);
    if (!name)
      return WalkResult::advance();
    StringRef path = name.getName().strref().split('|').first;
    SmallVector<StringRef> parts;
    path.split(parts, '.');
    std::string prefix;
    for (StringRef p : parts) {
      int64_t index;
      if (!p.getAsInteger(10, index) && !prefix.empty()) {
        found = {prefix, index};
        return WalkResult::interrupt();
      }
      prefix += (prefix.empty() ? "" : ".") + p.str();
    }
    return WalkResult::interrupt();
  });
  return found;
}

bool isConstant(Operation *op) {
  return op && op->hasTrait<OpTrait::ConstantLike>() && op->getNumResults() == 1;
}

/// Ops [first, last] of one layer in a block: the external values it reads
/// (slots), the constants it reads (by first use), the results the rest of
/// the block reads, and a structural signature in which constants are
/// slots (their values are compared per class, see outlineClass).
struct Span {
  SmallVector<Operation *> ops;      // top-level ops, constants excluded
  SmallVector<Value> externals;      // operands defined outside the span
  SmallVector<Operation *> constants;
  SmallVector<Value> escaping;
  std::string signature;
  bool valid = true;
};

class Signer {
public:
  explicit Signer(Span &span) : span(span) {
    for (Operation *op : span.ops)
      op->walk([&](Operation *inner) { inside.insert(inner); });
  }

  void sign() {
    llvm::raw_string_ostream os(span.signature);
    for (Operation *op : span.ops)
      signOp(op, os);
    // Which results the rest of the block reads is part of the shape.
    for (Operation *op : span.ops)
      for (Value r : op->getResults())
        if (llvm::any_of(r.getUsers(), [&](Operation *u) {
              return !inside.contains(u);
            })) {
          span.escaping.push_back(r);
          os << "E" << number.lookup(r) << ";";
          if (isa<BaseMemRefType>(r.getType()))
            span.valid = false;
        }
  }

private:
  Span &span;
  DenseSet<Operation *> inside;
  DenseMap<Value, unsigned> number; // values defined in the span
  DenseMap<Value, unsigned> externalSlot;
  DenseMap<Operation *, unsigned> constantSlot;

  void signOp(Operation *op, llvm::raw_string_ostream &os) {
    os << op->getName() << "(";
    for (Value v : op->getOperands())
      signValue(v, os);
    os << ")";
    for (NamedAttribute a : op->getAttrs())
      os << a.getName().strref() << "=" << a.getValue() << ",";
    for (Type t : op->getResultTypes())
      os << t << ",";
    for (Value r : op->getResults())
      number[r] = number.size();
    for (Region &region : op->getRegions()) {
      os << "{";
      for (Block &block : region) {
        os << "^(";
        for (BlockArgument arg : block.getArguments()) {
          number[arg] = number.size();
          os << arg.getType() << ",";
        }
        os << ")";
        for (Operation &inner : block)
          signOp(&inner, os);
      }
      os << "}";
    }
    os << ";";
  }

  void signValue(Value v, llvm::raw_string_ostream &os) {
    auto it = number.find(v);
    if (it != number.end()) {
      os << "L" << it->second << ",";
      return;
    }
    Operation *def = v.getDefiningOp();
    if (isConstant(def) && !inside.contains(def)) {
      auto [slot, inserted] =
          constantSlot.try_emplace(def, span.constants.size());
      if (inserted)
        span.constants.push_back(def);
      os << "K" << slot->second << ":" << v.getType() << ",";
      return;
    }
    auto [slot, inserted] =
        externalSlot.try_emplace(v, span.externals.size());
    if (inserted)
      span.externals.push_back(v);
    os << "X" << slot->second << ":" << v.getType() << ",";
  }
};

/// An op's name, result types and attributes (not its operands).
std::string token(Operation *op) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << op->getName();
  for (Type t : op->getResultTypes())
    os << t;
  os << op->getAttrDictionary();
  return out;
}

/// Makes `edge` equal to `typical` by taking out the ops it has in excess:
/// those after its last matching op are left where they are (after the
/// call); those before or among its ops move before it, if they do not
/// depend on its other ops. Leaves `edge` as it was if that fails.
void dropExtras(Span &edge, const Span &typical) {
  if (edge.ops.size() <= typical.ops.size())
    return;
  SmallVector<Operation *> kept, extra;
  size_t j = 0;
  for (Operation *op : edge.ops) {
    if (j < typical.ops.size() && token(op) == token(typical.ops[j])) {
      kept.push_back(op);
      ++j;
    } else {
      extra.push_back(op);
    }
  }
  if (j != typical.ops.size())
    return;
  Operation *lastKept = kept.back();
  DenseSet<Operation *> keptSet(kept.begin(), kept.end());
  Block *block = lastKept->getBlock();
  SmallVector<Operation *> moveUp;
  for (Operation *op : extra) {
    if (lastKept->isBeforeInBlock(op))
      continue; // a tail: stays after the call
    if (!isMemoryEffectFree(op))
      return;
    bool dependsOnLayer = false;
    op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands()) {
        Operation *def = v.getDefiningOp();
        if (!def)
          def = v.getParentBlock()->getParentOp();
        Operation *top = def ? block->findAncestorOpInBlock(*def) : nullptr;
        if (top && top != op && keptSet.contains(top))
          dependsOnLayer = true;
      }
    });
    if (dependsOnLayer)
      return;
    moveUp.push_back(op);
  }
  Span trimmed;
  trimmed.ops = kept;
  Signer(trimmed).sign();
  if (trimmed.signature != typical.signature)
    return;
  Operation *first = kept.front();
  for (Operation *op : moveUp)
    if (first->isBeforeInBlock(op))
      op->moveBefore(first);
  edge = std::move(trimmed);
}

Attribute constantValue(Operation *op) {
  SmallVector<OpFoldResult> folded;
  if (failed(op->fold(folded)) || folded.size() != 1)
    return {};
  return dyn_cast_if_present<Attribute>(folded.front());
}

class OutlineLayers : public dq::impl::DQOutlineLayersBase<OutlineLayers> {
public:
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> entries;
    for (auto f : module.getOps<func::FuncOp>())
      if (!f.isExternal() && f->hasAttr("llvm.emit_c_interface"))
        entries.push_back(f);
    for (func::FuncOp f : entries)
      outline(module, f);
  }

private:
  unsigned counter = 0;

  /// The block holding most of `f`'s computation: the body, or the body
  /// under the run-time checks' scf.if (counted with nested ops; the body
  /// may have fewer top-level ops than the checks moved before it). Only
  /// ops on tensors count: the size arithmetic the checks moved before the
  /// guard can outnumber them (GPT-2's decode step, all sizes dynamic).
  static size_t weight(Block *block) {
    size_t n = 0;
    block->walk([&](Operation *op) {
      n += llvm::any_of(op->getResultTypes(),
                        [](Type t) { return isa<ShapedType>(t); });
    });
    return n;
  }
  Block *mainBlock(func::FuncOp f) {
    Block *best = &f.getBody().front();
    while (true) {
      Block *next = nullptr;
      size_t half = weight(best) / 2;
      for (Operation &op : *best)
        if (auto ifOp = dyn_cast<scf::IfOp>(op))
          if (weight(ifOp.thenBlock()) > half)
            next = ifOp.thenBlock();
      if (!next)
        return best;
      best = next;
    }
  }

  /// The layers of each list in `block`, by list prefix: spans [first op,
  /// last op] as positions in `ops`, in order and without overlap (lists
  /// whose layers interleave are left out).
  using Spans = SmallVector<std::pair<unsigned, unsigned>>;
  static std::map<std::string, Spans> layerLists(Block *block,
                                                SmallVector<Operation *> &ops) {
    // Positions of each layer's first and last op.
    using Key = std::pair<std::string, int64_t>;
    std::map<Key, std::pair<unsigned, unsigned>> bounds;
    ops.clear();
    for (Operation &op : *block)
      ops.push_back(&op);
    for (auto [i, op] : llvm::enumerate(ops)) {
      // Only tensor computations bound a layer: scalar size arithmetic with
      // a layer's location may sit anywhere (dq-runtime-checks moves the
      // checks of every layer's shapes to the start).
      bool anchor = op->getNumRegions() ||
                    llvm::any_of(op->getResultTypes(),
                                 [](Type t) { return isa<ShapedType>(t); });
      if (op->hasTrait<OpTrait::IsTerminator>() || isConstant(op) || !anchor)
        continue;
      if (auto key = layerOf(op->getLoc())) {
        auto [it, inserted] = bounds.try_emplace(*key, i, i);
        it->second.second = i;
      }
    }
    std::map<std::string, Spans> lists;
    for (auto &[key, span] : bounds)
      lists[key.first].push_back(span);
    for (auto it = lists.begin(); it != lists.end();) {
      Spans &spans = it->second;
      llvm::sort(spans);
      bool ordered = true;
      for (size_t i = 1; i < spans.size(); ++i)
        ordered &= spans[i].first > spans[i - 1].second;
      it = spans.size() >= 2 && ordered ? std::next(it) : lists.erase(it);
    }
    return lists;
  }

  void outline(ModuleOp module, func::FuncOp f) {
    Block *block = mainBlock(f);
    // One list at a time, each found anew in the block as the lists before
    // it left it: outlining erases ops (positions and pointers into the
    // block go stale) and a list's calls replace values other lists read.
    std::set<std::string> done;
    SmallVector<Operation *> ops;
    while (true) {
      std::map<std::string, Spans> lists = layerLists(block, ops);
      auto next = llvm::find_if(
          lists, [&](auto &list) { return !done.count(list.first); });
      if (next == lists.end())
        return;
      done.insert(next->first);
      outlineList(module, f, ops, next->second);
    }
  }

  void outlineList(ModuleOp module, func::FuncOp f,
                   ArrayRef<Operation *> ops, const Spans &spans) {
    // Escaping values of this list's outlined spans -> the call results
    // that replaced them. Only this list's: an erased value's address can
    // be taken by an op created later, so a key must not outlive the list
    // whose spans were collected before it was erased.
    DenseMap<Value, Value> replaced;
    std::vector<Span> made;
    for (auto [begin, end] : spans) {
      Span span;
      Operation *start = nullptr;
      for (unsigned i = begin; i <= end; ++i)
        if (!isConstant(ops[i]) && !start)
          start = ops[i];
      // Constants interleaved with the layer's ops go before it: they are
      // not part of it (see Signer), and calls take them as operands.
      for (unsigned i = begin; i <= end; ++i) {
        if (!isConstant(ops[i]))
          span.ops.push_back(ops[i]);
        else if (start && start->isBeforeInBlock(ops[i]))
          ops[i]->moveBefore(start);
      }
      Signer(span).sign();
      made.push_back(std::move(span));
    }
    // CSE left work shared by all layers in the first one (the attention
    // mask, converted once), and the next module's first ops may sit in
    // the last one: such a layer is the others plus extra ops, which stay
    // inline (moved before it, or left after it).
    // The typical layer: the most common signature, else the shortest.
    llvm::StringMap<unsigned> counts;
    for (Span &s : made)
      ++counts[s.signature];
    Span *typical = &made.front();
    for (Span &s : made)
      if (counts[s.signature] > counts[typical->signature] ||
          (counts[s.signature] == counts[typical->signature] &&
           s.ops.size() < typical->ops.size()))
        typical = &s;
    for (Span *edge : {&made.front(), &made.back()})
      if (edge != typical && edge->signature != typical->signature)
        dropExtras(*edge, *typical);
    // Classes of equal signatures, in order of first appearance.
    llvm::MapVector<StringRef, SmallVector<Span *>> classes;
    for (Span &s : made)
      if (s.valid)
        classes[s.signature].push_back(&s);
    for (auto &[signature, members] : classes)
      if (members.size() >= 2)
        outlineClass(module, f, members, replaced);
  }

  void outlineClass(ModuleOp module, func::FuncOp f, ArrayRef<Span *> members,
                    DenseMap<Value, Value> &replaced) {
    // A layer's input is often the previous layer's output, which a call of
    // an earlier class (or of this one, below) replaced.
    auto current = [&](Value v) {
      while (replaced.count(v))
        v = replaced.lookup(v);
      return v;
    };
    for (Span *span : members)
      for (Value &v : span->externals)
        v = current(v);
    Span &model = *members.front();
    MLIRContext *ctx = module.getContext();
    // A constant slot whose value is the same in every layer stays a
    // constant of the function; the others (weights) become arguments.
    SmallVector<unsigned> varying;
    for (unsigned slot = 0; slot < model.constants.size(); ++slot) {
      Attribute first = constantValue(model.constants[slot]);
      bool same = first && llvm::all_of(members, [&](Span *m) {
        return constantValue(m->constants[slot]) == first;
      });
      if (!same)
        varying.push_back(slot);
    }
    SmallVector<Type> argTypes, resultTypes;
    for (Value v : model.externals)
      argTypes.push_back(v.getType());
    for (unsigned slot : varying)
      argTypes.push_back(model.constants[slot]->getResult(0).getType());
    for (Value v : model.escaping)
      resultTypes.push_back(v.getType());

    OpBuilder b(ctx);
    b.setInsertionPoint(f);
    std::string name = "dq_layer_" + std::to_string(counter++);
    auto fn = func::FuncOp::create(b, model.ops.front()->getLoc(), name,
                                   FunctionType::get(ctx, argTypes, resultTypes));
    fn.setPrivate();
    // It reads its arguments and keeps none (dq-early-dealloc relies on it).
    fn->setAttr("dq.layer", b.getUnitAttr());
    Block *body = fn.addEntryBlock();
    IRMapping map;
    for (auto [i, v] : llvm::enumerate(model.externals))
      map.map(v, body->getArgument(i));
    for (auto [i, slot] : llvm::enumerate(varying))
      map.map(model.constants[slot]->getResult(0),
              body->getArgument(model.externals.size() + i));
    b.setInsertionPointToStart(body);
    for (Operation *c : model.constants)
      if (!map.contains(c->getResult(0)))
        map.map(c->getResult(0), b.clone(*c)->getResult(0));
    for (Operation *op : model.ops)
      b.clone(*op, map);
    SmallVector<Value> returned;
    for (Value v : model.escaping)
      returned.push_back(map.lookup(v));
    func::ReturnOp::create(b, fn.getLoc(), returned);

    for (Span *span : members) {
      Operation *first = span->ops.front();
      SmallVector<Value> operands;
      for (Value v : span->externals)
        operands.push_back(current(v));
      for (unsigned slot : varying) {
        Operation *c = span->constants[slot];
        // Constants canonicalization left inside the span's range move up.
        if (c->getBlock() == first->getBlock() && first->isBeforeInBlock(c))
          c->moveBefore(first);
        operands.push_back(c->getResult(0));
      }
      b.setInsertionPoint(first);
      auto call = func::CallOp::create(b, first->getLoc(), fn, operands);
      for (auto [old, now] : llvm::zip(span->escaping, call.getResults())) {
        old.replaceAllUsesWith(now);
        replaced[old] = now;
      }
      for (Operation *op : llvm::reverse(span->ops))
        op->erase();
    }
  }
};
} // namespace
