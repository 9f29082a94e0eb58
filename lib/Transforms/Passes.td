//===- Passes.td - dqmlir's target-independent transforms -*- tablegen -*-===//

#ifndef DQMLIR_TRANSFORMS_PASSES_TD
#define DQMLIR_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def DQWidenBoolMemrefs : Pass<"dq-widen-bool-memrefs", "ModuleOp"> {
  let summary = "Store i1 memrefs as bytes (memref<...xi1> -> memref<...xi8>)";
  let description = [{
    torch-mlir's lowering of attention masks and softmax guards leaves boolean
    tensors, which bufferize to `memref<...xi1>`. MLIR 22's MemRefToLLVM
    asserts (aborting the process) on loads and stores of sub-byte elements.
    This pass gives every i1 memref an i8 element type: allocations, globals
    and views change type, loads are followed by `arith.trunci`, stores are
    preceded by `arith.extui`. Run it after the loops are materialized and
    before finalize-memref-to-llvm.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}

#endif // DQMLIR_TRANSFORMS_PASSES_TD
