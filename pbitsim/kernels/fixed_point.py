"""The fixed-point datapath's kernels under one name: the quantizer (:mod:`.quantizer`) and the
saturating integer products (:mod:`.fixed_products`), each family in its own module. The torch
bridge's fixed-point path (:mod:`pbitsim.bridge.fixed`) reaches them through the package's lazy
names (``pbitsim.kernels.quantize``, ...), so that a run on the float datapath loads no Numba."""

from .fixed_products import (acc_range, fixed_index_conv2d, fixed_index_conv2d_weight_grad,
                             fixed_index_matmul, fixed_index_matmul_xt, word_dtype)
from .quantizer import quantize

__all__ = ["quantize", "acc_range", "word_dtype", "fixed_index_matmul", "fixed_index_matmul_xt",
           "fixed_index_conv2d", "fixed_index_conv2d_weight_grad"]
