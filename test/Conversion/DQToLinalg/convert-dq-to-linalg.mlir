// RUN: dq-opt %s --convert-dq-to-linalg --split-input-file | FileCheck %s
// RUN: dq-opt %s --convert-dq-to-linalg=threads=2 --split-input-file | FileCheck %s --check-prefix=PAR

// A constant weight: its column sums are folded at compile time, the
// contraction is a mixed-sign u8 x s8 -> i32 linalg.generic (never a
// linalg.matmul), and the epilogue is fbgemm's fma. With a static last dim
// the range and the quantization are vector<16xf32> loops (LLVM vectorizes
// neither in linalg form); reads past K pad with 0, neutral for min(x, 0).
// CHECK-LABEL: func @linear_const
// CHECK-NOT: dq.
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:   vector.transfer_read {{.*}} : tensor<?x4xf32>, vector<16xf32>
// NaN-ignoring min/max as compare + select (one vminps/vmaxps each).
// CHECK:   %[[LT:.*]] = arith.cmpf olt, %[[V:.*]], %[[MN:.*]] : vector<16xf32>
// CHECK:   arith.select %[[LT]], %[[V]], %[[MN]]
// CHECK:   %[[GT:.*]] = arith.cmpf ogt, %[[V]], %[[MX:.*]] : vector<16xf32>
// CHECK:   arith.select %[[GT]], %[[V]], %[[MX]]
// CHECK: vector.reduction <minnumf>
// CHECK: vector.reduction <maxnumf>
// CHECK: linalg.generic {{.*}}iterator_types = []
// CHECK:   arith.extf {{.*}} : f32 to f64
// CHECK:   math.roundeven {{.*}} : f64
// CHECK: %[[Q:.*]] = scf.for {{.*}} -> (tensor<?x4xi8>)
// CHECK:   math.fma {{.*}} : vector<16xf32>
// CHECK:   math.roundeven {{.*}} : vector<16xf32>
// CHECK:   arith.maxsi
// CHECK:   arith.minsi
// CHECK:   arith.trunci {{.*}} : vector<16xi32> to vector<16xi8>
// CHECK:   vector.transfer_write {{.*}} : vector<16xi8>, tensor<?x4xi8>
// CHECK: %[[U:.*]] = tensor.bitcast %[[Q]] : tensor<?x4xi8> to tensor<?x4xui8>
// CHECK: %[[A:.*]] = tensor.bitcast %[[U]] : tensor<?x4xui8> to tensor<?x4xi8>
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[A]], %{{.*}} : tensor<?x4xi8>, tensor<2x4xi8>)
// CHECK:   arith.extui {{.*}} : i8 to i32
// CHECK:   arith.extsi {{.*}} : i8 to i32
// CHECK:   arith.muli
// CHECK:   arith.addi
// CHECK: %[[SUMS:.*]] = arith.constant dense<[-2, 4]> : tensor<2xi32>
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %[[SUMS]],
// CHECK:   arith.muli
// CHECK:   arith.subi
// CHECK:   arith.sitofp
// CHECK:   arith.mulf
// CHECK:   math.fma
// CHECK-NOT: linalg.matmul
func.func @linear_const(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1, -2, 3, -4], [127, -128, 0, 5]]> : tensor<2x4xi8>
  %ws = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range
      : tensor<?x4xf32>, tensor<2x4xi8>, tensor<2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A weight that is an argument: the sums become a reduction. Rank 3, per-row
