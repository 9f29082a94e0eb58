//===- FuseEpilogue.cpp - which users a linear's epilogue applies ---------===//

#include "lib/Kernels/FuseEpilogue.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dq;

/// `add` is `out = a + b` elementwise on same-typed tensors (identity maps,
/// a plain addf of the two inputs): returns the operand that is not
/// `linear`, and whether it is the addf's left one.
static FusedUser residualAdd(linalg::GenericOp add, Value linear) {
  if (add.getNumDpsInputs() != 2 || add.getNumDpsInits() != 1 ||
      add.getNumReductionLoops() != 0 ||
      add.getResult(0).getType() != linear.getType() ||
      !llvm::all_of(add.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return {};
  Block &body = add.getRegion().front();
  auto sum = dyn_cast<arith::AddFOp>(&body.front());
  if (!sum || body.getOperations().size() != 2 ||
      body.getTerminator()->getOperand(0) != sum.getResult() ||
      sum.getFastmath() != arith::FastMathFlags::none)
    return {};
  // `linear` may also be (only) the init, which the body does not read.
  if (add.getDpsInputs()[0] != linear && add.getDpsInputs()[1] != linear)
    return {};
  unsigned self = add.getDpsInputs()[0] == linear ? 0 : 1;
  Value residual = add.getDpsInputs()[1 - self];
  BlockArgument mine = body.getArgument(self),
                other = body.getArgument(1 - self);
  bool residualFirst = sum.getLhs() == other && sum.getRhs() == mine;
  if (residual == linear || residual.getType() != linear.getType() ||
      !(residualFirst || (sum.getLhs() == mine && sum.getRhs() == other)))
    return {};
  return {add, /*gelu=*/false, residual, residualFirst};
}

FusedUser mlir::dq::fusableUser(LinearDynamicOp op) {
  // tensor.dim users become dims of the input or N (replaceDimUsers).
  auto type = op.getType();
  if (type.isDynamicDim(type.getRank() - 1))
    return {};
  Operation *user = nullptr;
  for (Operation *u : op->getUsers()) {
    if (auto dim = dyn_cast<tensor::DimOp>(u)) {
      if (!dim.getConstantIndex())
        return {};
      continue;
    }
    if (user && user != u)
      return {};
    user = u;
  }
  if (!user)
    return {};
  if (auto gelu = dyn_cast<GeluOp>(user))
    return gelu.getType() == op.getType() && op->hasOneUse() &&
                   gelu.alwaysOneDNN()
               ? FusedUser{gelu, /*gelu=*/true}
               : FusedUser{};
  if (auto add = dyn_cast<linalg::GenericOp>(user))
    return residualAdd(add, op.getResult());
  return {};
}

void mlir::dq::replaceWithKernel(LinearDynamicOp op, const FusedUser &fused,
                                 Value out, PatternRewriter &rewriter) {
  if (!fused)
    return rewriter.replaceOp(op, out);
  rewriter.replaceOp(fused.op, out);
  rewriter.eraseOp(op);
}

void mlir::dq::replaceDimUsers(LinearDynamicOp op, PatternRewriter &rewriter) {
  OpBuilder::InsertionGuard guard(rewriter);
  Value x = op.getInput();
  int64_t last = op.getType().getRank() - 1;
  for (Operation *user : llvm::make_early_inc_range(op->getUsers())) {
    auto dim = dyn_cast<tensor::DimOp>(user);
    if (!dim)
      continue;
    rewriter.setInsertionPoint(dim);
    std::optional<int64_t> index = dim.getConstantIndex();
    Value replacement =
        index && *index == last
            ? constIndex(rewriter, dim.getLoc(), op.getType().getDimSize(last))
            : tensor::DimOp::create(rewriter, dim.getLoc(), x, dim.getIndex())
                  .getResult();
    rewriter.replaceOp(dim, replacement);
  }
}
