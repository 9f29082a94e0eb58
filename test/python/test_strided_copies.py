"""Copies between strided buffers (the runtime's memrefCopy): a concatenation
of strided slices (a convolution's im2col windows), slices whose innermost
dim is strided, and dims that merge, for 1-, 4- and 8-byte elements."""
import numpy as np
import pytest
import torch

import dqmlir

# out[:, :, 8k:8k+8] = x[:, k::2, :][:, :4] (rows of 8 contiguous elements,
# every other row); tail = x[:, :, ::2] (innermost stride 2, element by
# element); whole = x[1] placed into a [2, 9, 8] buffer's second half
# (contiguous: merged into one run).
_SOURCE = """
func.func @forward(%x: tensor<2x9x8xT>) -> (tensor<2x4x24xT>, tensor<2x9x4xT>, tensor<2x9x8xT>) {
  %w0 = tensor.extract_slice %x[0, 0, 0] [2, 4, 8] [1, 2, 1] : tensor<2x9x8xT> to tensor<2x4x8xT>
  %w1 = tensor.extract_slice %x[0, 1, 0] [2, 4, 8] [1, 2, 1] : tensor<2x9x8xT> to tensor<2x4x8xT>
  %w2 = tensor.extract_slice %x[0, 2, 0] [2, 4, 8] [1, 2, 1] : tensor<2x9x8xT> to tensor<2x4x8xT>
  %cols = tensor.concat dim(2) %w0, %w1, %w2 : (tensor<2x4x8xT>, tensor<2x4x8xT>, tensor<2x4x8xT>) -> tensor<2x4x24xT>
  %odd = tensor.extract_slice %x[0, 0, 1] [2, 9, 4] [1, 1, 2] : tensor<2x9x8xT> to tensor<2x9x4xT>
  %even = tensor.extract_slice %x[0, 0, 0] [2, 9, 4] [1, 1, 2] : tensor<2x9x8xT> to tensor<2x9x4xT>
  %halves = tensor.concat dim(2) %even, %odd : (tensor<2x9x4xT>, tensor<2x9x4xT>) -> tensor<2x9x8xT>
  %tail = tensor.extract_slice %halves[0, 0, 4] [2, 9, 4] [1, 1, 1] : tensor<2x9x8xT> to tensor<2x9x4xT>
  %second = tensor.extract_slice %x[1, 0, 0] [1, 9, 8] [1, 1, 1] : tensor<2x9x8xT> to tensor<1x9x8xT>
  %first = tensor.extract_slice %x[0, 0, 0] [1, 9, 8] [1, 1, 1] : tensor<2x9x8xT> to tensor<1x9x8xT>
  %swapped = tensor.concat dim(0) %second, %first : (tensor<1x9x8xT>, tensor<1x9x8xT>) -> tensor<2x9x8xT>
  return %cols, %tail, %swapped : tensor<2x4x24xT>, tensor<2x9x4xT>, tensor<2x9x8xT>
}
"""


@pytest.mark.parametrize("mlir_type,dtype", [("f32", torch.float32), ("i8", torch.int8),
                                             ("i64", torch.int64)])
def test_strided_copies(mlir_type, dtype):
    compiled = dqmlir.compile_mlir(_SOURCE.replace("xT>", f"x{mlir_type}>"))
    x = torch.arange(2 * 9 * 8).reshape(2, 9, 8).to(dtype)
    cols, tail, swapped = compiled(x)
    n = x.numpy()
    want_cols = np.concatenate([n[:, k::2][:, :4] for k in range(3)], axis=2)
    np.testing.assert_array_equal(cols.numpy(), want_cols)
    np.testing.assert_array_equal(tail.numpy(), n[:, :, 1::2])
    np.testing.assert_array_equal(swapped.numpy(), n[::-1])
