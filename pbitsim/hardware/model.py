"""Price one rule's step on a described hierarchy: energy by level, latency, area.

For each row of the step (a block, or the head) and each phase, the counts per sample carry
their products' loop nests (:mod:`pbitsim.network.loopnest`). On a ``hierarchy`` hardware
(:mod:`pbitsim.hardware.spec`):

* every nest is mapped (:func:`pbitsim.hardware.mapping.map_nest`) with its operands at the
  levels :func:`pbitsim.hardware.placement.place` chose, and its memory traffic replaces the
  product's flat memory counts;
* the rest of the memory counts (element-wise work: norms, activations, pooling, the
  optimizer, the stash) stream through the level where their tensor lives, at that level's
  energy per access -- except, with ``elementwise = "fused"`` (the default), the passes over
  activations and their gradients, which stream in tiles through the innermost shared level
  that may hold them, fused with the product that makes or reads the tensor (whose traffic to
  the tensor's home is the product's own);
* the arithmetic (adds, multiplies, compares at their widths) and the p-bit samples are priced
  by the hardware's energy table, as in the flat model: a hierarchy changes where words move,
  not what is computed.

Latency per sample: the products' cycles (each the slowest of its compute and its levels'
bandwidths, the transfers overlapping the compute), plus the element-wise work spread over
the PE array and its memory traffic at each level's bandwidth, plus the p-bit samples on the
physical p-bits (time-shared when a step draws more unit x tile samples than there are
p-bits). Phases run one after the other. Area: every level's instances, the PE datapaths and
the p-bits. Pure Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..network.counters import dtype_bits
from .library import area_by_component_um2
from .mapping import map_nest
from .placement import STREAM_CLASS, Placement, place
from .spec import Hardware

__all__ = ["HardwareCost", "price_step"]

_MEMORY_OPS = {f"{s}_{rw}" for s in STREAM_CLASS for rw in ("read", "write")}
_RESIDUAL_TOL = 1e-9
#: The tensor classes whose element-wise passes fuse with a product (activations and their
#: gradients); weights, optimizer state and backprop's stash are read and written at home.
_FUSED = ("act", "grad")


@dataclass
class HardwareCost:
    """One rule's step on one hardware, per sample (``scope``: ``train`` or ``inference``)."""

    hw: Hardware
    energy_by_level_pj: dict[str, dict[str, float]]
    cycles: dict[str, float]
    area_um2: dict[str, float]
    placement: dict
    mappings: list[dict] = field(default_factory=list)
    n_pbits: int = 0
    #: Per scope: the products' mapped memory energy by level, their flat counts (summed over
    #: nests x multiplicities), and, per memory key of the rest, its energy per count by level
    #: (how the analytic step priced it): what :meth:`price_measured` reuses.
    product_pj: dict[str, dict[str, float]] = field(default_factory=dict)
    product_flat: dict[str, dict[str, float]] = field(default_factory=dict)
    residual_unit_pj: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    residual_counts: dict[str, dict[str, float]] = field(default_factory=dict)

    def total_pj(self, scope: str = "train") -> float:
        return sum(self.energy_by_level_pj[scope].values())

    def latency_s(self, scope: str = "train") -> float:
        return self.cycles[scope] / self.hw.clock_hz

    def samples_per_s(self, scope: str = "train") -> float:
        lat = self.latency_s(scope)
        return 1.0 / lat if lat else math.inf

    def area_mm2(self) -> dict[str, float]:
        return {k: v / 1e6 for k, v in self.area_um2.items()}

    def price_measured(self, counts, table, scope: str = "train") -> dict[str, float]:
        """Energy by level of a run's measured ``counts`` per sample through the same model.

        Each memory key's measured count scales the analytic step's energy of that key by
        ``measured / analytic``: the products' mapped traffic (by the key's share of the
        products' words) and the rest, where the analytic step priced it; a key the analytic
        step did not have is priced at its tensor class's level. Arithmetic and p-bit samples
        are priced by ``table``. Measured counts equal to the analytic ones price to exactly
        the analytic energy; a run's counts within 1% of the estimate, within 1%.
        """
        out = {"compute": 0.0, "pbit": 0.0}
        flat = self.product_flat[scope]
        units = self.residual_unit_pj[scope]
        rest_n = self.residual_counts[scope]
        words = scaled = 0.0
        for key, n in flat.items():
            mem = _memory(key)
            if mem is None:
                continue
            w = n * mem[2]
            words += w
            scaled += w * counts.get(key, 0.0) / (n + rest_n.get(key, 0.0))
        factor = scaled / words if words else 1.0
        for name, pj in self.product_pj[scope].items():
            out[name] = out.get(name, 0.0) + pj * factor
        for key, n in counts.items():
            mem = _memory(key)
            if mem is None:
                out["pbit" if key == "pbit_sample" else "compute"] += n * table.unit_pj(key)
                continue
            analytic = flat.get(key, 0.0) + rest_n.get(key, 0.0)
            if key in units:
                share = n * rest_n[key] / analytic
                for name, pj in units[key].items():
                    out[name] = out.get(name, 0.0) + share * pj
            elif not analytic:
                stream, rw, bits = mem
                lv = self.hw.levels[self._level_of_class(STREAM_CLASS[stream])]
                out[lv.name] = out.get(lv.name, 0.0) + n * lv.access_pj(bits, rw == "write")
        return out

    def _level_of_class(self, tensor_class: str) -> int:
        names = [lv.name for lv in self.hw.levels]
        place = self.placement
        key = {"weight": "weight", "state": "state", "kept": "stash"}.get(tensor_class)
        if key in place:
            return names.index(place[key]["level"])
        first = next(iter(place.get("blocks", {}).values()), {})
        cls = "act" if tensor_class == "kept" else tensor_class
        return names.index(first[cls]["level"]) if cls in first else len(names) - 1

    def to_dict(self) -> dict:
        return {"hardware": self.hw.name,
                "energy_by_level_pj": {s: dict(e) for s, e in self.energy_by_level_pj.items()},
                "total_pj": {s: self.total_pj(s) for s in self.cycles},
                "cycles": dict(self.cycles),
                "latency_s": {s: self.latency_s(s) for s in self.cycles},
                "samples_per_s": {s: self.samples_per_s(s) for s in self.cycles},
                "edp_pj_s": {s: self.total_pj(s) * self.latency_s(s) for s in self.cycles},
                "area_mm2": self.area_mm2(), "n_pbits": self.n_pbits,
                "placement": self.placement, "mappings": self.mappings}


