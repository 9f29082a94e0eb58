//===- DQToX86.td - dq ops to single x86 instructions ------*- tablegen -*-===//

#ifndef DQMLIR_CONVERSION_DQTOX86_TD
#define DQMLIR_CONVERSION_DQTOX86_TD

include "mlir/Pass/PassBase.td"

def ConvertDQToDQX86 : Pass<"convert-dq-to-dqx86", "func::FuncOp"> {
  let summary = "Lower dq ops that one x86 instruction computes to dqx86 ops";
  let description = [{
    `dq.lookup` on `vector<16xi32>` becomes one AVX-512 two-table permute,
    `dqx86.vpermi2ps`, over the table split into two halves of 16 entries
    (zero-padded to 32) held as constant vectors. Lookups of any other
    shape are left to `dq-lower-lookup`, which runs after this pass.

    Runs after `dq-vectorize-linalg`, which widens the scalar lookups inside
    linalg bodies (GELU's coefficients) to vectors. The result needs a CPU
    with AVX-512F: `dq-cpu-pipeline` runs this pass with the VNNI and AMX
    kernels, whose CPUs have it.

    ```mlir
    %y = dq.lookup %i [1.0, 2.0, 3.0] : vector<16xi32> -> vector<16xf32>
    ```
    becomes
    ```mlir
    %lo = arith.constant dense<[1.0, 2.0, 3.0, 0.0, ...]> : vector<16xf32>
    %hi = arith.constant dense<0.0> : vector<16xf32>
    %y = dqx86.vpermi2ps %lo, %i, %hi : vector<16xi32> -> vector<16xf32>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::dq::x86::X86Dialect"];
}

#endif // DQMLIR_CONVERSION_DQTOX86_TD
