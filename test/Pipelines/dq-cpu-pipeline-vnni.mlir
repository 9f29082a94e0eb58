// The VNNI kernel through the whole pipeline down to x86 machine code.
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=vnni | mlir-translate --mlir-to-llvmir \
// RUN:   | llc -O3 -mattr=+avx512f,+avx512bw,+avx512vnni | FileCheck %s --check-prefix=ASM
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=vnni | FileCheck %s
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=generic | FileCheck %s --check-prefix=OFF
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=vnni --dump-pass-pipeline 2>&1 >/dev/null \
// RUN:   | FileCheck %s --check-prefix=PIPELINE
// RUN: dq-opt %s --dq-cpu-pipeline="kernel=vnni threads=2" --dump-pass-pipeline 2>&1 >/dev/null \
// RUN:   | FileCheck %s --check-prefix=THREADS

// ASM-LABEL: forward:
// ASM: vpdpbusd {{.*}}zmm
// ASM: vfmadd{{.*}}zmm

// CHECK-NOT: dq.
// CHECK-NOT: vector.
// CHECK-LABEL: llvm.func @forward
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"{{.*}} : (vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
// CHECK: llvm.intr.fma{{.*}} : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// CHECK: llvm.intr.masked.store

// Without VNNI: the portable linalg path.
// OFF-NOT: vpdpbusd

// The kernel comes first, its intrinsic only after buffer deallocation.
// PIPELINE: convert-dq-to-vnni
// PIPELINE: convert-dq-to-linalg
// PIPELINE: ownership-based-buffer-deallocation
// PIPELINE: convert-dqx86-to-llvm
// PIPELINE: convert-vector-to-llvm

// threads=2: the kernel's scf.forall, bufferized and past deallocation,
// becomes async tasks, lowered to calls of the async runtime.
// THREADS: convert-dq-to-vnni{{.*}}threads=2
// THREADS: ownership-based-buffer-deallocation
// THREADS: scf-forall-to-parallel
// THREADS: async-parallel-for{{.*}}min-task-size=1 num-workers=2
// THREADS: async-to-async-runtime
// THREADS: convert-async-to-llvm
// THREADS: convert-dqx86-to-llvm
func.func @forward(%x: tensor<?x?x67xf32>) -> tensor<?x?x37xf32> attributes {llvm.emit_c_interface} {
  %w = arith.constant dense<3> : tensor<37x67xi8>
  %ws = arith.constant dense<0.01> : tensor<37xf32>
  %b = arith.constant dense<1.0> : tensor<37xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range
      : tensor<?x?x67xf32>, tensor<37x67xi8>, tensor<37xf32>, tensor<37xf32> -> tensor<?x?x37xf32>
  return %y : tensor<?x?x37xf32>
}
