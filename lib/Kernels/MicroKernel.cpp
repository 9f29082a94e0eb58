//===- MicroKernel.cpp - the vpdpbusd register tile -----------------------===//
//
// One step of the K loop, for rows i and column vectors v:
//   w[v]  = vector<64xi8> of the packed panel (16 columns x 4 k)
//   a[i]  = q[i, k..k+3] read as one i32, broadcast to 16 lanes, as 64 x i8
//   acc[i][v] = vpdpbusd(acc[i][v], a[i], w[v])    (u8 x s8, exact i32)
// MLIR has no op for vpdpbusd (x86vector's dot.i8 is the signed AVX-VNNI-INT8
// form) and LLVM does not form it from mul/add reductions, so the kernel
// uses dqx86.vpdpbusd, which convert-dqx86-to-llvm turns into the intrinsic.
//
//===----------------------------------------------------------------------===//

#include "lib/Kernels/MicroKernel.h"
#include "lib/Dialect/X86/IR/X86Ops.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::dq;

/// q[row, k .. k+3] in every 32-bit lane of a vector<64xi8>. Symmetric (si8)
/// activations get their sign bit flipped: a + 128 as u8.
static Value broadcastActivations(ImplicitLocOpBuilder &b,
                                  const KernelContext &kc, const RowIndex &row,
                                  Value k, bool inBounds) {
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  SmallVector<Value> idx(row);
  idx.push_back(k);
  Value pad = arith::ConstantOp::create(b, b.getI8IntegerAttr(0));
  bool bounds[] = {inBounds};
  Value bytes = vector::TransferReadOp::create(b, VectorType::get({4}, i8),
                                               kc.q, idx, pad, bounds);
  Value word = vector::BitCastOp::create(b, VectorType::get({1}, i32), bytes);
  word = vector::ExtractOp::create(b, word, 0);
  auto lanesType = VectorType::get({16}, i32);
  Value lanes = vector::BroadcastOp::create(b, lanesType, word);
  if (kc.symmetric)
    lanes = arith::XOrIOp::create(
        b, lanes,
        arith::ConstantOp::create(
            b, DenseElementsAttr::get(
                   lanesType, b.getI32IntegerAttr(
                                  static_cast<int32_t>(0x80808080u)))));
  return vector::BitCastOp::create(b, VectorType::get({64}, i8), lanes);
}

/// One K/4 step at `k4`; activations are read masked when `inBounds` is
/// false (the last, partial group of 4 when K % 4 != 0).
static SmallVector<Value> dotStep(ImplicitLocOpBuilder &b,
                                  const KernelContext &kc,
                                  ArrayRef<RowIndex> rows, Value panelBase,
                                  int64_t nv, int64_t kGroup, Value k4,
                                  ValueRange accs, bool inBounds) {
  auto wType = VectorType::get({64}, b.getI8Type());
  Value pad = arith::ConstantOp::create(b, b.getI8IntegerAttr(0));
  Value base;
  if (kGroup == 1) {
    base = arith::AddIOp::create(
        b, panelBase,
        arith::MulIOp::create(b, k4, constIndex(b, nv * 64)));
  } else {
    Value g = constIndex(b, kGroup);
    Value group = arith::MulIOp::create(
        b, arith::DivUIOp::create(b, k4, g),
        constIndex(b, nv * 64 * kGroup));
    Value inGroup = arith::MulIOp::create(b, arith::RemUIOp::create(b, k4, g),
                                          constIndex(b, 64));
    base = arith::AddIOp::create(
        b, panelBase, arith::AddIOp::create(b, group, inGroup));
  }
  SmallVector<Value> w;
  for (int64_t v = 0; v < nv; ++v) {
    Value off = arith::AddIOp::create(
        b, base, constIndex(b, v * 64 * kGroup));
    bool bounds[] = {true};
    w.push_back(vector::TransferReadOp::create(b, wType, kc.packed,
                                               ValueRange{off}, pad, bounds));
  }
  Value k = arith::MulIOp::create(b, k4, constIndex(b, 4));
  SmallVector<Value> next;
  for (auto [i, row] : llvm::enumerate(rows)) {
    Value a = broadcastActivations(b, kc, row, k, inBounds);
    for (int64_t v = 0; v < nv; ++v) {
      Value acc = accs[i * nv + v];
      next.push_back(x86::VpdpbusdOp::create(b, acc.getType(), acc, a, w[v]));
    }
  }
  return next;
}

SmallVector<Value> dq::emitDotTile(ImplicitLocOpBuilder &b,
                                   const KernelContext &kc,
                                   ArrayRef<RowIndex> rows, Value panelBase,
                                   int64_t nv, int64_t kGroup) {
  auto accType = VectorType::get({16}, b.getI32Type());
  Value zero = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getI32IntegerAttr(0)));
  SmallVector<Value> accs(rows.size() * nv, zero);
  int64_t fullSteps = kc.k / 4;
  if (fullSteps > 0) {
    auto loop = scf::ForOp::create(
        b, constIndex(b, 0),
        constIndex(b, fullSteps),
        constIndex(b, 1), accs,
        [&](OpBuilder &nb, Location loc, Value k4, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          scf::YieldOp::create(
              ib, dotStep(ib, kc, rows, panelBase, nv, kGroup, k4, iter, true));
        });
    accs.assign(loop.getResults().begin(), loop.getResults().end());
  }
  if (kc.k % 4 != 0)
    accs = dotStep(b, kc, rows, panelBase, nv, kGroup,
                   constIndex(b, fullSteps), accs,
                   /*inBounds=*/false);
  return accs;
}

Value dq::emitRowTiles(ImplicitLocOpBuilder &b, const KernelContext &kc,
                       ArrayRef<Value> leadDims, Value lb, Value ub,
                       int64_t step, Value panelBase, int64_t kGroup, Value n0,
                       int64_t nv, bool masked, const ColumnOperands &cols,
                       Value out, Value outN0) {
  auto loop = scf::ForOp::create(
      b, lb, ub, constIndex(b, step), ValueRange{out},
      [&](OpBuilder &nb, Location loc, Value m, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        SmallVector<RowIndex> tileRows;
        for (int64_t i = 0; i < step; ++i)
          tileRows.push_back(delinearizeRow(
              ib, i ? arith::AddIOp::create(ib, m, constIndex(ib, i)) : m,
              leadDims));
        SmallVector<Value> accs =
            emitDotTile(ib, kc, tileRows, panelBase, nv, kGroup);
        scf::YieldOp::create(ib, emitEpilogue(ib, kc, cols, tileRows, accs,
                                              n0, nv, masked, iter[0], outN0));
      });
  return loop.getResult(0);
}
