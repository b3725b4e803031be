"""Run the algorithm models on an architecture and price them: the ``estimate`` core.

No click, no rich, no torch, no numpy: the CLI renders what :func:`estimate` returns,
scripts can use it directly, and :func:`hardware_summary` gives the few numbers a sweep
over tile counts and devices needs per configuration.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import dataclass, field

from ..precision import FP32, Precision, make_precision
from ..config import DATASET_INPUTS, DEFAULT_TILES, calibration_batches
from ..network import gradients
from .algorithms import (
    DEFAULT_BATCH, DEFAULT_ESTIMATOR, DEFAULT_GRAD_QUANT, DEFAULT_UPDATE,
    Algorithm, LayerCounts, ModelParams, get_algorithm)
from ..network.archs import Arch, default_arch, load_arch
from ..network.counts import PHASES, Counts
from ..hardware.pbits import Device, pbits_per_block
from ..hardware.pricing import price_counts
from ..hardware.tables import DEFAULT_TABLE, EnergyTable
from ..network.tiles import DEFAULT_DENSITY, TileStats
from ..schedules import DFA_STAGE, freeze_ends
from ..schedules import dfa_epochs as _dfa_epochs
from ..rulebook import RULE_SPECS
from ..options import OptionError, RunOptions, check_applies, check_option
from ..units import Units
from ..hardware.spec import Hardware
from ..hardware.model import HardwareCost, price_step

__all__ = ["estimate", "Estimate", "AlgoEstimate", "DEFAULT_ALGOS", "ESTIMATE_DATASET",
           "default_network", "hardware_summary", "run_keywords"]

#: ``pbitsim estimate``'s rules without ``--algo`` (the descriptors' ``estimate_default``).
DEFAULT_ALGOS = tuple(n for n, s in RULE_SPECS.items() if s.estimate_default)
#: The real-valued forward-forward rules the others are compared with, in order of preference
#: (the descriptors' ``baseline_rank``).
FF_BASELINES = tuple(sorted((n for n, s in RULE_SPECS.items() if s.baseline_rank is not None),
                            key=lambda n: RULE_SPECS[n].baseline_rank))
SCOPES = ("train", "inference")
#: The data set whose networks ``pbitsim estimate`` prices when given neither ``--arch`` nor
#: ``--dataset`` (:data:`~pbitsim.network.archs.DEFAULT_ARCH` is its CFSE net).
ESTIMATE_DATASET = "cifar10"


def default_network(algos=None, dataset: str | None = None) -> tuple[str, str | None]:
    """The network ``estimate`` prices without an architecture, and a line saying why.

    Without ``algos`` (the default list) the CFSE net of ``dataset`` (default
    :data:`ESTIMATE_DATASET`), on which rules that cannot run are left out with a note; with
    ``algos``, the network their descriptors name (:attr:`~pbitsim.rulebook.Rule.net`):
    the net ``pbitsim train --algo NAME --dataset DATASET`` trains. ``ValueError`` (one line)
    when the rules asked for train on different networks.
    """
    ds = dataset or ESTIMATE_DATASET
    if ds not in DATASET_INPUTS:
        raise ValueError(f"unknown dataset {ds!r}; choose one of {', '.join(DATASET_INPUTS)}")
    shape = DATASET_INPUTS[ds][0]
    if algos is None:
        return default_arch(shape, "cfse"), None
    names = [algos] if isinstance(algos, str) else list(dict.fromkeys(algos))
    for n in names:
        if n not in RULE_SPECS:
            raise ValueError(f"unknown algorithm {n!r} (known: {', '.join(RULE_SPECS)})")
    nets = {n: default_arch(shape, RULE_SPECS[n].net) for n in names}
    distinct = list(dict.fromkeys(nets.values()))
    if len(distinct) > 1:
        which = "; ".join(f"{', '.join(n for n in names if nets[n] == net)} on {net}"
                          for net in distinct)
        raise ValueError(f"the rules asked for train on different networks ({which}): give "
                         "--arch NAME to price them all on one, or estimate them one at a time")
    how = f"--algo {names[0]}" if len(names) == 1 else f"--algo {names[0]} (and {', '.join(names[1:])})"
    return distinct[0], (f"network {distinct[0]}: the one `pbitsim train {how} --dataset {ds}` "
                         "trains (give --arch for another)")


@dataclass
class LayerEnergy:
    """One block (or the head) of one algorithm, counted and priced."""

    name: str
    description: str
    phases: dict[str, dict[str, Counts]]      # scope -> phase -> counts per sample
    phase_pj: dict[str, dict[str, float]]     # scope -> phase -> pj
    n_pbits: int = 0                          # p-bits of this block's units (all tiles)

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
    #: On a ``hierarchy`` hardware (:mod:`pbitsim.hardware.model`): energy by level, latency,
    #: area, placement and mappings; None on the flat model (the energy table's levels).
    hardware: HardwareCost | None = None

    @property
    def name(self) -> str:
        return self.algorithm.name

    @property
    def n_pbits(self) -> int:
        """p-bits in hardware: one per tiled unit and tile, all in parallel."""
        return sum(layer.n_pbits for layer in self.layers)

    @property
    def pbit_area_um2(self) -> float:
        return self.n_pbits * self.table.device_cost().area_um2

    def pbit_share(self, scope: str = "train") -> float:
        """Fraction of the energy per sample spent drawing p-bit samples."""
        total = self.total_pj(scope)
        return self.price[scope]["pbit_pj"] / total if total else 0.0

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
    skipped: list[str] = field(default_factory=list)  # rules that cannot run on the arch
    notes: list[str] = field(default_factory=list)    # how the network was chosen
    hardware: Hardware | None = None                # None: the table's flat levels

    def get(self, name: str) -> AlgoEstimate | None:
        return next((a for a in self.algos if a.name == name), None)

    @property
    def ff_baseline(self) -> str:
        """The real-valued FF rule estimated here (CwC-FF if present, else Hinton's FF)."""
        return next((n for n in FF_BASELINES if self.get(n) is not None), "ff")

    def run_epochs(self, name: str) -> int:
        """Epochs of ``name``'s run: greedy MF's stages one after another, else ``epochs``."""
        algo = self.get(name)
        return algo.algorithm.run_epochs(self.params, self.epochs) if algo else self.epochs

    def ratio(self, name: str, ref: str, scope: str = "train") -> float | None:
        """Energy of ``name`` over energy of ``ref`` (None when ``ref`` is not run)."""
        a, r = self.get(name), self.get(ref)
        if a is None or r is None or r.total_pj(scope) == 0:
            return None
        return a.total_pj(scope) / r.total_pj(scope)

    def assumptions(self) -> list[str]:
        tab = self.table
        lines = list(self.notes)
        lines.append(f"table {tab.name}: {tab.meta.get('title', '')}".rstrip(": "))
        levels = ", ".join(
            f"{stream} -> {lvl} ({tab.memory[lvl]['read_pj']:g} pJ/"
            f"{tab.memory[lvl]['access_bits']} b)"
            for stream, lvl in tab.levels.items() if stream != "pbit")
        lines.append(f"memory levels: {levels}")
        lines.extend(self.device_lines())
        if any(a.algorithm.tiled for a in self.algos):
            dens = ", ".join(f"{d:.3g}" for d in self.params.densities)
            lines.append(f"tiles M = {self.params.tiles}; activation density {dens} "
                         "(fraction of p-bit samples that are 1)")
            for i in range(1, len(self.arch.blocks) + 1):
                st = self.params.input_stats(self.arch, i)
                target = (self.arch.blocks[i].name if i < len(self.arch.blocks) else "head")
                lines.append(f"  counts into {target}: E[x] = {st.mean_count:.3g}, "
                             f"P(x>0) = {st.nonzero:.3g}")
        if self.params.live is not None:
            shares = ", ".join(f"{v:.0%}" for v in self.params.live)
            lines.append(f"freezing schedule: CwC-family blocks learn on {shares} of the steps "
                         "(frozen blocks run forward only; the head always learns)")
        else:
            frozen = [a.name for a in self.algos
                      if a.algorithm.rule is not None and a.algorithm.rule.family == "cwc"]
            if frozen:
                lines.append(f"no freezing: every block of {', '.join(frozen)} learns on every "
                             "step (a training step's cost); `pbitsim train` freezes them by "
                             "default (--schedule staggered prices that run)")
        groups: dict[int, list[str]] = {}
        for algo in self.algos:
            groups.setdefault(algo.algorithm.model_params(self.arch), []).append(algo.name)
        lines.append(f"parameters on {self.arch.name} (each rule's model, with its batch-norm "
                     "affines, predictors or projections): " + "; ".join(
                         f"{', '.join(names)} {n:,}" for n, names in groups.items()))
        lines.append(f"batch {self.params.batch_size}; epoch = {self.train_samples} "
                     f"training samples; {self.epochs} epoch(s); real values fp32")
        if self.params.calibration_samples:
            lines.append("running batch-norm statistics (CwC family, BP and SFF on nets with "
                         "batch norms, the p-bit forms) recomputed after training at the final "
                         f"weights: forward passes over {self.params.calibration_samples} "
                         "training samples, counted in training, amortised over the run's "
                         "samples (all epochs)")
        for algo in self.algos:
            lines.extend(algo.algorithm.assumptions(self.arch, self.params))
        lines.extend(f"not estimated: {why}" for why in self.skipped)
        return lines

    def device_lines(self) -> list[str]:
        """The p-bit device, what one p-bit costs, and how many the network has."""
        cost = self.table.device_cost()
        priced = (f", priced as the table's {cost.priced_as}" if self.table.device.kind == "ideal"
                  else "")
        lines = [f"p-bit device: {cost.description}{priced}: "
                 f"{cost.energy_per_sample_pj:.4g} pJ/sample, {cost.area_um2:.4g} um^2 per p-bit"]
        if cost.parts:
            lines.append("  its parts: " + "; ".join(
                f"{name} {p['energy_pj']:.3g} pJ, {p['area_um2']:.4g} um^2"
                for name, p in cost.parts.items()))
        tiled = next((a for a in self.algos if a.algorithm.tiled), None)
        if tiled is not None:
            units = tiled.n_pbits // self.params.tiles
            lines.append(f"p-bits: one per tiled unit and tile, all in parallel: "
                         f"{units:,} units x M = {tiled.n_pbits:,} p-bits, "
                         f"{tiled.pbit_area_um2 * 1e-6:.4g} mm^2")
        return lines

    def schedules(self, name: str = "mf") -> dict | None:
        """The greedy and online schedules side by side, in pJ (None without ``name``, or
        for a rule without them: MF's layers, CaFo's predictors).

        ``online``: one step trains every layer (per sample, per epoch, and a run of
        ``epochs``); ``greedy``: per stage (layer k learning, the layers below recomputed) per
        sample and per epoch, and the run over ``layer_epochs`` (default ``epochs`` each).
        A block stage before either (CaFo-DFA's ``dfa_epochs``) is priced per sample and per
        epoch, and is part of both runs.
        """
        algo = self.get(name)
        if algo is None:
            return None
        model, n = algo.algorithm, self.train_samples
        b = self.params.batch_size
        online_step = model.stage_step(self.arch, self.params, None)
        if online_step is None:  # a rule without stages
            return None

        def per_sample(rows):
            return price_counts(Counts.total(r.total() for r in rows), self.table)["total_pj"] / b
        online = per_sample(online_step)
        epochs = self.params.layer_epochs or (self.epochs,) * len(self.arch.blocks)
        stages = [per_sample(model.stage_step(self.arch, self.params, k))
                  for k in range(len(self.arch.blocks))]
        block_epochs = model.dfa_epochs(self.params)
        block = (per_sample(model.stage_step(self.arch, self.params, DFA_STAGE)) if block_epochs
                 else 0.0)
        block_run = block * n * block_epochs
        greedy_run = block_run + sum(e * p * n for e, p in zip(epochs, stages))
        online_run = block_run + online * n * self.epochs
        return {"online_per_sample_pj": online, "online_per_epoch_pj": online * n,
                "online_epochs": self.epochs, "online_run_pj": online_run,
                "greedy_stage_per_sample_pj": stages,
                "greedy_stage_per_epoch_pj": [p * n for p in stages],
                "greedy_layer_epochs": list(epochs), "greedy_run_pj": greedy_run,
                "block_stage_per_sample_pj": block, "block_stage_per_epoch_pj": block * n,
                "block_stage_epochs": block_epochs,
                "stage_noun": model.stage_noun,
                "greedy_over_online_same_layer_epochs":
                    (greedy_run - block_run) / (online * n * max(epochs)) if max(epochs)
                    else None}

    def to_dict(self) -> dict:
        """JSON-ready numbers (energies in pJ, counts per sample, areas in um^2 and mm^2)."""
        out = {"format": "pbitsim-estimate", "version": 1, "arch": self.arch.name,
               "table": self.table.name, "device": self.table.device_cost().as_dict(),
               "tiles": self.params.tiles,
               "densities": list(self.params.densities),
               "batch_size": self.params.batch_size, "train_samples": self.train_samples,
               "precision": self.params.precision.label(),
               "epochs": self.epochs, "assumptions": self.assumptions(), "algorithms": {}}
        for algo in self.algos:
            train, infer = algo.price["train"], algo.price["inference"]
            per_epoch = train["total_pj"] * self.train_samples
            out["algorithms"][algo.name] = {
                "title": algo.algorithm.title,
                "train_per_sample_pj": train["total_pj"],
                "train_per_epoch_pj": per_epoch,
                "train_run_pj": per_epoch * self.run_epochs(algo.name),
                "run_epochs": self.run_epochs(algo.name),
                "model_params": algo.algorithm.model_params(self.arch),
                "inference_pj": infer["total_pj"],
                "train_split_pj": {k: train[f"{k}_pj"] for k in ("compute", "memory", "pbit")},
                "inference_split_pj": {k: infer[f"{k}_pj"]
                                       for k in ("compute", "memory", "pbit")},
                "ratio_to_bp": self.ratio(algo.name, "bp"),
                "ratio_to_ff": self.ratio(algo.name, self.ff_baseline),
                "inference_ratio_to_bp": self.ratio(algo.name, "bp", "inference"),
                "inference_ratio_to_ff": self.ratio(algo.name, self.ff_baseline, "inference"),
                "n_pbits": algo.n_pbits,
                "pbit_area_um2": algo.pbit_area_um2,
                "pbit_area_mm2": algo.pbit_area_um2 * 1e-6,
                "pbit_energy_share": algo.pbit_share("train"),
                "top_terms": [{"phase": p, "key": k, "pj": pj}
                              for p, k, pj in algo.top_terms("train", 5)],
                "train_counts": dict(sorted(algo.counts["train"].items())),
                "inference_counts": dict(sorted(algo.counts["inference"].items())),
                "schedules": self.schedules(algo.name),
                "layers": [{"name": l.name, "description": l.description,
                            "train_pj": l.total_pj("train"),
                            "inference_pj": l.total_pj("inference"),
                            "n_pbits": l.n_pbits,
                            "train_phase_pj": l.phase_pj["train"]} for l in algo.layers],
            }
            if algo.hardware is not None:
                hw = algo.hardware.to_dict()
                entry = out["algorithms"][algo.name]
                entry["hardware"] = hw
                entry["energy_by_level_pj"] = hw["energy_by_level_pj"]["train"]
                entry["latency_s"] = hw["latency_s"]["train"]
                entry["area_mm2"] = hw["area_mm2"]
        if self.hardware is not None:
            out["hardware"] = self.hardware.name
        return out

    def csv_rows(self) -> list[list]:
        """Header, then one row per (algo, scope, layer, phase, key), then totals.

        Rows of scope ``hardware`` carry p-bit counts (key ``n_pbits``, per layer and in
        all) and their area (key ``pbit_area_mm2``) in the count column.
        """
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
                         train["total_pj"] * self.train_samples * self.run_epochs(algo.name)])
            for layer in algo.layers:
                rows.append([algo.name, "hardware", layer.name, "all", "n_pbits",
                             layer.n_pbits, ""])
            rows.append([algo.name, "hardware", "all", "all", "n_pbits", algo.n_pbits, ""])
            rows.append([algo.name, "hardware", "all", "all", "pbit_area_mm2",
                         algo.pbit_area_um2 * 1e-6, ""])
        return rows


