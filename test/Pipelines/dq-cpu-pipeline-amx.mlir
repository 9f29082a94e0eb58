// The AMX kernel through the whole pipeline down to x86 machine code.
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=amx | FileCheck %s --check-prefix=LLVM
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=amx | mlir-translate --mlir-to-llvmir \
// RUN:   | llc -O3 -mattr=+amx-int8,+amx-tile,+avx512f,+avx512bw,+avx512vnni | FileCheck %s --check-prefix=ASM
// RUN: dq-opt %s --dq-cpu-pipeline="kernel=amx threads=2" | FileCheck %s --check-prefix=ASYNC

// Both branches' intrinsics: vpdpbusd for few rows, the tiles otherwise.
// LLVM-LABEL: llvm.func @linear_const
// LLVM: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// LLVM: llvm.call_intrinsic "llvm.x86.tilezero.internal"
// LLVM: llvm.call_intrinsic "llvm.x86.tileloadd64.internal"
// LLVM: llvm.call_intrinsic "llvm.x86.tdpbusd.internal"{{.*}} -> !llvm.x86_amx
// LLVM: llvm.call_intrinsic "llvm.x86.tilestored64.internal"

// ASM-LABEL: linear_const:
// ASM: vpdpbusd {{.*}}zmm
// ASM: ldtilecfg
// ASM: tileloadd
// ASM: tdpbusd %tmm{{[0-7]}}, %tmm{{[0-7]}}, %tmm{{[0-7]}}
// ASM: tilestored
func.func @linear_const(%x: tensor<?x?x6xf32>) -> tensor<?x?x2xf32> {
  %w = arith.constant dense<[[1, -2, 3, -4, 5, 6], [127, -128, 0, 5, 0, 0]]> : tensor<2x6xi8>
  %ws = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range : tensor<?x?x6xf32>, tensor<2x6xi8>, tensor<2xf32>, tensor<2xf32> -> tensor<?x?x2xf32>
  return %y : tensor<?x?x2xf32>
}

// dq-cpu-pipeline{threads=2}: the chunks become async tasks
// (async-parallel-for); one chunk is a direct call of the outlined body.
// ASYNC-LABEL: llvm.func @linear_threads
// ASYNC: llvm.call @parallel_compute_fn
// ASYNC: llvm.call @mlirAsyncRuntimeCreateGroup
// ASYNC: llvm.call @async_dispatch_fn
// ASYNC: llvm.call @mlirAsyncRuntimeAwaitAllInGroup
// ASYNC-LABEL: llvm.func @parallel_compute_fn
// ASYNC: llvm.call_intrinsic "llvm.x86.tdpbusd.internal"
// ASYNC-LABEL: llvm.func @async_execute_fn
// ASYNC: llvm.call @mlirAsyncRuntimeExecute
func.func @linear_threads(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %w = arith.constant dense<1> : tensor<64x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<64x64xi8>, tensor<f32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
