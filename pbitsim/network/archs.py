"""Network architectures for the energy estimate: built-in TOML files and user TOML files.

An architecture file (see ``archs/*.toml`` and ``examples/archs/``)::

    name = "my-mlp"
    input = [1, 28, 28]       # channels, height, width
    classes = 10
    train_samples = 60000     # optional: samples per epoch (default 60000)
    ff_variant = "hinton"     # optional: "cwc" (default with conv layers) or "hinton"
    pre_norm = true           # optional: batch norm between each linear layer and its activation
    goodness_kernel = 1       # optional: each block carries a kernel x kernel goodness conv
    [[layers]]
    type = "dense"            # also "conv2d", "pool", "batchnorm", "layernorm"
    units = 300

A ``conv2d`` layer takes ``channels``, ``kernel`` (default 3), ``stride`` (1), ``padding``
(0) and ``groups`` (1): with ``groups = G`` the input and output channels split into G
groups and each output group sees only its own input group (G must divide both).

Each ``dense``/``conv2d`` layer is followed by the network's activation (ReLU, or tiled
logistic units for BSFF) and owns the ``pool``/``batchnorm``/``layernorm`` layers after
it: together they form a *block*, the unit a forward-forward local loss trains. Every
network ends in a linear softmax classifier (the *head*) from the flattened last block
output to ``classes``.

``pre_norm = true`` puts a batch norm between every linear layer and its activation (conv ->
batch norm -> ReLU, as in Scalable FF's blocks; the tiled p-bit nets always have it).
``goodness_kernel = k`` gives every block an auxiliary ``k x k`` convolution (stride 1, padding
``k // 2``, with bias) from the block output to ``classes`` channels: the goodness conv of
Scalable FF (:meth:`Arch.goodness_conv`); only the ``sff`` rules use it. Both need a net whose
blocks end in feature maps for the goodness conv.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..runfiles import read_toml


__all__ = ["Arch", "Block", "Layer", "ArchError", "load_arch", "list_archs", "default_arch",
           "ARCH_DIR", "DEFAULT_ARCH", "DEFAULT_NETS"]

ARCH_DIR = Path(__file__).with_name("archs")
#: The network ``pbitsim estimate`` prices without ``--arch``: the CwC-FF reference's CIFAR-10
#: CFSE net.
DEFAULT_ARCH = "cfse-cifar10"
#: The built-in networks a rule trains without ``--arch``, by the kind its descriptor names
#: (:attr:`pbitsim.rulebook.Rule.net`) and the input shape: the CwC-FF reference's CFSE
#: net (CwC-FF, BSFF, BGBSFF, BP), Hinton's MLP (FF), the seeds' MF MLPs (MF, BSMF), the seeds'
#: CaFo CNN (the CaFo rules), the SFF CNN (Scalable FF, real and tiled).
DEFAULT_NETS = {
    "cfse": {(1, 28, 28): "cfse-mnist", (3, 32, 32): "cfse-cifar10"},
    "ff-mlp": {(1, 28, 28): "ff-mlp-4x2000", (3, 32, 32): "ff-mlp-4x2000-cifar10"},
    "mf-mlp": {(1, 28, 28): "mf-mlp-2x1000", (3, 32, 32): "mf-mlp-3x2000"},
    "cafo-cnn": {(1, 28, 28): "cafo-cnn-mnist", (3, 32, 32): "cafo-cnn-cifar10"},
    "sff-cnn": {(1, 28, 28): "sff-cnn-mnist", (3, 32, 32): "sff-cnn-cifar10"},
}
DEFAULT_TRAIN_SAMPLES = 60000
LINEAR_TYPES = ("dense", "conv2d")
LAYER_FIELDS = {
    "dense": {"units"},
    "conv2d": {"channels", "kernel", "stride", "padding", "groups"},
    "pool": {"size"},
    "batchnorm": set(),
    "layernorm": set(),
}
_TOP_KEYS = {"name", "description", "source", "input", "classes", "train_samples",
             "ff_variant", "pre_norm", "goodness_kernel", "layers"}


class ArchError(ValueError):
    """An architecture that cannot be used: the message names the file and the bad key."""


@dataclass(frozen=True)
class Layer:
    """One layer with its resolved shapes (per sample; ``(C, H, W)`` or ``(K,)``)."""

    type: str
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    size: int = 1
    groups: int = 1        # conv2d: channel groups (each output group reads its input group)
    taps: int = 0          # multiply-accumulate pairs per sample (dense, conv2d)
    weights: int = 0       # weight count (dense, conv2d)

    @property
    def n_in(self) -> int:
        return _prod(self.in_shape)

    @property
    def n_out(self) -> int:
        return _prod(self.out_shape)

    @property
    def channels_out(self) -> int:
        return self.out_shape[0]

    @property
    def biases(self) -> int:
        return self.out_shape[0] if self.type in LINEAR_TYPES else 0

    @property
    def params(self) -> int:
        return self.weights + self.biases

    def describe(self) -> str:
        shape = "x".join(map(str, self.out_shape))
        if self.type == "conv2d":
            groups = f" groups {self.groups}" if self.groups > 1 else ""
            return f"conv {self.kernel}x{self.kernel}/{self.stride}{groups} -> {shape}"
        if self.type == "dense":
            return f"dense -> {shape}"
        if self.type == "pool":
            return f"maxpool {self.size}x{self.size} -> {shape}"
        return self.type


@dataclass(frozen=True)
class Block:
    """A linear layer, its activation and the pool/norm layers after it."""

    index: int
    linear: Layer
    post: tuple[Layer, ...]

    @property
    def name(self) -> str:
        return self.linear.name

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.post[-1].out_shape if self.post else self.linear.out_shape

    def describe(self) -> str:
        return ", ".join([self.linear.describe(), *(p.describe() for p in self.post)])


@dataclass(frozen=True)
class Arch:
    """A resolved network: blocks, the softmax head and what an epoch is."""

    name: str
    input_shape: tuple[int, ...]
    classes: int
    blocks: tuple[Block, ...]
    head: Layer
    train_samples: int
    ff_variant: str
    description: str = ""
    source: str = ""
    path: str | None = None
    #: Batch norm between each block's linear layer and its activation.
    pre_norm: bool = False
    #: Kernel of each block's auxiliary goodness conv to the classes (0: none).
    goodness_kernel: int = 0

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(l for b in self.blocks for l in (b.linear, *b.post)) + (self.head,)

    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    def min_train_bytes(self, batch_size: int) -> int:
        """A lower bound on the memory training this net takes, in bytes: a float32 weight and
        its gradient per parameter, and one batch of the widest layer's float32 outputs. Every
        rule holds at least that (Adam's state, the other layers' outputs and the data come on
        top), so a net above the machine's memory is refused before anything is allocated."""
        widest = max(l.n_out for l in self.layers)
        return 8 * self.params + 4 * batch_size * widest

    def goodness_conv(self, block: Block) -> Layer:
        """The auxiliary goodness conv of ``block`` (``goodness_kernel`` x ``goodness_kernel``,
        stride 1, padding ``k // 2``, bias): block output ``(C, H, W)`` -> ``(classes, H, W)``.

        ``ArchError`` when the architecture declares none or the block ends in a vector."""
        k = self.goodness_kernel
        if k < 1:
            raise ArchError(f"architecture {self.name} declares no goodness conv "
                            "(goodness_kernel)")
        shape = block.out_shape
        if len(shape) != 3:
            raise ArchError(f"architecture {self.name}: {block.name} ends in a vector of "
                            f"{shape[0]}; a goodness conv needs a feature map")
        return _linear("conv2d", f"goodness{block.index + 1}",
                       {"channels": self.classes, "kernel": k, "padding": k // 2}, shape,
                       f"architecture {self.name}: goodness conv of {block.name}")


def default_arch(input_shape, net: str = "cfse") -> str:
    """The built-in network of kind ``net`` (:data:`DEFAULT_NETS`) for data of ``input_shape``:
    what ``pbitsim train --algo ALGO`` trains, ``net`` being the rule's
    (:attr:`pbitsim.rulebook.Rule.net`). ``ArchError`` for a shape with no built-in
    net.
    """
    nets = DEFAULT_NETS[net].get(tuple(int(v) for v in input_shape))
    if nets is None:
        shape = "x".join(str(v) for v in input_shape)
        raise ArchError(f"no built-in network for {shape} inputs; give --arch NAME|FILE.toml")
    return nets


def list_archs() -> list[str]:
    """Names of the built-in architectures."""
    return sorted(p.stem for p in ARCH_DIR.glob("*.toml"))


def load_arch(name_or_path: "str | os.PathLike") -> Arch:
    """A built-in architecture by name, or a user TOML file."""
    text = os.fspath(name_or_path)
    builtin = ARCH_DIR / f"{text}.toml"
    if builtin.is_file() and not text.endswith(".toml") and os.sep not in text:
        path = builtin
    elif text.endswith(".toml") or os.sep in text or Path(text).is_file():
        path = Path(text)
    else:
        raise ArchError(f"unknown architecture {text!r} (built in: {', '.join(list_archs())}; "
                        "or give a .toml file)")
    data = read_toml(path, "architecture", error=ArchError)
    return arch_from_mapping(data, str(path))


def arch_from_mapping(data: Mapping[str, Any], path: str | None = None) -> Arch:
    """Validate a parsed architecture document and resolve every layer's shape."""
    label = data.get("name") if isinstance(data.get("name"), str) else (path or "<arch>")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise ArchError(f"architecture {label}: missing 'name'")
    for key in data:
        if key not in _TOP_KEYS:
            raise ArchError(f"architecture {label}: unknown key {key!r}")
    shape = data.get("input")
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(_positive_int(v) for v in shape)):
        raise ArchError(f"architecture {label}: 'input' must be [channels, height, width] "
                        "of positive integers")
    classes = data.get("classes")
    if not _positive_int(classes) or classes < 2:
        raise ArchError(f"architecture {label}: 'classes' must be an integer >= 2")
    train_samples = data.get("train_samples", DEFAULT_TRAIN_SAMPLES)
    if not _positive_int(train_samples):
        raise ArchError(f"architecture {label}: 'train_samples' must be a positive integer")
    specs = data.get("layers")
    if not isinstance(specs, list) or not specs:
        raise ArchError(f"architecture {label}: needs at least one [[layers]] entry")

    blocks: list[Block] = []
    current: tuple[int, ...] = tuple(shape)
    linear: Layer | None = None
    post: list[Layer] = []
    counts = {t: 0 for t in LAYER_FIELDS}
    for i, spec in enumerate(specs):
        where = f"architecture {label}: layers[{i}]"
        if not isinstance(spec, Mapping):
            raise ArchError(f"{where} must be a table")
        kind = spec.get("type")
        if kind not in LAYER_FIELDS:
            raise ArchError(f"{where}.type must be one of {', '.join(LAYER_FIELDS)}, "
                            f"got {kind!r}")
        for key in spec:
            if key != "type" and key not in LAYER_FIELDS[kind]:
                raise ArchError(f"{where}: unknown key {key!r} for a {kind} layer")
        counts[kind] += 1
        name = f"{'conv' if kind == 'conv2d' else kind}{counts[kind]}"
        where = f"{where} ({name})"
        if kind in LINEAR_TYPES:
            if linear is not None:
                blocks.append(Block(len(blocks), linear, tuple(post)))
            linear, post = _linear(kind, name, spec, current, where), []
            current = linear.out_shape
            continue
        if linear is None:
            raise ArchError(f"{where}: the first layer must be dense or conv2d")
        layer = _post(kind, name, spec, current, where)
        post.append(layer)
        current = layer.out_shape
    blocks.append(Block(len(blocks), linear, tuple(post)))

    variant = data.get("ff_variant",
                       "cwc" if any(b.linear.type == "conv2d" for b in blocks) else "hinton")
    if variant not in ("cwc", "hinton"):
        raise ArchError(f"architecture {label}: 'ff_variant' must be \"cwc\" or \"hinton\"")
    pre_norm = data.get("pre_norm", False)
    if not isinstance(pre_norm, bool):
        raise ArchError(f"architecture {label}: 'pre_norm' must be true or false")
    goodness_kernel = data.get("goodness_kernel", 0)
    if not (isinstance(goodness_kernel, int) and not isinstance(goodness_kernel, bool)
            and goodness_kernel >= 0):
        raise ArchError(f"architecture {label}: 'goodness_kernel' must be a non-negative "
                        "integer (0: none)")
    if goodness_kernel % 2 == 0 and goodness_kernel:
        raise ArchError(f"architecture {label}: 'goodness_kernel' must be odd (the goodness "
                        f"conv keeps the block's size), got {goodness_kernel}")
    if goodness_kernel:
        for block in blocks:
            if len(block.out_shape) != 3:
                raise ArchError(f"architecture {label}: goodness_kernel needs every block to "
                                f"end in a feature map; {block.name} ends in a vector")
    features = _prod(current)
    head = Layer("dense", "head", (features,), (classes,), taps=features * classes,
                 weights=features * classes)
    return Arch(name=data["name"], input_shape=tuple(shape), classes=classes,
                blocks=tuple(blocks), head=head, train_samples=train_samples,
                ff_variant=variant, description=str(data.get("description", "")),
                source=str(data.get("source", "")), path=path, pre_norm=pre_norm,
                goodness_kernel=goodness_kernel)


