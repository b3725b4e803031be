"""Hardware design sweeps: accuracy, energy, p-bit count and area over tile count M and device.

A sweep is the grid devices x tiles x seeds. Every point trains through the simulator (the
same :class:`~pbitsim.training.Trainer` as ``pbitsim train``) into its own folder
``OUT/runs/<device>-m<M>-s<seed>/``. A point whose ``results.json`` exists is finished and
is read back, a point with only a checkpoint resumes from it, so an interrupted sweep goes
on where it stopped. The measured counts are priced with the point's device; the p-bit
count and their area come from the energy model at the measured activation density.

``estimate_rows`` is the instant variant: no training, the analytic model at an assumed
density. This module imports torch only when a point is trained.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .counters import atomic_write_text

__all__ = ["SweepConfig", "Point", "split_devices", "arch_for", "estimate_rows", "train_point",
           "point_row", "aggregate", "write_outputs", "plot"]

_KINDS = ("ideal", "digital", "smtj")
RUNS = "runs"


def split_devices(text: str) -> list[str]:
    """Device specs from a comma list, where options of a spec also use commas.

    ``"ideal,smtj:offset_sd=0.2,stuck_rate=0.01,digital"`` -> ``["ideal",
    "smtj:offset_sd=0.2,stuck_rate=0.01", "digital"]``: a piece that does not start with a
    device kind continues the spec before it.
    """
    specs: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if piece.partition(":")[0] in _KINDS or not specs:
            specs.append(piece)
        else:
            specs[-1] += "," + piece
    return specs


def arch_for(cfg: "SweepConfig") -> str:
    """The architecture a sweep trains and prices: ``cfg.arch`` (a built-in name or a TOML
    file), or the default network of its dataset and algorithm (the CFSE net)."""
    if cfg.arch is not None:
        return cfg.arch
    from .config import DATASET_INPUTS
    from .energy_models.archs import default_arch
    return default_arch(DATASET_INPUTS[cfg.dataset][0], cfg.algo)


@dataclass(frozen=True)
class Point:
    """One configuration of the grid."""

    device: str
    tiles: int
    seed: int

    @property
    def key(self) -> str:
        """The point's folder name: the device spec made file-name safe, M and the seed."""
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", self.device).strip("_")
        return f"{slug}-m{self.tiles}-s{self.seed}"


@dataclass(frozen=True)
class SweepConfig:
    """What is swept (tiles, devices, seeds) and the training budget of every point."""

    tiles: tuple[int, ...] = (1, 2, 4, 7, 10)
    devices: tuple[str, ...] = ("ideal",)
    seeds: tuple[int, ...] = (0,)
    algo: str = "bsff"
    dataset: str = "mnist"
    epochs: int = 1
    batch_size: int = 128
    lr: float | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    table: str = "horowitz-45nm"
    data_dir: str | None = None
    arch: str | None = None  # built-in name or TOML file; None: the dataset's default
    train_options: dict = field(default_factory=dict)

    def points(self) -> list[Point]:
        return [Point(d, m, s) for d in self.devices for m in self.tiles for s in self.seeds]

    def train_config(self, point: Point):
        from .training import TrainConfig
        return TrainConfig(algo=self.algo, dataset=self.dataset, tiles=point.tiles,
                           epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           seed=point.seed, limit_train=self.limit_train,
                           limit_test=self.limit_test, energy_table=self.table,
                           device=point.device, arch=arch_for(self),
                           **self.train_options)


# ---------------------------------------------------------------------------- estimate only
def estimate_rows(cfg: SweepConfig, density: float) -> list[dict]:
    """Energy, p-bit count and area of every (device, M) from the analytic model."""
    from .energy_models import hardware_summary, load_arch, load_table
    arch, table = load_arch(arch_for(cfg)), load_table(cfg.table)
    rows = []
    for device in cfg.devices:
        for tiles in cfg.tiles:
            s = hardware_summary(arch, cfg.algo, tiles, device=device, density=density,
                                 table=table)
            rows.append(_row(device, tiles, cfg, s, density=density))
    return rows


def _row(device, tiles, cfg, summary, **extra) -> dict:
    return {"device": device, "tiles": tiles, "algo": cfg.algo, "dataset": cfg.dataset,
            "arch": summary["arch"], "table": summary["table"],
            "energy_train_pj_per_sample": summary["energy_train_pj_per_sample"],
            "energy_inference_pj": summary["energy_inference_pj"],
            "pbit_energy_share": summary["pbit_energy_share"],
            "n_pbits": summary["n_pbits"], "pbit_area_mm2": summary["pbit_area_mm2"], **extra}


# ------------------------------------------------------------------------------- training
_DATA: dict = {}


def _dataset(name: str, data_dir):
    """The dataset, loaded once per process (workers of a parallel sweep load their own)."""
    from .datasets import load_dataset
    if (name, data_dir) not in _DATA:
        _DATA[(name, data_dir)] = load_dataset(name, data_dir)
    return _DATA[(name, data_dir)]


def train_point(cfg: SweepConfig, point: Point, out: Path, reporter=None, on_trainer=None):
    """Train one point into ``out/runs/<key>`` (or read it back); None if interrupted.

    ``on_trainer(trainer)`` is called before training starts, so a caller can set
    ``trainer.stop_requested`` (Ctrl-C) while it runs.
    """
    from .training import Trainer
    from .training.trainer import CHECKPOINT, RESULTS
    folder = Path(out) / RUNS / point.key
    done = folder / RESULTS
    if done.is_file():
        return json.loads(done.read_text())
    trainer = Trainer(cfg.train_config(point), _dataset(cfg.dataset, cfg.data_dir), folder,
                      reporter)
    if on_trainer is not None:
        on_trainer(trainer)
    return trainer.run(resume=(folder / CHECKPOINT).is_file())


