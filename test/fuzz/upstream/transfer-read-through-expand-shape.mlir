// Upstream MLIR 22.1.8 miscompile, found through BERT compiled with
// dynamic=False (NaN outputs), reproduced here without any dq op (not run by
// lit: test/fuzz is excluded):
//   dq-opt %s --fold-memref-alias-ops
// The read below takes 16 lanes along dim 1 (minor identity map (d1, d2, d3)).
// The expand_shape folder rewrites it into a read of the rank-3 source with
// the identity map (d0, d1, d2): the lanes then walk dim 0 (size 2), out of
// bounds although in_bounds says otherwise. dq-vectorize-linalg leaves the
// expand_shape/collapse_shape folders out for this reason.
func.func @f(%a: memref<2x24x128xf32>, %b: index, %s: index, %h: index, %d: index) -> vector<16x1x1xf32> {
  %pad = ub.poison : f32
  %e = memref.expand_shape %a [[0], [1], [2, 3]] output_shape [2, 24, 2, 64]
      : memref<2x24x128xf32> into memref<2x24x2x64xf32>
  %v = vector.transfer_read %e[%b, %s, %h, %d], %pad {in_bounds = [true, true, true]}
      : memref<2x24x2x64xf32>, vector<16x1x1xf32>
  return %v : vector<16x1x1xf32>
}
