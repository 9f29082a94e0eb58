//===- X86Dialect.td - the dqx86 dialect -------------------*- tablegen -*-===//
//
// The x86 instructions dq's kernels and lookups need that upstream MLIR 22
// has no op for. They stay ops, with known (no) memory effects, until
// convert-dqx86-to-llvm makes them LLVM intrinsic calls: the kernels are
// built on tensors, and bufferization and buffer deallocation reject
// llvm.call_intrinsic, whose effects are unknown.
//
//===----------------------------------------------------------------------===//

#ifndef DQMLIR_DIALECT_X86_IR_X86DIALECT_TD
#define DQMLIR_DIALECT_X86_IR_X86DIALECT_TD

include "mlir/IR/OpBase.td"

def X86_Dialect : Dialect {
  let name = "dqx86";
  let cppNamespace = "::mlir::dq::x86";
  let summary = "x86 instructions of dq's kernels that upstream MLIR lacks";
  let description = [{
    AVX-512 instructions that dq's int8 kernels and table lookups are built
    from. Upstream `x86vector` has neither in MLIR 22 (its `avx.dot.i8` is
    the signed x signed AVX-VNNI-INT8 form), and LLVM 22 does not form them
    from generic vector code. AMX tiles use upstream's `amx` dialect.

    `convert-dqx86-to-llvm` lowers these ops (and the `amx` ops) to LLVM
    intrinsics; the code then needs a CPU that has the instructions
    (lib/Target/X86/HostCPU.h).
  }];
}

#endif // DQMLIR_DIALECT_X86_IR_X86DIALECT_TD