def _linear(kind, name, spec, shape, where) -> Layer:
    if kind == "dense":
        units = _field(spec, "units", where)
        k = _prod(shape)
        return Layer("dense", name, (k,), (units,), taps=k * units, weights=k * units)
    if len(shape) != 3:
        raise ArchError(f"{where}: conv2d needs a [channels, height, width] input, "
                        f"not a flat vector of {shape[0]}")
    out_c = _field(spec, "channels", where)
    kernel = _field(spec, "kernel", where, 3)
    stride = _field(spec, "stride", where, 1)
    padding = _field(spec, "padding", where, 0, allow_zero=True)
    groups = _field(spec, "groups", where, 1)
    c, h, w = shape
    if c % groups or out_c % groups:
        raise ArchError(f"{where}: groups = {groups} must divide the {c} input and {out_c} "
                        "output channels")
    oh = (h + 2 * padding - kernel) // stride + 1
    ow = (w + 2 * padding - kernel) // stride + 1
    if oh < 1 or ow < 1:
        raise ArchError(f"{where}: a {kernel}x{kernel} kernel does not fit a {h}x{w} input")
    c_group = c // groups  # input channels each output channel reads
    taps = (out_c * c_group * valid_taps(h, kernel, stride, padding)
            * valid_taps(w, kernel, stride, padding))
    return Layer("conv2d", name, shape, (out_c, oh, ow), kernel=kernel, stride=stride,
                 padding=padding, groups=groups, taps=taps,
                 weights=out_c * c_group * kernel * kernel)


