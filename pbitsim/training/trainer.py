"""The trainer loop shared by every algorithm: data, epochs, checkpoints, evaluation, results.

Determinism: the weights are initialised from ``torch.manual_seed(seed)``, the training subset
and each epoch's order come from numpy generators seeded by ``(seed, ...)``, and every p-bit draw
gets ``derive_seed(seed, layer, epoch, step)``. Nothing depends on wall time or on how a run was
split, so a run resumed from any checkpoint (end of epoch or a Ctrl-C mid-epoch) ends with the same
weights, counts and accuracy as an uninterrupted one.

Files in the output folder: ``checkpoint.pt`` (written atomically after every epoch and on
interrupt), ``results.json`` and ``counts.json`` (the format ``pbitsim estimate --counts`` reads).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..config import BACKENDS, DEFAULT_BACKEND, check_tiles
from ..counters import OpCounter, atomic_write_text, counting
from ..datasets import Dataset
from ..kernels.devices import parse_device, spec_string
from .algorithms import ALGOS, make_algorithm

__all__ = ["TrainConfig", "Trainer", "Reporter", "TrainingError", "CHECKPOINT", "RESULTS",
           "COUNTS"]

CHECKPOINT, RESULTS, COUNTS = "checkpoint.pt", "results.json", "counts.json"
CHECKPOINT_VERSION = 3  # 2: block 1's pre-activation batch norm, the device; 3: every block's
EVAL_KEY = 2**31 - 1  # seed key of the test pass (training keys are (epoch, step))

# Fields that decide the result: a checkpoint resumes only under the same values. Not
# eval_samples, which only changes the test pass: a finished run resumed with another value is
# re-evaluated without retraining.
_RESULT_FIELDS = ("algo", "dataset", "tiles", "epochs", "batch_size", "lr", "seed", "limit_train",
                  "limit_test", "estimator", "grad_quant", "schedule", "arch", "device",
                  "backend")


class TrainingError(ValueError):
    """Bad configuration or an unusable checkpoint (one-line message)."""


@dataclass
class TrainConfig:
    algo: str = "bsff"
    dataset: str = "mnist"
    tiles: int = 7
    epochs: int = 1
    batch_size: int = 128
    lr: float | None = None  # None: the algorithm's default (DEFAULT_LR)
    seed: int = 0
    limit_train: int | None = None  # a seeded random subset of this many training images
    limit_test: int | None = None  # the first N test images
    estimator: str = "mean-field"
    grad_quant: str = "ternary"  # BGBSFF only (sign: biased, learns poorly at small budgets)
    schedule: str = "staggered"  # CwC-family freezing: staggered | none
    arch: str | None = None  # bp only: None (ConvNet) or "mlp"
    energy_table: str = "horowitz-45nm"
    device: str = "ideal"  # p-bit device spec (bsff/bgbsff), e.g. "smtj:offset_sd=0.2"
    eval_samples: int = 1  # bsff/bgbsff: sampled passes averaged per test image (K x the counts)
    backend: str = DEFAULT_BACKEND  # bsff/bgbsff index layers: dense (torch on counts) | index

    def validate(self) -> None:
        if self.algo not in ALGOS:
            raise TrainingError(f"unknown algorithm {self.algo!r}; choose one of {', '.join(ALGOS)}")
        for name in ("tiles", "epochs", "batch_size", "eval_samples"):
            if getattr(self, name) < 1:
                raise TrainingError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise TrainingError(f"--seed must be >= 0, got {self.seed}")
        if self.batch_size < 2:
            raise TrainingError("--batch-size must be >= 2 (batch norm needs two samples)")
        try:
            check_tiles(self.tiles)
        except ValueError as e:
            raise TrainingError(f"--tiles: {e}") from None
        for name in ("limit_train", "limit_test"):
            v = getattr(self, name)
            if v is not None and v < 2:
                raise TrainingError(f"--{name.replace('_', '-')} must be >= 2, got {v}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"--lr must be a positive number, got {self.lr}")
        if self.arch not in (None, "cwc", "mlp"):
            raise TrainingError(f"unknown --arch {self.arch!r}; choose cwc or mlp")
        try:  # canonical spec, so equal devices compare equal (checkpoints, file names)
            self.device = spec_string(parse_device(self.device))
        except ValueError as e:
            raise TrainingError(f"--device: {e}") from None
        if self.backend not in BACKENDS:
            raise TrainingError(f"unknown --backend {self.backend!r}; choose "
                                f"{' or '.join(BACKENDS)}")
        if self.eval_samples > 1 and self.algo not in ("bsff", "bgbsff"):
            raise TrainingError("--eval-samples applies to bsff/bgbsff (sampled p-bit networks)")
        if self.arch == "mlp" and self.algo != "bp":
            raise TrainingError("--arch mlp applies to bp only (ff always uses its MLP, the CwC "
                                "algorithms the ConvNet)")

    def result_fields(self) -> dict:
        return {k: getattr(self, k) for k in _RESULT_FIELDS}


class Reporter(Protocol):
    """Progress callbacks (the CLI draws a rich progress bar with them)."""

    def start_epoch(self, epoch: int, epochs: int, steps: int, done: int) -> None: ...
    def step(self, loss: float, acc: float, samples_per_s: float) -> None: ...
    def end_epoch(self, record: dict) -> None: ...
    def start_eval(self, batches: int) -> None: ...
    def eval_step(self) -> None: ...


class Trainer:
    """Runs one training job into ``out_dir``; ``stop_requested = True`` stops it after a step."""

    def __init__(self, cfg: TrainConfig, data: Dataset, out_dir, reporter: Reporter | None = None):
        cfg.validate()
        self.cfg, self.data, self.reporter = cfg, data, reporter
        self.out = Path(out_dir)
        self.stop_requested = False
        n_train = data.train_x.shape[0]
        if cfg.limit_train is not None and cfg.limit_train < n_train:
            rng = np.random.default_rng([cfg.seed, 7919])
            self.train_idx = np.sort(rng.permutation(n_train)[:cfg.limit_train])
        else:
            self.train_idx = np.arange(n_train)
        n_test = data.test_x.shape[0]
        self.n_test = min(n_test, cfg.limit_test) if cfg.limit_test else n_test
        n = len(self.train_idx)
        bs = cfg.batch_size
        # a trailing batch of one sample is dropped: batch norm needs two
        self.steps = n // bs + (1 if n % bs >= 2 else 0)
        if self.steps == 0:
            raise TrainingError(f"{n} training images are too few for one batch")
        torch.manual_seed(cfg.seed)
        self.algo = make_algorithm(cfg, data.input_shape, data.num_classes)
        self.counts = OpCounter()
        self.history: list[dict] = []
        self.epoch, self.step_in_epoch = 0, 0
        self.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0, "wall_s": 0.0}
        self.wall_s = 0.0

    # ---- checkpoints ----------------------------------------------------------------------
    def _state(self) -> dict:
        return {"format": "pbitsim-train-checkpoint", "version": CHECKPOINT_VERSION,
                "config": self.cfg.result_fields(), "epoch": self.epoch,
                "step": self.step_in_epoch, "algo": self.algo.state_dict(),
                "counts": self.counts.as_dict(), "history": self.history,
                "partial": dict(self.partial), "wall_s": self.wall_s}

    def save_checkpoint(self) -> Path:
        buf = io.BytesIO()
        torch.save(self._state(), buf)
        path = self.out / CHECKPOINT
        _atomic_write_bytes(path, buf.getvalue())
        return path

    def load_checkpoint(self) -> None:
        path = self.out / CHECKPOINT
        if not path.is_file():
            raise TrainingError(f"{path}: no checkpoint to resume from")
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # corrupt or foreign file
            raise TrainingError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None
        if not isinstance(state, dict) or state.get("format") != "pbitsim-train-checkpoint":
            raise TrainingError(f"{path}: not a pbitsim training checkpoint")
        if state.get("version") != CHECKPOINT_VERSION:
            raise TrainingError(f"{path}: checkpoint version {state.get('version')} was written by "
                                f"another pbitsim (this one reads {CHECKPOINT_VERSION}); start a "
                                "new run")
        theirs = state["config"]
        for k, v in self.cfg.result_fields().items():
            if theirs.get(k) != v:
                raise TrainingError(f"{path}: checkpoint was made with {k}={theirs.get(k)!r}, this "
                                    f"run has {k}={v!r}; use the same settings to resume")
        self.algo.load_state_dict(state["algo"])
        self.counts = OpCounter(state["counts"])
        self.history = list(state["history"])
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step"])
        self.partial = dict(state["partial"])
        self.wall_s = float(state["wall_s"])

    # ---- the loop -------------------------------------------------------------------------
    def _batch(self, idx: np.ndarray):
        x = torch.from_numpy(self.data.normalized(self.data.train_x[idx]))
        y = torch.from_numpy(self.data.train_y[idx])
        return x, y

    def fit(self) -> bool:
        """Train the remaining steps; returns False if stopped early (a checkpoint is saved)."""
        cfg, bs = self.cfg, self.cfg.batch_size
        n = len(self.train_idx)
        total = cfg.epochs * self.steps
        while self.epoch < cfg.epochs:
            order = self.train_idx[np.random.default_rng([cfg.seed, self.epoch]).permutation(n)]
            if self.reporter:
                self.reporter.start_epoch(self.epoch, cfg.epochs, self.steps, self.step_in_epoch)
            t0 = time.perf_counter()
            while self.step_in_epoch < self.steps:
                s = self.step_in_epoch
                x, y = self._batch(order[s * bs:(s + 1) * bs])
                frac = (self.epoch * self.steps + s) / total
                with counting(self.counts):
                    loss, correct = self.algo.train_step(x, y, (self.epoch, s), frac)
                if not math.isfinite(loss):
                    raise TrainingError(f"loss became {loss} at epoch {self.epoch + 1} step {s + 1}; "
                                        "lower --lr")
                p = self.partial
                p["loss_sum"] += loss * len(y)
                p["correct"] += correct
                p["seen"] += len(y)
                self.step_in_epoch += 1
                now = time.perf_counter()
                elapsed = p["wall_s"] + now - t0
                if self.reporter:
                    self.reporter.step(p["loss_sum"] / p["seen"], p["correct"] / p["seen"],
                                       p["seen"] / max(elapsed, 1e-9))
                if self.stop_requested and self.step_in_epoch < self.steps:
                    p["wall_s"] += now - t0
                    self.wall_s += now - t0
                    self.save_checkpoint()
                    return False
            dt = time.perf_counter() - t0
            p = self.partial
            epoch_wall = p["wall_s"] + dt
            self.wall_s += dt
            record = {"epoch": self.epoch + 1, "loss": p["loss_sum"] / p["seen"],
                      "train_acc": p["correct"] / p["seen"], "samples": p["seen"],
                      "wall_s": epoch_wall, "samples_per_s": p["seen"] / max(epoch_wall, 1e-9)}
            self.history.append(record)
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            self.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0, "wall_s": 0.0}
            self.save_checkpoint()
            if self.reporter:
                self.reporter.end_epoch(record)
            if self.stop_requested and self.epoch < cfg.epochs:
                return False
        return True

    def evaluate(self) -> tuple[dict, OpCounter]:
        """Test accuracy per predictor and the counts of the test pass."""
        bs = self.cfg.batch_size
        n = self.n_test
        batches = math.ceil(n / bs)
        correct = {k: 0 for k in self.algo.predictors}
        counts = OpCounter()
        if self.reporter:
            self.reporter.start_eval(batches)
        for b in range(batches):
            batch = slice(b * bs, min(n, (b + 1) * bs))  # the last batch stops at n_test
            x = torch.from_numpy(self.data.normalized(self.data.test_x[batch]))
            y = torch.from_numpy(self.data.test_y[batch])
            with counting(counts):
                preds = self.algo.predict(x, (EVAL_KEY, b))
            for k, p in preds.items():
                correct[k] += int((p == y).sum())
            if self.reporter:
                self.reporter.eval_step()
        return {k: v / n for k, v in correct.items()}, counts

    def run(self, resume: bool = False) -> dict | None:
        """Fit, evaluate and write the results; None if stopped early (checkpoint saved)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self.load_checkpoint()
        if not self.fit():
            return None
        t0 = time.perf_counter()
        acc, inference_counts = self.evaluate()
        eval_s = time.perf_counter() - t0
        return self.write_results(acc, inference_counts, eval_s)

    # ---- results --------------------------------------------------------------------------
    def write_results(self, acc: dict, inference_counts: OpCounter, eval_s: float) -> dict:
        cfg, algo = self.cfg, self.algo
        layer_density = algo.layer_density()
        density = float(np.mean(layer_density)) if layer_density else None
        train_samples = len(self.train_idx)
        simulated = cfg.algo in ("bsff", "bgbsff")
        meta = {"algo": cfg.algo, "tiles": cfg.tiles if simulated else None,
                "device": cfg.device if simulated else None,
                "eval_samples": cfg.eval_samples if simulated else None,
                "arch": algo.arch, "dataset": cfg.dataset, "activation_density": density,
                "layer_density": layer_density, "train_samples": train_samples,
                "epochs": cfg.epochs, "test_samples": self.n_test}
        doc = json.loads(self.counts.to_json(**meta))
        doc["inference_counts"] = inference_counts.as_dict()
        atomic_write_text(self.out / COUNTS, json.dumps(doc, indent=2) + "\n")

        energy = _price(self.counts, inference_counts, cfg.energy_table, meta["device"],
                        cfg.epochs * train_samples, self.n_test)
        headline = algo.predictors[0]
        results = {
            "format": "pbitsim-train-results", "version": 1,
            "config": {**dataclasses.asdict(cfg)}, **meta,
            "test_accuracy": acc, "predictor": headline, "accuracy": acc[headline],
            "history": self.history,
            "train_wall_s": self.wall_s, "eval_wall_s": eval_s,
            "peak_memory_mib": _peak_memory_mib(),
            "counts_file": COUNTS,
            "train_counts_by_op": self.counts.by_op(),
            "inference_counts_by_op": inference_counts.by_op(),
            "energy": energy,
            "python": sys.version.split()[0], "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }
        atomic_write_text(self.out / RESULTS, json.dumps(results, indent=2) + "\n")
        return results


def _price(train: OpCounter, infer: OpCounter, table: str, device: str | None,
           train_samples: int, test_samples: int):
    """Energy of the counted work from the energy model, or the reason it is unavailable."""
    try:
        from ..energy_models import price_counts
    except ImportError as e:
        return {"table": table, "error": f"energy model unavailable: {e}"}
    try:
        tr = price_counts(train.as_dict(), table=table, device=device)
        inf = price_counts(infer.as_dict(), table=table, device=device)
    except (ValueError, KeyError, OSError) as e:
        return {"table": table, "error": f"{type(e).__name__}: {e}"}
    return {"table": table, "device": device, "train": tr, "inference": inf,
            "train_pj_per_sample": tr["total_pj"] / max(train_samples, 1),
            "inference_pj_per_sample": inf["total_pj"] / max(test_samples, 1)}


def _peak_memory_mib() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` through a temporary file in the same folder and a rename."""
    import tempfile
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