def _memory(key: str) -> tuple[str, str, int] | None:
    op, _, dtype = key.partition(":")
    if op not in _MEMORY_OPS:
        return None
    stream, _, rw = op.rpartition("_")
    return stream, rw, dtype_bits(dtype)


def _row_sizes(row_counts, batch: int) -> dict[str, float]:
    """A row's working set in bits, from its products' nests: the largest forward's input and
    output (activations), the largest backward's error and weight gradient (gradients)."""
    act = grad = 0.0
    for counts in row_counts:
        for nest, _ in counts.nests:
            w = dict(nest.bits)
            if nest.phase == "forward":
                act = max(act, nest.size("I") * w["I"] + nest.size("O") * w["O"])
            elif nest.phase == "weight_grad":
                grad = max(grad, nest.size("O") * w["O"] + nest.size("W") * w["W"])
            else:
                grad = max(grad, nest.size("O") * w["O"] + nest.size("I") * w["I"])
    return {"act": act, "grad": grad}


def price_step(hw: Hardware, table, rows: dict[str, list], *, params_count: int,
               batch: int, n_pbits: int) -> HardwareCost:
    """Price ``rows`` (``{"train": [LayerCounts], "inference": [...]}``, counts per sample) on
    ``hw`` with the energy ``table`` (a loaded :class:`~pbitsim.hardware.tables.EnergyTable`).

    ``params_count``: the rule's trainable parameters (its weights, fp32 master copies);
    ``batch``: the step's batch (the per-sample counts times it are the step's tensors);
    ``n_pbits``: the p-bits a fully parallel layout would have (one per unit and tile), used
    when the hardware does not fix its p-bit count.
    """
    train = rows["train"]
    total_train: dict[str, float] = {}
    for r in train:
        for c in r.phases.values():
            for k, v in c.items():
                total_train[k] = total_train.get(k, 0.0) + v
    run_bits = {"weight": params_count * 32.0}
    if any(k.startswith("state_write") for k in total_train):
        run_bits["state"] = 2 * params_count * 32.0
    stash = sum(v * dtype_bits(k.partition(":")[2]) for k, v in total_train.items()
                if k.startswith("stash_write"))
    if stash:
        run_bits["stash"] = stash * batch
    block_bits = [_row_sizes(r.phases.values(), batch) for r in train]
    pl: Placement = place(hw, run_bits, block_bits)
    levels = hw.levels
    shared = [l for l, lv in enumerate(levels) if not lv.per_pe]
    pes = hw.compute.pes * hw.compute.macs_per_cycle
    physical = hw.pbits.count or n_pbits
    energy, cycles, mappings = {}, {}, []
    product_pj, product_flat, residual_unit, residual_counts = {}, {}, {}, {}
    for scope, scope_rows in rows.items():
        e: dict[str, float] = {"compute": 0.0, "pbit": 0.0}
        p_pj: dict[str, float] = {}
        p_flat: dict[str, float] = {}
        r_pj: dict[str, dict[str, float]] = {}
        r_n: dict[str, float] = {}
        cyc = 0.0
        for i, row in enumerate(scope_rows):
            free = pl.free_bits(i)
            for phase, counts in row.phases.items():
                if not counts:
                    continue
                product_keys: dict[str, float] = {}
                for nest, mult in counts.nests:
                    homes = {role: pl.level_of(i, nest.tensor_class(role))
                             for role in ("W", "I", "O")}
                    m = map_nest(nest, hw, homes, free)
                    for lv, pj in m.energy_pj.items():
                        e[lv] = e.get(lv, 0.0) + mult * pj
                        p_pj[lv] = p_pj.get(lv, 0.0) + mult * pj
                    cyc += mult * m.cycles
                    for k, v in nest.flat:
                        product_keys[k] = product_keys.get(k, 0.0) + mult * v
                        p_flat[k] = p_flat.get(k, 0.0) + mult * v
                    if scope == "train":
                        mappings.append({"layer": row.name, "product": nest.layer,
                                         "phase": nest.phase, "mapping": m.describe(),
                                         "utilization": m.utilization,
                                         "accesses": {lv: {r: list(rw) for r, rw in a.items()}
                                                      for lv, a in m.accesses.items()},
                                         "memory_pj_per_call": m.memory_pj,
                                         "calls_per_sample": mult})
                elementwise_ops = 0.0
                for key, n in counts.items():
                    mem = _memory(key)
                    if mem is None:
                        pj = n * table.unit_pj(key)
                        if key == "pbit_sample":
                            e["pbit"] += pj
                            cyc += n / physical * hw.pbits.sample_ns * 1e-9 * hw.clock_hz
                        else:
                            e["compute"] += pj
                            elementwise_ops += n - product_keys.get(key, 0.0)
                        continue
                    rest = n - product_keys.get(key, 0.0)
                    if rest <= _RESIDUAL_TOL * max(1.0, n):
                        continue
                    stream, rw, bits = mem
                    cls = STREAM_CLASS[stream]
                    l = pl.level_of(i, cls)
                    if hw.elementwise == "fused" and cls in _FUSED:  # through the buffer
                        l = min(l, next((x for x in shared if levels[x].may_hold(cls)), l))
                    lv = levels[l]
                    pj = rest * lv.access_pj(bits, rw == "write")
                    e[lv.name] = e.get(lv.name, 0.0) + pj
                    by = r_pj.setdefault(key, {})
                    by[lv.name] = by.get(lv.name, 0.0) + pj
                    r_n[key] = r_n.get(key, 0.0) + rest
                    if math.isfinite(lv.bandwidth_bits_per_cycle):
                        cyc += rest * bits / lv.bandwidth_bits_per_cycle
                cyc += max(0.0, elementwise_ops) / pes
        energy[scope] = e
        cycles[scope] = cyc
        product_pj[scope], product_flat[scope] = p_pj, p_flat
        residual_unit[scope] = {k: {lv: pj / r_n[k] for lv, pj in by.items()}
                                for k, by in r_pj.items()}
        residual_counts[scope] = r_n
    area = area_by_component_um2(hw, table)
    if n_pbits and area.get("pbits") is None:  # one p-bit per unit and tile: the net's count
        area["pbits"] = physical * table.device_cost().area_um2
    area = {k: v for k, v in area.items() if v}
    names = [r.name for r in train]
    return HardwareCost(hw, energy, cycles, area, pl.report(names), mappings,
                        physical if n_pbits else 0, product_pj, product_flat, residual_unit,
                        residual_counts)
