//===- EntryPoint.cpp - the symbols a model library exports ---------------===//
//
// The runtime calls every model the same way, whatever its arity:
// `dqmlir_entry(void **args)`, MLIR's packed calling convention (what the
// ExecutionEngine generates for a JIT) over the function's C interface:
// args[0] points to the pointer to the results struct, args[i] to the
// pointer to the i-th argument's memref descriptor. `dqmlir_interface_crc`
// ties the library to the interface.json it was compiled with.
//
//===----------------------------------------------------------------------===//

#include "lib/Target/ModelLibrary/ModelLibrary.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;

LogicalResult dq::addEntryPoint(ModuleOp module, StringRef entry,
                                uint32_t interfaceCRC) {
  MLIRContext *ctx = module.getContext();
  std::string cifaceName = ("_mlir_ciface_" + entry).str();
  auto ciface = module.lookupSymbol<LLVM::LLVMFuncOp>(cifaceName);
  if (!ciface)
    return module.emitError("no ") << cifaceName
                                   << " (the entry function needs the "
                                      "llvm.emit_c_interface attribute)";
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  for (Type t : ciface.getFunctionType().getParams())
    if (t != ptr)
      return ciface.emitError("expected only pointer parameters");
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());
  Location loc = module.getLoc();
  auto voidType = LLVM::LLVMVoidType::get(ctx);
  auto fn = LLVM::LLVMFuncOp::create(
      b, loc, "dqmlir_entry", LLVM::LLVMFunctionType::get(voidType, {ptr}));
  Block *body = fn.addEntryBlock(b);
  b.setInsertionPointToStart(body);
  Value args = body->getArgument(0);
  SmallVector<Value> operands;
  for (unsigned i = 0, e = ciface.getNumArguments(); i < e; ++i) {
    Value slot = LLVM::GEPOp::create(b, loc, ptr, ptr, args,
                                     ArrayRef<LLVM::GEPArg>{int32_t(i)});
    Value pointerToValue = LLVM::LoadOp::create(b, loc, ptr, slot);
    operands.push_back(LLVM::LoadOp::create(b, loc, ptr, pointerToValue));
  }
  LLVM::CallOp::create(b, loc, ciface, operands);
  LLVM::ReturnOp::create(b, loc, ValueRange{});

  b.setInsertionPointToEnd(module.getBody());
  LLVM::GlobalOp::create(b, loc, b.getI32Type(), /*isConstant=*/true,
                         LLVM::Linkage::External, "dqmlir_interface_crc",
                         b.getI32IntegerAttr(int32_t(interfaceCRC)));
  return success();
}