def _densities(density) -> tuple[float, ...]:
    values = (density,) if isinstance(density, (int, float)) else tuple(density)
    if not values:
        raise ValueError("density: give at least one value")
    for d in values:
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 < d <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {d!r}")
    return tuple(float(d) for d in values)


def _choice(name: str, value, base: type):
    """A variant given as its object, or its name checked as ``pbitsim train`` checks it."""
    return value if isinstance(value, base) else check_option(name, value)


def estimate(arch: "str | os.PathLike | Arch | None" = None,
             algos=DEFAULT_ALGOS,
             table: "str | os.PathLike | EnergyTable" = DEFAULT_TABLE,
             tiles: int = DEFAULT_TILES,
             density: "float | list[float]" = DEFAULT_DENSITY,
             batch_size: int = DEFAULT_BATCH,
             train_samples: int | None = None,
             epochs: int = 1,
             device: "str | Device | None" = None,
             *, grad_quant: str = DEFAULT_GRAD_QUANT, update: str = DEFAULT_UPDATE,
             eval_samples: int = 1, estimator: str = DEFAULT_ESTIMATOR,
             stats=None, eval_stats=None, live=None, schedule: str = "none",
             dataset: str | None = None, layer_epochs=None, dfa_epochs: int | None = None,
             weight_bits: int | None = None, acc_bits: int | None = None,
             grad_bits: int | None = None, precision: Precision | None = None,
             calibration_samples: int | None = None, run_samples: int | None = None,
             skip_incompatible: bool | None = None,
             hardware: Hardware | None = None,
             options: RunOptions | None = None) -> Estimate:
    """Count and price training and inference of ``algos`` on ``arch``.

    ``arch``: a built-in name, a TOML file or an :class:`Arch`; None: the network
    :func:`default_network` gives for ``algos`` and ``dataset`` (the default list: the CFSE net
    of CIFAR-10, :data:`~pbitsim.network.archs.DEFAULT_ARCH`).
    ``density`` is the activation density of the tiled units (one value, or one per
    block; the last repeats). ``device`` (``"ideal"``, ``"smtj"``, ``"digital:..."``)
    prices the p-bit samples and sizes the p-bits; None keeps the table's device
    (``ideal``). The training choices that change the counts are ``pbitsim train``'s:
    ``grad_quant`` and ``update`` (BGBSFF), ``eval_samples`` (sampled test passes of the
    tiled rules), ``estimator`` (the tiles' backward), ``live`` (fraction of steps each block
    learns under a freezing schedule; or ``schedule``, ``staggered``/``reference`` with the
    ``dataset`` whose windows it takes, by default the one of the input shape). ``stats``: measured ``(mean count, nonzero fraction)`` of
    the counts entering each index layer in training (replaces ``density``), ``eval_stats``
    the same at inference. ``schedule`` ``greedy`` or ``online`` is MF's (the other rules
    train every block every step): greedy with ``layer_epochs`` (epochs each layer trained;
    default ``epochs`` each), whose MF run then lasts ``sum(layer_epochs)`` epochs; CaFo's
    greedy stages are its predictors, and CaFo-DFA's run starts with ``dfa_epochs`` block
    epochs (default: the seeds' for ``dataset``, or for the data set of the input shape).
    ``calibration_samples``: training samples of the batch-norm calibration after training
    (default: ``config.CALIBRATION_SAMPLES``, at most the training set; 0: none), amortised over
    ``run_samples`` (default: ``train_samples * epochs``; a counts file gives the run's).
    ``weight_bits``, ``acc_bits``, ``grad_bits``: the datapath (:mod:`pbitsim.precision`;
    None: fp32), or ``precision``, the datapath as an object (a sweep's precision axis carries
    them; not with the widths); every algorithm is priced at the same widths (a rule without a
    fixed-point form, MF and BSMF, is incompatible with them).
    An algorithm whose rule cannot run on ``arch`` raises, or with ``skip_incompatible`` (default: when ``algos`` is the
    default list) is left out and named in ``Estimate.skipped``. Raises ``ValueError`` (subclasses name the file or key) for bad input.

    ``options``: a training run's options (:class:`pbitsim.options.RunOptions`, checked):
    the run's rule on its network, priced as ``pbitsim train`` with those options counts
    (:func:`run_keywords`); the keywords they set (``arch``, ``algos``, ``table``, ``tiles``,
    the batch, the epochs, the device, the training choices, the schedule, the data set, the
    datapath, the calibration) are then not given, the others (densities or measured
    statistics, ``hardware`` ...) may be.
    """
    if options is not None:
        run = run_keywords(options)
        given = locals()
        for name, param in inspect.signature(estimate).parameters.items():
            if name in run and given[name] is not param.default:
                raise TypeError(f"estimate(): give {name} or options, not both")
        rest = {name: given[name] for name in inspect.signature(estimate).parameters
                if name not in run and name != "options"}
        return estimate(**run, **rest)
    net_note = None
    if arch is None:
        arch, net_note = default_network(None if algos is DEFAULT_ALGOS else algos, dataset)
    net = arch if isinstance(arch, Arch) else load_arch(arch)
    # the options a run shares are checked as pbitsim train checks them (one error, one line)
    tab = check_option("energy_table", table)
    if device is not None:
        device = device if isinstance(device, Device) else check_option("device", device)
        try:
            tab = tab.with_device(device)
        except ValueError as exc:
            raise OptionError(f"--table: {exc}") from None
    for name, value in (("tiles", tiles), ("batch_size", batch_size), ("epochs", epochs),
                        ("eval_samples", eval_samples), ("update", update)):
        check_option(name, value)
    samples = net.train_samples if train_samples is None else train_samples
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"train size must be an integer >= 1, got {samples!r}")
    if skip_incompatible is None:
        skip_incompatible = algos is DEFAULT_ALGOS
    names = [algos] if isinstance(algos, str) else list(algos)
    if not names:
        raise ValueError("give at least one algorithm")
    models = [get_algorithm(n) for n in dict.fromkeys(names)]
    grad_quant = gradients.quantizer(_choice("grad_quant", grad_quant, gradients.Quantizer))
    estimator = gradients.estimator(_choice("estimator", estimator, gradients.Estimator))
    densities = _densities(density)
    if len(densities) > len(net.blocks):
        raise ValueError(f"density: {len(densities)} values given, but {net.name} has "
                         f"{len(net.blocks)} block(s) (give one value, or one per block)")
    def measured(pairs):
        if pairs is None:
            return None
        return tuple(TileStats(tiles, float(m) / tiles, float(q)) for m, q in pairs)
    if layer_epochs is not None and schedule not in ("greedy", "none"):
        raise ValueError(f"--layer-epochs applies to mf's greedy schedule, not {schedule}")
    if schedule == "greedy" or (layer_epochs is not None and schedule == "none"):
        layer_epochs = _layer_epochs(net, layer_epochs, epochs)
    elif schedule not in ("none", "online"):
        live = _schedule_live(net, schedule, dataset, epochs)
    # an option none of the rules takes is a mistake, as in pbitsim train
    known = [m.name for m in models if m.name in RULE_SPECS]
    if known:
        check_applies(known, dfa_epochs=dfa_epochs, update=update, eval_samples=eval_samples)
    dfa_epochs = _dfa_epochs("cafo-dfa", dataset or _dataset_of(net), dfa_epochs)
    if precision is None:
        prec = make_precision(weight_bits, acc_bits, grad_bits)
    elif (weight_bits, acc_bits, grad_bits) != (None, None, None):
        raise TypeError("estimate(): give the widths or precision, not both")
    elif not isinstance(precision, Precision):
        raise TypeError(f"estimate(): precision must be a Precision, not "
                        f"{type(precision).__name__}")
    else:
        prec = precision
    if calibration_samples is not None:
        check_option("calibration_samples", calibration_samples)
    if run_samples is not None and (isinstance(run_samples, bool)
                                    or not isinstance(run_samples, int) or run_samples < 1):
        raise ValueError(f"run samples must be an integer >= 1, got {run_samples!r}")
    if calibration_samples is None:
        calibration_samples = sum(calibration_batches(samples, batch_size))
    params = ModelParams(tiles=tiles, units=Units.pbit(tiles, tab.device),
                         densities=densities, batch_size=batch_size,
                         grad_quant=grad_quant, update=update, eval_samples=eval_samples,
                         estimator=estimator, stats=measured(stats),
                         eval_stats=measured(eval_stats),
                         live=tuple(live) if live is not None else None,
                         layer_epochs=layer_epochs, dfa_epochs=dfa_epochs, epochs=epochs,
                         precision=prec, calibration_samples=calibration_samples,
                         run_samples=run_samples)
    skipped = []
    for model in list(models):
        try:
            model.check(net)
            if prec.fixed and model.name in RULE_SPECS:
                check_applies([model.name], weight_bits=prec.weight_bits)
            elif prec.fixed and not model.fixed_point:
                raise ValueError(f"{model.name} has no fixed-point form (--weight-bits)")
        except ValueError as exc:
            if not skip_incompatible:
                raise
            skipped.append(str(exc))
            models.remove(model)
    if not models:
        raise ValueError("no algorithm can run on this architecture: " + "; ".join(skipped))
    # the calibration is amortised over each rule's run (greedy MF: its stages' epochs)
    results = [_run(model, net, params if run_samples is not None else dataclasses.replace(
        params, run_samples=samples * model.run_epochs(params, epochs)), tab, hardware)
        for model in models]
    return Estimate(net, tab, params, samples, epochs, results, skipped,
                    notes=[net_note] if net_note else [], hardware=hardware)


