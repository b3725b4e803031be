"""The sweep's first stage, the grid: its axes (:data:`AXES`, each declared once as an
:class:`Axis`), the points they span (:class:`Point`), the configuration
(:class:`SweepConfig`) and the checks made before anything trains (:func:`check_grid`)."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import MAX_SEED, MAX_TILES
from ..hardware.devices import split_devices
from ..options import (DEFAULT_ALGO, DEFAULT_BATCH, DEFAULT_DATASET, DEFAULT_DEVICE,
                       DEFAULT_EPOCHS, DEFAULT_TABLE, RunOptions)

__all__ = ["Axis", "AXES", "axis", "Point", "SweepConfig", "SweepError", "StalePoint",
           "arch_for", "check_grid", "split_devices"]


class SweepError(ValueError):
    """A sweep that cannot go on as asked: one line."""


class StalePoint(SweepError):
    """A point's files were made with another configuration, or cannot be read back."""


# ------------------------------------------------------------------------------------ axes
def _int_values(option: str, lo: int, hi: int,
                check: Callable[[int], object] | None = None) -> Callable[[tuple[str, ...]], tuple]:
    """Parser of comma-separated integers in ``lo..hi`` (repeats dropped, order kept); ``check``:
    each value's check of a run option (:func:`pbitsim.options.check_option`) instead."""
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
        for v in values if check is not None else ():
            check(v)
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
    from ..hardware.devices import spec_string
    from ..options import check_option
    specs = [spec_string(check_option("device", spec)) for text in texts
             for spec in split_devices(text)]
    if not specs:
        raise ValueError("--device is empty (give ideal, digital or smtj, with options as "
                         "kind:key=value,...)")
    return tuple(dict.fromkeys(specs))


def _check_tiles(value: int) -> int:
    from ..options import check_option
    return check_option("tiles", value)


def _rules() -> tuple[str, ...]:
    from ..rulebook import RULES
    return RULES


def _datasets() -> tuple[str, ...]:
    from ..config import DATASET_INPUTS
    return tuple(DATASET_INPUTS)


def _precision_values(texts: tuple[str, ...]) -> tuple:
    """Parser of comma-separated datapath names to their :class:`~pbitsim.precision.Precision`
    (``w8`` is ``w8a32``), parsed once, here: the points carry the objects."""
    values = []
    for text in texts:
        for part in str(text).split(","):
            if not part.strip():
                raise ValueError("--precision: empty value")
            p = _as_precision(part)
            if p not in values:
                values.append(p)
    return tuple(values)


def _as_precision(value):
    """A datapath: a :class:`~pbitsim.precision.Precision`, or its label (``w8a16g8``)."""
    from ..precision import Precision, parse_label
    if isinstance(value, Precision):
        return value
    try:
        return parse_label(value)
    except ValueError as e:
        raise ValueError(f"--precision: {e}") from None


def _precision_fields(p) -> dict:
    return {"weight_bits": p.weight_bits, "acc_bits": p.acc_bits, "grad_bits": p.grad_bits}


def _label(p) -> str:
    return p.label()


def _has_fixed_point(values: dict) -> bool:
    """Whether the point's rule has a fixed-point datapath (the precision axis applies)."""
    from ..estimator.algorithms import get_algorithm
    return get_algorithm(values["algo"]).fixed_point


