"""Where each tensor of a training step lives: one placement rule for every learning rule.

The tensors and their lifetimes:

* for the whole run: the weights (fp32 master copies: the model's parameters), then the
  optimizer state (Adam's two moments per parameter, when the rule's step writes state);
* across the network within a step: backprop's stash (every layer's kept input until the
  backward pass reaches it: the step's ``stash_write`` words);
* within one block's work, one block at a time: its activations (the batch's input and output
  of the block, plus what it keeps for its own backward pass) and its gradients (the batch's
  error at its output and its weight gradient).

Each is placed, in that order, at the innermost shared (not per-PE) level that may hold its
tensor class and still has room for it; what fits nowhere lives in DRAM (the last level), and
its traffic is priced there. The per-block tensors of one block share the room the run-long
tensors left. The rule is the same whatever the learning rule: the same tensor sizes land at
the same level. Pure Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .spec import Hardware

__all__ = ["Placement", "place", "STREAM_CLASS"]

#: The tensor class of each memory count stream (``weight_read`` -> ``weight``).
STREAM_CLASS = {"weight": "weight", "act": "act", "grad": "grad", "state": "state",
                "stash": "kept"}


@dataclass
class Placement:
    """Level index of every tensor; ``blocks[i]``: the per-block tensors of row ``i``."""

    hw: Hardware
    run: dict[str, int] = field(default_factory=dict)          # weight, state, stash
    run_bits: dict[str, float] = field(default_factory=dict)
    blocks: list[dict[str, int]] = field(default_factory=list)  # act, grad per row
    block_bits: list[dict[str, float]] = field(default_factory=list)

    def level_of(self, row: int, tensor_class: str) -> int:
        """Where ``tensor_class`` of row ``row`` lives (``kept``: the stash when the step has
        one, else the block's activations)."""
        if tensor_class in ("weight", "state"):
            return self.run[tensor_class]
        if tensor_class == "kept":
            return self.run["stash"] if "stash" in self.run else self.blocks[row]["act"]
        return self.blocks[row][tensor_class]

    def free_bits(self, row: int) -> tuple[float, ...]:
        """Per level, the bits per instance left for tiles while row ``row`` runs."""
        out = []
        for l, lv in enumerate(self.hw.levels):
            cap = lv.capacity_bytes * 8
            if not lv.per_pe:
                cap -= sum(b for k, b in self.run_bits.items() if self.run[k] == l)
                cap -= sum(b for k, b in self.block_bits[row].items()
                           if self.blocks[row][k] == l)
            out.append(max(0.0, cap) if math.isfinite(cap) else math.inf)
        return tuple(out)

    def report(self, names: list[str]) -> dict:
        """What lives where (level names, sizes in bytes), for the JSON and the table."""
        lv = self.hw.levels
        out = {k: {"level": lv[l].name, "bytes": self.run_bits[k] / 8}
               for k, l in self.run.items()}
        out["blocks"] = {name: {k: {"level": lv[l].name, "bytes": self.block_bits[i][k] / 8}
                                for k, l in self.blocks[i].items()}
                         for i, name in enumerate(names)}
        return out


def place(hw: Hardware, run_bits: dict[str, float], block_bits: list[dict[str, float]]
          ) -> Placement:
    """Place the run-long tensors (``weight``, ``state``, ``stash``: bits, zero or absent when
    the step has none) and each row's ``act`` and ``grad`` (bits), by the module's rule."""
    shared = [l for l, lv in enumerate(hw.levels) if not lv.per_pe]
    last = len(hw.levels) - 1
    used = {l: 0.0 for l in shared}
    pl = Placement(hw)

    def where(cls: str, bits: float, taken: dict[int, float]) -> int:
        for l in shared:
            lv = hw.levels[l]
            if lv.may_hold(cls) and taken[l] + bits <= lv.capacity_bytes * 8:
                return l
        return last

    for name in ("weight", "state", "stash"):
        bits = run_bits.get(name, 0.0)
        if not bits:
            continue
        l = where(STREAM_CLASS.get(name, name), bits, used)
        used[l] += bits
        pl.run[name], pl.run_bits[name] = l, bits
    for sizes in block_bits:
        taken = dict(used)
        row, row_bits = {}, {}
        for name in ("act", "grad"):
            bits = sizes.get(name, 0.0)
            l = where(name, bits, taken)
            taken[l] += bits
            row[name], row_bits[name] = l, bits
        pl.blocks.append(row)
        pl.block_bits.append(row_bits)
    return pl
