//===- LowerTanh.cpp - dq.tanh as MKL's vsTanh ----------------------------===//
//
// torch.tanh on f32 CPU tensors is vml::vtanh = MKL's vmsTanh (VML_HA |
// VML_FTZDAZ_OFF), per contiguous run. Its results do not depend on where an
// element sits in the array (checked on 1.5M inputs, runs of 1 to 1.5M), so
// any grouping of the elements gives PyTorch's bits. The lowering is an
// elementwise generic of `math.tanh {dq.mkl_vml}`: vectorized, each vector
// becomes one call of the runtime's dqmlirTanhN, otherwise each element one
// of dqmlirTanhf (dq-vectorize-linalg, VmlTanh.cpp); both forward to the MKL
// function, loaded from the `mkl` package. Both are declared here (a module
// pass). The module gets a public `dqmlir_needs_mkl` function: the runtime
// opens such a model only where it can load MKL, instead of failing inside
// a call.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/AtenLoop.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::dq;

namespace {

constexpr llvm::StringLiteral kMarker = "dqmlir_needs_mkl";
constexpr llvm::StringLiteral kMklVml = "dq.mkl_vml";

struct LowerTanh : OpRewritePattern<TanhOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TanhOp op,
                                PatternRewriter &rewriter) const override {
    auto module = op->getParentOfType<ModuleOp>();
    if (!module)
      return rewriter.notifyMatchFailure(op, "needs a module for the runtime call");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    if (!SymbolTable::lookupSymbolIn(module, kMarker)) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToEnd(module.getBody());
      auto marker = func::FuncOp::create(b, kMarker, b.getFunctionType({}, {}));
      b.setInsertionPointToStart(marker.addEntryBlock());
      func::ReturnOp::create(b);
    }
    declareF32Function(b, module, "dqmlirTanhf");
    if (!SymbolTable::lookupSymbolIn(module, "dqmlirTanhN")) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      Type i64 = b.getI64Type();
      auto decl = func::FuncOp::create(b, "dqmlirTanhN",
                                       b.getFunctionType({i64, i64, i64}, {}));
      decl.setPrivate();
    }
    rewriter.replaceOp(op, elementwise(b, op.getInput(),
                                       [](ImplicitLocOpBuilder &e, Value x) {
                                         auto t = math::TanhOp::create(e, x);
                                         t->setAttr(kMklVml, e.getUnitAttr());
                                         return t.getResult();
                                       }));
    return success();
  }
};

} // namespace

void mlir::dq::populateLowerTanhPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerTanh>(patterns.getContext());
}
