"""Hardware design sweeps: accuracy, energy, p-bit count and area over tile count M and device.

A sweep is the grid devices x tiles x seeds. Every point trains through the simulator (the
same :class:`~pbitsim.training.Trainer` as ``pbitsim train``) into its own folder
``OUT/runs/<device>-m<M>-s<seed>/``. A point whose ``results.json`` exists is finished and
is read back, a point with only a checkpoint resumes from it, so an interrupted sweep goes
on where it stopped; either is reused only when its recorded configuration equals the one
asked for (else :class:`SweepError` says which value differs, before anything trains, and
``recompute=True`` trains the point afresh). The measured counts are priced with the point's
device; the p-bit count and their area come from the energy model at the measured activation
density.

:class:`SweepRun` trains the points one after the other or ``jobs`` at a time in spawned
processes. Every point runs with the same torch/numba thread count (``SweepConfig.threads``,
recorded in the point's configuration), so ``jobs`` never changes a result. The sweep holds
the lock of ``OUT`` (:func:`pbitsim.runfiles.out_lock`), each point that of its folder.

``estimate_rows`` is the instant variant: no training, the analytic model at an assumed
density. This module imports torch only when a point is trained.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from . import runfiles
from .counters import OpCounter
from .devices import split_devices

__all__ = ["SweepConfig", "SweepError", "StalePoint", "SweepRun", "Point", "split_devices", "arch_for",
           "estimate_rows", "point_status", "train_point", "point_row", "aggregate",
           "write_outputs", "plot"]

RUNS = "runs"


class SweepError(ValueError):
    """A sweep that cannot go on as asked: one line."""


class StalePoint(SweepError):
    """A point's files were made with another configuration, or cannot be read back."""


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
    #: torch/numba threads of every point, whatever the number of points trained at once
    threads: int = 1
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
                           device=point.device, threads=self.threads, arch=arch_for(self),
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


def point_folder(out, point: Point) -> Path:
    """``out/runs/<key>``: where a point trains."""
    return Path(out) / RUNS / point.key


# fields of a finished point's recorded configuration that decide its numbers
_COMPARED = ("eval_samples",)


def point_status(cfg: SweepConfig, point: Point, out) -> tuple[str, dict | None]:
    """``("done", results)``, ``("resume", None)`` or ``("new", None)`` for a point.

    Raises
    ------
    StalePoint
        The point's files were made with another configuration (the value that differs is
        named), or its results or checkpoint cannot be read.
    SweepError
        The point's configuration is invalid.
    """
    from .training import TrainingError
    folder = point_folder(out, point)
    want = cfg.train_config(point)
    try:
        want.validate()
    except TrainingError as e:
        raise SweepError(str(e)) from None
    fields = {**want.result_fields(), **{k: getattr(want, k) for k in _COMPARED}}
    hint = "; pass --recompute to train it again, or choose another --out"
    try:
        if (folder / runfiles.RESULTS).exists():
            results = runfiles.read_results(folder)
            _compare(fields, results["config"], f"{folder / runfiles.RESULTS}", hint)
            counts = _read_point_counts(folder)  # what point_row prices: readable now
            if OpCounter(counts["counts"]).by_op() != results.get("train_counts_by_op"):
                raise StalePoint(f"{folder}: results.json and counts.json disagree{hint}")
            return "done", results
        if (folder / runfiles.CHECKPOINT).exists():
            state = runfiles.load_checkpoint(folder)
            _compare(want.result_fields(), state.get("config") or {},
                     f"{folder / runfiles.CHECKPOINT}", hint)
            return "resume", None
    except runfiles.RunFileError as e:
        raise StalePoint(f"{e}{hint}") from None
    return "new", None


def _compare(want: dict, recorded: dict, where: str, hint: str) -> None:
    for k, v in want.items():
        if recorded.get(k, None) != v:
            raise StalePoint(f"{where} was made with {k}={recorded.get(k)!r}, this sweep asks "
                             f"{k}={v!r}{hint}")


