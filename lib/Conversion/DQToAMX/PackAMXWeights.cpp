//===- PackAMXWeights.cpp - compile-time AMX B-tile packing ---------------===//

#include "lib/Conversion/DQToAMX/PackAMXWeights.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>

using namespace mlir;

dq::PackedAMXWeights dq::packAMXWeights(MLIRContext *ctx,
                                        ArrayRef<int8_t> weight, int64_t n,
                                        int64_t k, int64_t colTiles) {
  int64_t n16 = llvm::alignTo(n, 16), k64 = llvm::alignTo(k, 64);
  int64_t bytes = n16 * k64, cols = 16 * colTiles;
  AsmResourceBlob packed =
      HeapAsmResourceBlob::allocate(bytes, /*align=*/64, /*dataIsMutable=*/true);
  MutableArrayRef<char> out = packed.getMutableData();
  std::memset(out.data(), 0, bytes);
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

  SmallVector<int32_t> sums(n16, 0);
  for (int64_t col = 0; col < n; ++col)
    for (int64_t kk = 0; kk < k; ++kk)
      sums[col] += weight[col * k + kk];

  auto i8 = IntegerType::get(ctx, 8), i32 = IntegerType::get(ctx, 32);
  PackedAMXWeights result{n, k, n16, k64, {}, {}};
  result.data = DenseResourceElementsAttr::get(
      RankedTensorType::get({bytes}, i8), "dq_amx_weights", std::move(packed));
  result.colsums = DenseResourceElementsAttr::get(
      RankedTensorType::get({n16}, i32), "dq_amx_colsums",
      HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int32_t>(sums)));
  return result;
}
