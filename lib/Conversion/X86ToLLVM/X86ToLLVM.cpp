//===- X86ToLLVM.cpp - the convert-dqx86-to-llvm pass ---------------------===//

#include "lib/Conversion/X86ToLLVM/X86ToLLVM.h"
#include "lib/Dialect/X86/IR/X86Ops.h"

#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/AMX/Transforms.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::dq {
#define GEN_PASS_DEF_CONVERTDQX86TOLLVM
#include "lib/Conversion/X86ToLLVM/X86ToLLVM.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {
/// An op whose operands are exactly its intrinsic's, in order.
template <typename Op>
struct ToIntrinsic : OpRewritePattern<Op> {
  ToIntrinsic(MLIRContext *ctx, StringRef intrinsic)
      : OpRewritePattern<Op>(ctx), intrinsic(intrinsic) {}

  LogicalResult matchAndRewrite(Op op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
        op, op.getType(), rewriter.getStringAttr(intrinsic),
        op->getOperands());
    return success();
  }

  StringRef intrinsic;
};

/// Whether `root` holds an op of the amx dialect.
bool hasAMXOps(Operation *root) {
  return root
      ->walk([](Operation *op) {
        return isa<amx::AMXDialect>(op->getDialect()) ? WalkResult::interrupt()
                                                      : WalkResult::advance();
      })
      .wasInterrupted();
}

struct ConvertDQX86ToLLVM
    : dq::impl::ConvertDQX86ToLLVMBase<ConvertDQX86ToLLVM> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    dq::populateDQX86ToLLVMPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
    if (hasAMXOps(getOperation()) && failed(convertAMX()))
      signalPassFailure();
  }

  /// The amx ops to intrinsics; tiles carried by scf.for become
  /// !llvm.x86_amx iter_args.
  LogicalResult convertAMX() {
    MLIRContext *ctx = &getContext();
    LLVMTypeConverter converter(ctx);
    RewritePatternSet patterns(ctx);
    LLVMConversionTarget target(*ctx);
    populateAMXLegalizeForLLVMExportPatterns(converter, patterns);
    configureAMXLegalizeForExportTarget(target);
    scf::populateSCFStructuralTypeConversionsAndLegality(converter, patterns,
                                                         target);
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    return applyPartialConversion(getOperation(), target, std::move(patterns));
  }
};
} // namespace

void mlir::dq::populateDQX86ToLLVMPatterns(RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  // (acc, u8 activations, s8 weights), as LLVM declares it.
  patterns.add<ToIntrinsic<x86::VpdpbusdOp>>(ctx,
                                             "llvm.x86.avx512.vpdpbusd.512");
  // (u8 activations, s8 weights) and (i16, i16), as LLVM declares them.
  patterns.add<ToIntrinsic<x86::VpmaddubswOp>>(ctx,
                                               "llvm.x86.avx2.pmadd.ub.sw");
  patterns.add<ToIntrinsic<x86::VpmaddwdOp>>(ctx, "llvm.x86.avx2.pmadd.wd");
  // (table low half, index, table high half).
  patterns.add<ToIntrinsic<x86::Vpermi2psOp>>(
      ctx, "llvm.x86.avx512.vpermi2var.ps.512");
}
