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

Each ``type`` is a layer kind, a :class:`Layer` subclass (:data:`LAYER_KINDS`): it owns its
keys, resolves its shapes (:meth:`Layer.from_spec`) and, for the layers after an activation,
counts its forward and backward (:meth:`Layer.forward_counts`, :meth:`Layer.backward_counts`);
code asks a layer what it is (``isinstance``, ``is_linear``, ``is_norm``), not its ``type``
string, which names it in files and messages.

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
from typing import Any, ClassVar, Mapping

from ..runfiles import data_file, read_toml
from . import costs
from .costs import FP, Counts


__all__ = ["Arch", "Block", "Layer", "Dense", "Conv2d", "Pool", "BatchNorm", "LayerNorm",
           "LAYER_KINDS", "ArchError", "load_arch", "list_archs", "default_arch",
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
_TOP_KEYS = {"name", "description", "source", "input", "classes", "train_samples",
             "ff_variant", "pre_norm", "goodness_kernel", "layers"}


class ArchError(ValueError):
    """An architecture that cannot be used: the message names the file and the bad key."""


@dataclass(frozen=True)
class Layer:
    """One layer with its resolved shapes (per sample; ``(C, H, W)`` or ``(K,)``): the base of
    the layer kinds (:class:`Dense`, :class:`Conv2d`, :class:`Pool`, :class:`BatchNorm`,
    :class:`LayerNorm`), each owning its TOML keys, its shapes and, for the layers after an
    activation, its counts."""

    #: The kind's name in an architecture file (``type = "..."``).
    type: ClassVar[str] = ""
    #: The kind's keys in an architecture file, besides ``type``.
    FIELDS: ClassVar[frozenset[str]] = frozenset()
    #: A linear layer (dense, conv2d) opens a block and is followed by the activation; the
    #: other kinds follow the activation in its block.
    is_linear: ClassVar[bool] = False
    #: A normalisation (batch norm, layer norm).
    is_norm: ClassVar[bool] = False

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
        return self.out_shape[0] if self.is_linear else 0

    @property
    def params(self) -> int:
        return self.weights + self.biases

    @property
    def affine_params(self) -> int:
        """Trainable parameters outside ``params``: a batch norm's scale and shift."""
        return 0

    @property
    def window(self) -> int:
        """Inputs each output reads per channel and position (a pool's window; 1 otherwise)."""
        return 1

    def describe(self) -> str:
        return self.type

    @classmethod
    def prefix(cls) -> str:
        """The stem of the names an architecture file's layers of this kind get (``conv1``)."""
        return cls.type

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any], shape: tuple[int, ...],
                  where: str) -> "Layer":
        """The layer an architecture file's table ``spec`` describes on an input of ``shape``
        (``ArchError`` naming ``where`` when it does not fit)."""
        return cls(name, shape, shape)

    # --- counts of a layer after the activation (``b`` samples; pure Python) ---------------
    def forward_counts(self, b: int, *, train: bool, batch_stats: bool | None = None,
                       dtype: str = FP, saved: str = "act") -> Counts:
        """Its forward over ``b`` samples whose activations are ``dtype`` words. ``train``:
        what a backward pass needs is kept; ``batch_stats``: a batch norm on batch statistics
        (default ``train``)."""
        raise NotImplementedError(f"a {self.type} layer is counted by its rule's walk")

    def backward_counts(self, b: int, *, dtype: str = FP, saved: str = "act") -> Counts:
        """Its backward over ``b`` samples (``dtype``: the width of its forward input)."""
        raise NotImplementedError(f"a {self.type} layer is counted by its rule's walk")


@dataclass(frozen=True)
class Dense(Layer):
    """A dense layer ``[K] -> [units]`` (TOML: ``units``)."""

    type: ClassVar[str] = "dense"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"units"})
    is_linear: ClassVar[bool] = True

    def describe(self) -> str:
        return f"dense -> {'x'.join(map(str, self.out_shape))}"

    @classmethod
    def of(cls, name: str, n_in: int, n_out: int) -> "Dense":
        """A dense layer from ``n_in`` to ``n_out`` features (every pair a tap and a weight)."""
        return cls(name, (n_in,), (n_out,), taps=n_in * n_out, weights=n_in * n_out)

    @classmethod
    def from_spec(cls, name, spec, shape, where) -> "Dense":
        return cls.of(name, _prod(shape), _field(spec, "units", where))


@dataclass(frozen=True)
class Conv2d(Layer):
    """A 2-D convolution (TOML: ``channels``, ``kernel`` 3, ``stride`` 1, ``padding`` 0,
    ``groups`` 1); its taps count only those that land inside the image."""

    type: ClassVar[str] = "conv2d"
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"channels", "kernel", "stride", "padding", "groups"})
    is_linear: ClassVar[bool] = True

    def describe(self) -> str:
        groups = f" groups {self.groups}" if self.groups > 1 else ""
        shape = "x".join(map(str, self.out_shape))
        return f"conv {self.kernel}x{self.kernel}/{self.stride}{groups} -> {shape}"

    @classmethod
    def prefix(cls) -> str:
        return "conv"

    @classmethod
    def from_spec(cls, name, spec, shape, where) -> "Conv2d":
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
        return cls(name, shape, (out_c, oh, ow), kernel=kernel, stride=stride,
                   padding=padding, groups=groups, taps=taps,
                   weights=out_c * c_group * kernel * kernel)


