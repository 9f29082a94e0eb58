//===- WidenBoolMemrefs.cpp - store i1 memrefs as bytes -------------------===//
//
// A type conversion memref<...xi1> -> memref<...xi8>. Ops that only move
// memrefs around (alloc, views, copies, calls, ...) are re-created with the
// converted types; loads and stores convert the element. Anything else that
// touches an i1 memref makes the conversion fail with a diagnostic.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::dq {
#define GEN_PASS_DEF_DQWIDENBOOLMEMREFS
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

using namespace mlir;

static bool isBool(Type t) { return t.isInteger(1); }

static bool hasBoolMemref(TypeRange types) {
  return llvm::any_of(types, [](Type t) {
    auto m = dyn_cast<BaseMemRefType>(t);
    return m && isBool(m.getElementType());
  });
}

namespace {
struct BoolMemrefConverter : TypeConverter {
  BoolMemrefConverter() {
    addConversion([](Type t) { return t; });
    addConversion([](MemRefType t) -> Type {
      return isBool(t.getElementType())
                 ? t.clone(IntegerType::get(t.getContext(), 8))
                 : t;
    });
    addConversion([](UnrankedMemRefType t) -> Type {
      return isBool(t.getElementType())
                 ? UnrankedMemRefType::get(IntegerType::get(t.getContext(), 8),
                                           t.getMemorySpace())
                 : t;
    });
  }
};

/// Ops that only carry memrefs: same op, converted operand/result types.
struct RetypeOp : ConversionPattern {
  RetypeOp(const TypeConverter &tc, MLIRContext *ctx)
      : ConversionPattern(tc, MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}

  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    if (!isa<memref::AllocOp, memref::AllocaOp, memref::DeallocOp,
             memref::SubViewOp, memref::CastOp, memref::ExpandShapeOp,
             memref::CollapseShapeOp, memref::ReinterpretCastOp,
             memref::CopyOp, memref::DimOp, memref::ExtractStridedMetadataOp,
             memref::GetGlobalOp, memref::ViewOp, memref::TransposeOp,
             memref::ExtractAlignedPointerAsIndexOp>(op))
      return failure();
    SmallVector<Type> types;
    if (failed(getTypeConverter()->convertTypes(op->getResultTypes(), types)))
      return failure();
    OperationState state(op->getLoc(), op->getName(), operands, types,
                         op->getAttrs(), op->getSuccessors());
    Operation *created = rewriter.create(state);
    rewriter.replaceOp(op, created->getResults());
    return success();
  }
};

struct WidenLoad : OpConversionPattern<memref::LoadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(memref::LoadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value byte = memref::LoadOp::create(rewriter, op.getLoc(),
                                        adaptor.getMemref(),
                                        adaptor.getIndices());
    rewriter.replaceOpWithNewOp<arith::TruncIOp>(op, rewriter.getI1Type(),
                                                 byte);
    return success();
  }
};

struct WidenStore : OpConversionPattern<memref::StoreOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(memref::StoreOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value byte = arith::ExtUIOp::create(rewriter, op.getLoc(),
                                        rewriter.getI8Type(),
                                        adaptor.getValue());
    rewriter.replaceOpWithNewOp<memref::StoreOp>(op, byte, adaptor.getMemref(),
                                                 adaptor.getIndices());
    return success();
  }
};

/// memref.global of i1: i8 type and initial value.
struct WidenGlobal : OpConversionPattern<memref::GlobalOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(memref::GlobalOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    MemRefType type = op.getType();
    auto newType = cast<MemRefType>(getTypeConverter()->convertType(type));
    Attribute init = op.getInitialValue().value_or(Attribute());
    if (auto dense = dyn_cast_or_null<DenseIntElementsAttr>(init))
      init = dense.mapValues(rewriter.getI8Type(), [](const APInt &v) {
        return v.zext(8);
      });
    else if (init && !isa<UnitAttr>(init))
      return rewriter.notifyMatchFailure(op, "unsupported i1 initial value");
    rewriter.modifyOpInPlace(op, [&] {
      op.setType(newType);
      if (init)
        op.setInitialValueAttr(init);
    });
    return success();
  }
};

struct DQWidenBoolMemrefs
    : dq::impl::DQWidenBoolMemrefsBase<DQWidenBoolMemrefs> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    BoolMemrefConverter converter;
    RewritePatternSet patterns(ctx);
    patterns.add<RetypeOp>(converter, ctx);
    patterns.add<WidenLoad, WidenStore, WidenGlobal>(converter, ctx);
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                  converter);
    populateCallOpTypeConversionPattern(patterns, converter);
    populateReturnOpTypeConversionPattern(patterns, converter);
    populateBranchOpInterfaceTypeConversionPattern(patterns, converter);
    ConversionTarget target(*ctx);
    scf::populateSCFStructuralTypeConversionsAndLegality(converter, patterns,
                                                         target);
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp f) {
      return converter.isSignatureLegal(f.getFunctionType());
    });
    target.addDynamicallyLegalOp<memref::GlobalOp>(
        [](memref::GlobalOp g) { return !isBool(g.getType().getElementType()); });
    target.markUnknownOpDynamicallyLegal([](Operation *op) {
      return !hasBoolMemref(op->getOperandTypes()) &&
             !hasBoolMemref(op->getResultTypes());
    });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
