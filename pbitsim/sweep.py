"""Hardware design sweeps: accuracy, energy, p-bit count and area over a grid of choices.

A sweep is a grid over *axes* (:data:`AXES`): data set x learning rule x p-bit device x tile
count M x seed today. Each axis is declared once, as an :class:`Axis` (its name, CLI option,
parser, the :class:`~pbitsim.training.TrainConfig` field it sets and how it labels a point's
folder and a column); the CLI's options, the grid, the point folders, the rows of ``sweep.csv``
and the table all come from that one declaration. Adding an axis (e.g. a precision) is adding
one ``Axis(...)`` to :data:`AXES`.

Every point trains through the simulator (the same :class:`~pbitsim.training.Trainer` as
``pbitsim train``) into its own folder ``OUT/runs/<key>/`` (e.g. ``ideal-m7-s0``,
``cifar10-bgbsff-ideal-m7-s0``). A point whose ``results.json`` exists is finished and is read
back, a point with only a checkpoint resumes from it, so an interrupted sweep goes on where it
stopped; either is reused only when its recorded configuration equals the one asked for (else
:class:`SweepError` says which value differs, before anything trains, and ``recompute=True``
trains the point afresh). The measured counts are priced with the point's device; the p-bit
count and their area come from the energy model at the measured activation density.

:class:`SweepRun` trains the points one after the other, ``jobs`` at a time in spawned
processes, or as tasks of a Dask cluster (:mod:`pbitsim.sweep_cluster`, the ``cluster``
extra). Every point runs with the same torch/numba thread count (``SweepConfig.threads``,
recorded in the point's configuration), so neither ``jobs`` nor the cluster changes a result.
The sweep holds the lock of ``OUT`` (:func:`pbitsim.runfiles.out_lock`), each point that of its
own folder (taken by whichever process trains it).

``estimate_rows`` is the instant variant: no training, the analytic model at an assumed
density. This module imports torch only when a point is trained, and Dask only for a cluster.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runfiles
from .config import MAX_SEED, MAX_TILES
from .counters import OpCounter
from .devices import split_devices

__all__ = ["Axis", "AXES", "axis", "SweepConfig", "SweepError", "StalePoint", "SweepRun",
           "Point", "split_devices", "arch_for", "check_grid", "estimate_rows", "point_status",
           "train_point", "point_row", "aggregate", "write_outputs", "plot"]

RUNS = "runs"


class SweepError(ValueError):
    """A sweep that cannot go on as asked: one line."""


class StalePoint(SweepError):
    """A point's files were made with another configuration, or cannot be read back."""


# ------------------------------------------------------------------------------------ axes
def _int_values(option: str, lo: int, hi: int) -> Callable[[tuple[str, ...]], tuple]:
    """Parser of comma-separated integers in ``lo..hi`` (repeats dropped, order kept)."""
    def parse(texts):
        values = []
        for text in texts:
            try:
                values += [int(v) for v in text.split(",") if v.strip()]
            except ValueError:
                raise ValueError(f"{option} must be comma-separated integers, got "
                                 f"{text!r}") from None
        if not values:
            raise ValueError(f"{option} is empty")
        bad = [v for v in values if not lo <= v <= hi]
        if bad:
            raise ValueError(f"{option} values must be in {lo}..{hi}, got {bad[0]}")
        return tuple(dict.fromkeys(values))
    return parse


def _choice_values(option: str, choices: Callable[[], tuple[str, ...]]):
    """Parser of comma-separated names, each one of ``choices()``."""
    def parse(texts):
        known = choices()
        values = [v.strip() for text in texts for v in text.split(",") if v.strip()]
        if not values:
            raise ValueError(f"{option} is empty (choose from {', '.join(known)})")
        for v in values:
            if v not in known:
                raise ValueError(f"{option}: unknown value {v!r} (choose from "
                                 f"{', '.join(known)})")
        return tuple(dict.fromkeys(values))
    return parse