@dataclass(frozen=True)
class Pool(Layer):
    """``size`` x ``size`` max pooling with stride ``size`` (TOML: ``size``, default 2)."""

    type: ClassVar[str] = "pool"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"size"})

    @property
    def window(self) -> int:
        return self.size * self.size

    def describe(self) -> str:
        return f"maxpool {self.size}x{self.size} -> {'x'.join(map(str, self.out_shape))}"

    @classmethod
    def from_spec(cls, name, spec, shape, where) -> "Pool":
        size = _field(spec, "size", where, 2)
        if len(shape) != 3 or shape[1] < size or shape[2] < size:
            raise ArchError(f"{where}: a {size}x{size} pool needs a feature map at least "
                            f"that large, got {'x'.join(map(str, shape))}")
        return cls(name, shape, (shape[0], shape[1] // size, shape[2] // size), size=size,
                   stride=size)

    def forward_counts(self, b, *, train, batch_stats=None, dtype=FP, saved="act") -> Counts:
        """:func:`pbitsim.network.costs.maxpool` at the activation's width."""
        return costs.maxpool(b * self.n_out, self.window, dtype, train, saved)

    def backward_counts(self, b, *, dtype=FP, saved="act") -> Counts:
        """:func:`pbitsim.network.costs.maxpool_backward` (the gradients are fp32)."""
        return costs.maxpool_backward(b * self.n_out, b * self.n_in, self.window, FP, saved)


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch norm per channel (feature), with a scale and a shift each."""

    type: ClassVar[str] = "batchnorm"
    is_norm: ClassVar[bool] = True

    @property
    def affine_params(self) -> int:
        return 2 * self.channels_out

    def forward_counts(self, b, *, train, batch_stats=None, dtype=FP, saved="act") -> Counts:
        """:func:`pbitsim.network.costs.batchnorm` (batch statistics) or
        :func:`~pbitsim.network.costs.batchnorm_eval`, the input read at ``dtype``."""
        batch_stats = train if batch_stats is None else batch_stats
        fn = costs.batchnorm if batch_stats else costs.batchnorm_eval
        return fn(b * self.n_in, self.channels_out, dtype)

    def backward_counts(self, b, *, dtype=FP, saved="act") -> Counts:
        return costs.batchnorm_backward(b * self.n_in, self.channels_out, saved, dtype)


@dataclass(frozen=True)
class LayerNorm(Layer):
    """Hinton's layer normalisation ``x / sqrt(mean(x^2))`` per sample (no affine)."""

    type: ClassVar[str] = "layernorm"
    is_norm: ClassVar[bool] = True

    def forward_counts(self, b, *, train, batch_stats=None, dtype=FP, saved="act") -> Counts:
        return costs.rms_norm(b * self.n_in, b)

    def backward_counts(self, b, *, dtype=FP, saved="act") -> Counts:
        return costs.rms_norm_backward(b * self.n_in, b)


#: The layer kinds by their names in an architecture file.
LAYER_KINDS: dict[str, type[Layer]] = {k.type: k for k in (Dense, Conv2d, Pool, BatchNorm,
                                                           LayerNorm)}


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
        return Conv2d.from_spec(f"goodness{block.index + 1}",
                                {"channels": self.classes, "kernel": k, "padding": k // 2},
                                shape, f"architecture {self.name}: goodness conv of {block.name}")


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
    path = data_file(name_or_path, ARCH_DIR, "architecture", ArchError, "built in")
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
    counts = {t: 0 for t in LAYER_KINDS}
    for i, spec in enumerate(specs):
        where = f"architecture {label}: layers[{i}]"
        if not isinstance(spec, Mapping):
            raise ArchError(f"{where} must be a table")
        kind = spec.get("type")
        if not isinstance(kind, str) or kind not in LAYER_KINDS:
            raise ArchError(f"{where}.type must be one of {', '.join(LAYER_KINDS)}, "
                            f"got {kind!r}")
        cls = LAYER_KINDS[kind]
        for key in spec:
            if key != "type" and key not in cls.FIELDS:
                raise ArchError(f"{where}: unknown key {key!r} for a {kind} layer")
        counts[kind] += 1
        name = f"{cls.prefix()}{counts[kind]}"
        where = f"{where} ({name})"
        if cls.is_linear:
            if linear is not None:
                blocks.append(Block(len(blocks), linear, tuple(post)))
            linear, post = cls.from_spec(name, spec, current, where), []
            current = linear.out_shape
            continue
        if linear is None:
            raise ArchError(f"{where}: the first layer must be dense or conv2d")
        layer = cls.from_spec(name, spec, current, where)
        post.append(layer)
        current = layer.out_shape
    blocks.append(Block(len(blocks), linear, tuple(post)))

    variant = data.get("ff_variant",
                       "cwc" if any(isinstance(b.linear, Conv2d) for b in blocks) else "hinton")
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
    head = Dense.of("head", features, classes)
    return Arch(name=data["name"], input_shape=tuple(shape), classes=classes,
                blocks=tuple(blocks), head=head, train_samples=train_samples,
                ff_variant=variant, description=str(data.get("description", "")),
                source=str(data.get("source", "")), path=path, pre_norm=pre_norm,
                goodness_kernel=goodness_kernel)


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
