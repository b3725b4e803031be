"""One run's options, checked once at the edge: :class:`RunOptions` (pure Python, no torch).

``pbitsim train`` builds one from its command line, ``pbitsim sweep`` one per point (the
sweep's base options with the point's axis values replaced: :meth:`SweepConfig.options
<pbitsim.sweep.SweepConfig.options>`), a script or a test one directly; the trainer
(:class:`pbitsim.training.TrainConfig` is this type) runs it. :meth:`RunOptions.validate`
turns every bad value into one :class:`OptionError` line naming the option (the CLI prints
it as ``Error: ...`` and exits 2) against the rule's descriptor (:mod:`pbitsim.rulebook`):
which options apply to which rule are descriptor facts, not name tests. The options are
immutable: ``validate`` returns them checked and normalised (``--algo mf --tiles M`` ->
``bsmf``, the default schedule, network and DFA epochs, the canonical device spec, the
accumulator width), and checked options are not checked again (:attr:`~RunOptions.is_checked`;
a copy with a changed field is unchecked; a pickled copy is checked again where it is read).

The checked options give the run's objects: :attr:`~RunOptions.units` (real or tiled p-bit
units, :mod:`pbitsim.units`), :attr:`~RunOptions.device_spec` (the parsed p-bit device),
:attr:`~RunOptions.precision` (:mod:`pbitsim.precision`). What a run records of them in its
files (``results.json``'s ``config``, the checkpoint's) is :meth:`~RunOptions.recorded` /
:meth:`~RunOptions.result_fields`; a recorded configuration is read back by
:meth:`~RunOptions.from_recorded` and compared with the options (a resume, a sweep's finished
point) by :meth:`~RunOptions.differs_from`, both reading an earlier version's file the same way.

The defaults of the options every command shares are defined here, once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from .config import (BACKENDS, DATASET_INPUTS, DEFAULT_BACKEND, DEFAULT_DEVICE, DEFAULT_TILES,
                     check_seed, check_threads, check_tiles, machine_memory_bytes)
from .hardware.devices import Device, parse_device, spec_string
from .network import gradients
from .hardware.tables import DEFAULT_TABLE
from .network.arch_rules import TILED_RULES, resolve_arch
from .network.archs import ARCH_DIR
from .precision import FP32, Precision, make_precision
from .rulebook import RULE_SPECS, RULES, recorded_algo, resolve_algo, rule
from .seeds import EARLIER_PBIT_UNIFORMS
from .schedules import CAFO_DFA_RULES, check_algo_schedule, default_schedule, dfa_epochs
from .units import Units, units_of

__all__ = ["RunOptions", "OptionError", "check_option", "check_applies", "RESULT_FIELDS",
           "COUNTED_CHOICES", "DEFAULT_ALGO", "DEFAULT_DATASET", "DEFAULT_BATCH", "DEFAULT_EPOCHS", "DEFAULT_GRAD_QUANT", "DEFAULT_UPDATE", "UPDATES",
           "DEFAULT_ESTIMATOR", "DEFAULT_TABLE", "DEFAULT_DEVICE"]

#: The rule ``pbitsim train`` and ``pbitsim sweep`` run without ``--algo``.
DEFAULT_ALGO = "bsff"
#: The data set ``pbitsim train`` and ``pbitsim sweep`` use without ``--dataset``.
DEFAULT_DATASET = "mnist"
#: Mini-batch size: amortizes per-step work (optimizer, batch-norm folding) over samples.
#: 128 is the CwC-FF reference configuration.
DEFAULT_BATCH = 128
DEFAULT_EPOCHS = 1
DEFAULT_GRAD_QUANT = "ternary"   # BGBSFF's error quantizer (sign: biased, learns poorly)
DEFAULT_UPDATE = "adam"          # BGBSFF's weight update: adam | shift (w -= 2^-k g, no state)
UPDATES = ("adam", "shift")
DEFAULT_ESTIMATOR = "mean-field"

# Fields that decide the result: a checkpoint resumes only under the same values. Not
# eval_samples, which only changes the test pass: a finished run resumed with another value is
# re-evaluated without retraining.
RESULT_FIELDS = ("algo", "dataset", "tiles", "epochs", "batch_size", "lr", "seed", "limit_train",
                 "limit_test", "estimator", "grad_quant", "update", "schedule", "arch",
                 "arch_sha256", "device", "threads", "backend", "dfa_epochs", "weight_bits",
                 "acc_bits", "grad_bits", "calibration_samples", "pbit_stream")


#: The options that change a step's counts (besides the rule, its network, its units and the
#: datapath): :meth:`RunOptions.counted_choices`.
COUNTED_CHOICES = ("batch_size", "grad_quant", "update", "eval_samples", "estimator")


class OptionError(ValueError):
    """A bad run option (one line naming it). :class:`pbitsim.training.TrainingError` is
    this class: the trainer's unusable checkpoints are reported the same way."""


