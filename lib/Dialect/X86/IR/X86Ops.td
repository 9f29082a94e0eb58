//===- X86Ops.td - dqx86 dialect operations ----------------*- tablegen -*-===//

#ifndef DQMLIR_DIALECT_X86_IR_X86OPS_TD
#define DQMLIR_DIALECT_X86_IR_X86OPS_TD

include "lib/Dialect/X86/IR/X86Dialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class X86_Op<string mnemonic, list<Trait> traits = []>
    : Op<X86_Dialect, mnemonic, traits>;

def X86_VpdpbusdOp : X86_Op<"vpdpbusd", [Pure,
    AllTypesMatch<["acc", "result"]>, AllTypesMatch<["a", "b"]>]> {
  let summary = "AVX-512 VNNI dot product of u8 x s8 quadruples (vpdpbusd zmm)";
  let description = [{
    For each of the 16 i32 lanes:
    `acc + sum_{j<4} zext(a[4i+j]) * sext(b[4i+j])`, exact (no saturation).
    `a` holds uint8 values, `b` int8 values, both as signless i8.

    This is `llvm.x86.avx512.vpdpbusd.512` with known (no) memory effects:
    the micro-kernel of `convert-dq-to-vnni` and `convert-dq-to-amx` is built
    on tensors, before bufferization and buffer deallocation.
    `convert-dqx86-to-llvm` lowers it to that intrinsic; running the result
    needs a CPU with avx512vnni.

    ```mlir
    %r = dqx86.vpdpbusd %acc, %a, %b : vector<64xi8> into vector<16xi32>
    ```
  }];
  let arguments = (ins VectorOfLengthAndType<[16], [I32]>:$acc,
                       VectorOfLengthAndType<[64], [I8]>:$a,
                       VectorOfLengthAndType<[64], [I8]>:$b);
  let results = (outs VectorOfLengthAndType<[16], [I32]>:$result);
  let assemblyFormat = [{
    $acc `,` $a `,` $b attr-dict `:` type($a) `into` type($acc)
  }];
}

def X86_VpmaddubswOp : X86_Op<"vpmaddubsw", [Pure,
    AllTypesMatch<["a", "b"]>]> {
  let summary = "AVX2 u8 x s8 pair products summed with int16 saturation "
                "(vpmaddubsw ymm)";
  let description = [{
    For each of the 16 i16 lanes:
    `sat16(zext(a[2i]) * sext(b[2i]) + zext(a[2i+1]) * sext(b[2i+1]))`.
    `a` holds uint8 values, `b` int8 values, both as signless i8. The sum
    saturates to [-32768, 32767]: it is exact while the activations stay
    below 128, and that saturation is what fbgemm's AVX2 and AVX-512 (non
    VNNI) kernels compute, so `convert-dq-to-avx2` reproduces PyTorch there.

    `convert-dqx86-to-llvm` lowers it to `llvm.x86.avx2.pmadd.ub.sw`;
    running the result needs a CPU with avx2.

    ```mlir
    %p = dqx86.vpmaddubsw %a, %b : vector<32xi8> -> vector<16xi16>
    ```
  }];
  let arguments = (ins VectorOfLengthAndType<[32], [I8]>:$a,
                       VectorOfLengthAndType<[32], [I8]>:$b);
  let results = (outs VectorOfLengthAndType<[16], [I16]>:$result);
  let assemblyFormat = [{
    $a `,` $b attr-dict `:` type($a) `->` type($result)
  }];
}

def X86_VpmaddwdOp : X86_Op<"vpmaddwd", [Pure,
    AllTypesMatch<["a", "b"]>]> {
  let summary = "AVX2 s16 x s16 pair products summed in int32 (vpmaddwd ymm)";
  let description = [{
    For each of the 8 i32 lanes:
    `sext(a[2i]) * sext(b[2i]) + sext(a[2i+1]) * sext(b[2i+1])`, exact
    except for the one wrapping case (-32768)^2 * 2. With `b` all ones it
    widens `dqx86.vpmaddubsw`'s pair sums to quadruple sums in i32.

    `convert-dqx86-to-llvm` lowers it to `llvm.x86.avx2.pmadd.wd`; running
    the result needs a CPU with avx2.

    ```mlir
    %s = dqx86.vpmaddwd %p, %ones : vector<16xi16> -> vector<8xi32>
    ```
  }];
  let arguments = (ins VectorOfLengthAndType<[16], [I16]>:$a,
                       VectorOfLengthAndType<[16], [I16]>:$b);
  let results = (outs VectorOfLengthAndType<[8], [I32]>:$result);
  let assemblyFormat = [{
    $a `,` $b attr-dict `:` type($a) `->` type($result)
  }];
}

def X86_Vpermi2psOp : X86_Op<"vpermi2ps", [Pure,
    AllTypesMatch<["lo", "hi", "result"]>]> {
  let summary = "AVX-512 lookup in a table of two f32 vectors (vpermi2ps zmm)";
  let description = [{
    For each of the 16 lanes: `(lo ++ hi)[index[i] & 31]`, i.e. bit 4 of the
    index picks `hi` or `lo` and bits 0-3 the lane; higher bits are ignored.
    A table of up to 32 floats is held in two registers and read with one
    instruction: that is how oneDNN's GELU reads its coefficients, and what
    `convert-dq-to-dqx86` makes of 16-lane `dq.lookup`s. LLVM has no generic
    operation for a variable in-register permute.

    `convert-dqx86-to-llvm` lowers it to
    `llvm.x86.avx512.vpermi2var.ps.512(lo, index, hi)`; running the result
    needs a CPU with avx512f.

    ```mlir
    %r = dqx86.vpermi2ps %lo, %index, %hi : vector<16xi32> -> vector<16xf32>
    ```
  }];
  let arguments = (ins VectorOfLengthAndType<[16], [F32]>:$lo,
                       VectorOfLengthAndType<[16], [I32]>:$index,
                       VectorOfLengthAndType<[16], [F32]>:$hi);
  let results = (outs VectorOfLengthAndType<[16], [F32]>:$result);
  let assemblyFormat = [{
    $lo `,` $index `,` $hi attr-dict `:` type($index) `->` type($result)
  }];
}

#endif // DQMLIR_DIALECT_X86_IR_X86OPS_TD