def _post(kind, name, spec, shape, where) -> Layer:
    if kind == "pool":
        size = _field(spec, "size", where, 2)
        if len(shape) != 3 or shape[1] < size or shape[2] < size:
            raise ArchError(f"{where}: a {size}x{size} pool needs a feature map at least "
                            f"that large, got {'x'.join(map(str, shape))}")
        return Layer("pool", name, shape, (shape[0], shape[1] // size, shape[2] // size),
                     size=size, stride=size)
    return Layer(kind, name, shape, shape)


def valid_taps(length: int, kernel: int, stride: int, padding: int) -> int:
    """Kernel taps, summed over output positions, that land inside an input of ``length``.

    Padding taps read zeros and are skipped, as the index kernels skip them.
    """
    out = (length + 2 * padding - kernel) // stride + 1
    total = 0
    for o in range(out):
        start = o * stride - padding
        total += min(kernel, length - start) - max(0, -start)
    return total


def _field(spec, key, where, default=None, allow_zero=False) -> int:
    value = spec.get(key, default)
    if value is None:
        raise ArchError(f"{where} lacks {key!r}")
    ok = isinstance(value, int) and not isinstance(value, bool) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ArchError(f"{where}: {key} must be a {'non-negative' if allow_zero else 'positive'}"
                        f" integer, got {value!r}")
    return value


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _prod(shape) -> int:
    out = 1
    for v in shape:
        out *= v
    return out
