//===- EarlyDealloc.cpp - free buffers right after their last use ---------===//
//
// Ownership-based buffer deallocation puts every `memref.dealloc` at the end
// of the allocating block; for a model (one straight-line function) that is
// the return, so the peak memory is the sum of all intermediates. Here each
// dealloc of a block's own `memref.alloc` moves up to just after the last op
// of the block that touches the buffer through any alias; glibc then hands the
// same (cache-warm, already faulted-in) memory to the next allocations.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/Transforms/BufferViewFlowAnalysis.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/CallInterfaces.h"

namespace mlir::dq {
#define GEN_PASS_DEF_DQEARLYDEALLOC
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {

/// Whether `call` calls a function dq-outline-layers made: its arguments
/// are read during the call, never kept (its results are new buffers).
bool callsLayer(Operation *call) {
  auto callee = dyn_cast<func::CallOp>(call);
  if (!callee)
    return false;
  auto fn = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, callee.getCalleeAttr());
  return fn && fn->hasAttr("dq.layer");
}

/// The last op of `block` that uses `buffer` or an alias of it (at least the
/// allocation), or null when the buffer may escape the block.
Operation *lastUse(Value buffer, Block *block, Operation *dealloc,
                   const BufferViewFlowAnalysis &aliases) {
  Operation *last = buffer.getDefiningOp();
  for (Value alias : aliases.resolve(buffer)) {
    for (Operation *user : alias.getUsers()) {
      if (user == dealloc)
        continue;
      // A call may keep the pointer, an extracted pointer is not tracked;
      // but an outlined layer (dq-outline-layers) only reads its arguments.
      if (isa<memref::ExtractAlignedPointerAsIndexOp>(user) ||
          (isa<CallOpInterface>(user) && !callsLayer(user)))
        return nullptr;
      Operation *ancestor = block->findAncestorOpInBlock(*user);
      // Used outside the block, returned, or freed twice: leave it alone.
      if (!ancestor || ancestor->hasTrait<OpTrait::IsTerminator>() ||
          isa<memref::DeallocOp>(ancestor) || dealloc->isBeforeInBlock(ancestor))
        return nullptr;
      if (last->isBeforeInBlock(ancestor))
        last = ancestor;
    }
  }
  return last;
}

struct EarlyDealloc : mlir::dq::impl::DQEarlyDeallocBase<EarlyDealloc> {
  void runOnOperation() override {
    BufferViewFlowAnalysis aliases(getOperation());
    SmallVector<memref::DeallocOp> deallocs;
    getOperation().walk([&](memref::DeallocOp op) { deallocs.push_back(op); });
    for (memref::DeallocOp dealloc : deallocs) {
      Value buffer = dealloc.getMemref();
      Block *block = dealloc->getBlock();
      if (!buffer.getDefiningOp<memref::AllocOp>() ||
          buffer.getParentBlock() != block)
        continue;
      if (Operation *last = lastUse(buffer, block, dealloc, aliases))
        dealloc->moveAfter(last);
    }
  }
};

} // namespace
