"""Torch bridge: autograd functions and modules whose forward runs the Numba kernels."""