def _device_values(texts) -> tuple[str, ...]:
    """Canonical device specs from ``--device`` values (each a comma list of specs)."""
    from .devices import parse_device, spec_string
    specs = [spec_string(parse_device(spec)) for text in texts for spec in split_devices(text)]
    if not specs:
        raise ValueError("--device is empty (give ideal, digital or smtj, with options as "
                         "kind:key=value,...)")
    return tuple(dict.fromkeys(specs))


def _rules() -> tuple[str, ...]:
    from .rulebook import RULES
    return RULES


def _datasets() -> tuple[str, ...]:
    from .config import DATASET_INPUTS
    return tuple(DATASET_INPUTS)


def _precision_values(texts: tuple[str, ...]) -> tuple[str, ...]:
    """Parser of comma-separated datapath names to their canonical labels (``w8`` -> ``w8a32``)."""
    from .precision import parse_label
    values = []
    for text in texts:
        for part in str(text).split(","):
            if not part.strip():
                raise ValueError("--precision: empty value")
            try:
                label = parse_label(part).label()
            except ValueError as e:
                raise ValueError(f"--precision: {e}") from None
            if label not in values:
                values.append(label)
    return tuple(values)


def _precision_of(label: str):
    from .precision import parse_label
    return parse_label(label)


def _precision_fields(label: str) -> dict:
    p = _precision_of(label)
    return {"weight_bits": p.weight_bits, "acc_bits": p.acc_bits, "grad_bits": p.grad_bits}


def _has_fixed_point(values: dict) -> bool:
    """Whether the point's rule has a fixed-point datapath (the precision axis applies)."""
    from .energy_models.algorithms import get_algorithm
    return get_algorithm(values["algo"]).fixed_point


def _uses_pbits(values: dict) -> bool:
    """Whether the point's rule samples tiled p-bits (tiles and device apply to it)."""
    from .energy_models.algorithms import get_algorithm
    return get_algorithm(values["algo"]).uses_tiles


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


@dataclass(frozen=True)
class Axis:
    """One dimension of the sweep grid, declared once for the CLI, the grid, the folders and
    the outputs.

    Parameters
    ----------
    name
        The key of the axis in a :class:`SweepConfig`'s grid, a :class:`Point` (``point.name``)
        and the rows of ``sweep.csv``/``sweep.json``.
    option
        The ``pbitsim sweep`` option (repeatable; each value a comma list).
    field
        The :class:`~pbitsim.training.TrainConfig` field the value sets.
    parse
        ``parse(texts) -> values``: the option's texts to a tuple of canonical values
        (``ValueError`` with one line if one is bad).
    default
        The option's default text.
    label
        A value's part of a point's folder name (file-name safe).
    help
        The option's help text.
    short
        A short option (``-M``), or empty.
    column
        The table's column header.
    label_default
        False: the default value is left out of folder names (so an axis added later does not
        rename the folders of earlier sweeps).
    applies
        ``applies(values) -> bool`` from the point's values of the axes before this one; where
        False the axis does not apply to the point (value None, e.g. tiles for a rule without
        p-bits), and the grid holds the point once.
    estimate_arg
        The keyword of :func:`~pbitsim.energy_models.hardware_summary` the value sets in
        ``--estimate-only`` (None: it does not set one).
    averaged
        The rows of the outputs average over this axis (the seeds).
    config
        ``config(value) -> dict`` of :class:`~pbitsim.training.TrainConfig` fields, for an axis
        whose value sets several (the datapath's widths); None: ``{field: value}``.
    estimate_value
        ``estimate_value(value)``: what ``estimate_arg`` receives (None: the value itself).
    """

    name: str
    option: str
    field: str
    parse: Callable[[tuple[str, ...]], tuple]
    default: str
    label: Callable[[Any], str]
    help: str
    short: str = ""
    column: str = ""
    label_default: bool = True
    applies: Callable[[dict], bool] | None = None
    estimate_arg: str | None = None
    averaged: bool = False
    config: Callable[[Any], dict] | None = None
    estimate_value: Callable[[Any], Any] | None = None

    def train_fields(self, value) -> dict:
        """The TrainConfig fields a (not None) value sets."""
        return self.config(value) if self.config is not None else {self.field: value}

    def estimate_kwargs(self, value) -> dict:
        """The keyword of :func:`~pbitsim.energy_models.hardware_summary` a value sets."""
        if self.estimate_arg is None or value is None:
            return {}
        return {self.estimate_arg: (self.estimate_value(value) if self.estimate_value is not None
                                    else value)}

    @property
    def default_values(self) -> tuple:
        return self.parse((self.default,))

    def key_part(self, value) -> str | None:
        """The value's part of a folder name; None: left out."""
        if value is None or (not self.label_default and (value,) == self.default_values):
            return None
        return self.label(value)


