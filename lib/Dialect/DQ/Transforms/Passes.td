//===- Passes.td - transforms of the dq dialect ------------*- tablegen -*-===//

#ifndef DQMLIR_DIALECT_DQ_TRANSFORMS_PASSES_TD
#define DQMLIR_DIALECT_DQ_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def DQLowerLookup : Pass<"dq-lower-lookup", "func::FuncOp"> {
  let summary = "Lower dq.lookup (constant-table lookups) to element extracts";
  let description = [{
    Each `dq.lookup` reads its table as a constant vector: a scalar lookup
    is one `vector.extract` at the index, a vector lookup extracts lane by
    lane from its flattened index and inserts into the result. Any target
    runs this; on x86, `convert-dq-to-dqx86` runs first and makes the
    16-lane lookups one `vpermi2ps` each. Runs after `dq-vectorize-linalg`,
    which widens scalar lookups inside linalg bodies.

    ```mlir
    %y = dq.lookup %i [1.0, 2.0] : i32 -> f32
    ```
    becomes
    ```mlir
    %t = arith.constant dense<[1.0, 2.0]> : vector<2xf32>
    %j = arith.index_cast %i : i32 to index
    %y = vector.extract %t[%j] : f32 from vector<2xf32>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::vector::VectorDialect"];
}

#endif // DQMLIR_DIALECT_DQ_TRANSFORMS_PASSES_TD
