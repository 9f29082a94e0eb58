//===- ProfileOps.cpp - time each op kind of a compiled call --------------===//
//
// After every op that computes a tensor (at the top level of a function and
// in the branches of scf.if: not inside loops or linalg bodies), a call
// dqmlir_profile_tick(kind) charges the time since the previous tick to the
// op's kind (ProfileKinds.h); each function's entry ticks kind -1, which
// starts the clock. The ops are still dq ops here, before any kernel or
// lowering, so an int8 linear is one op, whatever its kernel becomes. The
// calls carry the location of the op they follow, so that the layers stay
// equal for dq-outline-layers. What the int8 kernels take into a linear's
// epilogue (a GELU, a residual add: lib/Kernels/FuseEpilogue.h) counts as
// the linear (option fused-epilogues). What later passes fuse (an
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

namespace mlir::dq {
#define GEN_PASS_DEF_DQPROFILEOPS
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kTick = "dqmlir_profile_tick";

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
  return Other;
}

struct ProfileOps : dq::impl::DQProfileOpsBase<ProfileOps> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder b(&getContext());
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
      llvm::SmallPtrSet<Operation *, 32> fused;
      instrument(entry, b, tick, fused);
    }
  }

  /// `fused`: the users of linears the kernels will fuse, seen so far.
  void instrument(Block &block, OpBuilder &b, func::FuncOp tick,
                  llvm::SmallPtrSetImpl<Operation *> &fused) {
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
        for (Region &r : ifOp->getRegions())
          for (Block &inner : r)
            instrument(inner, b, tick, fused);
        continue;
      }
      Kind kind = classify(&op);
      if (kind == Untimed)
        continue;
      if (fusedEpilogues) {
        // The kernel will run this linear where its fused user is: one
        // tick, after the user, for both.
        if (auto linear = dyn_cast<dq::LinearDynamicOp>(op)) {
          if (dq::FusedUser user = dq::fusableUser(linear)) {
            fused.insert(user.op);
            continue;
          }
        }
        if (fused.contains(&op))
          kind = Int8Linear;
      }
      b.setInsertionPointAfter(&op);
      emitTick(b, op.getLoc(), kind, tick);
    }
  }

  static void emitTick(OpBuilder &b, Location loc, int32_t kind,
                       func::FuncOp tick) {
    Value k = arith::ConstantIntOp::create(b, loc, kind, 32);
    func::CallOp::create(b, loc, tick, ValueRange{k});
  }
};

} // namespace
