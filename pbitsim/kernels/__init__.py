"""Numba kernels of the simulated p-bit hardware (no torch here)."""
