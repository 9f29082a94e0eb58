//===- Weights.cpp - constant int8 weights at compile time ----------------===//

#include "lib/Utils/Weights.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

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

SmallVector<int32_t> dq::columnSums(ArrayRef<int8_t> weight, int64_t n,
                                    int64_t k, int64_t size) {
  SmallVector<int32_t> sums(size, 0);
  for (int64_t col = 0; col < n; ++col) {
    uint32_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk)
      sum += static_cast<uint32_t>(weight[col * k + kk]);
    sums[col] = static_cast<int32_t>(sum);
  }
  return sums;
}