def _uses_pbits(values: dict) -> bool:
    """Whether the point's rule samples tiled p-bits (tiles and device apply to it)."""
    from ..estimator.algorithms import get_algorithm
    return get_algorithm(values["algo"]).tiled


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
        The :class:`~pbitsim.options.RunOptions` field the value sets.
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
        The keyword of :func:`~pbitsim.estimator.hardware_summary` the value sets in
        ``--estimate-only`` (None: it does not set one).
    averaged
        The rows of the outputs average over this axis (the seeds).
    config
        ``config(value) -> dict`` of :class:`~pbitsim.options.RunOptions` fields, for an axis
        whose value sets several (the datapath's widths); None: ``{field: value}``.
    show
        ``show(value)``: the value as the outputs show it (the rows of ``sweep.csv`` and
        ``sweep.json``, the configuration in ``sweep.json``); None: the value itself.
    value_of
        ``value_of(v)``: the axis's value of a value given in a :class:`SweepConfig`'s grid
        directly (not parsed from the option's text); None: as given.
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
    show: Callable[[Any], Any] | None = None
    value_of: Callable[[Any], Any] | None = None

    def train_fields(self, value) -> dict:
        """The run options (RunOptions fields) a (not None) value sets."""
        return self.config(value) if self.config is not None else {self.field: value}

    def estimate_kwargs(self, value) -> dict:
        """The keyword of :func:`~pbitsim.estimator.hardware_summary` a value sets."""
        if self.estimate_arg is None or value is None:
            return {}
        return {self.estimate_arg: value}

    def shown(self, value):
        """The value as the outputs show it (:attr:`show`); None stays None."""
        return value if value is None or self.show is None else self.show(value)

    @functools.cached_property
    def default_values(self) -> tuple:
        """The values of the option's default text (parsed once)."""
        return self.parse((self.default,))

    def key_part(self, value) -> str | None:
        """The value's part of a folder name; None: left out."""
        if value is None or (not self.label_default and (value,) == self.default_values):
            return None
        return self.label(value)


#: The axes of the grid, outermost first (the grid's order and the order of a point's key).
AXES: tuple[Axis, ...] = (
    Axis("dataset", "--dataset", "dataset", _choice_values("--dataset", _datasets),
         DEFAULT_DATASET, str, "Data sets (comma-separated).", column="dataset",
         label_default=False),
    Axis("algo", "--algo", "algo", _choice_values("--algo", _rules), DEFAULT_ALGO, str,
         "Learning rules (comma-separated), any of pbitsim train's that the network supports; "
         "tiles and device apply to the p-bit rules.", column="algo", label_default=False,
         estimate_arg="algo"),
    Axis("device", "--device", "device", _device_values, DEFAULT_DEVICE, _slug,
         "p-bit devices: ideal, digital, smtj, with options as kind:key=value,...; "
         "comma-separated or repeated.", column="device", applies=_uses_pbits,
         estimate_arg="device"),
    Axis("tiles", "--tiles", "tiles", _int_values("--tiles", 1, MAX_TILES, _check_tiles),
         "1,2,4,7,10",
         lambda m: f"m{m}", "Tile counts M (comma-separated).", short="-M", column="M",
         applies=_uses_pbits, estimate_arg="tiles"),
    Axis("precision", "--precision", "precision", _precision_values, "fp32", _label,
         "Datapaths (comma-separated): fp32, or wW[aA][gG] for W-bit weights, A-bit accumulators "
         "and G-bit gradients (pbitsim train's --weight-bits/--acc-bits/--grad-bits), e.g. "
         "fp32,w8a32,w4a16g8; for the rules with a fixed-point form.", column="datapath",
         label_default=False, applies=_has_fixed_point, estimate_arg="precision",
         config=_precision_fields, show=_label, value_of=_as_precision),
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
        return cls(tuple(a.default_values[0] if a.name not in values
                         else values[a.name] if a.value_of is None or values[a.name] is None
                         else a.value_of(values[a.name]) for a in AXES))

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
    from ..config import DATASET_INPUTS
    from ..network.archs import default_arch
    from ..rulebook import rule
    return default_arch(DATASET_INPUTS[point.dataset][0], rule(point.algo).net)


@dataclass(frozen=True)
class SweepConfig:
    """What is swept (``grid``: axis name -> values; an axis left out takes its default) and
    the training budget of every point."""

    grid: dict = field(default_factory=dict)
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH
    lr: float | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    table: str = DEFAULT_TABLE
    data_dir: str | None = None
    #: torch/numba threads of every point, whatever the number of points trained at once
    threads: int = 1
    arch: str | None = None  # built-in name or TOML file; None: the dataset's default
    train_options: dict = field(default_factory=dict)
    #: Hierarchies every point is also priced on (loaded
    #: :class:`~pbitsim.hardware.spec.Hardware`, variants included): a pricing dimension, so
    #: it multiplies columns, not trained points.
    hardware: tuple = ()

    def __post_init__(self) -> None:
        grid = {name: tuple(axis(name).value_of(v) for v in values)
                if name in _BY_NAME and axis(name).value_of is not None and values else values
                for name, values in self.grid.items()}
        object.__setattr__(self, "grid", grid)

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

    def shared_options(self) -> dict:
        """The run options every point shares: the budget, the table, the threads and
        ``train_options`` (the axes' fields take the point's values, the others their
        defaults)."""
        return dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                    limit_train=self.limit_train, limit_test=self.limit_test,
                    energy_table=self.table, threads=self.threads, **self.train_options)

    def options(self, point: Point) -> RunOptions:
        """A point's run options: :meth:`shared_options` with the point's axis values and
        network, checked (:meth:`~pbitsim.options.RunOptions.validate`: ``OptionError``, one
        line) the first time they are asked for; later calls return the same checked options
        (the CLI, the point's status and its trainer share one check)."""
        cache = self.__dict__.setdefault("_options", {})
        if point not in cache:
            swept = {k: v for a, x in zip(AXES, point.values) if x is not None
                     for k, v in a.train_fields(x).items()}
            cache[point] = RunOptions(**{**self.shared_options(), **swept,
                                         "arch": arch_for(self, point)}).validate()
        return cache[point]

    def train_config(self, point: Point) -> RunOptions:
        """A point's run options, checked (:meth:`options`)."""
        return self.options(point)

    def meta(self) -> dict:
        """The configuration as recorded in ``sweep.json``: every axis's values and the budget."""
        budget = {k: getattr(self, k) for k in ("epochs", "batch_size", "lr", "limit_train",
                                                 "limit_test", "table", "data_dir", "threads",
                                                 "arch")}
        out = {**{a.name: [a.shown(v) for v in self.values(a.name)] for a in AXES}, **budget,
               **self.train_options}
        if self.hardware:
            out["hardware"] = [hw.name for hw in self.hardware]
        return out


def check_grid(cfg: SweepConfig) -> None:
    """The sweep's budget (checked as ``pbitsim train`` checks it) and every (data set, rule)
    of the grid, which must fit the network: ``ValueError`` (one line) naming the first
    mistake, before anything trains or is priced (torch-free)."""
    from ..network.arch_rules import resolve_arch
    from ..config import DATASET_INPUTS
    from ..schedules import default_schedule
    from ..options import check_option
    # the budget every point shares, checked as pbitsim train and estimate check it
    for name, value in (("epochs", cfg.epochs), ("batch_size", cfg.batch_size),
                        ("limit_train", cfg.limit_train), ("limit_test", cfg.limit_test),
                        ("energy_table", cfg.table)):
        if value is not None:
            check_option(name, value)
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
