// The f32 contraction tile of each kernel level, sized for its vector
// registers and held across the k loop: with 16 ymm registers a 6 x 16 tile
// is 12 accumulators; with 32 zmm registers 8 x 32 is 16. On AVX2 the k
// loop of a long contraction runs in blocks of 256 outside the row tiles.
// (One thread: the per-function IR dumps then come in the functions' order.)
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=avx2 -mlir-print-ir-after=dq-vectorize-linalg -mlir-disable-threading \
// RUN:   -o /dev/null 2>&1 | FileCheck %s --check-prefix=AVX2
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=vnni -mlir-print-ir-after=dq-vectorize-linalg -mlir-disable-threading \
// RUN:   -o /dev/null 2>&1 | FileCheck %s --check-prefix=AVX512

// AVX2-LABEL: func.func @matmul
// AVX2: scf.for
// AVX2: vector.contract {{.*}} : vector<6x1xf32>, vector<1x16xf32> into vector<6x16xf32>
// AVX2-NOT: vector<8x32xf32>
// AVX512-LABEL: func.func @matmul
// AVX512: scf.for
// AVX512: vector.contract {{.*}} : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
func.func @matmul(%x: tensor<?x64xf32>, %w: tensor<64x48xf32>) -> tensor<?x48xf32> attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %m = tensor.dim %x, %c0 : tensor<?x64xf32>
  %init = tensor.empty(%m) : tensor<?x48xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<?x48xf32>) -> tensor<?x48xf32>
  %r = linalg.matmul ins(%x, %w : tensor<?x64xf32>, tensor<64x48xf32>) outs(%acc : tensor<?x48xf32>) -> tensor<?x48xf32>
  return %r : tensor<?x48xf32>
}

// AVX2-LABEL: func.func @long_k
// AVX2: %[[KB:.*]] = arith.constant 256 : index
// AVX2: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[KB]]
// AVX2: scf.for
// AVX2: vector.contract {{.*}} into vector<6x16xf32>
// AVX512-LABEL: func.func @long_k
// AVX512-NOT: step %c256
// AVX512: return
func.func @long_k(%x: tensor<?x600xf32>, %w: tensor<600x48xf32>) -> tensor<?x48xf32> attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %m = tensor.dim %x, %c0 : tensor<?x600xf32>
  %init = tensor.empty(%m) : tensor<?x48xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<?x48xf32>) -> tensor<?x48xf32>
  %r = linalg.matmul ins(%x, %w : tensor<?x600xf32>, tensor<600x48xf32>) outs(%acc : tensor<?x48xf32>) -> tensor<?x48xf32>
  return %r : tensor<?x48xf32>
}
