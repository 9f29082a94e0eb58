// Upstream MLIR 22.1.8 crash found by test/fuzz/fuzz_dq_opt.py, reproduced
// here without any dq op (not run by lit: test/fuzz is excluded):
//   dq-opt %s --dq-cpu-pipeline
// finalize-memref-to-llvm (GlobalMemrefOpLowering) asks a rank-0
// memref.global's dense_resource initializer for its values:
// "UNREACHABLE executed at mlir/IR/BuiltinAttributeInterfaces.h:313".
// dq inputs reach it with a per-tensor weight scale (or any rank-0 tensor
// constant) held as a dense_resource.
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = arith.constant dense_resource<blob0> : tensor<f32>
  %e = tensor.extract %c[] : tensor<f32>
  %y = tensor.empty() : tensor<4xf32>
  %r = linalg.fill ins(%e : f32) outs(%y : tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      blob0: "0x040000002881219b"
    }
  }
#-}
