//===- AtenLoop.cpp - elementwise ops as ATen's CPU loops round them ------===//

#include "lib/Conversion/DQToLinalg/AtenLoop.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;

Value dq::elementwise(ImplicitLocOpBuilder &b, Value input, ElementBody body) {
  unsigned rank = cast<RankedTensorType>(input.getType()).getRank();
  Value init = emptyLike(b, input, b.getF32Type());
  AffineMap id = b.getMultiDimIdentityMap(rank);
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, ValueRange{input}, ValueRange{init},
             ArrayRef<AffineMap>{id, id}, iterators(rank),
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               ImplicitLocOpBuilder e(loc, nested);
               linalg::YieldOp::create(e, body(e, args[0]));
             })
      .getResult(0);
}

int64_t dq::atenLanes(VendorISA isa) {
  return isa == VendorISA::AVX2 ? 8 : 16;
}

Value dq::lowerAtenRows(ImplicitLocOpBuilder &b, Value input, int64_t lanes,
                        ElementBody vectorForm, ElementBody scalarForm) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  if (rank == 0)
    return elementwise(b, input, scalarForm);
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, b.getLoc(), input);
  Value n = getValueOrCreateConstantIndexOp(b, b.getLoc(), sizes.back());
  Value pair = arith::ConstantIndexOp::create(b, 2 * lanes);
  Value split = arith::SubIOp::create(b, n, arith::RemUIOp::create(b, n, pair));
  SmallVector<OpFoldResult> zeros(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> ones(rank, b.getIndexAttr(1));
  SmallVector<OpFoldResult> headSizes(sizes), tailSizes(sizes), tailOffsets(zeros);
  headSizes.back() = split;
  tailSizes.back() = arith::SubIOp::create(b, n, split).getResult();
  tailOffsets.back() = split;
  Value head = tensor::ExtractSliceOp::create(b, input, zeros, headSizes, ones);
  Value tail =
      tensor::ExtractSliceOp::create(b, input, tailOffsets, tailSizes, ones);
  Value out = emptyLike(b, input, b.getF32Type());
  out = tensor::InsertSliceOp::create(b, elementwise(b, head, vectorForm), out,
                                      zeros, headSizes, ones);
  out = tensor::InsertSliceOp::create(b, elementwise(b, tail, scalarForm), out,
                                      tailOffsets, tailSizes, ones);
  return tensor::CastOp::create(b, type, out);
}

void dq::declareF32Function(OpBuilder &b, ModuleOp module, StringRef name) {
  if (SymbolTable::lookupSymbolIn(module, name))
    return;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  Type f32 = b.getF32Type();
  auto decl = func::FuncOp::create(b, module.getLoc(), name,
                                   b.getFunctionType({f32}, {f32}));
  decl.setPrivate();
}

Value dq::callF32(ImplicitLocOpBuilder &b, StringRef name, Value x) {
  Type f32 = b.getF32Type();
  return func::CallOp::create(b, name, TypeRange{f32}, ValueRange{x})
      .getResult(0);
}
