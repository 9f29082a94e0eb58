// RUN: dq-opt %s --dq-cpu-pipeline | FileCheck %s
// Math without an LLVM intrinsic or a vector polynomial of ours (f64 erf:
// GELU of a float64 tensor) reaches convert-math-to-libm as vector math,
// which it scalarizes into vector.extract/insert around libm calls: those
// must still become LLVM (the JIT refused the module before).
// CHECK-LABEL: llvm.func @erf64
// CHECK: llvm.extractelement
// CHECK: llvm.call @erf
// CHECK-NOT: vector.
func.func @erf64(%x: tensor<?xf64>) -> tensor<?xf64> attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf64>
  %init = tensor.empty(%n) : tensor<?xf64>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf64>) outs(%init : tensor<?xf64>) {
  ^bb0(%a: f64, %o: f64):
    %e = math.erf %a : f64
    linalg.yield %e : f64
  } -> tensor<?xf64>
  return %r : tensor<?xf64>
}
