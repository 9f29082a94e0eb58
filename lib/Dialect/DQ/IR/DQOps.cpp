//===- DQOps.cpp - dq dialect operations ----------------------------------===//

#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::dq;

#define GET_OP_CLASSES
#include "lib/Dialect/DQ/IR/DQOps.cpp.inc"

/// Two dimension sizes agree unless both are static and differ.
static bool compatibleDim(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  llvm::interleave(
      shape,
      [&](int64_t d) { s += ShapedType::isDynamic(d) ? "?" : std::to_string(d); },
      [&] { s += ", "; });
  return s + "]";
}

/// Checks that `shape` equals `expected` up to dynamic sizes.
static LogicalResult verifyShape(Operation *op, StringRef what,
                                 ArrayRef<int64_t> shape,
                                 ArrayRef<int64_t> expected) {
  if (shape.size() != expected.size() ||
      !llvm::all_of(llvm::zip_equal(shape, expected), [](auto p) {
        return compatibleDim(std::get<0>(p), std::get<1>(p));
      }))
    return op->emitOpError() << what << " must have shape "
                             << shapeStr(expected) << ", got "
                             << shapeStr(shape);
  return success();
}

/// Scale and zero point are rank-0 (per tensor) or have the input's shape
/// without its last dimension (per row); both have the same shape.
static LogicalResult verifyQParams(Operation *op, RankedTensorType input,
                                   RankedTensorType scale,
                                   RankedTensorType zeroPoint) {
  if (scale.getRank() != zeroPoint.getRank() ||
      failed(verifyShape(op, "zero point", zeroPoint.getShape(),
                         scale.getShape())))
    return op->emitOpError("scale and zero point must have the same shape");
  if (scale.getRank() == 0)
    return success();
  if (input.getRank() < 1)
    return op->emitOpError("per-row qparams need an input of rank >= 1");
  return verifyShape(op, "per-row scale", scale.getShape(),
                     input.getShape().drop_back());
}

/// dq ops compute on plain dense tensors that can exist: the lowerings
/// build their results without an encoding (sparse or any other), so one on
/// an operand or result would be dropped or make invalid IR; and the strides
/// of a tensor whose static sizes multiply beyond int64 overflow once it is
/// a memref (upstream asserts).
static LogicalResult verifyTensorTypes(Operation *op) {
  auto check = [&](Type type) -> LogicalResult {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor)
      return success();
    if (tensor.getEncoding())
      return op->emitOpError("tensors with an encoding are not supported, got ")
             << tensor;
    int64_t product = 1;
    for (int64_t d : tensor.getShape())
      if (!ShapedType::isDynamic(d) && d != 0 &&
          llvm::MulOverflow(product, d, product))
        return op->emitOpError("the static sizes of ")
               << tensor << " overflow int64";
    return success();
  };
  for (Type type : op->getOperandTypes())
    if (failed(check(type)))
      return failure();
  for (Type type : op->getResultTypes())
    if (failed(check(type)))
      return failure();
  return success();
}

static LogicalResult verifyMode(Operation *op, QuantMode mode,
                                bool reduceRange) {
  if (mode == QuantMode::Symmetric && reduceRange)
    return op->emitOpError(
        "reduce_range is only defined for the asymmetric mode");
  return success();
}