def run_keywords(options: RunOptions) -> dict:
    """The keywords of :func:`estimate` that a training run's options set (checked first:
    :meth:`~pbitsim.options.RunOptions.validate`): its rule on its network and energy table,
    its tiled units' M and device, its batch, epochs, training subset, training choices,
    schedule, data set, DFA epochs, datapath and calibration."""
    options = options.validate()
    units = options.units
    return dict(arch=options.arch, algos=[options.algo], table=options.energy_table,
                tiles=units.tiles if units.tiled else DEFAULT_TILES,
                train_samples=options.limit_train, epochs=options.epochs,
                device=options.device_spec, schedule=options.schedule, dataset=options.dataset,
                dfa_epochs=options.dfa_epochs, calibration_samples=options.calibration_samples,
                **options.counted_choices())


def _layer_epochs(net: Arch, values, epochs: int) -> tuple[int, ...]:
    """Greedy MF's epochs per layer: given (one per block), or ``epochs`` each."""
    if values is None:
        return (epochs,) * len(net.blocks)
    out = tuple(values)
    if len(out) != len(net.blocks):
        raise ValueError(f"--layer-epochs: {len(out)} value(s) for the {len(net.blocks)} layers "
                         f"of {net.name} (give one per layer)")
    for v in out:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"--layer-epochs: epochs must be integers >= 0, got {v!r}")
    if not sum(out):
        raise ValueError("--layer-epochs: at least one layer must train")
    return out


