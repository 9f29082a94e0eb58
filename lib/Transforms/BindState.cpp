//===- BindState.cpp - state results written into their arguments --------===//
//
// A model step that updates state in place (a decoder's KV cache: the new
// tokens' keys and values go into slots of caller-owned buffers) is
// imported as a function that returns the updated state as a new tensor,
// `%new = tensor.insert_slice %k into %cache[...]`, with the result marked
// `dq.state = <argument index>`. The caller keeps the argument's buffer, so
// the result must end up in it and must not be returned (the runtime would
// take the buffer as a new allocation it owns).
//
// One-shot bufferization writes such an insert in place when the argument is
// writable and nothing reads the old value afterwards, and
// drop-equivalent-buffer-results then drops the result. This pass, after
// both, handles what is left: a state result whose buffer is not the
// argument's (bufferized out of place, or merged through an scf.if) is
// copied into the argument, and the result is removed. Either way every
// `dq.state` result is gone afterwards, so the function's results are the
// ones the interface lists, and the update is never lost.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::dq {
#define GEN_PASS_DEF_DQBINDSTATE
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {

/// Whether `v` is `arg`'s buffer on every path: the argument itself, a
/// cast of it, or an scf.if result that yields it in both branches.
bool isBufferOf(Value v, BlockArgument arg) {
  if (v == arg)
    return true;
  if (auto cast = v.getDefiningOp<memref::CastOp>())
    return isBufferOf(cast.getSource(), arg);
  if (auto ifOp = v.getDefiningOp<scf::IfOp>()) {
    unsigned i = cast<OpResult>(v).getResultNumber();
    return ifOp.elseBlock() &&
           isBufferOf(ifOp.thenYield().getOperand(i), arg) &&
           isBufferOf(ifOp.elseYield().getOperand(i), arg);
  }
  return false;
}

class BindState : public dq::impl::DQBindStateBase<BindState> {
public:
  void runOnOperation() override {
    for (auto f : getOperation().getOps<func::FuncOp>()) {
      if (f.isExternal())
        continue;
      if (failed(bind(f)))
        return signalPassFailure();
    }
  }

private:
  LogicalResult bind(func::FuncOp f) {
    llvm::BitVector erase(f.getNumResults());
    SmallVector<std::pair<unsigned, unsigned>> bound;   // result, argument
    for (unsigned i = 0, e = f.getNumResults(); i < e; ++i) {
      auto attr = f.getResultAttrOfType<IntegerAttr>(i, "dq.state");
      if (!attr)
        continue;
      int64_t arg = attr.getInt();
      if (arg < 0 || arg >= f.getNumArguments() ||
          f.getArgument(arg).getType() != f.getResultTypes()[i])
        return f.emitError("result ")
               << i << ": dq.state names argument " << arg
               << ", which does not exist or has another type";
      bound.push_back({i, unsigned(arg)});
      erase.set(i);
    }
    if (bound.empty())
      return success();
    if (!isa<BaseMemRefType>(f.getResultTypes()[bound.front().first]))
      return f.emitError("dq-bind-state runs after bufferization; result ")
             << bound.front().first << " is not a buffer";
    for (Block &block : f.getBody()) {
      auto ret = dyn_cast<func::ReturnOp>(block.getTerminator());
      if (!ret)
        continue;
      OpBuilder b(ret);
      for (auto [result, arg] : bound) {
        Value value = ret.getOperand(result);
        BlockArgument buffer = f.getArgument(arg);
        if (!isBufferOf(value, buffer))
          memref::CopyOp::create(b, ret.getLoc(), value, buffer);
      }
      ret->eraseOperands(erase);
    }
    if (failed(f.eraseResults(erase)))
      return f.emitError("cannot remove the state results");
    return success();
  }
};
} // namespace