def _read_point_counts(folder: Path) -> dict:
    """A point's ``counts.json``, validated; :class:`~pbitsim.runfiles.RunFileError` if not."""
    from .energy_models.countsfile import CountsFileError, parse_counts
    path = folder / runfiles.COUNTS
    try:
        doc = runfiles.read_counts(path, error=CountsFileError)
        parse_counts(doc, str(path))
    except CountsFileError as e:
        raise runfiles.RunFileError(str(e)) from None
    return doc


def clear_point(out, point: Point) -> None:
    """Remove a point's run files so it trains afresh (``--recompute``)."""
    folder = point_folder(out, point)
    for name in (runfiles.RESULTS, runfiles.COUNTS, runfiles.CHECKPOINT):
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise SweepError(f"cannot remove {folder / name}: {e.strerror or e}") from None


def train_point(cfg: SweepConfig, point: Point, out: Path, reporter=None, on_trainer=None):
    """Train one point into ``out/runs/<key>`` (or read it back); None if interrupted.

    Call :func:`point_status` first: this reuses a finished point and resumes a checkpoint
    without checking them again. ``on_trainer(trainer)`` is called before training starts,
    so a caller can set ``trainer.stop_requested`` (Ctrl-C) while it runs.
    """
    from .training import Trainer
    folder = point_folder(out, point)
    if (folder / runfiles.RESULTS).is_file():
        return runfiles.read_results(folder)
    trainer = Trainer(cfg.train_config(point), _dataset(cfg.dataset, cfg.data_dir), folder,
                      reporter)
    if on_trainer is not None:
        on_trainer(trainer)
    return trainer.run(resume=(folder / runfiles.CHECKPOINT).is_file())


class SweepRun:
    """Trains a sweep's points into ``out``: one at a time, or ``jobs`` at once in processes.

    Parameters
    ----------
    cfg, out
        The sweep and its output folder (locked while the sweep runs).
    jobs
        Points trained at once (spawned processes). Results do not depend on it.
    recompute
        Retrain points whose files were made with another configuration (or are unreadable)
        instead of refusing them.
    reporter_for
        ``reporter_for(point)`` gives the trainer's reporter of a point, with a ``close()``
        called when the point ends (in this process, also for parallel points).
    on_done
        ``on_done(point)`` after each finished point.

    :meth:`stop` (from a signal handler) makes the running points checkpoint after their
    current step; the points not started are not started.
    """

    def __init__(self, cfg: SweepConfig, out, jobs: int = 1, recompute: bool = False,
                 reporter_for=None, on_done=None):
        if jobs < 1:
            raise SweepError(f"--jobs must be >= 1, got {jobs}")
        self.cfg, self.out, self.jobs, self.recompute = cfg, Path(out), jobs, recompute
        self.reporter_for = reporter_for or (lambda point: None)
        self.on_done = on_done or (lambda point: None)
        self.stop_requested = False
        self._trainer = None
        self._stop_event = None

    def stop(self) -> None:
        """Stop after the running points' current steps (they save checkpoints)."""
        self.stop_requested = True
        if self._trainer is not None:
            self._trainer.stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()

    def check(self) -> dict:
        """Every point's status, before anything trains (see :func:`point_status`)."""
        status = {}
        for point in self.cfg.points():
            try:
                status[point] = point_status(self.cfg, point, self.out)
            except StalePoint:
                if not self.recompute:
                    raise
                clear_point(self.out, point)
                status[point] = ("new", None)
        return status

    def run(self) -> "dict[Point, dict] | None":
        """Results of every point in grid order; None if stopped (checkpoints saved)."""
        from .training import TrainingError
        with runfiles.out_lock(self.out):
            self.check()
            points = self.cfg.points()
            try:
                results = (self._parallel if self.jobs > 1 else self._serial)(points)
            except runfiles.RunFileError as e:
                raise SweepError(str(e)) from None
            except TrainingError as e:
                raise SweepError(str(e)) from None
        if results is None or len(results) < len(points):
            return None
        return {p: results[p] for p in points}

    def _serial(self, points):
        results = {}
        for point in points:
            if self.stop_requested:
                return None
            reporter = self.reporter_for(point)
            try:
                res = train_point(self.cfg, point, self.out, reporter,
                                  on_trainer=self._set_trainer)
            finally:
                self._trainer = None
                if reporter is not None:
                    reporter.close()
            if res is None:
                return None
            results[point] = res
            self.on_done(point)
        return results

    def _set_trainer(self, trainer) -> None:
        self._trainer = trainer
        if self.stop_requested:
            trainer.stop_requested = True

    def _parallel(self, points):
        import multiprocessing as mp
        import queue as queue_mod
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = mp.get_context("spawn")
        messages, self._stop_event = ctx.Queue(), ctx.Event()
        if self.stop_requested:
            self._stop_event.set()
        results, reporters = {}, {}
        try:
            with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx,
                                     initializer=_worker_init,
                                     initargs=(messages, self._stop_event)) as pool:
                pending = {pool.submit(_worker_run, self.cfg, p, self.out) for p in points}
                while pending:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    self._drain(messages, reporters, queue_mod)
                    for fut in done:
                        if fut.cancelled():
                            continue
                        point, res = fut.result()
                        self._drain(messages, reporters, queue_mod)
                        rep = reporters.pop(point, None)
                        if rep is not None:
                            rep.close()
                        if res is not None:
                            results[point] = res
                            self.on_done(point)
                    if self._stop_event.is_set():
                        for fut in pending:
                            fut.cancel()
        finally:
            for rep in reporters.values():
                if rep is not None:
                    rep.close()
        return None if self._stop_event.is_set() else results

    def _drain(self, messages, reporters, queue_mod) -> None:
        while True:
            try:
                point, name, args = messages.get_nowait()
            except queue_mod.Empty:
                return
            if point not in reporters:
                reporters[point] = self.reporter_for(point)
            if reporters[point] is not None:
                getattr(reporters[point], name)(*args)


