//===- PackWeights.cpp - weight packing for the kernels -------------------===//

#include "lib/Kernels/PackWeights.h"
#include "lib/Utils/Weights.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>

using namespace mlir;

/// A zeroed, 64-byte aligned blob of `bytes` to pack into.
static AsmResourceBlob zeroedBlob(int64_t bytes) {
  AsmResourceBlob blob =
      HeapAsmResourceBlob::allocate(bytes, /*align=*/64, /*dataIsMutable=*/true);
  std::memset(blob.getMutableData().data(), 0, bytes);
  return blob;
}

/// The column sums of `weight` padded to n16 entries, as an i32 resource.
static DenseResourceElementsAttr columnSumsAttr(MLIRContext *ctx,
                                                ArrayRef<int8_t> weight,
                                                int64_t n, int64_t k,
                                                int64_t n16, StringRef name) {
  SmallVector<int32_t> sums = dq::columnSums(weight, n, k, n16);
  return DenseResourceElementsAttr::get(
      RankedTensorType::get({n16}, IntegerType::get(ctx, 32)), name,
      HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int32_t>(sums)));
}

dq::PackedWeights dq::packWeights(MLIRContext *ctx, ArrayRef<int8_t> weight,
                                  int64_t n, int64_t k, int64_t cols) {
  int64_t n16 = llvm::alignTo(n, 16), k4 = llvm::divideCeil(k, 4);
  int64_t bytes = n16 * k4 * 4;
  AsmResourceBlob packed = zeroedBlob(bytes);
  MutableArrayRef<char> out = packed.getMutableData();
  for (int64_t p0 = 0; p0 < n16; p0 += cols) {
    int64_t nv = std::min(cols, n16 - p0) / 16;
    char *panel = out.data() + p0 * 4 * k4;
    for (int64_t col = p0; col < std::min(p0 + nv * 16, n); ++col) {
      int64_t v = (col - p0) / 16, j = (col - p0) % 16;
      for (int64_t kk = 0; kk < k; ++kk)
        panel[((kk / 4) * nv + v) * 64 + j * 4 + kk % 4] = weight[col * k + kk];
    }
  }
  PackedWeights result{n, k, n16, k4, {}, {}};
  result.data = DenseResourceElementsAttr::get(
      RankedTensorType::get({bytes}, IntegerType::get(ctx, 8)),
      "dq_vnni_weights", std::move(packed));
  result.colsums = columnSumsAttr(ctx, weight, n, k, n16, "dq_vnni_colsums");
  return result;
}

dq::PackedAMXWeights dq::packAMXWeights(MLIRContext *ctx,
                                        ArrayRef<int8_t> weight, int64_t n,
                                        int64_t k, int64_t colTiles) {
  int64_t n16 = llvm::alignTo(n, 16), k64 = llvm::alignTo(k, 64);
  int64_t bytes = n16 * k64, cols = 16 * colTiles;
  AsmResourceBlob packed = zeroedBlob(bytes);
  MutableArrayRef<char> out = packed.getMutableData();
  for (int64_t n0 = 0; n0 < n16; n0 += cols) {
    int64_t tiles = std::min(cols, n16 - n0) / 16;
    char *panel = out.data() + n0 * k64;
    for (int64_t col = n0; col < std::min(n0 + tiles * 16, n); ++col) {
      int64_t t = (col - n0) / 16, j = (col - n0) % 16;
      for (int64_t kk = 0; kk < k; ++kk) {
        int64_t kb = kk / 64, r = (kk % 64) / 4;
        panel[(kb * tiles + t) * 1024 + r * 64 + j * 4 + kk % 4] =
            weight[col * k + kk];
      }
    }
  }
  PackedAMXWeights result{n, k, n16, k64, {}, {}};
  result.data = DenseResourceElementsAttr::get(
      RankedTensorType::get({bytes}, IntegerType::get(ctx, 8)),
      "dq_amx_weights", std::move(packed));
  result.colsums = columnSumsAttr(ctx, weight, n, k, n16, "dq_amx_colsums");
  return result;
}
