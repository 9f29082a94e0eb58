//===- ProfileOps.cpp - time each op of a compiled call -------------------===//
//
// After every op that computes a tensor (at the top level of a function and
// in the branches of scf.if: not inside loops or linalg bodies), a call
// dqmlir_profile_tick(id) charges the time since the previous tick to the
// op's entry in the module's `dq.profile_ops` table: [kind (ProfileKinds.h),
// label]. The label is the op's module path (from the importer's location,
// integer components as `*`), its name and its result type, so the twelve
// copies of a layer share their entries: their sums are per op of the layer,
// and the layers stay equal for dq-outline-layers (the calls also carry the
// location of the op they follow). Each function's entry ticks -1, which
// starts the clock. The ops are still dq ops here, before any kernel or
// lowering, so an int8 linear is one op, whatever its kernel becomes. What
// the int8 kernels take into a linear's epilogue (a GELU, a residual add:
// lib/Kernels/FuseEpilogue.h) counts as the linear (option
// fused-epilogues). What later passes fuse (an
// elementwise op into its neighbour) is charged to the tick after the fused
// op: the profile is per op as compiled, not as written.
//
//===----------------------------------------------------------------------===//

#include "lib/Kernels/FuseEpilogue.h"
#include "lib/Transforms/Passes.h"
#include "lib/Transforms/ProfileKinds.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::dq {
#define GEN_PASS_DEF_DQPROFILEOPS
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kTick = "dqmlir_profile_tick";
constexpr llvm::StringLiteral kTable = "dq.profile_ops";
// The runtime's counters (lib/Runtime/Profile.cpp): past this many entries,
// an op shares one entry per kind.
constexpr int32_t kMaxEntries = 16384;

enum Kind : int32_t {
  Int8Linear,
  F32Matmul,
  Softmax,
  LayerNorm,
  Gelu,
  TanhSigmoid,
  Copy,
  Elementwise,
  Reduction,
  Loop,
  BlockedAttention,
  Other,
  Untimed = -2,
};

Kind classify(Operation *op) {
  StringRef name = op->getName().getStringRef();
  if (isa<arith::ConstantOp, tensor::EmptyOp, tensor::DimOp,
          tensor::FromElementsOp, tensor::ExtractOp, tensor::CastOp>(op))
    return Untimed;
  if (!llvm::any_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>))
    return Untimed;
  if (name == "dq.linear_dynamic")
    return Int8Linear;
  if (name == "dq.softmax" || name.starts_with("dq.flash_"))
    return Softmax;
  if (name == "dq.layer_norm")
    return LayerNorm;
  if (name == "dq.gelu")
    return Gelu;
  if (name == "dq.tanh" || name == "dq.sigmoid")
    return TanhSigmoid;
  if (isa<linalg::TransposeOp, linalg::CopyOp, linalg::BroadcastOp,
          tensor::ReshapeOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp,
          tensor::ExtractSliceOp, tensor::InsertSliceOp, tensor::ConcatOp,
          tensor::PadOp>(op))
    return Copy;
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    if (linalg::isaContractionOpInterface(linalgOp))
      return F32Matmul;
    if (linalgOp.getNumReductionLoops() != 0)
      return Reduction;
    return Elementwise;
  }
  if (isa<scf::ForOp, scf::WhileOp>(op))
    return Loop;
  // The frontend's only scf.forall: emit.py's blocked attention.
  if (isa<scf::ForallOp>(op))
    return BlockedAttention;
  return Other;
}

/// "encoder.layer.*.attention.self" for an op the importer located in
/// "encoder.layer.3.attention.self|view_5"; "" where no location names one.
std::string modulePath(Location loc) {
  std::string path;
  loc->walk([&](Location l) {
    auto name = dyn_cast<NameLoc>(l);
    if (!name)
      return WalkResult::advance();
    SmallVector<StringRef> parts;
    name.getName().strref().split('|').first.split(parts, '.');
    for (StringRef p : parts) {
      int64_t index;
      path += (path.empty() ? "" : ".") +
              (p.getAsInteger(10, index) ? p.str() : std::string("*"));
    }
    return WalkResult::interrupt();
  });
  return path;
}