def point_row(cfg: SweepConfig, point: Point, out: Path, results: dict) -> dict:
    """A trained point's accuracy and its measured counts priced with its device."""
    from .energy_models import hardware_summary, load_arch, load_table, price_counts
    from .training.trainer import COUNTS
    doc = json.loads((Path(out) / RUNS / point.key / COUNTS).read_text())
    table = load_table(cfg.table)
    train_pj = price_counts(doc["counts"], table, device=point.device)["total_pj"]
    infer_pj = price_counts(doc["inference_counts"], table, device=point.device)["total_pj"]
    density = doc["layer_density"] or doc["activation_density"]
    hw = hardware_summary(load_arch(arch_for(cfg)), cfg.algo, point.tiles,
                          device=point.device, density=density, table=table)
    row = _row(point.device, point.tiles, cfg, hw, seed=point.seed,
               accuracy=results["accuracy"], activation_density=doc["activation_density"],
               train_wall_s=results["train_wall_s"], run=f"{RUNS}/{point.key}")
    # measured, not analytic: the training run's own counts
    row["energy_train_pj_per_sample"] = train_pj / max(1, doc["train_samples"] * doc["epochs"])
    row["energy_inference_pj"] = infer_pj / max(1, doc["test_samples"])
    return row


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per (device, M): accuracy mean and sample sd over seeds, mean energies."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["device"], r["tiles"]), []).append(r)
    rows = []
    for (device, tiles), rs in groups.items():
        acc = [r["accuracy"] for r in rs]
        first = rs[0]
        rows.append({
            "device": device, "tiles": tiles, "algo": first["algo"], "dataset": first["dataset"],
            "arch": first["arch"], "table": first["table"], "seeds": [r["seed"] for r in rs],
            "accuracy_mean": statistics.fmean(acc),
            "accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "accuracy_min": min(acc), "accuracy_max": max(acc),
            **{k: statistics.fmean(r[k] for r in rs)
               for k in ("energy_train_pj_per_sample", "energy_inference_pj",
                         "pbit_energy_share", "activation_density", "train_wall_s")},
            "n_pbits": first["n_pbits"], "pbit_area_mm2": first["pbit_area_mm2"]})
    return rows


# -------------------------------------------------------------------------------- outputs
def write_outputs(out: Path, meta: dict, rows: list[dict], runs: list[dict] | None) -> list[Path]:
    """``sweep.json`` (everything) and ``sweep.csv`` (one row per device and M), atomically."""
    out = Path(out)
    doc = {"format": "pbitsim-sweep", "version": 1, **meta, "rows": rows}
    if runs is not None:
        doc["runs"] = runs
    atomic_write_text(out / "sweep.json", json.dumps(doc, indent=2) + "\n")
    buf = io.StringIO()
    columns = [k for k in rows[0] if not isinstance(rows[0][k], list)] if rows else []
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "sweep.csv", buf.getvalue())
    return [out / "sweep.json", out / "sweep.csv"]


def plot(out: Path, rows: list[dict], trained: bool) -> list[Path]:
    """PNG plots (needs matplotlib, the ``plot`` extra); returns the files written.

    Trained sweeps: accuracy vs energy per training sample (points labelled with M, error
    bars one sd over seeds) and accuracy vs M per device. Estimates: energy per training
    sample and p-bit area vs M per device.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_device: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["tiles"]):
        by_device.setdefault(r["device"], []).append(r)
    written = []
    if trained:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for device, rs in by_device.items():
            x = [r["energy_train_pj_per_sample"] / 1e6 for r in rs]
            y = [100 * r["accuracy_mean"] for r in rs]
            ax.errorbar(x, y, yerr=[100 * r["accuracy_sd"] for r in rs], marker="o",
                        capsize=3, label=device)
            for xi, yi, r in zip(x, y, rs):
                ax.annotate(f"M={r['tiles']}", (xi, yi), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)
        energies = [r["energy_train_pj_per_sample"] for r in rows]
        if max(energies) > 10 * min(energies):  # log only where the range needs it
            ax.set_xscale("log")
        ax.set(xlabel="training energy per sample (uJ, measured counts)",
               ylabel="test accuracy (%)", title=_title(rows))
        written.append(_save(fig, Path(out) / "accuracy_vs_energy.png"))
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for device, rs in by_device.items():
            ax.errorbar([r["tiles"] for r in rs], [100 * r["accuracy_mean"] for r in rs],
                        yerr=[100 * r["accuracy_sd"] for r in rs], marker="o", capsize=3,
                        label=device)
        ax.set(xlabel="tiles per unit M", ylabel="test accuracy (%)", title=_title(rows))
        written.append(_save(fig, Path(out) / "accuracy_vs_tiles.png"))
    else:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
        for device, rs in by_device.items():
            m = [r["tiles"] for r in rs]
            ax1.plot(m, [r["energy_train_pj_per_sample"] / 1e6 for r in rs], marker="o",
                     label=device)
            ax2.plot(m, [r["pbit_area_mm2"] for r in rs], marker="o", label=device)
        ax1.set(xlabel="tiles per unit M", ylabel="training energy per sample (uJ)")
        ax2.set(xlabel="tiles per unit M", ylabel="p-bit area (mm$^2$)", yscale="log")
        fig.suptitle(_title(rows) + " (analytic estimate)")
        written.append(_save(fig, Path(out) / "energy_vs_tiles.png"))
    return written


def _title(rows) -> str:
    r = rows[0]
    return f"{r['algo'].upper()} on {r['dataset']} ({r['arch']}, {r['table']})"


def _save(fig, path: Path) -> Path:
    """Save a figure atomically (temp file + rename) and close it."""
    import matplotlib.pyplot as plt
    for ax in fig.axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path