LogicalResult ChooseQParamsOp::verify() {
  if (failed(verifyTensorTypes(*this)))
    return failure();
  RankedTensorType input = getInput().getType();
  if (input.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  if (failed(verifyMode(*this, getMode(), getReduceRange())))
    return failure();
  RankedTensorType scale = getScale().getType();
  if (getGranularity() == Granularity::PerTensor) {
    if (scale.getRank() != 0 || getZeroPoint().getType().getRank() != 0)
      return emitOpError("per_tensor qparams must be rank-0 tensors");
  } else if (scale.getRank() != input.getRank() - 1) {
    return emitOpError("per_row qparams must have rank ")
           << input.getRank() - 1 << " (the input's rank minus one), got "
           << scale.getRank();
  }
  return verifyQParams(*this, input, scale, getZeroPoint().getType());
}

LogicalResult QuantizeOp::verify() {
  if (failed(verifyTensorTypes(*this)))
    return failure();
  if (failed(verifyShape(*this, "result", getOutput().getType().getShape(),
                         getInput().getType().getShape())))
    return failure();
  return verifyQParams(*this, getInput().getType(), getScale().getType(),
                       getZeroPoint().getType());
}

LogicalResult DequantizeOp::verify() {
  if (failed(verifyTensorTypes(*this)))
    return failure();
  if (failed(verifyShape(*this, "result", getOutput().getType().getShape(),
                         getInput().getType().getShape())))
    return failure();
  return verifyQParams(*this, getInput().getType(), getScale().getType(),
                       getZeroPoint().getType());
}

LogicalResult LinearDynamicOp::verify() {
  if (failed(verifyTensorTypes(*this)))
    return failure();
  RankedTensorType input = getInput().getType();
  RankedTensorType weight = getWeight().getType();
  if (input.getRank() < 2)
    return emitOpError("input must have rank >= 2, got ") << input.getRank();
  if (weight.getRank() != 2)
    return emitOpError("weight must have rank 2 ([N, K]), got ")
           << weight.getRank();
  if (failed(verifyMode(*this, getActMode(), getReduceRange())))
    return failure();
  int64_t n = weight.getDimSize(0), k = weight.getDimSize(1);
  if (!compatibleDim(input.getShape().back(), k))
    return emitOpError("input reduction dimension (last) is ")
           << input.getShape().back() << " but the weight has K = " << k;
  RankedTensorType wScale = getWeightScale().getType();
  if (wScale.getRank() != 0 &&
      failed(verifyShape(*this, "per-channel weight scale", wScale.getShape(),
                         {n})))
    return failure();
  if (getBias() &&
      failed(verifyShape(*this, "bias", getBias().getType().getShape(), {n})))
    return failure();
  SmallVector<int64_t> expected(input.getShape().drop_back());
  expected.push_back(n);
  return verifyShape(*this, "result", getOutput().getType().getShape(),
                     expected);
}

LogicalResult LayerNormOp::verify() {
  if (failed(verifyTensorTypes(*this)))
    return failure();
  RankedTensorType input = getInput().getType();
  if (input.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  int64_t n = input.getShape().back();
  // The lowering unrolls ATen's chunk schedule, which depends on N.
  if (ShapedType::isDynamic(n))
    return emitOpError("the normalized (last) dimension must be static");
  if (failed(verifyShape(*this, "gamma", getGamma().getType().getShape(), {n})) ||
      failed(verifyShape(*this, "beta", getBeta().getType().getShape(), {n})))
    return failure();
  return verifyShape(*this, "result", getOutput().getType().getShape(),
                     input.getShape());
}

LogicalResult SoftmaxOp::verify() {
  if (failed(verifyTensorTypes(*this)))
    return failure();
  int64_t rank = getInput().getType().getRank();
  if (rank < 1)
    return emitOpError("input must have rank >= 1");
  if (getDim() < 0 || getDim() >= rank)
    return emitOpError("dim must be in [0, ") << rank << "), got " << getDim();
  return success();
}

LogicalResult FlashSoftmaxOp::verify() {
  if (failed(verifyTensorTypes(*this)))
    return failure();
  RankedTensorType scores = getScores().getType();
  RankedTensorType mask = getMask().getType();
  if (scores.getRank() < 1)
    return emitOpError("scores must have rank >= 1");
  if (mask.getRank() != 0) {
    if (mask.getRank() != scores.getRank())
      return emitOpError("mask must be rank 0 or have the rank of scores");
    for (int64_t d = 0; d < scores.getRank(); ++d) {
      int64_t m = mask.getDimSize(d), s = scores.getDimSize(d);
      bool last = d + 1 == scores.getRank();
      if (!compatibleDim(m, s) && (last || m != 1))
        return emitOpError("mask dimension ")
               << d << " must be " << (last ? "" : "1 or ")
               << "that of scores";
    }
  }
  if (failed(verifyShape(*this, "exp", getExp().getType().getShape(),
                         scores.getShape())))
    return failure();
  SmallVector<int64_t> sumShape(scores.getShape().drop_back());
  sumShape.push_back(1);
  return verifyShape(*this, "inv_sum", getInvSum().getType().getShape(),
                     sumShape);
}

/// x [..., M, N] = a [..., M, K] times b ([..., N, K], or [..., K, N] when
/// `bTransposed` is false), same leading dims.
static LogicalResult verifyBatchedProduct(Operation *op, RankedTensorType x,
                                          RankedTensorType a,
                                          RankedTensorType b, bool bKN) {
  if (failed(verifyTensorTypes(op)))
    return failure();
  int64_t rank = x.getRank();
  if (rank < 2 || a.getRank() != rank || b.getRank() != rank)
    return op->emitOpError("operands must have one rank >= 2");
  SmallVector<int64_t> expA(x.getShape().drop_back()), expB(x.getShape().drop_back(2));
  expA.push_back(a.getShape().back());
  if (bKN) {
    expB.push_back(a.getShape().back());
    expB.push_back(x.getShape().back());
  } else {
    expB.push_back(x.getShape().back());
    expB.push_back(a.getShape().back());
  }
  if (failed(verifyShape(op, "lhs", a.getShape(), expA)))
    return failure();
  return verifyShape(op, "rhs", b.getShape(), expB);
}

LogicalResult FlashScoresFixupOp::verify() {
  return verifyBatchedProduct(*this, getScores().getType(),
                              getQuery().getType(), getKey().getType(), false);
}

LogicalResult FlashOutputFixupOp::verify() {
  return verifyBatchedProduct(*this, getOutput().getType(), getExp().getType(),
                              getValue().getType(), true);
}

LogicalResult LookupOp::verify() {
  int64_t size = getTable().size();
  if (size == 0 || size > 32)
    return emitOpError("table must have 1 to 32 entries, has ") << size;
  // Shapes: the Elementwise trait's verifier.
  return success();
}

//===----------------------------------------------------------------------===//
// Result sizes in terms of the operands' (ReifyRankedShapedTypeOpInterface).
//===----------------------------------------------------------------------===//

/// Every dq op on tensors keeps its first operand's dynamic sizes in place:
/// a result dim is static, or the first operand's dim at the same position
/// (linear_dynamic's leading dims, flash_softmax's inv_sum rows, the rows of
/// per-row qparams). Lets shape checks see through dq ops
/// (dq-runtime-checks, resolve-ranked-shaped-type-result-dims).
static LogicalResult reifyLikeFirstOperand(Operation *op, OpBuilder &b,
                                           ReifiedRankedShapedTypeDims &shapes) {
  Value source = op->getOperand(0);
  for (Type t : op->getResultTypes()) {
    auto type = cast<RankedTensorType>(t);
    SmallVector<OpFoldResult> dims;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (!type.isDynamicDim(d)) {
        dims.push_back(b.getIndexAttr(type.getDimSize(d)));
        continue;
      }
      auto sourceType = cast<RankedTensorType>(source.getType());
      if (d >= sourceType.getRank())
        return failure();
      dims.push_back(
          tensor::DimOp::create(b, op->getLoc(), source, d).getResult());
    }
    shapes.push_back(dims);
  }
  return success();
}

#define DQ_REIFY_LIKE_FIRST_OPERAND(Op)                                        \
  LogicalResult Op::reifyResultShapes(OpBuilder &b,                            \
                                      ReifiedRankedShapedTypeDims &shapes) {   \
    return reifyLikeFirstOperand(getOperation(), b, shapes);                   \
  }
DQ_REIFY_LIKE_FIRST_OPERAND(ChooseQParamsOp)
DQ_REIFY_LIKE_FIRST_OPERAND(QuantizeOp)
DQ_REIFY_LIKE_FIRST_OPERAND(DequantizeOp)
DQ_REIFY_LIKE_FIRST_OPERAND(LinearDynamicOp)
DQ_REIFY_LIKE_FIRST_OPERAND(LayerNormOp)
DQ_REIFY_LIKE_FIRST_OPERAND(GeluOp)
DQ_REIFY_LIKE_FIRST_OPERAND(SigmoidOp)
DQ_REIFY_LIKE_FIRST_OPERAND(TanhOp)

LogicalResult GeluOp::verify() {
  std::optional<int64_t> k = getAtenInnerDims();
  if (k && *k > getInput().getType().getRank())
    return emitOpError("aten_inner_dims ")
           << *k << " exceeds the rank " << getInput().getType().getRank();
  return success();
}

bool GeluOp::alwaysOneDNN() {
  if (getAtenInnerDims())
    return false;
  int64_t elements = 1;
  for (int64_t d : getInput().getType().getShape())
    if (!ShapedType::isDynamic(d))
      elements *= d;
  return elements > 1;
}
DQ_REIFY_LIKE_FIRST_OPERAND(SoftmaxOp)
DQ_REIFY_LIKE_FIRST_OPERAND(FlashSoftmaxOp)
DQ_REIFY_LIKE_FIRST_OPERAND(FlashScoresFixupOp)
DQ_REIFY_LIKE_FIRST_OPERAND(FlashOutputFixupOp)
#undef DQ_REIFY_LIKE_FIRST_OPERAND