#: The axes of the grid, outermost first (the grid's order and the order of a point's key).
AXES: tuple[Axis, ...] = (
    Axis("dataset", "--dataset", "dataset", _choice_values("--dataset", _datasets), "mnist",
         str, "Data sets (comma-separated).", column="dataset", label_default=False),
    Axis("algo", "--algo", "algo", _choice_values("--algo", _rules), "bsff", str,
         "Learning rules (comma-separated), any of pbitsim train's that the network supports; "
         "tiles and device apply to the p-bit rules.", column="algo", label_default=False,
         estimate_arg="algo"),
    Axis("device", "--device", "device", _device_values, "ideal", _slug,
         "p-bit devices: ideal, digital, smtj, with options as kind:key=value,...; "
         "comma-separated or repeated.", column="device", applies=_uses_pbits,
         estimate_arg="device"),
    Axis("tiles", "--tiles", "tiles", _int_values("--tiles", 1, MAX_TILES), "1,2,4,7,10",
         lambda m: f"m{m}", "Tile counts M (comma-separated).", short="-M", column="M",
         applies=_uses_pbits, estimate_arg="tiles"),
    Axis("precision", "--precision", "precision", _precision_values, "fp32", str,
         "Datapaths (comma-separated): fp32, or wW[aA][gG] for W-bit weights, A-bit accumulators "
         "and G-bit gradients (pbitsim train's --weight-bits/--acc-bits/--grad-bits), e.g. "
         "fp32,w8a32,w4a16g8; for the rules with a fixed-point form.", column="datapath",
         label_default=False, applies=_has_fixed_point, estimate_arg="precision",
         config=_precision_fields, estimate_value=_precision_of),
    Axis("seed", "--seeds", "seed", _int_values("--seeds", 0, MAX_SEED), "0",
         lambda s: f"s{s}", "Training seeds (accuracy mean and spread over them).",
         column="seed", averaged=True),
)
_BY_NAME = {a.name: a for a in AXES}


def axis(name: str) -> Axis:
    """The axis called ``name``."""
    return _BY_NAME[name]


@dataclass(frozen=True)
class Point:
    """One configuration of the grid: a value (or None: not applicable) per axis of
    :data:`AXES`, read as attributes (``point.tiles``)."""

    values: tuple

    @classmethod
    def of(cls, **values) -> "Point":
        """A point from axis values by name; an axis not named takes the first value of its
        default (no :attr:`Axis.applies` check: :meth:`SweepConfig.points` makes the grid)."""
        unknown = set(values) - set(_BY_NAME)
        if unknown:
            raise TypeError(f"no sweep axis {sorted(unknown)[0]!r}")
        return cls(tuple(values[a.name] if a.name in values else a.default_values[0]
                         for a in AXES))

    def __getattr__(self, name):
        if name.startswith("_") or name not in _BY_NAME:
            raise AttributeError(name)
        return self.values[list(_BY_NAME).index(name)]

    def as_dict(self) -> dict:
        return dict(zip(_BY_NAME, self.values))

    @property
    def key(self) -> str:
        """The point's folder name: the axes' labels joined with ``-``."""
        parts = (a.key_part(v) for a, v in zip(AXES, self.values))
        return "-".join(p for p in parts if p is not None)


