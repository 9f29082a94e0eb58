// RUN: dq-opt %s --dq-runtime-checks --split-input-file | FileCheck %s

// An embedding lookup as torch-mlir lowers it: the check is a reduction over
// the indices only (not the hidden dim), the lookup reads a clamped index,
// and the status is the last result.
#id = affine_map<(d0, d1) -> (d0, d1)>
#rows = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @lookup
// CHECK-SAME: -> (tensor<?x8xf32>, tensor<i32>)
// CHECK-SAME: dq.checks = ["IndexError: index out of range in 'emb' (embedding): an index is negative or not below the size it indexes"]
// CHECK: %[[OK:.*]] = linalg.generic {{.*}}iterator_types = ["reduction"]
// CHECK-SAME: ins(%arg0 : tensor<?xi64>) outs(%{{.*}} : tensor<i1>)
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi slt
// CHECK: %[[V:.*]] = tensor.extract %[[OK]][] : tensor<i1>
// CHECK: arith.select %[[V]]
// CHECK: linalg.generic
// CHECK: %[[C:.*]] = arith.minsi
// CHECK: arith.maxsi %[[C]]
// CHECK-NOT: cf.assert
// CHECK: tensor.from_elements %{{.*}} : tensor<i32>
// CHECK: return %{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<i32>
func.func @lookup(%ids: tensor<?xi64>, %table: tensor<100x8xf32>) -> tensor<?x8xf32>
    attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %c0_i64 = arith.constant 0 : i64
  %c100 = arith.constant 100 : index
  %n = tensor.dim %ids, %c0 : tensor<?xi64>
  %init = tensor.empty(%n) : tensor<?x8xf32>
  %r = linalg.generic {indexing_maps = [#rows, #id], iterator_types = ["parallel", "parallel"]}
      ins(%ids : tensor<?xi64>) outs(%init : tensor<?x8xf32>) {
  ^bb0(%i: i64, %o: f32):
    %idx = arith.index_cast %i : i64 to index
    %j = linalg.index 1 : index
    %lt = arith.cmpi slt, %idx, %c100 : index
    cf.assert %lt, "index must be smaller than dim size"
    %ge = arith.cmpi sge, %i, %c0_i64 : i64
    cf.assert %ge, "index must be larger or equal to 0"
    %v = tensor.extract %table[%idx, %j] : tensor<100x8xf32>
    linalg.yield %v : f32
  } -> tensor<?x8xf32> loc("emb|embedding")
  return %r : tensor<?x8xf32>
}

// -----

// A shape assert on the arguments' sizes moves to the start and guards the
// whole body; a division by a size never traps (its divisor is selected).
// CHECK-LABEL: func.func @shapes
// CHECK-SAME: dq.checks = ["RuntimeError: mismatched size for broadcast", "RuntimeError: a size computation divides by zero
// CHECK: %[[EQ:.*]] = arith.cmpi eq
// CHECK: %[[NZ:.*]] = arith.cmpi ne
// CHECK: %[[R:.*]]:2 = scf.if
// CHECK: %[[SAFE:.*]] = arith.select %[[NZ]]
// CHECK: arith.divsi %{{.*}}, %[[SAFE]]
// CHECK: linalg.generic
// CHECK: scf.yield
// CHECK: } else {
// CHECK: tensor.empty(%{{.*}}) : tensor<?xf32>
// CHECK: scf.yield
// CHECK: return %[[R]]#0, %{{.*}}
func.func @shapes(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32>
    attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?xf32>
  %m = tensor.dim %b, %c0 : tensor<?xf32>
  %eq = arith.cmpi eq, %n, %m : index
  cf.assert %eq, "mismatched size for broadcast"
  %q = arith.divsi %n, %m : index
  %init = tensor.empty(%q) : tensor<?xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      outs(%init : tensor<?xf32>) {
  ^bb0(%o: f32):
    %one = arith.constant 1.0 : f32
    linalg.yield %one : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}

// -----

// torch-mlir's aten.view: the size of an inferred (-1) dim is numel divided by
// the other sizes, selected only where a size is negative. Its check holds
// when no select picks the quotient, so a size of 0 without a -1 is fine; the
// divisor is still made 1 where it is 0.
// CHECK-LABEL: func.func @view_sizes
// CHECK-SAME: dq.checks = ["RuntimeError: a size computation divides by zero
// CHECK: %[[NEG:.*]] = arith.cmpi slt
// CHECK: arith.andi
// CHECK: %[[DEF:.*]] = arith.andi
// CHECK: %[[NOTNEG:.*]] = arith.xori %[[NEG]]
// CHECK: %[[OK:.*]] = arith.ori %[[DEF]], %[[NOTNEG]]
// CHECK: arith.select %[[OK]]
// CHECK: scf.if
// CHECK: %[[SAFE:.*]] = arith.select %[[DEF]]
// CHECK: arith.divsi %{{.*}}, %[[SAFE]]
func.func @view_sizes(%a: tensor<?x34xf32>) -> tensor<?x2x17xf32>
    attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %c0_i64 = arith.constant 0 : i64
  %c1_i64 = arith.constant 1 : i64
  %c34_i64 = arith.constant 34 : i64
  %d = tensor.dim %a, %c0 : tensor<?x34xf32>
  %n = arith.index_cast %d : index to i64
  %neg = arith.cmpi slt, %n, %c0_i64 : i64
  %known = arith.select %neg, %c1_i64, %n : i64
  %div = arith.muli %known, %c34_i64 : i64
  %numel = arith.muli %n, %c34_i64 : i64
  %q = arith.divsi %numel, %div : i64
  %size = arith.select %neg, %q, %n : i64
  %i = arith.index_cast %size : i64 to index
  %e = tensor.empty(%i) : tensor<?x2x17xf32>
  return %e : tensor<?x2x17xf32>
}

// -----

// A check on a value computed from data cannot move: the rest of the block
// runs under it.
// CHECK-LABEL: func.func @data_assert
// CHECK: %[[X:.*]] = tensor.extract %arg0[]
// CHECK: %[[P:.*]] = arith.cmpi sgt, %[[X]]
// CHECK: arith.select %[[P]]
// CHECK: scf.if
// CHECK: tensor.empty
func.func @data_assert(%t: tensor<i64>) -> tensor<?xf32> attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : i64
  %x = tensor.extract %t[] : tensor<i64>
  %pos = arith.cmpi sgt, %x, %c0 : i64
  cf.assert %pos, "size must be positive"
  %n = arith.index_cast %x : i64 to index
  %e = tensor.empty(%n) : tensor<?xf32>
  return %e : tensor<?xf32>
}