std::string labelOf(Operation *op) {
  std::string label;
  llvm::raw_string_ostream os(label);
  std::string path = modulePath(op->getLoc());
  os << (path.empty() ? "(model)" : path) << ": " << op->getName();
  if (op->getNumResults() != 0)
    os << " -> " << op->getResult(0).getType();
  return label;
}

/// The module's [kind, label] entries, the tick ids their positions.
class Table {
public:
  explicit Table(ModuleOp module) : module(module) {
    if (auto old = module->getAttrOfType<ArrayAttr>(kTable))
      for (Attribute a : old) {
        auto pair = cast<ArrayAttr>(a);
        add(cast<IntegerAttr>(pair[0]).getInt(),
            cast<StringAttr>(pair[1]).getValue());
      }
  }

  int32_t idOf(Kind kind, Operation *op) {
    std::string label = labelOf(op);
    if (ids.size() >= kMaxEntries - kNumKinds && !ids.count(key(kind, label)))
      label = "(other ops of this kind)";
    return add(kind, label);
  }

  void store() {
    Builder b(module.getContext());
    module->setAttr(kTable, b.getArrayAttr(entries));
  }

private:
  static constexpr size_t kNumKinds = Other + 1;

  static std::string key(int64_t kind, StringRef label) {
    return std::to_string(kind) + " " + label.str();
  }

  int32_t add(int64_t kind, StringRef label) {
    auto [it, inserted] = ids.try_emplace(key(kind, label), entries.size());
    if (inserted) {
      Builder b(module.getContext());
      entries.push_back(
          b.getArrayAttr({b.getI32IntegerAttr(kind), b.getStringAttr(label)}));
    }
    return it->second;
  }

  ModuleOp module;
  llvm::StringMap<int32_t> ids;
  SmallVector<Attribute> entries;
};

struct ProfileOps : dq::impl::DQProfileOpsBase<ProfileOps> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder b(&getContext());
    Table table(module);
    auto tick = module.lookupSymbol<func::FuncOp>(kTick);
    if (!tick) {
      b.setInsertionPointToStart(module.getBody());
      tick = func::FuncOp::create(b, module.getLoc(), kTick,
                                  b.getFunctionType({b.getI32Type()}, {}));
      tick.setPrivate();
    }
    for (auto f : module.getOps<func::FuncOp>()) {
      if (f.isExternal())
        continue;
      Block &entry = f.getBody().front();
      b.setInsertionPointToStart(&entry);
      emitTick(b, f.getLoc(), -1, tick);
      llvm::DenseMap<Operation *, Operation *> fused;
      instrument(entry, b, tick, fused, table);
    }
    table.store();
  }

  /// `fused`: the users of linears the kernels will fuse, seen so far, and
  /// their linears.
  void instrument(Block &block, OpBuilder &b, func::FuncOp tick,
                  llvm::DenseMap<Operation *, Operation *> &fused,
                  Table &table) {
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
        for (Region &r : ifOp->getRegions())
          for (Block &inner : r)
            instrument(inner, b, tick, fused, table);
        continue;
      }
      Kind kind = classify(&op);
      if (kind == Untimed)
        continue;
      Operation *labelled = &op;
      if (fusedEpilogues) {
        // The kernel will run this linear where its fused user is: one
        // tick, after the user, for both.
        if (auto linear = dyn_cast<dq::LinearDynamicOp>(op)) {
          if (dq::FusedUser user = dq::fusableUser(linear)) {
            fused[user.op] = linear;
            continue;
          }
        }
        if (Operation *linear = fused.lookup(&op)) {
          kind = Int8Linear;
          labelled = linear;
        }
      }
      b.setInsertionPointAfter(&op);
      emitTick(b, op.getLoc(), table.idOf(kind, labelled), tick);
    }
  }

  static void emitTick(OpBuilder &b, Location loc, int32_t id,
                       func::FuncOp tick) {
    Value k = arith::ConstantIntOp::create(b, loc, id, 32);
    func::CallOp::create(b, loc, tick, ValueRange{k});
  }
};

} // namespace
