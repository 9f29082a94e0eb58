// Upstream MLIR 22.1.8 crash found by test/fuzz/fuzz_dq_opt.py, reproduced
// here without any dq op (not run by lit: test/fuzz is excluded):
//   dq-opt %s
// The parser builds a splat of a tensor type whose element count overflows
// int64: "Assertion `num >= 0 && "integer overflow in element count
// computation"' failed".
func.func @f() -> tensor<9223372036854775807x8xi8> {
  %w = arith.constant dense<3> : tensor<9223372036854775807x8xi8>
  return %w : tensor<9223372036854775807x8xi8>
}
