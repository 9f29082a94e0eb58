//===- Epilogue.cpp - the dequantize epilogue of a VNNI tile --------------===//
//
// Rounds exactly like convert-dq-to-linalg's epilogue (bit-exact with PyTorch):
//   asymmetric (fbgemm): fma(float(acc - zp * colsum[n]), s * ws[n], bias[n])
//                        or float(...) * (s * ws[n]) without bias
//   symmetric (torchao): (float(acc) * s) * ws[n] + bias[n]
// where the kernel's symmetric acc summed activations + 128, so 128 * colsum
// comes off first (exact in i32).
//
//===----------------------------------------------------------------------===//

#include "lib/Kernels/Epilogue.h"
#include "lib/Conversion/DQToLinalg/Builders.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::dq;

static VectorType lanes(Type elementType) {
  return VectorType::get({16}, elementType);
}

/// vector<16x.> at `source`[n0 + 16 v], padded with zeros past its end.
static Value readColumns(ImplicitLocOpBuilder &b, Value source, Value n0,
                         int64_t v, bool inBounds) {
  Type elementType = cast<RankedTensorType>(source.getType()).getElementType();
  Value off = arith::AddIOp::create(
      b, n0, constIndex(b, v * 16));
  Value pad = arith::ConstantOp::create(b, b.getZeroAttr(elementType));
  bool bounds[] = {inBounds};
  return vector::TransferReadOp::create(b, lanes(elementType), source,
                                        ValueRange{off}, pad, bounds);
}

/// The activations' scale, splat (row `idx` of it when per row).
static Value activationScale(ImplicitLocOpBuilder &b, const KernelContext &kc,
                             ValueRange idx) {
  return vector::BroadcastOp::create(
      b, lanes(b.getF32Type()), tensor::ExtractOp::create(b, kc.scale, idx));
}

/// What was added to every activation, splat: the zero point, or the +128
/// that made symmetric activations unsigned.
static Value activationShift(ImplicitLocOpBuilder &b, const KernelContext &kc,
                             ValueRange idx) {
  Value shift =
      kc.symmetric
          ? arith::ConstantOp::create(b, b.getI32IntegerAttr(128)).getResult()
          : tensor::ExtractOp::create(b, kc.zeroPoint, idx).getResult();
  return vector::BroadcastOp::create(b, lanes(b.getI32Type()), shift);
}

ColumnOperands dq::loadColumnOperands(ImplicitLocOpBuilder &b,
                                      const KernelContext &kc, Value n0,
                                      int64_t nv, bool masked) {
  ColumnOperands cols;
  for (int64_t v = 0; v < nv; ++v) {
    // The column sums are padded to 16 columns: always in bounds.
    cols.colsums.push_back(readColumns(b, kc.colsums, n0, v, true));
    if (kc.perChannel)
      cols.weightScale.push_back(
          readColumns(b, kc.weightScale, n0, v, !masked));
    if (kc.bias)
      cols.bias.push_back(readColumns(b, kc.bias, n0, v, !masked));
  }
  if (!kc.perChannel)
    cols.weightScale.push_back(vector::BroadcastOp::create(
        b, lanes(b.getF32Type()),
        tensor::ExtractOp::create(b, kc.weightScale, ValueRange{})));
  if (!kc.perRow) {
    Value shift = activationShift(b, kc, {});
    cols.scale = activationScale(b, kc, {});
    for (int64_t v = 0; v < nv; ++v) {
      cols.shiftedSums.push_back(
          arith::MulIOp::create(b, shift, cols.colsums[v]));
      if (!kc.symmetric)
        cols.mult.push_back(arith::MulFOp::create(
            b, cols.scale, cols.weightScale[kc.perChannel ? v : 0]));
    }
  }
  return cols;
}

Value dq::emitEpilogue(ImplicitLocOpBuilder &b, const KernelContext &kc,
                       const ColumnOperands &cols, ArrayRef<RowIndex> rows,
                       ArrayRef<Value> accs, Value n0, int64_t nv, bool masked,
                       Value out, Value outN0, ArrayRef<RowIndex> outRows) {
  Type f32 = b.getF32Type();
  Value outCol = outN0 ? arith::SubIOp::create(b, n0, outN0).getResult() : n0;
  bool perRow = kc.perRow;
  for (auto [i, row] : llvm::enumerate(rows)) {
    Value s = perRow ? activationScale(b, kc, row) : cols.scale;
    Value shift = perRow ? activationShift(b, kc, row) : Value();
    for (int64_t v = 0; v < nv; ++v) {
      Value ws = cols.weightScale[kc.perChannel ? v : 0];
      Value shifted = perRow ? arith::MulIOp::create(b, shift, cols.colsums[v])
                                   .getResult()
                             : cols.shiftedSums[v];
      Value acc = arith::SubIOp::create(b, accs[i * nv + v], shifted);
      Value r = arith::SIToFPOp::create(b, lanes(f32), acc);
      if (kc.symmetric) {
        r = arith::MulFOp::create(b, arith::MulFOp::create(b, r, s), ws);
        if (kc.bias)
          r = arith::AddFOp::create(b, r, cols.bias[v]);
      } else {
        Value mult = perRow ? arith::MulFOp::create(b, s, ws).getResult()
                            : cols.mult[v];
        r = kc.bias ? math::FmaOp::create(b, r, mult, cols.bias[v]).getResult()
                    : arith::MulFOp::create(b, r, mult).getResult();
      }
      if (kc.fused.gelu)
        r = buildGelu(b, r, vendorISA(kc.dot));
      Value v16 = constIndex(b, v * 16);
      bool bounds[] = {!masked};
      if (Value residual = kc.fused.residual) {
        // The residual is the whole output's shape: column n0 + 16 v.
        SmallVector<Value> at(row);
        at.push_back(arith::AddIOp::create(b, n0, v16));
        Value res = vector::TransferReadOp::create(b, lanes(f32), residual, at,
                                                   constF32(b, 0.0f), bounds);
        r = kc.fused.residualFirst ? arith::AddFOp::create(b, res, r)
                                   : arith::AddFOp::create(b, r, res);
      }
      SmallVector<Value> idx(outRows.empty() ? row : outRows[i]);
      idx.push_back(arith::AddIOp::create(b, outCol, v16));
      out = vector::TransferWriteOp::create(b, r, out, idx, bounds).getResult();
    }
  }
  return out;
}
