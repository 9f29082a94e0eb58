//===- DQ.cpp - C API of dqmlir -------------------------------------------===//

#include "lib/CAPI/DQ.h"
#include "lib/Dialect/DQ/IR/DQDialect.h"
#include "lib/InitAll.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/CAPI/Support.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <mutex>

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(DQ, dq, mlir::dq::DQDialect)

void dqmlirRegisterPasses(void) {
  static std::once_flag once;
  std::call_once(once, [] { mlir::dq::registerAllPasses(); });
}

/// The raw bytes of a constant global's initializer, if it has plain ones.
static std::optional<llvm::ArrayRef<char>> initialBytes(mlir::Attribute value) {
  if (auto resource = llvm::dyn_cast_or_null<mlir::DenseResourceElementsAttr>(value)) {
    if (mlir::AsmResourceBlob *blob = resource.getRawHandle().getBlob())
      return blob->getData();
    return std::nullopt;
  }
  auto dense = llvm::dyn_cast_or_null<mlir::DenseElementsAttr>(value);
  // Splats and i1 are stored compressed: not the memory image.
  if (!dense || dense.isSplat() || dense.getElementType().isInteger(1) ||
      !dense.getElementType().isIntOrFloat())
    return std::nullopt;
  return dense.getRawData();
}

void dqmlirDetachLargeGlobals(MlirModule module, size_t minBytes,
                              DQDetachedGlobalCallback callback,
                              void *userData) {
  unwrap(module).walk([&](mlir::LLVM::GlobalOp global) {
    std::optional<llvm::ArrayRef<char>> bytes =
        initialBytes(global.getValueOrNull());
    if (!bytes || bytes->size() < minBytes || !global.getInitializerRegion().empty())
      return;
    llvm::StringRef name = global.getSymName();
    callback(mlirStringRefCreate(name.data(), name.size()), bytes->data(),
             bytes->size(), userData);
    global.removeValueAttr();
    global.setLinkage(mlir::LLVM::Linkage::External);
  });
}
