"""Frontends: PyTorch modules -> MLIR with dq ops."""
