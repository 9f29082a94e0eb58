//===- X86ToLLVM.td - dqx86 and amx ops to LLVM ------------*- tablegen -*-===//

#ifndef DQMLIR_CONVERSION_X86TOLLVM_TD
#define DQMLIR_CONVERSION_X86TOLLVM_TD

include "mlir/Pass/PassBase.td"

def ConvertDQX86ToLLVM : Pass<"convert-dqx86-to-llvm"> {
  let summary = "Lower the x86 ops of dq's kernels (dqx86, amx) to LLVM "
                "intrinsics, tiles in scf loops included";
  let description = [{
    Every op that names an x86 instruction becomes an LLVM intrinsic call:

    - `dqx86.vpdpbusd` becomes `llvm.call_intrinsic
      "llvm.x86.avx512.vpdpbusd.512"` on (vector<16xi32>, vector<64xi8>,
      vector<64xi8>), the operand types LLVM 22 declares (byte operands
      typed vector<16xi32> verify in MLIR but fail at translation);
    - `dqx86.vpmaddubsw` and `dqx86.vpmaddwd` become
      `llvm.x86.avx2.pmadd.ub.sw` and `llvm.x86.avx2.pmadd.wd`;
    - `dqx86.vpermi2ps` becomes `llvm.x86.avx512.vpermi2var.ps.512`;
    - upstream `amx` ops become `llvm.x86.t*.internal` intrinsics and
      `!amx.tile` becomes `!llvm.x86_amx`
      (`populateAMXLegalizeForLLVMExportPatterns`), together with the
      structural type conversion of `scf` ops, so accumulator tiles carried
      by `scf.for` iter_args are converted too
      (`convert-vector-to-llvm{enable-amx}` converts the ops only, leaving
      tile-typed loop values that nothing later can convert). Memref and
      index operands are bridged with unrealized casts that the later LLVM
      conversions resolve. LLVM inserts the tile configuration (ldtilecfg)
      itself.

    Runs after bufferization and buffer deallocation, which reject the
    intrinsic calls (their memory effects are unknown), and before
    `convert-scf-to-cf`, whose block arguments would not be converted.

    ```mlir
    %r = dqx86.vpdpbusd %acc, %a, %b : vector<64xi8> into vector<16xi32>
    ```
    becomes
    ```mlir
    %r = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%acc, %a, %b)
        : (vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // DQMLIR_CONVERSION_X86TOLLVM_TD
