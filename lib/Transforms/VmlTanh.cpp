//===- VmlTanh.cpp - dq.tanh's math.tanh as calls of MKL ------------------===//
//
// convert-dq-to-linalg lowers dq.tanh to an elementwise generic of
// `math.tanh {dq.mkl_vml}` so that it fuses and vectorizes like any other
// elementwise op; here, after vectorization, each such tanh becomes calls of
// the runtime's forwarders to MKL's vmsTanh (PyTorch's tanh, see LowerTanh):
// a vector is stored to the stack, passed as one array (MKL's per-call cost,
// about 40 ns, is then paid once per vector instead of once per element) and
// read back, inside an alloca scope so that loops do not grow the stack; a
// scalar left in an unvectorized generic is one dqmlirTanhf call. Without
// the attribute math.tanh keeps its usual (libm) lowering.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/VmlTanh.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kMklVml = "dq.mkl_vml";

struct VmlTanh : OpRewritePattern<math::TanhOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::TanhOp op,
                                PatternRewriter &rewriter) const override {
    if (!op->hasAttr(kMklVml))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Type f32 = b.getF32Type();
    Value x = op.getOperand();
    if (x.getType() == f32) {
      rewriter.replaceOp(op, func::CallOp::create(b, "dqmlirTanhf",
                                                  TypeRange{f32}, ValueRange{x})
                                 .getResult(0));
      return success();
    }
    auto type = dyn_cast<VectorType>(x.getType());
    if (!type || type.isScalable() || type.getElementType() != f32)
      return rewriter.notifyMatchFailure(op, "not f32 or a fixed vector of f32");
    int64_t n = type.getNumElements();
    auto flatType = VectorType::get({n}, f32);
    // The scope yields a 1-D vector: region results are not unrolled by the
    // later n-D vector lowering.
    Value flat = type.getRank() == 1
                     ? x
                     : vector::ShapeCastOp::create(b, flatType, x).getResult();
    auto scope = memref::AllocaScopeOp::create(b, TypeRange{flatType});
    Block *body = new Block();
    scope.getBodyRegion().push_back(body);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(body);
      auto bufType = MemRefType::get({n}, f32);
      IntegerAttr align = b.getI64IntegerAttr(64);
      Value in = memref::AllocaOp::create(b, bufType, ValueRange{}, align);
      Value out = memref::AllocaOp::create(b, bufType, ValueRange{}, align);
      Value zero = arith::ConstantIndexOp::create(b, 0);
      vector::StoreOp::create(b, flat, in, ValueRange{zero});
      Type i64 = b.getI64Type();
      auto address = [&](Value buffer) -> Value {
        Value p = memref::ExtractAlignedPointerAsIndexOp::create(b, buffer);
        return arith::IndexCastOp::create(b, i64, p);
      };
      Value count = arith::ConstantIntOp::create(b, i64, n);
      func::CallOp::create(b, "dqmlirTanhN", TypeRange{},
                           ValueRange{address(in), address(out), count});
      Value y = vector::LoadOp::create(b, flatType, out, ValueRange{zero});
      memref::AllocaScopeReturnOp::create(b, ValueRange{y});
    }
    Value y = scope.getResult(0);
    if (type.getRank() != 1)
      y = vector::ShapeCastOp::create(b, type, y);
    rewriter.replaceOp(op, y);
    return success();
  }
};

} // namespace

void mlir::dq::populateVmlTanhPatterns(RewritePatternSet &patterns) {
  patterns.add<VmlTanh>(patterns.getContext());
}