def _dataset_of(net: Arch) -> str | None:
    """The built-in data set whose inputs ``net`` takes (the first of that shape), or None."""
    return next((name for name, (shape, _) in DATASET_INPUTS.items()
                 if tuple(shape) == net.input_shape), None)


def _schedule_live(net: Arch, schedule: str, dataset: str | None, epochs: int) -> tuple:
    """Fraction of the steps each block learns under ``schedule`` (``pbitsim train``'s)."""
    if dataset is None:
        dataset = next((name for name, (shape, _) in DATASET_INPUTS.items()
                        if tuple(shape) == net.input_shape), None)
        if dataset is None:
            raise ValueError(f"--schedule {schedule}: give --dataset (its windows are per data "
                             f"set; {net.name} takes no built-in data set's inputs)")
    elif dataset not in DATASET_INPUTS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of "
                         f"{', '.join(DATASET_INPUTS)}")
    return freeze_ends(dataset, schedule, len(net.blocks), epochs)


def _run(model: Algorithm, arch: Arch, params: ModelParams, tab: EnergyTable,
         hardware: Hardware | None = None) -> AlgoEstimate:
    rows = {"train": model.training(arch, params), "inference": model.inference(arch, params)}
    layers = [_price_layer(t, i, tab) for t, i in zip(rows["train"], rows["inference"])]
    if model.tiled:
        pbits = dict(zip((b.name for b in arch.blocks),
                         pbits_per_block(arch, params.units.tiles)))
        for layer in layers:
            layer.n_pbits = pbits.get(layer.name, 0)
    counts = {scope: Counts.total(r.total() for r in rows[scope]) for scope in SCOPES}
    out = AlgoEstimate(model, tab, layers, counts,
                       {scope: price_counts(counts[scope], tab) for scope in SCOPES})
    if hardware is not None and hardware.hierarchical:
        out.hardware = price_step(hardware, tab, rows, params_count=model.model_params(arch),
                                  batch=params.batch_size, n_pbits=out.n_pbits)
    return out


