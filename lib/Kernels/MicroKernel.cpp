//===- MicroKernel.cpp - the register tile of the int8 kernels ------------===//
//
// One step of the K loop, for rows i and column vectors v:
//   w[v]  = vector<64xi8> of the packed panel (16 columns x 4 k)
//   a[i]  = q[i, k..k+3] read as one i32, broadcast to 16 lanes, as 64 x i8
//   acc[i][v] = vpdpbusd(acc[i][v], a[i], w[v])    (u8 x s8, exact i32)
// MLIR has no op for vpdpbusd (x86vector's dot.i8 is the signed AVX-VNNI-INT8
// form) and LLVM does not form it from mul/add reductions, so the kernel
// uses dqx86.vpdpbusd, which convert-dqx86-to-llvm turns into the intrinsic.
//
// Without VNNI (DotKind::AVX2) each 64-byte block is two ymm halves of 8
// columns, each with its own vector<8xi32> accumulator in the loop:
//   acc[i][v][h] += vpmaddwd(vpmaddubsw(a[i], w[v][h]), 1)
// vpmaddubsw sums the pairs (k, k+1), (k+2, k+3) in i16 with saturation,
// exactly as fbgemm's AVX2 kernel (same packing of 4 k per lane), so
// quantize_dynamic's linears give PyTorch's bits on such CPUs, saturation
// included. The modes whose reference sums exactly (symmetric, per-row
// activations) split the activations into their low 7 bits and their top
// bit, two saturation-free products.
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

static Value splatI32(ImplicitLocOpBuilder &b, VectorType type,
                      uint32_t value) {
  return arith::ConstantOp::create(
      b, DenseElementsAttr::get(
             type, b.getI32IntegerAttr(static_cast<int32_t>(value))));
}

/// q[row, k .. k+3] in every one of `lanes` i32 lanes. Symmetric (si8)
/// activations get their sign bit flipped: a + 128 as u8.
static Value broadcastActivations(ImplicitLocOpBuilder &b,
                                  const KernelContext &kc, const RowIndex &row,
                                  Value k, bool inBounds, int64_t lanes) {
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  SmallVector<Value> idx(row);
  idx.push_back(k);
  Value pad = arith::ConstantOp::create(b, b.getI8IntegerAttr(0));
  bool bounds[] = {inBounds};
  Value bytes = vector::TransferReadOp::create(b, VectorType::get({4}, i8),
                                               kc.q, idx, pad, bounds);
  Value word = vector::BitCastOp::create(b, VectorType::get({1}, i32), bytes);
  word = vector::ExtractOp::create(b, word, 0);
  auto lanesType = VectorType::get({lanes}, i32);
  Value splat = vector::BroadcastOp::create(b, lanesType, word);
  if (kc.symmetric)
    splat = arith::XOrIOp::create(b, splat, splatI32(b, lanesType, 0x80808080u));
  return splat;
}

/// The bytes of i32 lanes, as the dot instructions take them.
static Value asBytes(ImplicitLocOpBuilder &b, Value lanes) {
  int64_t n = cast<VectorType>(lanes.getType()).getDimSize(0);
  return vector::BitCastOp::create(b, VectorType::get({4 * n}, b.getI8Type()),
                                   lanes);
}

/// Whether the AVX2 dot must sum exactly: the references of symmetric
/// (torchao) and per-row (accurate) activations do; fbgemm's per-tensor
/// asymmetric path saturates pairs like vpmaddubsw.
static bool exactPairs(const KernelContext &kc) {
  return kc.symmetric || kc.perRow;
}

/// acc + the quadruple sums of u8 `a` x s8 `w` (vector<32xi8> each) as
/// vector<8xi32>: vpmaddubsw's saturated pair sums, widened and added in
/// pairs by vpmaddwd with ones.
static Value avx2Dot(ImplicitLocOpBuilder &b, Value acc, Value a, Value w) {
  auto pairsType = VectorType::get({16}, b.getI16Type());
  Value ones = arith::ConstantOp::create(
      b, DenseElementsAttr::get(pairsType, b.getI16IntegerAttr(1)));
  Value pairs = x86::VpmaddubswOp::create(b, pairsType, a, w);
  Value quads = x86::VpmaddwdOp::create(
      b, VectorType::get({8}, b.getI32Type()), pairs, ones);
  return arith::AddIOp::create(b, acc, quads);
}

