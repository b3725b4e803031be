"""Help texts made from the rules' descriptors (:mod:`pbitsim.rulebook`), so every
command lists the same rules with the same defaults (pure Python: no torch)."""

from __future__ import annotations

from ..config import DATASET_INPUTS, DEFAULT_TILES
from ..network.archs import DEFAULT_NETS
from ..rulebook import RULE_SPECS, TILED_FORMS

__all__ = ["tiles_help", "tiled_rules_help", "lr_help", "arch_help", "algo_nets_help"]


def _grouped(value_of) -> list[tuple[str, list[str]]]:
    """``[(value, [rule, ...]), ...]`` in rule order, rules with equal values together."""
    groups: dict[str, list[str]] = {}
    for name, spec in RULE_SPECS.items():
        groups.setdefault(value_of(spec), []).append(name)
    return list(groups.items())


def tiles_help() -> str:
    tiled = ", ".join(n for n, s in RULE_SPECS.items() if s.tiled)
    forms = ", ".join(TILED_FORMS)
    return (f"Tiles (p-bits) per tiled logistic unit ({tiled}; default {DEFAULT_TILES}). Given "
            f"to a local rule with a p-bit form ({forms}) it runs that form "
            f"({', '.join(TILED_FORMS.values())}); without it they are real-valued ReLU units.")


def tiled_rules_help() -> str:
    """The rules on tiled p-bit units: the tiled rules and the local rules' p-bit forms."""
    return ", ".join(dict.fromkeys([*(n for n, s in RULE_SPECS.items() if s.tiled),
                                    *TILED_FORMS.values()]))


def lr_help() -> str:
    parts = "; ".join(f"{value} for {', '.join(names)}"
                      for value, names in _grouped(lambda s: s.lr_help()))
    return f"Learning rate of the layers [default: the rule's: {parts}]."


def _nets(kind: str) -> str:
    return " / ".join(DEFAULT_NETS[kind][DATASET_INPUTS[d][0]] for d in ("mnist", "cifar10"))


def algo_nets_help() -> str:
    """Each rule's default network (MNIST-shaped / CIFAR-10-shaped data)."""
    return "; ".join(f"{', '.join(names)}: {_nets(kind)}" for kind, names in
                     _grouped(lambda s: s.net))


def arch_help(names: str) -> str:
    return (f"Network: a built-in name ({names}) or a TOML file [default: the rule's own, "
            f"for MNIST-shaped / CIFAR-10-shaped data: {algo_nets_help()}].")
