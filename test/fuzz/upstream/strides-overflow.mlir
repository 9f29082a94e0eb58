// Upstream MLIR 22.1.8 crash found by test/fuzz/fuzz_dq_opt.py, reproduced
// here without any dq op (not run by lit: test/fuzz is excluded):
//   dq-opt %s --dq-cpu-pipeline
// A static shape whose element count overflows int64 parses and verifies as
// a tensor; once bufferized, the memref's strides overflow:
// "Assertion `runningSize > 0 && "integer overflow in size computation"'
// failed" (makeCanonicalStridedLayoutExpr). dq ops reject such types in
// their verifiers ("the static sizes of ... overflow int64").
func.func @f(%x: tensor<33x4611686018427387904x4xf32>) -> tensor<33x4611686018427387904x4xf32> {
  %e = tensor.empty() : tensor<33x4611686018427387904x4xf32>
  %r = linalg.copy ins(%x : tensor<33x4611686018427387904x4xf32>) outs(%e : tensor<33x4611686018427387904x4xf32>) -> tensor<33x4611686018427387904x4xf32>
  return %r : tensor<33x4611686018427387904x4xf32>
}