/// One K/4 step at `k4`; activations are read masked when `inBounds` is
/// false (the last, partial group of 4 when K % 4 != 0).
static SmallVector<Value> dotStep(ImplicitLocOpBuilder &b,
                                  const KernelContext &kc,
                                  ArrayRef<RowIndex> rows, Value panelBase,
                                  int64_t nv, int64_t kGroup, Value k4,
                                  ValueRange accs, bool inBounds) {
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
  Value k = arith::MulIOp::create(b, k4, constIndex(b, 4));
  // VNNI: one 64-byte vector per v; AVX2: its two 32-byte halves.
  int64_t halves = kc.dot == DotKind::AVX2 ? 2 : 1;
  auto wType = VectorType::get({64 / halves}, b.getI8Type());
  SmallVector<Value> w;
  for (int64_t v = 0; v < nv; ++v) {
    for (int64_t h = 0; h < halves; ++h) {
      Value off = arith::AddIOp::create(
          b, base, constIndex(b, v * 64 * kGroup + h * 32));
      bool bounds[] = {true};
      w.push_back(vector::TransferReadOp::create(
          b, wType, kc.packed, ValueRange{off}, pad, bounds));
    }
  }
  SmallVector<Value> next;
  for (auto [i, row] : llvm::enumerate(rows)) {
    Value a =
        broadcastActivations(b, kc, row, k, inBounds, /*lanes=*/16 / halves);
    if (kc.dot == DotKind::VNNI) {
      Value bytes = asBytes(b, a);
      for (int64_t v = 0; v < nv; ++v) {
        Value acc = accs[i * nv + v];
        next.push_back(
            x86::VpdpbusdOp::create(b, acc.getType(), acc, bytes, w[v]));
      }
      continue;
    }
    // AVX2: with exactPairs, a = (a & 0x7f..) + (a & 0x80..), each product
    // free of saturation (|pair| <= 127 * 128 * 2, resp. 128 * 128 * 2).
    SmallVector<Value> parts;
    if (exactPairs(kc)) {
      auto type = cast<VectorType>(a.getType());
      parts.push_back(asBytes(
          b, arith::AndIOp::create(b, a, splatI32(b, type, 0x7f7f7f7fu))));
      parts.push_back(asBytes(
          b, arith::AndIOp::create(b, a, splatI32(b, type, 0x80808080u))));
    } else {
      parts.push_back(asBytes(b, a));
    }
    for (int64_t j = 0; j < nv * 2; ++j) {
      Value acc = accs[i * nv * 2 + j];
      for (Value part : parts)
        acc = avx2Dot(b, acc, part, w[j]);
      next.push_back(acc);
    }
  }
  return next;
}

SmallVector<Value> dq::emitDotTile(ImplicitLocOpBuilder &b,
                                   const KernelContext &kc,
                                   ArrayRef<RowIndex> rows, Value panelBase,
                                   int64_t nv, int64_t kGroup) {
  // AVX2 carries each vector<16xi32> as two vector<8xi32> halves.
  int64_t halves = kc.dot == DotKind::AVX2 ? 2 : 1;
  auto accType = VectorType::get({16 / halves}, b.getI32Type());
  Value zero = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getI32IntegerAttr(0)));
  SmallVector<Value> accs(rows.size() * nv * halves, zero);
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
  if (halves == 1)
    return accs;
  SmallVector<Value> joined;
  SmallVector<int64_t> concat = llvm::to_vector(llvm::seq<int64_t>(0, 16));
  for (size_t j = 0; j < accs.size(); j += 2)
    joined.push_back(
        vector::ShuffleOp::create(b, accs[j], accs[j + 1], concat));
  return joined;
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
