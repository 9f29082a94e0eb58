// RUN: dq-opt %s --dq-emulate-half-floats | FileCheck %s
// RUN: dq-opt %s --dq-emulate-half-floats --canonicalize | FileCheck %s --check-prefix=CANON

// Every bf16 op computes in f32 and rounds back; the casts carry no
// `contract`, so canonicalization keeps the rounding between the two ops.
// CHECK-LABEL: func.func @chain
// CHECK: %[[X:.*]] = arith.extf %arg0 fastmath<none> : bf16 to f32
// CHECK: %[[M:.*]] = arith.mulf %[[X]], %{{.*}} : f32
// CHECK: %[[MT:.*]] = arith.truncf %[[M]] fastmath<none> : f32 to bf16
// CHECK: %[[ME:.*]] = arith.extf %[[MT]] fastmath<none> : bf16 to f32
// CHECK: %[[S:.*]] = arith.subf %[[ME]], %{{.*}} : f32
// CHECK: arith.truncf %[[S]] fastmath<none> : f32 to bf16
// CHECK-NOT: contract
// CANON-LABEL: func.func @chain
// CANON: arith.mulf
// CANON-NEXT: arith.truncf
// CANON-NEXT: arith.extf
// CANON-NEXT: arith.subf
func.func @chain(%x: bf16, %c: bf16, %d: bf16) -> bf16 {
  %m = arith.mulf %x, %c : bf16
  %s = arith.subf %m, %d : bf16
  return %s : bf16
}

// f16 vectors too; f32 code is left alone.
// CHECK-LABEL: func.func @vectors
// CHECK: arith.extf %{{.*}} : vector<16xf16> to vector<16xf32>
// CHECK: arith.addf %{{.*}} : vector<16xf32>
// CHECK: arith.truncf %{{.*}} : vector<16xf32> to vector<16xf16>
// CHECK: arith.addf %{{.*}} : f32
func.func @vectors(%a: vector<16xf16>, %b: vector<16xf16>, %x: f32) -> (vector<16xf16>, f32) {
  %s = arith.addf %a, %b : vector<16xf16>
  %y = arith.addf %x, %x : f32
  return %s, %y : vector<16xf16>, f32
}