// -----

// Functions that are not entry points keep their asserts.
// CHECK-LABEL: func.func @helper
// CHECK-NOT: dq.checks
// CHECK: cf.assert
func.func @helper(%p: i1) {
  cf.assert %p, "kept"
  return
}

// -----

// A write into an argument (state updated in place, a KV cache's slots):
// its offset and sizes come from other inputs' sizes, so it is checked to
// fit, before anything runs (not in the middle of the body, where it would
// nest a guard per write). A message that names its class keeps it. Where
// the rest of the body is skipped,
// the state result (dq.state) keeps the value it had there: the argument
// before the write, the written one after it (never both: that would make
// bufferization copy the whole buffer).
// CHECK-LABEL: func.func @state_slot
// CHECK-SAME: -> (tensor<2x?x4xf32> {dq.state = 0 : i64}, tensor<i32>)
// CHECK-SAME: dq.checks = ["IndexError: the slots written in 'attn' (copy) do not fit in argument 0 (a KV cache with fewer positions than the attention mask asks for?)", "ValueError: negative key in 'attn' (check)"]
// CHECK:      %[[CAP:.*]] = tensor.dim %arg0, %c1
// CHECK:      arith.cmpi slt, %{{.*}}, %[[CAP]]
// CHECK:      scf.if
// CHECK:        %[[INS:.*]] = tensor.insert_slice
// CHECK:        scf.if
// CHECK:        } else {
// CHECK:          scf.yield %[[INS]], %{{.*}} : tensor<2x?x4xf32>, i32
// CHECK:      } else {
// CHECK:        scf.yield %arg0, %{{.*}} : tensor<2x?x4xf32>, i32
#loc = loc("attn|copy")
#loc2 = loc("attn|check")
func.func @state_slot(%cache: tensor<2x?x4xf32> {bufferization.writable = true},
                      %new: tensor<2x?x4xf32>, %mask: tensor<2x?xi64>)
    -> (tensor<2x?x4xf32> {dq.state = 0 : i64}) attributes {llvm.emit_c_interface} {
  %c1 = arith.constant 1 : index
  %s = tensor.dim %new, %c1 : tensor<2x?x4xf32>
  %t = tensor.dim %mask, %c1 : tensor<2x?xi64>
  %past = arith.subi %t, %s : index
  %r = tensor.insert_slice %new into %cache[0, %past, 0] [2, %s, 4] [1, 1, 1]
      : tensor<2x?x4xf32> into tensor<2x?x4xf32> loc(#loc)
  %c0 = arith.constant 0 : index
  %x = tensor.extract %r[%c0, %c0, %c0] : tensor<2x?x4xf32>
  %zero = arith.constant 0.0 : f32
  %ok = arith.cmpf oge, %x, %zero : f32
  cf.assert %ok, "ValueError: negative key" loc(#loc2)
  return %r : tensor<2x?x4xf32>
}

// -----

// A size read off an scf.forall's result (emit.py's blocked attention) is
// its shared output's: a check on it is still arithmetic on the arguments'
// sizes and moves to the start (so equal layers stay equal for
// dq-outline-layers, not each nested in the guard of the one before).
// CHECK-LABEL: func.func @after_forall
// CHECK: arith.cmpi eq
// CHECK: scf.if
// CHECK: scf.forall
// CHECK: linalg.generic
func.func @after_forall(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32>
    attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?xf32>
  %init = tensor.empty(%n) : tensor<?xf32>
  %f = scf.forall (%i) in (%n) shared_outs(%o = %init) -> (tensor<?xf32>) {
    %x = tensor.extract_slice %a[%i] [1] [1] : tensor<?xf32> to tensor<1xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %x into %o[%i] [1] [1] : tensor<1xf32> into tensor<?xf32>
    }
  }
  %k = tensor.dim %f, %c0 : tensor<?xf32>
  %m = tensor.dim %b, %c0 : tensor<?xf32>
  %eq = arith.cmpi eq, %k, %m : index
  cf.assert %eq, "mismatched size for broadcast"
  %out = tensor.empty(%k) : tensor<?xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                       iterator_types = ["parallel"]}
      ins(%f, %b : tensor<?xf32>, tensor<?xf32>) outs(%out : tensor<?xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}