def _flag(name: str) -> str:
    return "--" + {"energy_table": "table"}.get(name, name).replace("_", "-")


def _at_least(name: str, value, low: int, why: str = "") -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise OptionError(f"{_flag(name)} must be an integer, got {value!r}")
    if value < low:
        raise OptionError(f"{_flag(name)} must be >= {low}{why}, got {value}")
    return int(value.__index__())


def _tiles(value) -> int:
    _at_least("tiles", value, 1)
    try:
        return check_tiles(value)
    except ValueError as e:
        raise OptionError(f"--{e}") from None


def _one_of(name: str, value, names):
    if not isinstance(value, str) or value not in names:
        raise OptionError(f"{_flag(name)} must be one of {', '.join(names)}, got {value!r}")
    return value


def _parsed(name: str, parse, value):
    try:
        return parse(value)
    except ValueError as e:
        raise OptionError(f"{_flag(name)}: {e}") from None


def _table(value):
    from .hardware.tables import load_table
    return _parsed("energy_table", load_table, value)


#: The check of each option that means the same in every command, on its own (whether it
#: applies to the rule is :func:`check_applies`'): ``pbitsim train``, ``sweep`` and
#: ``estimate`` (:func:`pbitsim.estimator.estimate`) give one error for one mistake.
_CHECKS = {
    "tiles": _tiles,
    "epochs": lambda v: _at_least("epochs", v, 1),
    "batch_size": lambda v: _at_least("batch_size", v, 2, " (batch norm needs two samples)"),
    "eval_samples": lambda v: _at_least("eval_samples", v, 1),
    "calibration_samples": lambda v: _at_least("calibration_samples", v, 0),
    "limit_train": lambda v: _at_least("limit_train", v, 2),
    "limit_test": lambda v: _at_least("limit_test", v, 2),
    "update": lambda v: _one_of("update", v, UPDATES),
    "grad_quant": lambda v: _one_of("grad_quant", v, tuple(gradients.QUANTIZERS)),
    "estimator": lambda v: _one_of("estimator", v, tuple(gradients.ESTIMATORS)),
    "device": lambda v: _parsed("device", parse_device, v),
    "energy_table": _table,
}


def check_option(name: str, value):
    """``value`` of the run option ``name`` checked on its own, as every command checks it:
    ``OptionError`` (one line naming the option: ``--batch-size must be >= 2 ...``), else the
    value (an integer as an int, a device spec as its :class:`~pbitsim.hardware.devices.Device`,
    an energy table's name or file as the loaded table)."""
    return _CHECKS[name](value)


def _names(flag: str) -> tuple[str, ...]:
    """The rules whose descriptor sets ``flag``, in listing order."""
    return tuple(n for n, s in RULE_SPECS.items() if getattr(s, flag))


def check_applies(algos, *, dfa_epochs=None, update: str = DEFAULT_UPDATE,
                  eval_samples: int = 1, weight_bits: int | None = None) -> None:
    """``OptionError`` (one line) for an option given a value that none of ``algos`` (rule
    names, :mod:`pbitsim.rulebook`) takes: whether an option applies is a fact of the rules'
    descriptors, checked here for ``pbitsim train`` (its one rule) and ``pbitsim estimate``
    (its list: an option must apply to at least one)."""
    specs = [rule(a) for a in algos]
    if dfa_epochs is not None and not any(a in CAFO_DFA_RULES for a in algos):
        raise OptionError(f"--dfa-epochs applies to {' and '.join(CAFO_DFA_RULES)} (the block "
                          "stage)")
    if update != DEFAULT_UPDATE and not any(s.quantized_errors for s in specs):
        raise OptionError(f"--update applies to {', '.join(_names('quantized_errors'))} "
                          "(the other rules use Adam)")
    if eval_samples > 1 and not any(s.sampled_eval for s in specs):
        raise OptionError(f"--eval-samples applies to {'/'.join(_names('sampled_eval'))} "
                          "(sampled p-bit networks)")
    if weight_bits is not None and not any(s.fixed_point for s in specs):
        raise OptionError(f"--weight-bits applies to {', '.join(_names('fixed_point'))}, "
                          f"not {', '.join(algos)}")