def _price_layer(train: LayerCounts, infer: LayerCounts, tab: EnergyTable) -> LayerEnergy:
    phases, phase_pj = {}, {}
    for scope, row in (("train", train), ("inference", infer)):
        phases[scope] = {p: row.phases[p] for p in PHASES if row.phases.get(p)}
        phase_pj[scope] = {p: price_counts(c, tab)["total_pj"]
                           for p, c in phases[scope].items()}
    return LayerEnergy(train.name, train.description, phases, phase_pj)


def hardware_summary(arch: "str | os.PathLike | Arch", algo: str, tiles: int,
                     device: "str | Device | None" = None,
                     density: "float | list[float]" = DEFAULT_DENSITY,
                     table: "str | os.PathLike | EnergyTable" = DEFAULT_TABLE,
                     batch_size: int = DEFAULT_BATCH, precision: "Precision | None" = None,
                     hardware: Hardware | None = None, epochs: int = 1,
                     train_samples: int | None = None) -> dict:
    """The numbers a hardware sweep shows for one (arch, algorithm, M, device) point.

    Energies in pJ per training sample and per inference, the p-bit count (one per tiled
    unit and tile; 0 for algorithms without p-bits), their area in um^2 and mm^2, and the
    share of the training energy spent on p-bit samples. Pass a loaded ``Arch`` and
    ``EnergyTable`` when calling it many times: the rest takes milliseconds. ``precision``: the
    datapath (:class:`pbitsim.precision.Precision`, e.g. from
    :func:`pbitsim.precision.parse_label`; None: fp32). ``batch_size``, ``epochs`` and
    ``train_samples`` (None: the net's): the run's budget, as :func:`estimate` takes it.
    """
    p = precision or FP32
    result = estimate(arch, [algo], table, tiles, density, batch_size, train_samples, epochs,
                      device=device, precision=p, hardware=hardware)
    run = result.algos[0]
    cost = result.table.device_cost()
    out = {"arch": result.arch.name, "algo": run.name, "tiles": tiles,
            "precision": p.label(),
            "device": cost.spec, "table": result.table.name,
            "densities": list(result.params.densities),
            "energy_train_pj_per_sample": run.total_pj("train"),
            "energy_inference_pj": run.total_pj("inference"),
            "pbit_energy_train_pj_per_sample": run.price["train"]["pbit_pj"],
            "pbit_energy_share": run.pbit_share("train"),
            "pbit_energy_per_sample_pj": cost.energy_per_sample_pj,
            "n_pbits": run.n_pbits,
            "pbit_area_um2": run.pbit_area_um2,
            "pbit_area_mm2": run.pbit_area_um2 * 1e-6}
    if run.hardware is not None:
        out["on_hardware"] = hierarchy_columns(run.hardware)
    return out


def hierarchy_columns(cost: HardwareCost | None = None, run: dict | None = None) -> dict:
    """The figures a sweep row keeps of a step on a hierarchy: from the analytic ``cost``, or
    from a trained ``run``'s measured counts priced by
    :func:`pbitsim.estimator.countsfile.price_run_on`."""
    if run is not None:
        by = run["train_energy_by_level_pj"]
        out = {"energy_train_pj_per_sample": run["train_per_sample_pj"],
               "energy_inference_pj": run.get("inference_pj"),
               "latency_train_s": run["train_latency_s"],
               "latency_inference_s": run["inference_latency_s"],
               "area_mm2": sum(run["area_mm2"].values())}
    else:
        by = cost.energy_by_level_pj["train"]
        out = {"energy_train_pj_per_sample": cost.total_pj("train"),
               "energy_inference_pj": cost.total_pj("inference"),
               "latency_train_s": cost.latency_s("train"),
               "latency_inference_s": cost.latency_s("inference"),
               "area_mm2": sum(cost.area_mm2().values())}
    out.update({f"train_{k}_pj": v for k, v in by.items()})
    return out