// qparams indexed by both leading dims, no bias: a plain multiply.
// CHECK-LABEL: func @linear_arg_per_row
// CHECK: scf.for {{.*}} -> (tensor<?x?xf32>, tensor<?x?xf32>)
// CHECK:   vector.reduction <minnumf>
// CHECK:   tensor.insert {{.*}} : tensor<?x?xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}} outs({{.*}} : tensor<?x?xf32>, tensor<?x?xi32>)
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: %[[SUMS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} outs({{.*}} : tensor<16xi32>)
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %[[SUMS]], {{.*}} : tensor<?x?x16xi32>, tensor<16xi32>, tensor<?x?xf32>, tensor<?x?xi32>, tensor<f32>)
// CHECK-NOT: math.fma
// CHECK: arith.mulf
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: linalg.yield
func.func @linear_arg_per_row(%x: tensor<?x?x8xf32>, %w: tensor<16x8xi8>, %ws: tensor<f32>) -> tensor<?x?x16xf32> {
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_row
      : tensor<?x?x8xf32>, tensor<16x8xi8>, tensor<f32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// Symmetric (torchao): int8 activations, sign-extended, epilogue
// float(acc) * s * w_scale + bias in that order.
// CHECK-LABEL: func @linear_symmetric
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel"]
// CHECK:   arith.negf
// CHECK:   arith.maximumf
// CHECK:   arith.divf
// CHECK:   arith.maximumf
// CHECK: tensor.bitcast {{.*}} to tensor<?x8xsi8>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:   arith.extsi
// CHECK:   arith.extsi
// CHECK: linalg.generic
// CHECK:   arith.sitofp
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
func.func @linear_symmetric(%x: tensor<?x8xf32>, %w: tensor<16x8xsi8>, %ws: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %y = dq.linear_dynamic %x, %w, %ws bias %b act symmetric per_row
      : tensor<?x8xf32>, tensor<16x8xsi8>, tensor<16xf32>, tensor<16xf32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// CHECK-LABEL: func @dequantize
// CHECK: linalg.generic
// CHECK:   arith.extui {{.*}} : i8 to i32
// CHECK:   arith.subi
// CHECK:   arith.sitofp
// CHECK:   arith.mulf
func.func @dequantize(%q: tensor<4x8xui8>, %s: tensor<4xf32>, %z: tensor<4xi32>) -> tensor<4x8xf32> {
  %x = dq.dequantize %q, %s, %z : tensor<4x8xui8>, tensor<4xf32>, tensor<4xi32> -> tensor<4x8xf32>
  return %x : tensor<4x8xf32>
}

// -----

// A dynamic last dim keeps the linalg forms of the range and quantization.
// CHECK-LABEL: func @quantize_dynamic_k
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "reduction"]
// CHECK:   arith.minnumf
// CHECK:   arith.maxnumf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK:   math.fma
func.func @quantize_dynamic_k(%x: tensor<?x?xf32>) -> tensor<?x?xui8> {
  %s, %zp = dq.choose_qparams %x asymmetric per_tensor : tensor<?x?xf32> -> tensor<f32>, tensor<i32>
  %q = dq.quantize %x, %s, %zp : tensor<?x?xf32>, tensor<f32>, tensor<i32> -> tensor<?x?xui8>
  return %q : tensor<?x?xui8>
}

// -----

// Found by test/fuzz: a rank-1 input with a static last dim has one row and
// no leading dims (delinearizeRow indexed an empty list).
// CHECK-LABEL: func @rank1_static
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:   vector.transfer_read %{{.*}} : tensor<20xf32>, vector<16xf32>
// CHECK: scf.for {{.*}} -> (tensor<20xi8>)
// CHECK:   vector.transfer_write {{.*}} : vector<16xi8>, tensor<20xi8>
// CHECK: scf.for {{.*}} -> (tensor<f32>, tensor<f32>)
// CHECK:   tensor.insert {{.*}}[] : tensor<f32>
func.func @rank1_static(%x: tensor<20xf32>) -> (tensor<20xf32>, tensor<f32>) {
  %s, %zp = dq.choose_qparams %x asymmetric per_tensor : tensor<20xf32> -> tensor<f32>, tensor<i32>
  %q = dq.quantize %x, %s, %zp : tensor<20xf32>, tensor<f32>, tensor<i32> -> tensor<20xui8>
  %d = dq.dequantize %q, %s, %zp : tensor<20xui8>, tensor<f32>, tensor<i32> -> tensor<20xf32>
  %rs, %rz = dq.choose_qparams %x symmetric per_row : tensor<20xf32> -> tensor<f32>, tensor<i32>
  return %d, %rs : tensor<20xf32>, tensor<f32>
}

// -----

// Found by test/fuzz: a rank-0 input has no last dim for the vector loops
// (isDynamicDim(-1) asserted); it takes the rank-0 linalg form.
// CHECK-LABEL: func @quantize_rank0
// CHECK: linalg.generic {{.*}}iterator_types = []
// CHECK:   arith.divf
// CHECK: linalg.generic {{.*}}iterator_types = []
// CHECK:   math.fma
// CHECK: tensor.bitcast {{.*}} : tensor<i8> to tensor<si8>
func.func @quantize_rank0(%x: tensor<f32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<f32> {
  %q = dq.quantize %x, %s, %z : tensor<f32>, tensor<f32>, tensor<i32> -> tensor<si8>
  %d = dq.dequantize %q, %s, %z : tensor<si8>, tensor<f32>, tensor<i32> -> tensor<f32>
  return %d : tensor<f32>
}

// -----

// Found by test/fuzz: the column sums of a splat weight are K times its
// value, not a walk over N * K elements (4 G here: minutes, and gigabytes
// with convert-dq-to-vnni). They wrap around in 32 bits like the i32
// reduction of a weight argument: 3 * 2^16 = 196608, -1 * 2^32 -> 0.
// CHECK-LABEL: func @linear_huge_splat
// CHECK-DAG: arith.constant dense<196608> : tensor<65536xi32>
// CHECK-DAG: arith.constant dense<0> : tensor<16xi32>
func.func @linear_huge_splat(%x: tensor<?x65536xf32>, %x2: tensor<?x4294967296xf32>)
    -> (tensor<?x65536xf32>, tensor<?x16xf32>) {
  %w = arith.constant dense<3> : tensor<65536x65536xi8>
  %ws = arith.constant dense<0.01> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x65536xf32>, tensor<65536x65536xi8>, tensor<f32> -> tensor<?x65536xf32>
  %w2 = arith.constant dense<-1> : tensor<16x4294967296xi8>
  %y2 = dq.linear_dynamic %x2, %w2, %ws act asymmetric per_tensor
      : tensor<?x4294967296xf32>, tensor<16x4294967296xi8>, tensor<f32> -> tensor<?x16xf32>
  return %y, %y2 : tensor<?x65536xf32>, tensor<?x16xf32>
}

// -----

// The range runs four independent min/max chains (one vminps chain waits 4
// cycles per vector): K = 160 is two blocks of 4 vectors in the loop, then
// two whole vectors and no masked read; the chains fold into one vector.
// CHECK-LABEL: func @range_chains
// CHECK: scf.for {{.*}} -> (tensor<?xf32>, tensor<?xf32>)
// CHECK:   %[[ROW:.*]]:8 = scf.for %[[COL:.*]] = %{{.*}} to %c128 step %c64 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-4: vector.transfer_read {{.*}} {in_bounds = [true]} : tensor<?x160xf32>, vector<16xf32>
// CHECK:   }
// CHECK:   vector.transfer_read %{{.*}}[%{{.*}}, %c128{{.*}}]{{.*}} {in_bounds = [true]}
// CHECK:   vector.transfer_read %{{.*}}[%{{.*}}, %c144]{{.*}} {in_bounds = [true]}
// CHECK-NOT: vector.transfer_read
// CHECK:   vector.reduction <minnumf>
// CHECK:   vector.reduction <maxnumf>
func.func @range_chains(%x: tensor<?x160xf32>) -> tensor<?xf32> {
  %s, %zp = dq.choose_qparams %x symmetric per_row : tensor<?x160xf32> -> tensor<?xf32>, tensor<?xi32>
  return %s : tensor<?xf32>
}

// -----

// threads=2: the per-tensor range of an input of at least 2^14 floats per
// thread (2 * 16384 / 768 -> 43 rows) runs in row chunks of an scf.forall;
// each chunk folds its rows into one min and one max vector, written to
// its row of the partials, and the chunks' vectors are folded after. The
// sequential form (threads=1) has no forall.
// CHECK-LABEL: func @range_threads
// CHECK-NOT: scf.forall
// PAR-LABEL: func @range_threads
// PAR: %[[BIG:.*]] = arith.cmpi uge, %{{.*}}, %c43{{.*}} : index
// PAR: %[[CHUNKS:.*]] = arith.select %[[BIG]], %c2{{.*}}, %c1{{.*}} : index
// PAR: %[[PARTS:.*]] = tensor.empty() : tensor<2x2x16xf32>
// PAR: %[[ALL:.*]] = scf.forall (%[[C:.*]]) in (%[[CHUNKS]]) shared_outs(%[[P:.*]] = %[[PARTS]]) -> (tensor<2x2x16xf32>)
// PAR:   scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// PAR:   vector.transfer_write {{.*}} : vector<16xf32>, tensor<1x2x16xf32>
// PAR:   vector.transfer_write {{.*}} : vector<16xf32>, tensor<1x2x16xf32>
// PAR:   scf.forall.in_parallel
// PAR-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[P]][%[[C]], 0, 0] [1, 2, 16] [1, 1, 1]
// PAR: scf.for %{{.*}} = %c0{{.*}} to %[[CHUNKS]] step %c1{{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>)
// PAR:   vector.transfer_read %[[ALL]]
// PAR: vector.reduction <minnumf>
// PAR: vector.reduction <maxnumf>
func.func @range_threads(%x: tensor<?x768xf32>) -> tensor<f32> {
  %s, %zp = dq.choose_qparams %x asymmetric per_tensor reduce_range : tensor<?x768xf32> -> tensor<f32>, tensor<i32>
  return %s : tensor<f32>
}

// -----

// threads=2: the quantization's rows go to an scf.forall of 2 chunks when
// there are at least 2 * 2^14 / 3072 -> 11 of them; each chunk quantizes
// its box of rows 16 lanes at a time. Sequential with threads=1.
// CHECK-LABEL: func @quantize_threads
// CHECK-NOT: scf.forall
// PAR-LABEL: func @quantize_threads
// PAR: %[[BIG:.*]] = arith.cmpi uge, %{{.*}}, %c11 : index
// PAR: %[[CHUNKS:.*]] = arith.select %[[BIG]], %c2, %c1{{.*}} : index
// PAR: scf.forall (%{{.*}}) in (%[[CHUNKS]]) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x?x3072xi8>)
// PAR:   tensor.extract_slice %[[OUT]]
// PAR:   scf.for
// PAR:     scf.for {{.*}} step %c16
// PAR:       math.roundeven {{.*}} : vector<16xf32>
// PAR:       vector.transfer_write {{.*}} : vector<16xi8>, tensor<?x?x3072xi8>
// PAR:   scf.forall.in_parallel
// PAR-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[OUT]]
func.func @quantize_threads(%x: tensor<?x?x3072xf32>, %s: tensor<f32>, %zp: tensor<i32>) -> tensor<?x?x3072xui8> {
  %q = dq.quantize %x, %s, %zp : tensor<?x?x3072xf32>, tensor<f32>, tensor<i32> -> tensor<?x?x3072xui8>
  return %q : tensor<?x?x3072xui8>
}
