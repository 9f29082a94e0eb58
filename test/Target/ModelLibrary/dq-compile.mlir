// dq-compile: dq MLIR -> a saved model directory, compiled for a CPU level.
// RUN: rm -rf %t.amx %t.vnni %t.v3
// RUN: dq-compile %s -o %t.amx --target=amx --entry-point=forward
// RUN: llvm-objdump -d %t.amx/model.so | FileCheck %s --check-prefix=AMX
// RUN: FileCheck %s --check-prefix=MANIFEST < %t.amx/manifest.json
// RUN: FileCheck %s --check-prefix=IFACE < %t.amx/interface.json
// RUN: llvm-nm -D %t.amx/model.so | FileCheck %s --check-prefix=SYMBOLS
// RUN: dq-compile %s -o %t.vnni --target=avx512-vnni --entry-point=forward
// RUN: llvm-objdump -d %t.vnni/model.so | FileCheck %s --check-prefix=VNNI
// RUN: dq-compile %s -o %t.v3 --target=x86-64-v3 --entry-point=forward
// RUN: llvm-objdump -d %t.v3/model.so | FileCheck %s --check-prefix=GENERIC
// RUN: not dq-compile %s -o %t.bad --target=pentium 2>&1 | FileCheck %s --check-prefix=BADTARGET

// The AMX kernel's tile multiply, the VNNI kernel's dot product, neither in
// code for x86-64-v3 (AVX2: no 512-bit registers at all).
// AMX: tdpbusd
// VNNI: vpdpbusd {{.*}}zmm
// GENERIC-NOT: vpdpbusd
// GENERIC-NOT: tdpbusd
// GENERIC-NOT: zmm

// MANIFEST: "files":
// MANIFEST: "interface.json"
// MANIFEST: "model.so"
// MANIFEST: "weights.bin"
// MANIFEST: "format": "dqmlir-model"
// MANIFEST: "status_result": true
// MANIFEST: "features":
// MANIFEST-DAG: "avx512vnni"
// MANIFEST-DAG: "amx-int8"
// MANIFEST: "kernel": "amx"

// Without --interface: arguments named argN, each dynamic size its own
// symbol; the run-time check of the index lookup is in the interface.
// IFACE: "checks":["IndexError: index out of range
// IFACE-SAME: "inputs":[{"dims":["a0d0",64],"dtype":"float32","name":"arg0"},{"dims":["a1d0"],"dtype":"int64","name":"arg1"}]

// What the runtime looks up; the weights are not in the library.
// SYMBOLS-DAG: T dqmlir_entry
// SYMBOLS-DAG: R dqmlir_interface_crc
// SYMBOLS-DAG: B dqmlir_weights
// SYMBOLS-DAG: U _mlir_memref_to_llvm_alloc

// BADTARGET: unknown target 'pentium'; one of: host, amx, avx512-vnni, x86-64-v3

#rows = affine_map<(d0, d1) -> (d0)>
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @forward(%x: tensor<?x64xf32>, %ids: tensor<?xi64>) -> (tensor<?x32xf32>, tensor<?x64xf32>) {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.01> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor reduce_range
      : tensor<?x64xf32>, tensor<32x64xi8>, tensor<f32> -> tensor<?x32xf32>
  %table = arith.constant dense<1.5> : tensor<100x64xf32>
  %c0 = arith.constant 0 : index
  %c100 = arith.constant 100 : index
  %n = tensor.dim %ids, %c0 : tensor<?xi64>
  %init = tensor.empty(%n) : tensor<?x64xf32>
  %e = linalg.generic {indexing_maps = [#rows, #id], iterator_types = ["parallel", "parallel"]}
      ins(%ids : tensor<?xi64>) outs(%init : tensor<?x64xf32>) {
  ^bb0(%i: i64, %o: f32):
    %idx = arith.index_cast %i : i64 to index
    %j = linalg.index 1 : index
    %lt = arith.cmpi slt, %idx, %c100 : index
    cf.assert %lt, "index must be smaller than dim size"
    %v = tensor.extract %table[%idx, %j] : tensor<100x64xf32>
    linalg.yield %v : f32
  } -> tensor<?x64xf32>
  return %y, %e : tensor<?x32xf32>, tensor<?x64xf32>
}