def arch_for(cfg: "SweepConfig", point: Point) -> str:
    """The architecture a point trains and prices: ``cfg.arch`` (a built-in name or a TOML
    file), or the default network of its dataset and algorithm (the CFSE net)."""
    if cfg.arch is not None:
        return cfg.arch
    from .config import DATASET_INPUTS
    from .energy_models.archs import default_arch
    from .rulebook import rule
    return default_arch(DATASET_INPUTS[point.dataset][0], rule(point.algo).net)


@dataclass(frozen=True)
class SweepConfig:
    """What is swept (``grid``: axis name -> values; an axis left out takes its default) and
    the training budget of every point."""

    grid: dict = field(default_factory=dict)
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

    def values(self, name: str) -> tuple:
        """The values swept on axis ``name``."""
        return tuple(self.grid.get(name) or axis(name).default_values)

    def points(self) -> list[Point]:
        """The grid, outermost axis first; a point an axis does not apply to appears once."""
        seen: dict[Point, None] = {}
        for combo in itertools.product(*(self.values(a.name) for a in AXES)):
            values: dict = {}
            for a, v in zip(AXES, combo):
                values[a.name] = v if a.applies is None or a.applies(values) else None
            seen.setdefault(Point(tuple(values.values())), None)
        return list(seen)

    def train_config(self, point: Point):
        from .training import TrainConfig
        swept = {k: v for a, x in zip(AXES, point.values) if x is not None
                 for k, v in a.train_fields(x).items()}
        return TrainConfig(**swept, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           limit_train=self.limit_train, limit_test=self.limit_test,
                           energy_table=self.table, threads=self.threads,
                           arch=arch_for(self, point), **self.train_options)

    def meta(self) -> dict:
        """The configuration as recorded in ``sweep.json``: every axis's values and the budget."""
        budget = {k: getattr(self, k) for k in ("epochs", "batch_size", "lr", "limit_train",
                                                 "limit_test", "table", "data_dir", "threads",
                                                 "arch")}
        return {**{a.name: list(self.values(a.name)) for a in AXES}, **budget,
                **self.train_options}


def check_grid(cfg: SweepConfig) -> None:
    """Every (data set, rule) of the grid must fit the network: ``ValueError`` (one line)
    naming the first that does not, before anything trains (torch-free)."""
    from .arch_rules import resolve_arch
    from .config import DATASET_INPUTS
    from .schedules import default_schedule
    done = set()
    for point in cfg.points():
        combo = (point.dataset, point.algo)
        if combo in done:
            continue
        done.add(combo)
        shape, classes = DATASET_INPUTS[point.dataset]
        try:
            resolve_arch(point.algo, arch_for(cfg, point), shape, classes, point.dataset,
                         default_schedule(point.algo))
        except ValueError as e:
            raise ValueError(f"--arch: {e}" if cfg.arch is not None else str(e)) from None


# ---------------------------------------------------------------------------- estimate only
def estimate_rows(cfg: SweepConfig, density: float) -> list[dict]:
    """Energy, p-bit count and area of every point but the seeds, from the analytic model."""
    from .config import DEFAULT_TILES
    from .energy_models import hardware_summary, load_arch, load_table
    table = load_table(cfg.table)
    archs: dict = {}
    rows, seen = [], set()
    for point in cfg.points():
        values = _row_values(point)
        if tuple(values.values()) in seen:
            continue
        seen.add(tuple(values.values()))
        name = arch_for(cfg, point)
        if name not in archs:
            archs[name] = load_arch(name)
        kwargs = {k: v for a, x in zip(AXES, point.values)
                  for k, v in a.estimate_kwargs(x).items()}
        kwargs.setdefault("tiles", DEFAULT_TILES)  # a rule without p-bits ignores it
        s = hardware_summary(archs[name], density=density, table=table, **kwargs)
        rows.append(_row(point, s, density=density))
    return rows


def _row_values(point: Point) -> dict:
    """A point's values on the axes the rows keep (all but the averaged seeds)."""
    return {a.name: v for a, v in zip(AXES, point.values) if not a.averaged}