# Worker side of a parallel sweep (a spawned process): progress goes back through a queue, and
# a shared event (set by the parent on Ctrl-C or SIGTERM) stops the running trainer at its
# next step.
_WORKER: dict = {}


def _worker_init(queue, stop_event) -> None:
    import signal
    _WORKER.update(queue=queue, stop=stop_event)
    for s in (signal.SIGINT, signal.SIGTERM):  # a terminal's Ctrl-C reaches every worker
        signal.signal(s, lambda signum, frame: stop_event.set())


class _QueueReporter:
    """Forwards the trainer's progress calls to the parent; checks for a stop at every step."""

    def __init__(self, point):
        self.point = point

    def __getattr__(self, name):
        def forward(*args):
            if _WORKER["stop"].is_set() and "trainer" in _WORKER:
                _WORKER["trainer"].stop_requested = True
            _WORKER["queue"].put((self.point, name, args))
        return forward


def _worker_run(cfg, point, out):
    if _WORKER["stop"].is_set():
        return point, None
    try:
        res = train_point(cfg, point, out, _QueueReporter(point),
                          on_trainer=lambda t: _WORKER.__setitem__("trainer", t))
    finally:
        _WORKER.pop("trainer", None)
    return point, res


def point_row(cfg: SweepConfig, point: Point, out: Path, results: dict) -> dict:
    """A trained point's accuracy and its measured counts priced with its device."""
    from .energy_models import hardware_summary, load_arch, load_table, price_counts
    try:
        doc = _read_point_counts(point_folder(out, point))
    except runfiles.RunFileError as e:
        raise StalePoint(f"{e}; pass --recompute to train the point again") from None
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
    runfiles.write_text(out / "sweep.json", json.dumps(doc, indent=2) + "\n")
    buf = io.StringIO()
    columns = [k for k in rows[0] if not isinstance(rows[0][k], list)] if rows else []
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    runfiles.write_text(out / "sweep.csv", buf.getvalue())
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
    """Save a figure with the safe writer (:func:`pbitsim.runfiles.write_bytes`) and close it."""
    import matplotlib.pyplot as plt
    for ax in fig.axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=120, format="png")
    plt.close(fig)
    runfiles.write_bytes(path, buf.getvalue())
    return path
