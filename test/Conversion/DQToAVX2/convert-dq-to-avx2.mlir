// RUN: dq-opt %s --convert-dq-to-avx2 --canonicalize --cse --split-input-file | FileCheck %s
// RUN: dq-opt %s --convert-dq-to-avx2="rows=2 cols=32" --canonicalize --cse --split-input-file | FileCheck %s --check-prefix=TILE
// RUN: not dq-opt %s --convert-dq-to-avx2=cols=24 2>&1 | FileCheck %s --check-prefix=BAD

// quantize_dynamic's linear (asymmetric, per tensor): the packed weights of
// convert-dq-to-vnni ([K/4][16 columns][4 k]), each 64-byte block read as
// two ymm halves of 8 columns, each with its own vector<8xi32> accumulator;
// one vpmaddubsw (pairs saturated to i16, as fbgemm) + vpmaddwd with ones
// per half and row. K = 10: a loop over two full groups of 4, then a masked
// tail.
// CHECK-LABEL: func @linear_asymmetric
// CHECK-DAG: %[[ONES:.*]] = arith.constant dense<1> : vector<16xi16>
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<dq_vnni_weights> : tensor<192xi8>
// CHECK: dq.choose_qparams %{{.*}} asymmetric per_tensor reduce_range
// Blocks of 4 rows (the default), 2 halves each: 8 accumulators.
// CHECK: scf.for %{{.*}} step %c4 iter_args
// CHECK:   scf.for %{{.*}} = %c0 to %c2 step %c1 iter_args(%[[ACC:[a-z0-9]+]] = %{{.*}}, {{.*}}) -> (vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>)
// CHECK:     %[[W0:.*]] = vector.transfer_read %[[W]][%{{.*}}]{{.*}} : tensor<192xi8>, vector<32xi8>
// CHECK:     %[[W1:.*]] = vector.transfer_read %[[W]][%{{.*}}]{{.*}} : tensor<192xi8>, vector<32xi8>
// CHECK:     %[[A:.*]] = vector.broadcast %{{.*}} : i32 to vector<8xi32>
// CHECK:     %[[AB:.*]] = vector.bitcast %[[A]] : vector<8xi32> to vector<32xi8>
// CHECK:     %[[P0:.*]] = dqx86.vpmaddubsw %[[AB]], %[[W0]] : vector<32xi8> -> vector<16xi16>
// CHECK:     %[[S0:.*]] = dqx86.vpmaddwd %[[P0]], %[[ONES]] : vector<16xi16> -> vector<8xi32>
// CHECK:     arith.addi %[[ACC]], %[[S0]] : vector<8xi32>
// CHECK:     %[[P1:.*]] = dqx86.vpmaddubsw %[[AB]], %[[W1]] : vector<32xi8> -> vector<16xi16>
// CHECK:     dqx86.vpmaddwd %[[P1]], %[[ONES]]
// CHECK-COUNT-6: dqx86.vpmaddubsw
// CHECK:     scf.yield
// The last, partial group of 4: activations read masked (no in_bounds).
// CHECK:   vector.transfer_read %{{.*}}[%{{.*}}, %c8], %{{.*}} : tensor<?x10xi8>, vector<4xi8>
// CHECK-COUNT-8: dqx86.vpmaddubsw
// The halves become one vector<16xi32> again for the epilogue.
// CHECK:   vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : vector<8xi32>, vector<8xi32>
// CHECK:   arith.sitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK-NOT: dqx86.vpdpbusd
// CHECK-NOT: dq.linear_dynamic
func.func @linear_asymmetric(%x: tensor<?x10xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1, -2, 3, -4, 5, 6, 7, 8, 9, 10], [127, -128, 0, 5, 0, 0, 1, 1, 1, 1]]> : tensor<2x10xi8>
  %ws = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor reduce_range
      : tensor<?x10xf32>, tensor<2x10xi8>, tensor<2xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// TILE-LABEL: func @linear_asymmetric
// TILE: scf.for %{{.*}} step %c2 iter_args
// TILE: scf.for {{.*}} step %c1 iter_args

// -----

// Symmetric per-row activations (torchao) sum exactly: the sign-flipped
// bytes are split into their low 7 bits and their top bit, two products
// that cannot saturate, added in i32.
// CHECK-LABEL: func @linear_symmetric
// CHECK-DAG: %[[LOW:.*]] = arith.constant dense<2139062143> : vector<8xi32>
// CHECK-DAG: %[[TOP:.*]] = arith.constant dense<-2139062144> : vector<8xi32>
// CHECK: dq.choose_qparams %{{.*}} symmetric per_row
// CHECK: %[[FLIP:.*]] = arith.xori %{{.*}}, %[[TOP]] : vector<8xi32>
// CHECK: %[[L:.*]] = arith.andi %[[FLIP]], %[[LOW]] : vector<8xi32>
// CHECK: %[[LB:.*]] = vector.bitcast %[[L]] : vector<8xi32> to vector<32xi8>
// CHECK: %[[H:.*]] = arith.andi %[[FLIP]], %[[TOP]] : vector<8xi32>
// CHECK: %[[HB:.*]] = vector.bitcast %[[H]] : vector<8xi32> to vector<32xi8>
// CHECK: dqx86.vpmaddubsw %[[LB]], %{{.*}}
// CHECK: dqx86.vpmaddubsw %[[HB]], %{{.*}}
func.func @linear_symmetric(%x: tensor<?x8xf32>) -> tensor<?x16xf32> {
  %w = arith.constant dense<3> : tensor<16x8xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act symmetric per_row
      : tensor<?x8xf32>, tensor<16x8xi8>, tensor<f32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// BAD: convert-dq-to-avx2: rows and threads must be >= 1 and cols a positive multiple of 16
