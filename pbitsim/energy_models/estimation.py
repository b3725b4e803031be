"""Run the algorithm models on an architecture and price them: the ``estimate`` core.

No click, no rich, no torch: the CLI renders what :func:`estimate` returns, and
scripts can use it directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .algorithms import Algorithm, LayerCounts, ModelParams, get_algorithm
from .archs import DEFAULT_ARCH, Arch, load_arch
from .counts import PHASES, Counts
from .pricing import price_counts
from .tables import DEFAULT_TABLE, EnergyTable, load_table
from .tiles import DEFAULT_DENSITY

__all__ = ["estimate", "Estimate", "AlgoEstimate", "DEFAULT_ALGOS"]

DEFAULT_ALGOS = ("bp", "ff", "bsff", "bgbsff")
SCOPES = ("train", "inference")


@dataclass
class LayerEnergy:
    """One block (or the head) of one algorithm, counted and priced."""

    name: str
    description: str
    phases: dict[str, dict[str, Counts]]      # scope -> phase -> counts per sample
    phase_pj: dict[str, dict[str, float]]     # scope -> phase -> pj

    def total_pj(self, scope: str) -> float:
        return sum(self.phase_pj[scope].values())


@dataclass
class AlgoEstimate:
    """One algorithm on the architecture: totals, split and breakdowns, per sample."""

    algorithm: Algorithm
    table: EnergyTable
    layers: list[LayerEnergy]
    counts: dict[str, Counts]                 # scope -> total counts per sample
    price: dict[str, dict]                    # scope -> price_counts() result

    @property
    def name(self) -> str:
        return self.algorithm.name

    def total_pj(self, scope: str = "train") -> float:
        return self.price[scope]["total_pj"]

    def top_terms(self, scope: str = "train", n: int = 3) -> list[tuple[str, str, float]]:
        """The ``n`` largest (phase, key, pj) terms."""
        terms: dict[tuple[str, str], float] = {}
        for layer in self.layers:
            for phase, counts in layer.phases[scope].items():
                for key, num in counts.items():
                    pj = num * self.table.unit_pj(key)
                    terms[(phase, key)] = terms.get((phase, key), 0.0) + pj
        ranked = sorted(terms.items(), key=lambda kv: -kv[1])[:n]
        return [(phase, key, pj) for (phase, key), pj in ranked]

    def largest_key(self, layer: LayerEnergy, scope: str = "train") -> tuple[str, float]:
        """The count key that costs most in one layer."""
        totals: dict[str, float] = {}
        for counts in layer.phases[scope].values():
            for key, num in counts.items():
                totals[key] = totals.get(key, 0.0) + num * self.table.unit_pj(key)
        return max(totals.items(), key=lambda kv: kv[1], default=("-", 0.0))


@dataclass
class Estimate:
    """Everything ``pbitsim estimate`` shows, for any number of algorithms."""

    arch: Arch
    table: EnergyTable
    params: ModelParams
    train_samples: int
    epochs: int
    algos: list[AlgoEstimate]

    def get(self, name: str) -> AlgoEstimate | None:
        return next((a for a in self.algos if a.name == name), None)

    def ratio(self, name: str, ref: str, scope: str = "train") -> float | None:
        """Energy of ``name`` over energy of ``ref`` (None when ``ref`` is not run)."""
        a, r = self.get(name), self.get(ref)
        if a is None or r is None or r.total_pj(scope) == 0:
            return None
        return a.total_pj(scope) / r.total_pj(scope)

    def assumptions(self) -> list[str]:
        tab = self.table
        lines = [f"table {tab.name}: {tab.meta.get('title', '')}".rstrip(": ")]
        levels = ", ".join(
            f"{stream} -> {lvl} ({tab.memory[lvl]['read_pj']:g} pJ/"
            f"{tab.memory[lvl]['access_bits']} b)"
            for stream, lvl in tab.levels.items() if stream != "pbit")
        lines.append(f"memory levels: {levels}")
        dev = tab.levels["pbit"]
        lines.append(f"p-bit: {dev} ({tab.pbit[dev]['energy_pj']:g} pJ/sample)")
        if any(a.algorithm.uses_tiles for a in self.algos):
            dens = ", ".join(f"{d:.3g}" for d in self.params.densities)
            lines.append(f"tiles M = {self.params.tiles}; activation density {dens} "
                         "(fraction of p-bit samples that are 1)")
            for i in range(1, len(self.arch.blocks) + 1):
                st = self.params.input_stats(self.arch, i)
                target = (self.arch.blocks[i].name if i < len(self.arch.blocks) else "head")
                lines.append(f"  counts into {target}: E[x] = {st.mean_count:.3g}, "
                             f"P(x>0) = {st.nonzero:.3g}")
        lines.append(f"batch {self.params.batch_size}; epoch = {self.train_samples} "
                     f"training samples; {self.epochs} epoch(s); real values fp32")
        for algo in self.algos:
            lines.extend(algo.algorithm.assumptions(self.arch, self.params))
        return lines

    def to_dict(self) -> dict:
        """JSON-ready numbers (energies in pJ, counts per sample)."""
        out = {"format": "pbitsim-estimate", "version": 1, "arch": self.arch.name,
               "table": self.table.name, "tiles": self.params.tiles,
               "densities": list(self.params.densities),
               "batch_size": self.params.batch_size, "train_samples": self.train_samples,
               "epochs": self.epochs, "assumptions": self.assumptions(), "algorithms": {}}
        for algo in self.algos:
            train, infer = algo.price["train"], algo.price["inference"]
            per_epoch = train["total_pj"] * self.train_samples
            out["algorithms"][algo.name] = {
                "title": algo.algorithm.title,
                "train_per_sample_pj": train["total_pj"],
                "train_per_epoch_pj": per_epoch,
                "train_run_pj": per_epoch * self.epochs,
                "inference_pj": infer["total_pj"],
                "train_split_pj": {k: train[f"{k}_pj"] for k in ("compute", "memory", "pbit")},
                "inference_split_pj": {k: infer[f"{k}_pj"]
                                       for k in ("compute", "memory", "pbit")},
                "ratio_to_bp": self.ratio(algo.name, "bp"),
                "ratio_to_ff": self.ratio(algo.name, "ff"),
                "inference_ratio_to_bp": self.ratio(algo.name, "bp", "inference"),
                "inference_ratio_to_ff": self.ratio(algo.name, "ff", "inference"),
                "top_terms": [{"phase": p, "key": k, "pj": pj}
                              for p, k, pj in algo.top_terms("train", 5)],
                "train_counts": dict(sorted(algo.counts["train"].items())),
                "inference_counts": dict(sorted(algo.counts["inference"].items())),
                "layers": [{"name": l.name, "description": l.description,
                            "train_pj": l.total_pj("train"),
                            "inference_pj": l.total_pj("inference"),
                            "train_phase_pj": l.phase_pj["train"]} for l in algo.layers],
            }
        return out

    def csv_rows(self) -> list[list]:
        """Header, then one row per (algo, scope, layer, phase, key), then totals."""
        rows: list[list] = [["algo", "scope", "layer", "phase", "key", "count", "energy_pj"]]
        for algo in self.algos:
            for layer in algo.layers:
                for scope in SCOPES:
                    for phase, counts in layer.phases[scope].items():
                        for key, n in sorted(counts.items()):
                            rows.append([algo.name, scope, layer.name, phase, key, n,
                                         n * self.table.unit_pj(key)])
            train = algo.price["train"]
            summary = {"train": train, "inference": algo.price["inference"]}
            for scope, price in summary.items():
                for part in ("total", "compute", "memory", "pbit"):
                    rows.append([algo.name, scope, "all", "all", part, "",
                                 price[f"{part}_pj"]])
            rows.append([algo.name, "train_epoch", "all", "all", "total", "",
                         train["total_pj"] * self.train_samples])
            rows.append([algo.name, "train_run", "all", "all", "total", "",
                         train["total_pj"] * self.train_samples * self.epochs])
        return rows


def _densities(density) -> tuple[float, ...]:
    values = (density,) if isinstance(density, (int, float)) else tuple(density)
    if not values:
        raise ValueError("density: give at least one value")
    for d in values:
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 < d <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {d!r}")
    return tuple(float(d) for d in values)


def estimate(arch: "str | os.PathLike | Arch" = DEFAULT_ARCH,
             algos=DEFAULT_ALGOS,
             table: "str | os.PathLike | EnergyTable" = DEFAULT_TABLE,
             tiles: int = 7,
             density: "float | list[float]" = DEFAULT_DENSITY,
             batch_size: int = 128,
             train_samples: int | None = None,
             epochs: int = 1) -> Estimate:
    """Count and price training and inference of ``algos`` on ``arch``.

    ``density`` is the activation density of the tiled units (one value, or one per
    block; the last repeats). Raises ``ValueError`` (subclasses name the file or key)
    for bad input.
    """
    net = arch if isinstance(arch, Arch) else load_arch(arch)
    tab = load_table(table)
    if isinstance(tiles, bool) or not isinstance(tiles, int) or tiles < 1:
        raise ValueError(f"tiles must be an integer >= 1, got {tiles!r}")
    if tiles > 255:
        raise ValueError(f"tiles must be at most 255 (counts are uint8), got {tiles}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch size must be an integer >= 1, got {batch_size!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    samples = net.train_samples if train_samples is None else train_samples
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"train size must be an integer >= 1, got {samples!r}")
    names = [algos] if isinstance(algos, str) else list(algos)
    if not names:
        raise ValueError("give at least one algorithm")
    models = [get_algorithm(n) for n in dict.fromkeys(names)]
    params = ModelParams(tiles=tiles, densities=_densities(density), batch_size=batch_size)
    results = [_run(model, net, params, tab) for model in models]
    return Estimate(net, tab, params, samples, epochs, results)


def _run(model: Algorithm, arch: Arch, params: ModelParams, tab: EnergyTable) -> AlgoEstimate:
    rows = {"train": model.training(arch, params), "inference": model.inference(arch, params)}
    layers = [_price_layer(t, i, tab) for t, i in zip(rows["train"], rows["inference"])]
    counts = {scope: Counts.total(r.total() for r in rows[scope]) for scope in SCOPES}
    return AlgoEstimate(model, tab, layers, counts,
                        {scope: price_counts(counts[scope], tab) for scope in SCOPES})


def _price_layer(train: LayerCounts, infer: LayerCounts, tab: EnergyTable) -> LayerEnergy:
    phases, phase_pj = {}, {}
    for scope, row in (("train", train), ("inference", infer)):
        phases[scope] = {p: row.phases[p] for p in PHASES if row.phases.get(p)}
        phase_pj[scope] = {p: price_counts(c, tab)["total_pj"]
                           for p, c in phases[scope].items()}
    return LayerEnergy(train.name, train.description, phases, phase_pj)
