"""Small architectures whose counts are easy to work out by hand."""

from pbitsim.network.archs import arch_from_mapping


def mlp():
    """input 1x2x2 (K = 4) -> dense 3 -> dense 2 -> head 2 classes (Hinton FF variant)."""
    return arch_from_mapping({
        "name": "tiny-mlp", "input": [1, 2, 2], "classes": 2,
        "layers": [{"type": "dense", "units": 3}, {"type": "dense", "units": 2}]})


def convnet():
    """input 1x4x4 -> conv 2ch 3x3 pad 1 -> conv 4ch 3x3 pad 1 -> pool 2 -> head 2 (CwC)."""
    conv = {"type": "conv2d", "kernel": 3, "stride": 1, "padding": 1}
    return arch_from_mapping({
        "name": "tiny-conv", "input": [1, 4, 4], "classes": 2,
        "layers": [{**conv, "channels": 2}, {**conv, "channels": 4},
                   {"type": "pool", "size": 2}]})


def mlp_cwc():
    """input 1x2x2 (K = 4) -> dense 4 -> batch norm -> dense 2 -> head 2 classes, CwC loss (2
    units a class); dense2 reads dense1's counts with its batch norm folded in."""
    return arch_from_mapping({
        "name": "tiny-mlp-cwc", "input": [1, 2, 2], "classes": 2, "ff_variant": "cwc",
        "layers": [{"type": "dense", "units": 4}, {"type": "batchnorm"},
                   {"type": "dense", "units": 2}]})
