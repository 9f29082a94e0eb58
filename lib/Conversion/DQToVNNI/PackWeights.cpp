//===- PackWeights.cpp - compile-time VNNI weight packing -----------------===//

#include "lib/Conversion/DQToVNNI/PackWeights.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include <cstring>

using namespace mlir;

std::optional<SmallVector<int8_t>> dq::readConstantWeight(Value weight) {
  Attribute attr;
  if (!matchPattern(weight, m_Constant(&attr)))
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(weight.getType());
  if (!type || type.getRank() != 2 || !type.hasStaticShape() ||
      !type.getElementType().isInteger(8))
    return std::nullopt;
  int64_t size = type.getNumElements();
  if (auto dense = dyn_cast<DenseIntElementsAttr>(attr)) {
    SmallVector<int8_t> values;
    values.reserve(size);
    for (const APInt &v : dense.getValues<APInt>())
      values.push_back(static_cast<int8_t>(v.getSExtValue()));
    return values;
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || static_cast<int64_t>(blob->getData().size()) != size)
      return std::nullopt;
    ArrayRef<char> data = blob->getData();
    return SmallVector<int8_t>(data.begin(), data.end());
  }
  return std::nullopt;
}

dq::PackedWeights dq::packWeights(MLIRContext *ctx, ArrayRef<int8_t> weight,
                                  int64_t n, int64_t k, int64_t cols) {
  int64_t n16 = llvm::alignTo(n, 16), k4 = llvm::divideCeil(k, 4);
  int64_t bytes = n16 * k4 * 4;
  AsmResourceBlob packed =
      HeapAsmResourceBlob::allocate(bytes, /*align=*/64, /*dataIsMutable=*/true);
  MutableArrayRef<char> out = packed.getMutableData();
  std::memset(out.data(), 0, bytes);
  for (int64_t p0 = 0; p0 < n16; p0 += cols) {
    int64_t nv = std::min(cols, n16 - p0) / 16;
    char *panel = out.data() + p0 * 4 * k4;
    for (int64_t col = p0; col < std::min(p0 + nv * 16, n); ++col) {
      int64_t v = (col - p0) / 16, j = (col - p0) % 16;
      for (int64_t kk = 0; kk < k; ++kk)
        panel[((kk / 4) * nv + v) * 64 + j * 4 + kk % 4] = weight[col * k + kk];
    }
  }

  // Wrapping i32 sums (signed overflow would be undefined here), as the i32
  // arithmetic of the kernel wraps.
  SmallVector<int32_t> sums(n16, 0);
  for (int64_t col = 0; col < n; ++col) {
    uint32_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk)
      sum += static_cast<uint32_t>(weight[col * k + kk]);
    sums[col] = static_cast<int32_t>(sum);
  }

  auto i8 = IntegerType::get(ctx, 8), i32 = IntegerType::get(ctx, 32);
  PackedWeights result{n, k, n16, k4, {}, {}};
  result.data = DenseResourceElementsAttr::get(
      RankedTensorType::get({bytes}, i8), "dq_vnni_weights", std::move(packed));
  result.colsums = DenseResourceElementsAttr::get(
      RankedTensorType::get({n16}, i32), "dq_vnni_colsums",
      HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int32_t>(sums)));
  return result;
}
