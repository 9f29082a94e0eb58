// RUN: dq-opt %s --convert-dq-to-linalg=isa=avx2 | FileCheck %s
// RUN: not dq-opt %s --convert-dq-to-linalg=isa=sse 2>&1 | FileCheck %s --check-prefix=BAD

// isa=avx2: oneDNN's AVX2 GELU, no tables: t = 1 / fma(p, |s|, 1) with
// s = x / sqrt 2, oneDNN's exp of -s^2 (clamped, floor, 2^(n-1) built from
// bits), the Abramowitz-Stegun polynomial in t, then fma(erf, x/2, x/2).
// CHECK-LABEL: func.func @gelu
// CHECK: linalg.generic
// CHECK-NOT: dq.lookup
// CHECK: arith.mulf %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.divf
// CHECK: arith.negf
// CHECK: math.floor
// CHECK: arith.fptosi
// CHECK: arith.shli
// CHECK-COUNT-5: math.fma
// CHECK: arith.xori
// CHECK: %[[H:.*]] = arith.mulf
// CHECK: math.fma %{{.*}}, %[[H]], %[[H]] : f32
// CHECK-NOT: dq.lookup
func.func @gelu(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = dq.gelu %x : tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Non-contiguous GELU (ATen's loop): AVX2's Vectorized<float> pairs hold 16
// floats, so each row's last n % 16 take the scalar form.
// CHECK-LABEL: func.func @gelu_aten_rows
// CHECK: arith.constant 16 : index
// CHECK-NOT: arith.constant 32 : index
// CHECK: math.erf
func.func @gelu_aten_rows(%x: tensor<?x40xf32>) -> tensor<?x40xf32> {
  %y = dq.gelu %x {aten_inner_dims = 1} : tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// BAD: for the --isa option: Cannot find option named 'sse'
