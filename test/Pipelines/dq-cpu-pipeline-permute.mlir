// RUN: dq-opt %s --dq-cpu-pipeline | FileCheck %s
// x.permute(2, 0, 1) of a [B, S, 24] tensor: the input is contiguous along
// loop 0, with loop 1 (tiled by 1) before the innermost. dq-vectorize-linalg
// keeps 16 x 16 register transposes to the loop next to the innermost one:
// here the masked edge copies of [16, 1, 16] tiles came out of the
// vector cleanup with a mask of the wrong shape and the pipeline failed
// ('vector.transfer_write' op inferred mask type ... don't match).
// CHECK-LABEL: llvm.func @permute
func.func @permute(%x: tensor<?x?x24xf32>) -> tensor<24x?x?xf32> attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = tensor.dim %x, %c0 : tensor<?x?x24xf32>
  %s = tensor.dim %x, %c1 : tensor<?x?x24xf32>
  %init = tensor.empty(%b, %s) : tensor<24x?x?xf32>
  %r = linalg.transpose ins(%x : tensor<?x?x24xf32>) outs(%init : tensor<24x?x?xf32>)
      permutation = [2, 0, 1]
  return %r : tensor<24x?x?xf32>
}
