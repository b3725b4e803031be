"""A training run's configuration: every option of ``pbitsim train``, checked before any data is read.

:meth:`TrainConfig.validate` turns every bad value into one :class:`TrainingError` line (the
CLI prints it as ``Error: ...`` and exits 2): algorithm, tiles, budget, the architecture and
whether the algorithm's rule applies to it (:mod:`pbitsim.network.arch_rules`), the schedule, the p-bit
device, BGBSFF's update, the energy table, threads and backend.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from ..network.arch_rules import TILED_RULES, resolve_arch
from ..config import (BACKENDS, DATASET_INPUTS, DEFAULT_BACKEND, DEFAULT_TILES, check_seed,
                      check_threads, check_tiles, machine_memory_bytes)
from ..hardware.devices import parse_device, spec_string
from ..precision import FP32, Precision, make_precision
from ..estimator.algorithms import (
    DEFAULT_ESTIMATOR, DEFAULT_GRAD_QUANT, DEFAULT_UPDATE, UPDATES, get_algorithm)
from ..network.archs import ARCH_DIR
from ..schedules import CAFO_DFA_RULES, check_algo_schedule, default_schedule, dfa_epochs
from ..rulebook import resolve_algo, units_of
from ..units import Units
from .algorithms import ALGOS

__all__ = ["TrainConfig", "TrainingError", "RESULT_FIELDS"]

# Fields that decide the result: a checkpoint resumes only under the same values. Not
# eval_samples, which only changes the test pass: a finished run resumed with another value is
# re-evaluated without retraining.
RESULT_FIELDS = ("algo", "dataset", "tiles", "epochs", "batch_size", "lr", "seed", "limit_train",
                  "limit_test", "estimator", "grad_quant", "update", "schedule", "arch",
                  "arch_sha256", "device", "threads", "backend", "dfa_epochs", "weight_bits",
                  "acc_bits", "grad_bits", "calibration_samples")


class TrainingError(ValueError):
    """Bad configuration or an unusable checkpoint (one-line message)."""


@dataclass
class TrainConfig:
    algo: str = "bsff"
    dataset: str = "mnist"
    # tiles per tiled unit: None = not given (the rules of TILED_RULES then take DEFAULT_TILES;
    # given to a local rule it selects its p-bit form: mf -> bsmf, sff -> bssff, cafo-rand ->
    # bscafo-rand, cafo-dfa -> bscafo-dfa (pbitsim.rulebook.resolve_algo); without it they are
    # real-valued)
    tiles: int | None = None
    epochs: int = 1
    batch_size: int = 128
    lr: float | None = None  # None: the rule's default (its descriptor's default_lr)
    seed: int = 0
    limit_train: int | None = None  # a seeded random subset of this many training images
    limit_test: int | None = None  # the first N test images
    estimator: str = DEFAULT_ESTIMATOR
    grad_quant: str = DEFAULT_GRAD_QUANT  # BGBSFF only (sign: biased, learns poorly)
    update: str = DEFAULT_UPDATE  # BGBSFF only: adam | shift (w -= 2^-k g, no optimizer state)
    # CwC-family freezing: staggered | reference | none; mf/bsmf: greedy | online; None: the
    # algorithm's default (default_schedule)
    schedule: str | None = None
    arch: str | None = None  # built-in name or TOML file; None: the default for the dataset
    arch_sha256: str | None = None  # set by validate(): a user TOML file's content hash
    energy_table: str = "horowitz-45nm"
    device: str = "ideal"  # p-bit device spec (bsff/bgbsff), e.g. "smtj:offset_sd=0.2"
    eval_samples: int = 1  # bsff/bgbsff: sampled passes averaged per test image (K x the counts)
    # torch and numba threads of this run (float reductions depend on it); None: as the process
    threads: int | None = None
    backend: str = DEFAULT_BACKEND  # bsff/bgbsff index layers: dense (torch on counts) | index
    # cafo-dfa: epochs of direct-feedback-alignment block training before the predictors; None:
    # the seeds' value for the data set (schedules.CAFO_DFA_EPOCHS)
    dfa_epochs: int | None = None

    # the datapath (pbitsim.precision): None = fp32; weight_bits makes it fixed point
    weight_bits: int | None = None
    acc_bits: int | None = None  # None with weight_bits: config.DEFAULT_FIXED_ACC_BITS
    grad_bits: int | None = None  # None: fp32 gradients
    # training samples the batch-norm statistics are recomputed from at the final weights
    # (pbitsim.training.calibration); None: config.CALIBRATION_SAMPLES; 0: none (the running
    # averages of the training steps are tested)
    calibration_samples: int | None = None

    def __post_init__(self) -> None:
        if self.tiles is None and self.algo in TILED_RULES:
            self.tiles = DEFAULT_TILES

    @property
    def units(self) -> Units:
        """The units the run's rule is made of (:func:`pbitsim.rulebook.units_of`): tiled
        p-bit units of ``tiles`` on ``device`` for a tiled rule (after :meth:`validate`, which
        resolves ``--algo NAME --tiles M`` to the p-bit form and checks both), else real."""
        return units_of(self.algo, self.tiles, self.device)

    @property
    def precision(self) -> Precision:
        """The checked datapath (after :meth:`validate`, which fills in ``acc_bits``)."""
        if self.weight_bits is None and self.acc_bits is None and self.grad_bits is None:
            return FP32
        return make_precision(self.weight_bits, self.acc_bits, self.grad_bits)

    def validate(self) -> None:
        if self.algo not in ALGOS:
            raise TrainingError(f"unknown algorithm {self.algo!r}; choose one of {', '.join(ALGOS)}")
        self.algo = resolve_algo(self.algo, self.tiles)  # a local rule with --tiles: its p-bit form
        if self.tiles is None and self.algo in TILED_RULES:
            self.tiles = DEFAULT_TILES
        for name in ("tiles", "epochs", "batch_size", "eval_samples"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise TrainingError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.calibration_samples is not None and self.calibration_samples < 0:
            raise TrainingError(f"--calibration-samples must be >= 0, got "
                                f"{self.calibration_samples}")
        try:
            check_seed(self.seed)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        if self.batch_size < 2:
            raise TrainingError("--batch-size must be >= 2 (batch norm needs two samples)")
        try:
            if self.tiles is not None:
                check_tiles(self.tiles)
            if self.dfa_epochs is not None and self.algo not in CAFO_DFA_RULES:
                raise ValueError(f"--dfa-epochs applies to {' and '.join(CAFO_DFA_RULES)} (the "
                                 "block stage)")
            if self.algo in CAFO_DFA_RULES:
                self.dfa_epochs = dfa_epochs(self.algo, self.dataset, self.dfa_epochs)
        except ValueError as e:
            raise TrainingError(str(e) if str(e).startswith("--") else f"--tiles: {e}") from None
        for name in ("limit_train", "limit_test"):
            v = getattr(self, name)
            if v is not None and v < 2:
                raise TrainingError(f"--{name.replace('_', '-')} must be >= 2, got {v}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"--lr must be a positive number, got {self.lr}")
        if self.schedule is None:
            self.schedule = default_schedule(self.algo)
        try:
            check_algo_schedule(self.algo, self.schedule)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        self._check_arch()
        try:  # canonical spec, so equal devices compare equal (checkpoints, file names)
            self.device = spec_string(parse_device(self.device))
        except ValueError as e:
            raise TrainingError(f"--device: {e}") from None
        if self.update not in UPDATES:
            raise TrainingError(f"--update must be one of {', '.join(UPDATES)}, got "
                                f"{self.update!r}")
        if self.update != DEFAULT_UPDATE and self.algo != "bgbsff":
            raise TrainingError("--update applies to bgbsff (the other rules use Adam)")
        if self.threads is not None:
            try:
                check_threads(self.threads)
            except ValueError as e:
                raise TrainingError(str(e)) from None
        self._check_table()
        if self.backend not in BACKENDS:
            raise TrainingError(f"unknown --backend {self.backend!r}; choose "
                                f"{' or '.join(BACKENDS)}")
        if self.eval_samples > 1 and self.algo not in ("bsff", "bgbsff"):
            raise TrainingError("--eval-samples applies to bsff/bgbsff (sampled p-bit networks)")
        self._check_precision()

    def _check_precision(self) -> None:
        """The widths (one line for a bad one), filled in (``acc_bits``), and that they apply."""
        try:
            prec = make_precision(self.weight_bits, self.acc_bits, self.grad_bits)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        if not prec.fixed:
            return
        if not get_algorithm(self.algo).fixed_point:
            fixed = [a for a in ALGOS if get_algorithm(a).fixed_point]
            raise TrainingError(f"--weight-bits applies to {', '.join(fixed)}, not {self.algo}")
        if self.algo == "bgbsff" and prec.grad_bits is not None:
            raise TrainingError("--grad-bits does not apply to bgbsff: its errors are already "
                                f"{self.grad_quant} words (--grad-quant)")
        self.acc_bits = prec.acc_bits

    def _check_arch(self) -> None:
        """Resolve ``arch`` (None: the dataset's default) and check it fits the algorithm and
        the dataset, before any data is read; a user file's content hash is recorded."""
        if self.dataset not in DATASET_INPUTS:  # data of its own: checked by the Trainer
            return
        shape, classes = DATASET_INPUTS[self.dataset]
        try:
            net = resolve_arch(self.algo, self.arch, shape, classes, self.dataset, self.schedule)
        except ValueError as e:
            msg = str(e)
            if self.arch is not None and not msg.startswith("--"):
                msg = f"--arch: {msg}"
            raise TrainingError(msg) from None
        if self.arch is None:
            self.arch = net.name
        batch = min(self.batch_size, self.limit_train or self.batch_size)  # what a step holds
        need, have = net.min_train_bytes(batch), machine_memory_bytes()
        if have is not None and need > have:
            raise TrainingError(f"{net.name} ({net.params:,} parameters) needs at least "
                                f"{need / 2**30:,.1f} GiB to train at batch size {batch}; this "
                                f"machine has {have / 2**30:,.1f} GiB")
        builtin = net.path is not None and Path(net.path).parent == ARCH_DIR
        self.arch_sha256 = None if builtin else hashlib.sha256(
            Path(net.path).read_bytes()).hexdigest()

    def _check_table(self) -> None:
        """The energy table exists and prices the device: known now, not after the run."""
        from ..hardware.tables import load_table
        try:
            load_table(self.energy_table).with_device(self.device)
        except ValueError as e:
            raise TrainingError(f"--table: {e}") from None

    def data_notes(self, n_train: int, n_test: int) -> list[str]:
        """One line for each limit above what the data set holds, saying what is used."""
        notes = []
        for option, limit, n, what in (("--limit-train", self.limit_train, n_train, "training"),
                                       ("--limit-test", self.limit_test, n_test, "test")):
            if limit is not None and limit > n:
                notes.append(f"{option} {limit:,} is more than the {n:,} {what} images of "
                             f"{self.dataset}: all {n:,} are used")
        return notes

    def result_fields(self) -> dict:
        return {k: getattr(self, k) for k in RESULT_FIELDS}