def _row(point: Point, summary, **extra) -> dict:
    return {**_row_values(point), "arch": summary["arch"], "table": summary["table"],
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
    trainer = Trainer(cfg.train_config(point), _dataset(point.dataset, cfg.data_dir), folder,
                      reporter)
    if on_trainer is not None:
        on_trainer(trainer)
    return trainer.run(resume=(folder / runfiles.CHECKPOINT).is_file())


class SweepRun:
    """Trains a sweep's points into ``out``: one at a time, ``jobs`` at once in processes, or
    as the tasks of a Dask cluster.

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
        called when the point ends (in this process, also for parallel and cluster points).
    on_done
        ``on_done(point, results)`` after each finished point, in the order they finish.
    on_state
        ``on_state(done, running, queued)`` whenever those counts change.
    on_failed
        ``on_failed(point, message)`` when a cluster point fails (its data set missing on the
        worker, its worker lost too often): the sweep goes on with the others, and
        :attr:`failed` holds the messages.
    scheduler
        None (local), ``local:N`` (a local Dask cluster of N worker processes) or the address
        of a running Dask scheduler (``tcp://HOST:PORT``); see :mod:`pbitsim.sweep_cluster`.

    :meth:`stop` (from a signal handler) makes the running points checkpoint after their
    current step; the points not started are not started (cancelled on a cluster).
    """

    def __init__(self, cfg: SweepConfig, out, jobs: int = 1, recompute: bool = False,
                 reporter_for=None, on_done=None, on_state=None, on_failed=None,
                 scheduler: str | None = None):
        if jobs < 1:
            raise SweepError(f"--jobs must be >= 1, got {jobs}")
        self.cfg, self.out, self.jobs, self.recompute = cfg, Path(out), jobs, recompute
        self.scheduler = scheduler
        self.reporter_for = reporter_for or (lambda point: None)
        self.on_done = on_done or (lambda point, results: None)
        self.on_state = on_state or (lambda done, running, queued: None)
        self.on_failed = on_failed or (lambda point, message: None)
        self.failed: dict[Point, str] = {}
        self.already_done = 0  # points read back before anything trained
        self.stop_requested = False
        self._trainer = None
        self._stop_event = None
        self._stop_hooks: list = []

    def stop(self) -> None:
        """Stop after the running points' current steps (they save checkpoints)."""
        self.stop_requested = True
        if self._trainer is not None:
            self._trainer.stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()
        for hook in self._stop_hooks:
            hook()

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
        """Results of the finished points in grid order (all of them unless some failed on a
        cluster: :attr:`failed`); None if stopped (checkpoints saved).

        A cluster is connected to (or started) after the points are checked and before any
        trains: a scheduler that cannot be reached is a :class:`SweepError`.
        """
        from .training import TrainingError
        with runfiles.out_lock(self.out):
            status = self.check()
            points = self.cfg.points()
            finished = {p: res for p, (state, res) in status.items() if state == "done"}
            for point, res in finished.items():  # read back, never sent to be trained
                self.on_done(point, res)
            todo = [p for p in points if p not in finished]
            self.already_done = len(finished)
            try:
                if not todo:
                    results = {}
                elif self.scheduler is not None:
                    from .sweep_cluster import run_on_cluster
                    results = run_on_cluster(self, todo)
                else:
                    results = (self._parallel if self.jobs > 1 else self._serial)(todo)
            except runfiles.RunFileError as e:
                raise SweepError(str(e)) from None
            except TrainingError as e:
                raise SweepError(str(e)) from None
        if results is None:
            return None
        results.update(finished)
        return {p: results[p] for p in points if p in results}

    def state(self, done: int, running: int, queued: int) -> None:
        """Report the points done (counting those read back), running and queued."""
        self.on_state(done + self.already_done, running, queued)

    def _finished(self, point, results, done: dict) -> None:
        done[point] = results
        self.on_done(point, results)

    def _serial(self, points):
        results = {}
        for i, point in enumerate(points):
            if self.stop_requested:
                return None
            self.state(len(results), 1, len(points) - i - 1)
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
            self._finished(point, res, results)
        self.state(len(results), 0, 0)
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
                            self._finished(point, res, results)
                    running = min(len(reporters), len(pending))
                    self.state(len(results), running, len(pending) - running)
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
            self.forward(reporters, point, name, args)

    def forward(self, reporters: dict, point: Point, name: str, args) -> None:
        """Replay a reporter call made where ``point`` trains on its reporter here."""
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
    from .config import DEFAULT_TILES
    from .energy_models import hardware_summary, load_arch, load_table, price_counts
    try:
        doc = _read_point_counts(point_folder(out, point))
    except runfiles.RunFileError as e:
        raise StalePoint(f"{e}; pass --recompute to train the point again") from None
    table = load_table(cfg.table)
    train_pj = price_counts(doc["counts"], table, device=point.device)["total_pj"]
    infer_pj = price_counts(doc["inference_counts"], table, device=point.device)["total_pj"]
    density = doc["layer_density"] or doc["activation_density"]
    kwargs = {k: v for a, x in zip(AXES, point.values)
              for k, v in a.estimate_kwargs(x).items()}
    kwargs.setdefault("tiles", DEFAULT_TILES)  # a rule without p-bits ignores it
    if density is not None:
        kwargs["density"] = density
    hw = hardware_summary(load_arch(arch_for(cfg, point)), table=table, **kwargs)
    row = _row(point, hw, seed=point.seed, accuracy=results["accuracy"],
               activation_density=doc["activation_density"],
               train_wall_s=results["train_wall_s"], run=f"{RUNS}/{point.key}")
    # measured, not analytic: the training run's own counts
    row["energy_train_pj_per_sample"] = train_pj / max(1, doc["train_samples"] * doc["epochs"])
    row["energy_inference_pj"] = infer_pj / max(1, doc["test_samples"])
    return row


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per point but the seeds: accuracy mean and sample sd over seeds, mean energies."""
    names = [a.name for a in AXES if not a.averaged]
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(r[n] for n in names), []).append(r)
    rows = []
    for key, rs in groups.items():
        acc = [r["accuracy"] for r in rs]
        first = rs[0]
        densities = [r["activation_density"] for r in rs if r["activation_density"] is not None]
        rows.append({
            **dict(zip(names, key)), "arch": first["arch"], "table": first["table"],
            "seeds": [r["seed"] for r in rs],
            "accuracy_mean": statistics.fmean(acc),
            "accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "accuracy_min": min(acc), "accuracy_max": max(acc),
            **{k: statistics.fmean(r[k] for r in rs)
               for k in ("energy_train_pj_per_sample", "energy_inference_pj",
                         "pbit_energy_share", "train_wall_s")},
            "activation_density": statistics.fmean(densities) if densities else None,
            "n_pbits": first["n_pbits"], "pbit_area_mm2": first["pbit_area_mm2"]})
    return rows


# -------------------------------------------------------------------------------- outputs
def write_outputs(out: Path, meta: dict, rows: list[dict], runs: list[dict] | None) -> list[Path]:
    """``sweep.json`` (everything) and ``sweep.csv`` (one row per point but the seeds),
    atomically (rewritten as points finish: ``meta`` says how many)."""
    out = Path(out)
    doc = {"format": "pbitsim-sweep", "version": 2, **meta, "rows": rows}
    if runs is not None:
        doc["runs"] = runs
    runfiles.write_text(out / "sweep.json", runfiles.json_text(doc, out / "sweep.json"))
    buf = io.StringIO()
    columns = [k for k in rows[0] if not isinstance(rows[0][k], list)] if rows else []
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    runfiles.write_text(out / "sweep.csv", buf.getvalue())
    return [out / "sweep.json", out / "sweep.csv"]


def varying(rows: list[dict]) -> list[Axis]:
    """The row axes with more than one value in ``rows``."""
    return [a for a in AXES if not a.averaged and len({r[a.name] for r in rows}) > 1]


def series_label(row: dict, axes) -> str:
    """A row's line in the plots: its values on ``axes`` (``ideal``, ``bsff ideal``...)."""
    return " ".join(str(row[a.name]) for a in axes) or str(row["device"])


def plot(out: Path, rows: list[dict], trained: bool) -> list[Path]:
    """PNG plots (needs matplotlib, the ``plot`` extra); returns the files written.

    One line per combination of the varying axes other than M. Trained sweeps: accuracy vs
    energy per training sample (points labelled with M, error bars one sd over seeds) and
    accuracy vs M. Estimates: energy per training sample and p-bit area vs M.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [a for a in varying(rows) if a.name != "tiles"] or [axis("device")]
    series: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: -1 if r["tiles"] is None else r["tiles"]):
        series.setdefault(_plain(series_label(r, lines)), []).append(r)
    tiled = {k: [r for r in rs if r["tiles"] is not None] for k, rs in series.items()}
    written = []
    if trained:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for label, rs in series.items():
            x = [r["energy_train_pj_per_sample"] / 1e6 for r in rs]
            y = [100 * r["accuracy_mean"] for r in rs]
            ax.errorbar(x, y, yerr=[100 * r["accuracy_sd"] for r in rs], marker="o",
                        capsize=3, label=label)
            for xi, yi, r in zip(x, y, rs):
                if r["tiles"] is not None:
                    ax.annotate(f"M={r['tiles']}", (xi, yi), textcoords="offset points",
                                xytext=(4, 4), fontsize=8)
        energies = [r["energy_train_pj_per_sample"] for r in rows]
        if max(energies) > 10 * min(energies):  # log only where the range needs it
            ax.set_xscale("log")
        ax.margins(x=0.15, y=0.1)  # room for the M=... labels of the outermost points
        ax.set(xlabel="training energy per sample (uJ, measured counts)",
               ylabel="test accuracy (%)", title=_plain(_title(rows)))
        written.append(_save(fig, Path(out) / "accuracy_vs_energy.png"))
        if any(tiled.values()):
            fig, ax = plt.subplots(figsize=(6.4, 4.4))
            for label, rs in tiled.items():
                if rs:
                    ax.errorbar([r["tiles"] for r in rs], [100 * r["accuracy_mean"] for r in rs],
                                yerr=[100 * r["accuracy_sd"] for r in rs], marker="o",
                                capsize=3, label=label)
            ax.set(xlabel="tiles per unit M", ylabel="test accuracy (%)",
                   title=_plain(_title(rows)))
            written.append(_save(fig, Path(out) / "accuracy_vs_tiles.png"))
    elif any(tiled.values()):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
        for label, rs in tiled.items():
            if not rs:
                continue
            m = [r["tiles"] for r in rs]
            ax1.plot(m, [r["energy_train_pj_per_sample"] / 1e6 for r in rs], marker="o",
                     label=label)
            ax2.plot(m, [r["pbit_area_mm2"] for r in rs], marker="o", label=label)
        ax1.set(xlabel="tiles per unit M", ylabel="training energy per sample (uJ)")
        ax2.set(xlabel="tiles per unit M", ylabel="p-bit area (mm$^2$)", yscale="log")
        fig.suptitle(_plain(_title(rows)) + " (analytic estimate)")
        written.append(_save(fig, Path(out) / "energy_vs_tiles.png"))
    return written


def _plain(text: str) -> str:
    """A user string (a net's or table's name, a device spec) as matplotlib prints it: ``$``
    would start its math mode (``$\\x$`` raises), so it is escaped."""
    return text.replace("$", r"\$")


def _title(rows) -> str:
    """What the rows share: the rule and data set when there is one of each, net and table."""
    r = rows[0]
    algos = sorted({str(x["algo"]) for x in rows})
    datasets = sorted({str(x["dataset"]) for x in rows})
    archs = sorted({str(x["arch"]) for x in rows})
    from .rulebook import RULE_SPECS
    labels = [RULE_SPECS[a].label if a in RULE_SPECS else a for a in algos]
    return (f"{', '.join(labels)} on {', '.join(datasets)} "
            f"({', '.join(archs)}, {r['table']})")


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