@dataclass(frozen=True)
class RunOptions:
    """The options of one training run: every option of ``pbitsim train``; immutable.

    Build it with keywords (an option not given takes its default); :meth:`validate` returns
    the checked, normalised options (:meth:`checked` builds and checks in one call), which are
    what a run takes: the trainer, the sweep and :func:`pbitsim.estimator.estimate` check
    options they are given unless they are already checked. A changed copy
    (:func:`dataclasses.replace`) is unchecked again.
    """

    algo: str = DEFAULT_ALGO
    dataset: str = DEFAULT_DATASET
    # tiles per tiled unit: None = not given (the rules of TILED_RULES then take DEFAULT_TILES;
    # given to a local rule it selects its p-bit form: mf -> bsmf, sff -> bssff, cafo-rand ->
    # bscafo-rand, cafo-dfa -> bscafo-dfa (pbitsim.rulebook.resolve_algo); without it they are
    # real-valued)
    tiles: int | None = None
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH
    lr: float | None = None  # None: the rule's default (its descriptor's default_lr)
    seed: int = 0
    limit_train: int | None = None  # a seeded random subset of this many training images
    limit_test: int | None = None  # the first N test images
    estimator: str = DEFAULT_ESTIMATOR
    grad_quant: str = DEFAULT_GRAD_QUANT  # a rule with quantized errors (BGBSFF) only
    # a rule with quantized errors (BGBSFF) only: adam | shift (w -= 2^-k g, no optimizer state)
    update: str = DEFAULT_UPDATE
    # CwC-family freezing: staggered | reference | none; mf/bsmf: greedy | online; None: the
    # algorithm's default (default_schedule)
    schedule: str | None = None
    arch: str | None = None  # built-in name or TOML file; None: the default for the dataset
    arch_sha256: str | None = None  # set by validate(): a user TOML file's content hash
    energy_table: str = DEFAULT_TABLE
    device: str = DEFAULT_DEVICE  # p-bit device spec (tiled rules), e.g. "smtj:offset_sd=0.2"
    # sampled passes averaged per test image (K x the counts): the rules whose descriptor has
    # sampled_eval (bsff, bgbsff)
    eval_samples: int = 1
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
            object.__setattr__(self, "tiles", DEFAULT_TILES)

    # ---------------------------------------------------------------- building
    @classmethod
    def checked(cls, **options) -> "RunOptions":
        """Options from keywords, checked and normalised (:meth:`validate`)."""
        return cls(**options).validate()

    def __getstate__(self) -> dict:
        """A copy in another process (a sweep's worker) is checked again there: its machine's
        memory, its files."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # ---------------------------------------------------------------- the run's objects
    @property
    def units(self) -> Units:
        """The units the run's rule is made of (:func:`pbitsim.units.units_of`): tiled
        p-bit units of ``tiles`` on ``device`` for a tiled rule (after :meth:`validate`, which
        resolves ``--algo NAME --tiles M`` to the p-bit form and checks both), else real."""
        return units_of(self.algo, self.tiles, self.device_spec)

    @property
    def pbit_stream(self) -> str | None:
        """The uniforms the run's p-bits draw (:data:`pbitsim.seeds.PBIT_UNIFORMS`, by the
        device's ``uniforms``); None for real-valued units or a device with a generator of its
        own. Recorded in the run files, so a run drawn with other uniforms is not resumed."""
        return self.device_spec.uniforms if self.units.tiled else None

    @property
    def precision(self) -> Precision:
        """The checked datapath (after :meth:`validate`, which fills in ``acc_bits``; made
        once from the widths)."""
        widths = (self.weight_bits, self.acc_bits, self.grad_bits)
        cached = self.__dict__.get("_precision")
        if cached is None or cached[0] != widths:
            cached = (widths, FP32 if widths == (None, None, None) else make_precision(*widths))
            self.__dict__["_precision"] = cached
        return cached[1]

    @property
    def device_spec(self) -> Device:
        """The p-bit device, parsed (once: :meth:`validate` keeps the object it parsed)."""
        cached = self.__dict__.get("_device")
        if cached is None or cached[0] != self.device:
            cached = (self.device, parse_device(self.device))
            self.__dict__["_device"] = cached
        return cached[1]

    # ---------------------------------------------------------------- checking
    @property
    def is_checked(self) -> bool:
        """Whether these are options :meth:`validate` returned (checked and normalised)."""
        return self.__dict__.get("_checked", False)

    def validate(self) -> "RunOptions":
        """These options checked and normalised against the rule's descriptor (a new object;
        these if already checked); ``OptionError`` (one line naming the option) for the first
        bad one."""
        if self.is_checked:
            return self
        out = dataclasses.replace(self)
        out._validate()
        out.__dict__["_checked"] = True
        return out

    def _set(self, name: str, value) -> None:
        """Normalise one field while :meth:`validate` checks a fresh copy."""
        object.__setattr__(self, name, value)

    def with_network(self, arch: str) -> "RunOptions":
        """Checked options whose ``arch`` the trainer resolved from the data it was given (a
        data set of its own has no default network before its inputs are seen)."""
        if not self.is_checked:
            raise OptionError("with_network() takes checked options (validate() first)")
        if self.arch is not None:
            return self
        out = dataclasses.replace(self, arch=arch)
        out.__dict__.update({k: v for k, v in self.__dict__.items() if k.startswith("_")})
        return out

    def _validate(self) -> None:
        if self.algo not in RULES:
            raise OptionError(f"unknown algorithm {self.algo!r}; choose one of {', '.join(RULES)}")
        # a local rule with --tiles: its p-bit form
        self._set("algo", resolve_algo(self.algo, self.tiles))
        spec = rule(self.algo)
        if self.tiles is None and self.algo in TILED_RULES:
            self._set("tiles", DEFAULT_TILES)
        for name in ("tiles", "epochs", "batch_size", "eval_samples", "calibration_samples"):
            if getattr(self, name) is not None:
                check_option(name, getattr(self, name))
        check_applies([self.algo], dfa_epochs=self.dfa_epochs)
        try:
            check_seed(self.seed)
            if self.algo in CAFO_DFA_RULES:
                self._set("dfa_epochs", dfa_epochs(self.algo, self.dataset, self.dfa_epochs))
        except ValueError as e:
            raise OptionError(str(e)) from None
        for name in ("limit_train", "limit_test"):
            if getattr(self, name) is not None:
                check_option(name, getattr(self, name))
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise OptionError(f"--lr must be a positive number, got {self.lr}")
        if self.schedule is None:
            self._set("schedule", default_schedule(self.algo))
        try:
            check_algo_schedule(self.algo, self.schedule)
        except ValueError as e:
            raise OptionError(str(e)) from None
        self._check_arch()
        device = check_option("device", self.device)
        # canonical spec, so equal devices compare equal (checkpoints, file names)
        self._set("device", spec_string(device))
        self.__dict__["_device"] = (self.device, device)
        for name in ("update", "grad_quant", "estimator"):
            check_option(name, getattr(self, name))
        check_applies([self.algo], update=self.update)
        if self.threads is not None:
            try:
                check_threads(self.threads)
            except ValueError as e:
                raise OptionError(str(e)) from None
        self._check_table(device)
        if self.backend not in BACKENDS:
            raise OptionError(f"unknown --backend {self.backend!r}; choose "
                              f"{' or '.join(BACKENDS)}")
        check_applies([self.algo], eval_samples=self.eval_samples)
        self._check_precision(spec)

    def _check_precision(self, spec) -> None:
        """The widths (one line for a bad one), filled in (``acc_bits``), and that they apply."""
        try:
            prec = make_precision(self.weight_bits, self.acc_bits, self.grad_bits)
        except ValueError as e:
            raise OptionError(str(e)) from None
        if not prec.fixed:
            self.__dict__["_precision"] = ((None, None, None), FP32)
            return
        check_applies([self.algo], weight_bits=prec.weight_bits)
        if spec.quantized_errors and prec.grad_bits is not None:
            raise OptionError(f"--grad-bits does not apply to {self.algo}: its errors are "
                              f"already {self.grad_quant} words (--grad-quant)")
        self._set("acc_bits", prec.acc_bits)
        self.__dict__["_precision"] = ((prec.weight_bits, prec.acc_bits, prec.grad_bits), prec)

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
            raise OptionError(msg) from None
        if self.arch is None:
            self._set("arch", net.name)
        batch = min(self.batch_size, self.limit_train or self.batch_size)  # what a step holds
        need, have = net.min_train_bytes(batch), machine_memory_bytes()
        if have is not None and need > have:
            raise OptionError(f"{net.name} ({net.params:,} parameters) needs at least "
                              f"{need / 2**30:,.1f} GiB to train at batch size {batch}; this "
                              f"machine has {have / 2**30:,.1f} GiB")
        builtin = net.path is not None and Path(net.path).parent == ARCH_DIR
        self._set("arch_sha256", None if builtin else hashlib.sha256(
            Path(net.path).read_bytes()).hexdigest())

    def _check_table(self, device: Device) -> None:
        """The energy table exists and prices the device: known now, not after the run."""
        _parsed("energy_table", check_option("energy_table", self.energy_table).with_device,
                device)

    def data_notes(self, n_train: int, n_test: int) -> list[str]:
        """One line for each limit above what the data set holds, saying what is used."""
        notes = []
        for option, limit, n, what in (("--limit-train", self.limit_train, n_train, "training"),
                                       ("--limit-test", self.limit_test, n_test, "test")):
            if limit is not None and limit > n:
                notes.append(f"{option} {limit:,} is more than the {n:,} {what} images of "
                             f"{self.dataset}: all {n:,} are used")
        return notes

    def counted_choices(self) -> dict:
        """The training choices that change a step's counts beyond the rule, its network and
        units, as :func:`pbitsim.estimator.estimate` takes them (keywords :data:`COUNTED_CHOICES`
        and the datapath's widths; None: fp32): what an estimate takes of a run, from its
        options (:func:`pbitsim.estimator.run_keywords`) or its counts file
        (:meth:`pbitsim.estimator.countsfile.CountsFile.estimate_options`)."""
        prec = self.precision
        return {**{k: getattr(self, k) for k in COUNTED_CHOICES},
                "weight_bits": prec.weight_bits, "acc_bits": prec.acc_bits,
                "grad_bits": prec.grad_bits}

    # ---------------------------------------------------------------- the run files
    def result_fields(self) -> dict:
        """The fields that decide the result (:data:`RESULT_FIELDS`): what a checkpoint
        records, and what a resume must match."""
        return {k: getattr(self, k) for k in RESULT_FIELDS}

    def recorded(self) -> dict:
        """Every option, as ``results.json`` records it (its ``config``): read back by
        :meth:`from_recorded`."""
        return {**dataclasses.asdict(self), "pbit_stream": self.pbit_stream}

    @classmethod
    def from_recorded(cls, recorded: dict) -> "RunOptions":
        """The options a run file records (``results.json``'s ``config``, a checkpoint's), as
        :meth:`recorded` and :meth:`result_fields` write them, unchecked. A file of an earlier
        version is read as :meth:`differs_from` reads it (:func:`_as_read`); an option it does
        not record takes its default, a key this version does not know is left out."""
        if not isinstance(recorded, dict):
            raise OptionError(f"a run's recorded configuration must be a mapping, not "
                              f"{type(recorded).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in _as_read(recorded).items() if k in names})

    def differs_from(self, recorded: dict, fields=None) -> tuple[str, object, object] | None:
        """The first option (of ``fields``; default :meth:`result_fields`) in which a run
        file's recorded configuration differs from these options, as ``(name, recorded value,
        this value)``; None if they agree. A file of an earlier version is read as this
        version reads it: a tiled CaFo run that recorded ``cafo-dfa`` with its tiles ran
        ``bscafo-dfa`` (:func:`pbitsim.rulebook.recorded_algo`), and the tile count a
        real-valued run may have recorded is not compared (it was unused)."""
        theirs = _as_read(recorded)
        want = self.result_fields() if fields is None else fields
        for k, v in want.items():
            if k == "tiles" and not self.units.tiled:
                continue
            if theirs.get(k) != v:
                return k, theirs.get(k), v
        return None


def _as_read(recorded: dict) -> dict:
    """A recorded configuration as this version reads it: a tiled CaFo run of an earlier
    version recorded the real-valued name with its tiles (``cafo-dfa``, 7) and ran what the
    tiled form (``bscafo-dfa``) runs now (:func:`pbitsim.rulebook.recorded_algo`)."""
    out = dict(recorded)
    out["algo"] = recorded_algo(out.get("algo"), out.get("tiles"))
    if "pbit_stream" not in out:  # before 2026-12: p-bits drew SplitMix64's 24-bit uniforms
        tiled = out["algo"] in TILED_RULES and out.get("tiles") is not None
        digital = str(out.get("device") or "").strip().startswith("digital")
        out["pbit_stream"] = EARLIER_PBIT_UNIFORMS if tiled and not digital else None
    return out
