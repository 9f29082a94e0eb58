// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s
// RUN: dq-opt %s --convert-dq-to-linalg=threads=2 | FileCheck %s --check-prefix=PAR

// N = 20: two vectors of 8 (one Welford chunk) and a scalar tail of 4. The
// Welford steps and the lane merges are math.fma, the tail is not; the
// output is fma((x - mean) * rstd, gamma, beta) on full vectors, then one
// masked vector.
// CHECK-LABEL: func @layer_norm
// CHECK-NOT: dq.layer_norm
// CHECK: scf.for {{.*}} -> (tensor<?x20xf32>)
// CHECK:   vector.transfer_read {{.*}} {in_bounds = [true]} : tensor<?x20xf32>, vector<8xf32>
// CHECK:   arith.subf {{.*}} : vector<8xf32>
// CHECK:   math.fma {{.*}} : vector<8xf32>
// CHECK:   math.fma {{.*}} : vector<8xf32>
// CHECK:   vector.transfer_read {{.*}} : tensor<?x20xf32>, vector<8xf32>
// CHECK:   arith.divf {{.*}} : f32
// CHECK:   vector.extract {{.*}}[7] : f32 from vector<8xf32>
// CHECK:   math.fma {{.*}} : f32
// CHECK:   math.sqrt {{.*}} : f32
// CHECK:   scf.for {{.*}} -> (tensor<?x20xf32>)
// CHECK:     arith.subf {{.*}} : vector<8xf32>
// CHECK:     arith.mulf {{.*}} : vector<8xf32>
// CHECK:     math.fma {{.*}} : vector<8xf32>
// CHECK:     vector.transfer_write {{.*}} {in_bounds = [true]} : vector<8xf32>, tensor<?x20xf32>
// CHECK:   vector.transfer_write {{.*}} : vector<8xf32>, tensor<?x20xf32>
func.func @layer_norm(%x: tensor<?x20xf32>, %g: tensor<20xf32>, %b: tensor<20xf32>) -> tensor<?x20xf32> {
  %y = dq.layer_norm %x, %g, %b eps 1.0e-5 : tensor<?x20xf32>, tensor<20xf32>, tensor<20xf32> -> tensor<?x20xf32>
  return %y : tensor<?x20xf32>
}

// threads=2: the rows go to an scf.forall of 2 chunks when there are at
// least 2 * 2^14 / 768 -> 43 of them (else 1 chunk, run inline). With
// [?, ?] leading dims the first one that is not 1 is split (a box per
// chunk); each chunk's rows read the input at first + m and write row m of
// its slice. The sequential form (threads=1) has no forall.
// CHECK-LABEL: func @layer_norm_threads
// CHECK-NOT: scf.forall
// PAR-LABEL: func @layer_norm_threads
// PAR: %[[BIG:.*]] = arith.cmpi uge, %{{.*}}, %c43 : index
// PAR: %[[CHUNKS:.*]] = arith.select %[[BIG]], %c2, %c1{{.*}} : index
// PAR: scf.forall (%[[C:.*]]) in (%[[CHUNKS]]) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x?x768xf32>)
// PAR:   %[[SLICE:.*]] = tensor.extract_slice %[[OUT]][%[[O0:.*]], %[[O1:.*]], 0] [%[[S0:.*]], %[[S1:.*]], 768] [1, 1, 1]
// PAR:   scf.for %[[M:.*]] = %c0{{.*}} to %{{.*}} step %c1{{.*}} iter_args(%[[DEST:.*]] = %[[SLICE]])
// PAR:     %[[AT:.*]] = arith.addi %{{.*}}, %[[M]] : index
// PAR:     arith.remui %[[AT]]
// PAR:     arith.remui %[[M]], %[[S1]]
// PAR:     math.sqrt
// PAR:     vector.transfer_write {{.*}}, %{{.*}}[{{.*}}] {in_bounds = [true]} : vector<8xf32>, tensor<?x?x768xf32>
// PAR:   scf.forall.in_parallel
// PAR-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[O0]], %[[O1]], 0] [%[[S0]], %[[S1]], 768] [1, 1, 1]
func.func @layer_norm_threads(%x: tensor<?x?x768xf32>, %g: tensor<768xf32>, %b: tensor<768xf32>) -> tensor<?x?x768xf32> {
  %y = dq.layer_norm %x, %g, %b eps 1.0e-12 : tensor<?x?x768xf32>, tensor<768xf32>, tensor<768xf32> -> tensor<?x?x768xf32>
  return %y : tensor<?x?x768xf32>
}
