//===- ExternalizeWeights.cpp - large constants into weights.bin ----------===//
//
// Weights must not become LLVM IR constants: a 110M-parameter model makes
// that slow to compile and the library as big as the weights. Each large
// constant global's bytes go to the weights file at a 64-byte aligned
// offset (what the kernels' aligned loads assume), and every
// `llvm.mlir.addressof` of it becomes a GEP from the pointer the runtime
// stores in `dqmlir_weights` after it read the file.
//
//===----------------------------------------------------------------------===//

#include "lib/Target/ModelLibrary/ModelLibrary.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;

namespace {
constexpr StringLiteral kWeightsSymbol = "dqmlir_weights";
constexpr size_t kAlignment = 64;

/// The raw bytes of a constant global's initializer, if it has plain ones.
std::optional<ArrayRef<char>> initialBytes(Attribute value) {
  if (auto resource = dyn_cast_or_null<DenseResourceElementsAttr>(value)) {
    if (AsmResourceBlob *blob = resource.getRawHandle().getBlob())
      return blob->getData();
    return std::nullopt;
  }
  auto dense = dyn_cast_or_null<DenseElementsAttr>(value);
  // Splats and i1 are stored compressed: not the memory image.
  if (!dense || dense.isSplat() || dense.getElementType().isInteger(1) ||
      !dense.getElementType().isIntOrFloat())
    return std::nullopt;
  return dense.getRawData();
}
} // namespace

LogicalResult dq::externalizeWeights(ModuleOp module, size_t minBytes,
                                     std::string &weights) {
  MLIRContext *ctx = module.getContext();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  llvm::StringMap<uint64_t> offsets;
  SmallVector<LLVM::GlobalOp> moved;
  for (auto global : module.getOps<LLVM::GlobalOp>()) {
    std::optional<ArrayRef<char>> bytes = initialBytes(global.getValueOrNull());
    if (!global.getConstant() || !bytes || bytes->size() < minBytes ||
        !global.getInitializerRegion().empty())
      continue;
    weights.resize(llvm::alignTo(weights.size(), kAlignment), '\0');
    offsets[global.getSymName()] = weights.size();
    weights.append(bytes->data(), bytes->size());
    moved.push_back(global);
  }
  OpBuilder b(ctx);
  b.setInsertionPointToStart(module.getBody());
  // A definition (null until the runtime stores the weights' address), so
  // that every model library has the symbol, weights or not.
  auto slot = LLVM::GlobalOp::create(b, module.getLoc(), ptr,
                                     /*isConstant=*/false,
                                     LLVM::Linkage::External, kWeightsSymbol,
                                     Attribute(), /*alignment=*/8);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&slot.getInitializerRegion().emplaceBlock());
    LLVM::ReturnOp::create(
        b, module.getLoc(),
        LLVM::ZeroOp::create(b, module.getLoc(), ptr).getResult());
  }
  WalkResult walk = module.walk([&](LLVM::AddressOfOp addr) {
    auto it = offsets.find(addr.getGlobalName());
    if (it == offsets.end())
      return WalkResult::advance();
    if (!addr->getParentOfType<LLVM::LLVMFuncOp>()) {
      addr.emitError("a weight's address outside a function");
      return WalkResult::interrupt();
    }
    b.setInsertionPoint(addr);
    Location loc = addr.getLoc();
    Value slot = LLVM::AddressOfOp::create(b, loc, ptr, kWeightsSymbol);
    Value base = LLVM::LoadOp::create(b, loc, ptr, slot, /*alignment=*/8,
                                      /*isVolatile=*/false,
                                      /*isNonTemporal=*/false,
                                      /*isInvariant=*/true);
    Value at = base;
    if (it->second) {
      Value offset = LLVM::ConstantOp::create(b, loc, b.getI64Type(),
                                              b.getI64IntegerAttr(it->second));
      at = LLVM::GEPOp::create(b, loc, ptr, b.getI8Type(), base,
                               ArrayRef<LLVM::GEPArg>{offset});
    }
    addr.replaceAllUsesWith(at);
    addr.erase();
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  for (LLVM::GlobalOp global : moved)
    global.erase();
  return success();
}
