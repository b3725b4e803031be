"""Which algorithm can train which architecture, checked before any data is read (pure Python).

One line per refusal, naming the layer and the rule: ``pbitsim train``, ``pbitsim sweep`` and
the estimator check architectures here, without loading torch.
"""

from __future__ import annotations

from ..rulebook import RULE_SPECS, TILED_FORMS, family
from ..schedules import GREEDY_FAMILY, MF_FAMILY, SFF_FAMILY, check_algo_schedule, check_schedule
from .archs import BatchNorm, Conv2d, Dense, LayerNorm, Pool

__all__ = ["CWC_FAMILY", "SFF_FAMILY", "TILED_RULES", "arch_rule",
           "is_tiled", "resolve_arch", "simulated_rule"]

#: The algorithms training CwC-FF's per-class channel groups (and its freezing schedules).
CWC_FAMILY = family("cwc")
#: The rules whose hidden units are always tiled p-bit units (``--tiles M``, default 7; their
#: nets have pre-activation batch norm by construction). A local rule given ``--tiles M``
#: becomes its tiled rule here (``mf`` -> ``bsmf``: :data:`pbitsim.rules.TILED_FORMS`) when the
#: configuration is checked; without ``--tiles`` it runs real-valued ReLU units.
TILED_RULES = tuple(n for n, s in RULE_SPECS.items() if s.tiled)


def is_tiled(algo: str) -> bool:
    """Whether the rule ``algo`` (a checked configuration's, after
    :func:`pbitsim.rules.resolve_algo`) runs tiled p-bit units."""
    return algo in TILED_RULES


def simulated_rule(arch) -> str | None:
    """Why ``arch`` cannot run as a p-bit network (one line naming the layer), or None.

    The next index layer reads the block's integer tile counts: pools act on the counts, then
    at most one batch norm (folded into the next layer's weights) and one layer norm (a
    per-sample factor on the next layer's outputs), in that order.
    """
    for block in arch.blocks:
        seen: list[type] = []  # the kinds so far
        for layer in block.post:
            if isinstance(layer, Pool) and any(k.is_norm for k in seen):
                return (f"{layer.name} pools after a normalisation in block {block.name}; a p-bit "
                        "net pools the tile counts, before batch norm / layer norm")
            if layer.is_norm and type(layer) in seen:
                return f"block {block.name} has two {layer.type} layers ({layer.name})"
            if isinstance(layer, BatchNorm) and LayerNorm in seen:
                return (f"{layer.name} follows a layernorm in block {block.name}; a p-bit net "
                        "folds batch norm, then layer norm, into the next layer")
            seen.append(type(layer))
    return None


def arch_rule(algo: str, arch) -> str | None:
    """Why ``algo`` cannot train ``arch`` (one line naming the layer and the rule), or None.

    A rule of :data:`TILED_RULES` is checked as a p-bit net (:func:`simulated_rule`)."""
    if algo in CWC_FAMILY:
        for block in arch.blocks:
            n = block.linear.out_shape[0]
            if n % arch.classes:
                what = "channels" if isinstance(block.linear, Conv2d) else "units"
                return (f"{algo} on {arch.name}: {block.name} has {n} {what}, not divisible by "
                        f"the {arch.classes} classes (CwC-FF splits every block into one group "
                        "per class)")
    if arch.pre_norm and algo not in (*family("bp"), *SFF_FAMILY, *TILED_RULES):
        return (f"{algo} on {arch.name}: the architecture puts batch norm before the "
                "activation (pre_norm = true), which only bp, sff and the tiled rules model")
    if algo in SFF_FAMILY:
        if not arch.goodness_kernel:
            return (f"{algo} on {arch.name}: the architecture declares no goodness conv (Scalable "
                    "FF needs goodness_kernel = 1 and conv blocks, e.g. --arch sff-cnn-cifar10)")
        if algo == "sff" and not arch.pre_norm:
            return (f"{algo} on {arch.name}: Scalable FF's blocks are conv -> batch norm -> ReLU; "
                    "set pre_norm = true")
    if algo in TILED_RULES:
        rule = simulated_rule(arch)
        if rule is not None:
            real = [k for k, v in TILED_FORMS.items() if v == algo]  # bsmf: mf --tiles
            how = f"{algo} ({real[0]} --tiles)" if real else algo
            return f"{how} on {arch.name}: {rule}"
    if algo in family("ff"):
        for block in arch.blocks:
            if not isinstance(block.linear, Dense):
                return (f"{algo} on {arch.name}: {block.name} is {block.linear.type}; Hinton's FF "
                        "(label in the input) needs an all-dense net")
        n_in = arch.blocks[0].linear.n_in
        if n_in < arch.classes:
            return (f"{algo} on {arch.name}: the input has {n_in} values, fewer than the "
                    f"{arch.classes} classes whose label it carries")
        if arch.ff_variant != "hinton":
            return (f"{algo} on {arch.name}: the architecture sets ff_variant = "
                    f"\"{arch.ff_variant}\"; {algo} trains Hinton's FF (train CwC-FF with --algo cwc)")
    if algo in MF_FAMILY:
        for block in arch.blocks:
            if not isinstance(block.linear, Dense) or block.post:
                what = (block.linear.type if not isinstance(block.linear, Dense)
                        else f"dense with {', '.join(l.type for l in block.post)}")
                return (f"{algo} on {arch.name}: {block.name} is {what}; Mono-Forward is "
                        "modelled on dense ReLU layers without pools or norms (an MLP)")
    return None


def resolve_arch(algo: str, arch: str | None, input_shape, classes: int, dataset: str,
                 schedule: str):
    """The :class:`Arch` ``algo`` trains on data of ``input_shape`` with ``classes`` classes.

    ``arch``: a built-in name or a TOML file, or None for the default of the input shape
    (:func:`~pbitsim.network.archs.default_arch`). ``ValueError`` (one line) if it
    cannot be read, does not fit the data, or the algorithm's rule (:func:`arch_rule`) or the
    CwC-family ``schedule`` does not apply to it.
    """
    from .archs import default_arch, load_arch
    net = load_arch(arch if arch is not None else default_arch(input_shape, RULE_SPECS[algo].net))
    shape = tuple(int(v) for v in input_shape)
    if net.input_shape != shape:
        raise ValueError(f"architecture {net.name} takes {'x'.join(map(str, net.input_shape))} "
                         f"inputs, the {dataset} images are {'x'.join(map(str, shape))}")
    if net.classes != classes:
        raise ValueError(f"architecture {net.name} has {net.classes} classes, {dataset} has "
                         f"{classes}")
    rule = arch_rule(algo, net)
    if rule is not None:
        raise ValueError(rule)
    if algo in CWC_FAMILY:
        check_schedule(schedule, dataset, len(net.blocks))
    elif algo in GREEDY_FAMILY or algo in SFF_FAMILY:
        check_algo_schedule(algo, schedule)
    return net
