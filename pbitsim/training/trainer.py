"""The trainer loop shared by every algorithm: data, epochs, checkpoints, evaluation, results.

Determinism: the weights are initialised from ``torch.manual_seed(seed)``, the training subset
and each epoch's order come from numpy generators seeded by ``(seed, ...)``, and every p-bit draw
gets ``derive_seed(seed, layer, epoch, step)``. Nothing depends on wall time or on how a run was
split, so a run resumed from any checkpoint (end of epoch or a Ctrl-C mid-epoch) ends with the same
weights, counts and accuracy as an uninterrupted one.

Files in the output folder (:mod:`pbitsim.runfiles` names, writes and reads them):
``checkpoint.pt`` (written atomically after every epoch and on interrupt; a failed write keeps
the previous one), ``results.json`` and ``counts.json`` (the format ``pbitsim estimate --counts``
reads). A run holds the folder's lock (:func:`~pbitsim.runfiles.out_lock`) while it writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .. import OMP_SPINNING, runfiles
from ..bridge.heap import keep_freed_memory
from ..seeds import stream
from ..network.counters import OpCounter, counting
from ..datasets import Dataset
from ..runfiles import CHECKPOINT, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, COUNTS, RESULTS
from ..config import CALIBRATION_SAMPLES
from ..schedules import MF_VALIDATION
from . import calibration
from .algorithms import make_algorithm
from .config import TrainConfig, TrainingError

__all__ = ["TrainConfig", "Trainer", "Reporter", "TrainingError", "CHECKPOINT", "RESULTS",
           "COUNTS", "thread_count"]

EVAL_KEY = 2**31 - 1  # seed key of the test pass (training keys are (epoch, step))

class Reporter(Protocol):
    """Progress callbacks (the CLI draws a rich progress bar with them)."""

    def start_epoch(self, epoch: int, epochs: int, steps: int, done: int,
                    name: str | None = None) -> None: ...
    def step(self, loss: float, acc: float, samples_per_s: float) -> None: ...
    def end_epoch(self, record: dict) -> None: ...
    def start_eval(self, batches: int) -> None: ...
    def eval_step(self) -> None: ...


class Trainer:
    """Runs one training job into ``out_dir``; ``stop_requested = True`` stops it after a step."""

    def __init__(self, cfg: TrainConfig, data: Dataset, out_dir, reporter: Reporter | None = None):
        cfg = cfg.validate()
        self.cfg, self.data, self.reporter = cfg, data, reporter
        self.out = Path(out_dir)
        self.stop_requested = False
        n_train = data.train_x.shape[0]
        if cfg.limit_train is not None and cfg.limit_train < n_train:
            rng = np.random.default_rng([cfg.seed, stream("train_subset")])
            self.train_idx = np.sort(rng.permutation(n_train)[:cfg.limit_train])
        else:
            self.train_idx = np.arange(n_train)
        n_test = data.test_x.shape[0]
        self.n_test = min(n_test, cfg.limit_test) if cfg.limit_test else n_test
        if OMP_SPINNING and (cfg.threads or torch.get_num_threads()) > 1:
            warnings.warn("torch was imported before pbitsim, so its OpenMP workers spin between "
                          "parallel regions (a training step ran up to 20x slower on a busy "
                          "machine): import pbitsim first or set OMP_WAIT_POLICY=PASSIVE",
                          RuntimeWarning, stacklevel=2)
        torch.manual_seed(cfg.seed)
        try:
            self.algo = make_algorithm(cfg, data.input_shape, data.num_classes)
        except TrainingError:
            raise
        except ValueError as e:  # the network does not fit the data
            raise TrainingError(str(e)) from None
        self.val_idx = np.arange(0)
        if self.algo.validation:  # a seeded held-out split (early stopping)
            held = np.random.default_rng([cfg.seed, stream("held_out")]).permutation(
                len(self.train_idx))
            k = max(2, int(round(MF_VALIDATION * len(self.train_idx))))
            self.val_idx = np.sort(self.train_idx[held[:k]])
            self.train_idx = np.sort(self.train_idx[held[k:]])
        if self.algo.takes_rows:
            self.algo.bind_images(self._images, self.train_idx, self.val_idx)
        n = len(self.train_idx)
        bs = cfg.batch_size
        # a trailing batch of one sample is dropped: batch norm needs two
        self.steps = n // bs + (1 if n % bs >= 2 else 0)
        if self.steps == 0:
            raise TrainingError(f"{n} training images are too few for one batch")
        self.samples_per_epoch = n - (1 if n % bs == 1 else 0)  # what the steps train on
        # epochs of the loop: greedy MF runs one epoch cap per layer
        self.total_epochs = self.algo.run_epochs()
        self.cfg = cfg = cfg.with_network(self.algo.arch)
        self.counts = OpCounter()
        self.history: list[dict] = []
        self.epoch, self.step_in_epoch = 0, 0
        self.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0, "wall_s": 0.0}
        self.wall_s = 0.0
        self.saved_at: str | None = None  # where the last checkpoint written or read stands
        # the batch-norm statistics were recomputed at the final weights (calibrate())
        self.calibrated = False
        self.calibration_samples = 0  # samples the calibration read (0: none)

    # ---- checkpoints ----------------------------------------------------------------------
    def _state(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                "config": self.cfg.result_fields(), "epoch": self.epoch,
                "step": self.step_in_epoch, "algo": self.algo.state_dict(),
                "counts": self.counts.as_dict(), "history": self.history,
                "partial": dict(self.partial), "wall_s": self.wall_s,
                "calibrated": self.calibrated,
                "calibration_samples": self.calibration_samples}

    def save_checkpoint(self) -> Path:
        """Write the checkpoint; a failed write (a full disk) keeps the previous one and stops."""
        try:
            runfiles.make_out_folder(self.out)  # fit() may run without run()
            path = runfiles.save_checkpoint(self.out, self._state())
        except runfiles.RunFileError as e:
            kept = (f"the previous checkpoint ({self.saved_at}) is kept" if self.saved_at
                    else "no checkpoint was saved before")
            raise TrainingError(f"{e}; {kept}") from None
        self.saved_at = self._position()
        return path

    def _position(self) -> str:
        return f"epoch {self.epoch + 1}, step {self.step_in_epoch}"

    def load_checkpoint(self) -> None:
        try:
            state = runfiles.load_checkpoint(self.out)
        except runfiles.RunFileError as e:
            raise TrainingError(str(e)) from None
        path = self.out / CHECKPOINT
        differs = self.cfg.differs_from(state["config"])
        if differs is not None:
            k, theirs, v = differs
            if k == "pbit_stream":
                raise TrainingError(f"{path}: checkpoint was drawn with other p-bit uniforms "
                                    f"({theirs}, by an earlier pbitsim; this one draws {v}): "
                                    "resuming would continue on another random stream; "
                                    "train afresh in a new --out")
            raise TrainingError(f"{path}: checkpoint was made with {k}={theirs!r}, this "
                                f"run has {k}={v!r}; use the same settings to resume")
        self._load_algo_state(state["algo"], path)
        try:
            counts = OpCounter(state["counts"])
        except (ValueError, TypeError) as e:
            raise TrainingError(f"{path}: checkpoint counts: {e}") from None
        self._check_progress(state, path)
        self.counts = counts
        self.history = list(state["history"])
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step"])
        self.partial = dict(state["partial"])
        self.wall_s = float(state["wall_s"])
        self.calibrated = bool(state.get("calibrated", False))
        self.calibration_samples = int(state.get("calibration_samples", 0))
        self.saved_at = self._position()

    def _load_algo_state(self, algo_state: dict, path: Path) -> None:
        """The weights and optimizer states, which must fit this run's network exactly."""
        try:
            self.algo.load_state_dict(algo_state)
            for optim in self.algo.optims:
                for group in optim.param_groups:
                    for p in group["params"]:
                        for key, v in optim.state.get(p, {}).items():
                            if torch.is_tensor(v) and v.dim() and v.shape != p.shape:
                                raise ValueError(f"optimizer state {key!r} has shape "
                                                 f"{tuple(v.shape)}, its weight "
                                                 f"{tuple(p.shape)}")
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
            lines = [l.strip() for l in str(e).splitlines()  # torch's first line: a heading
                     if l.strip() and not l.strip().startswith("Error(s) in loading")]
            said = lines[0] if lines else type(e).__name__
            raise TrainingError(f"{path}: checkpoint does not fit this run's network "
                                f"({said[:200]})") from None

    def _check_progress(self, state: dict, path: Path) -> None:
        """Where the checkpoint stands fits this run: epoch and step inside the budget, one
        history record per trained epoch (each of the epoch's samples), the partial epoch's
        samples those of its steps. A record lost or added would change the energy per sample
        and the curve the results report."""
        epoch, step, part = state["epoch"], state["step"], state["partial"]
        total = self.total_epochs
        if epoch > total or (epoch == total and step != 0):
            raise TrainingError(f"{path}: checkpoint stands at epoch {epoch + 1}, step {step}, "
                                f"past this run's {total} epoch(s)")
        if step >= self.steps:
            raise TrainingError(f"{path}: checkpoint stands at step {step} of an epoch of "
                                f"{self.steps} step(s)")
        if part["seen"] != step * self.cfg.batch_size:
            raise TrainingError(f"{path}: checkpoint's partial epoch saw {part['seen']} "
                                f"samples in {step} step(s) of {self.cfg.batch_size}")
        recorded = [r["epoch"] for r in state["history"]]
        lost = [e + 1 for e in range(epoch)  # not a greedy stage's epochs that it skipped
                if e + 1 not in recorded and not self.algo.skip_epoch(e)]
        if recorded != sorted(set(recorded)) or (recorded and recorded[-1] > epoch) or lost:
            raise TrainingError(f"{path}: checkpoint's history records epochs "
                                f"{recorded or 'none'} after {epoch} epoch(s)"
                                + (f" (epoch {lost[0]} missing)" if lost else ""))
        for r in state["history"]:
            if r["samples"] != self.samples_per_epoch:
                raise TrainingError(f"{path}: checkpoint's epoch {r['epoch']} trained "
                                    f"{r['samples']} samples; this run's epochs train "
                                    f"{self.samples_per_epoch}")

    # ---- the loop -------------------------------------------------------------------------
    def _images(self, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.data.normalized(self.data.train_x[idx]))

    def _batch(self, idx: np.ndarray):
        return self._images(idx), torch.from_numpy(self.data.train_y[idx])

    def fit(self) -> bool:
        """Train the remaining steps; returns False if stopped early (a checkpoint is saved)."""
        cfg, bs = self.cfg, self.cfg.batch_size
        n = len(self.train_idx)
        total = self.total_epochs * self.steps
        while self.epoch < self.total_epochs:
            if self.step_in_epoch == 0 and self.algo.skip_epoch(self.epoch):
                self.epoch += 1  # a greedy layer that stopped early: its remaining epochs
                continue
            order = self.train_idx[np.random.default_rng([cfg.seed, self.epoch]).permutation(n)]
            if self.reporter:
                self.reporter.start_epoch(self.epoch, self.total_epochs, self.steps,
                                          self.step_in_epoch,
                                          self.algo.epoch_name(self.epoch, self.total_epochs))
            t0 = time.perf_counter()
            while self.step_in_epoch < self.steps:
                s = self.step_in_epoch
                rows = order[s * bs:(s + 1) * bs]
                x, y = self._batch(rows)
                frac = (self.epoch * self.steps + s) / total
                extra = {"rows": rows} if self.algo.takes_rows else {}
                with counting(self.counts):
                    loss, correct = self.algo.train_step(x, y, (self.epoch, s), frac, **extra)
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
            record = {"epoch": self.epoch + 1,
                      "name": self.algo.epoch_name(self.epoch, self.total_epochs),
                      "loss": p["loss_sum"] / p["seen"],
                      "train_acc": p["correct"] / p["seen"], "samples": p["seen"],
                      "wall_s": epoch_wall, "samples_per_s": p["seen"] / max(epoch_wall, 1e-9)}
            # MF, CaFo: epochs per stage, greedy early stopping
            record.update(self.algo.end_epoch(self.epoch, self._val_batches()))
            self.history.append(record)
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            self.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0, "wall_s": 0.0}
            self.save_checkpoint()
            if self.reporter:
                self.reporter.end_epoch(record)
            if self.stop_requested and self.epoch < self.total_epochs:
                return False
        return True

    def calibrate(self) -> None:
        """Recompute the batch-norm statistics at the final weights (once per run; see
        :mod:`pbitsim.training.calibration`), counted with the training counts, then save the
        checkpoint: it holds the statistics the test uses."""
        if self.calibrated:
            return
        cfg = self.cfg
        samples = (CALIBRATION_SAMPLES if cfg.calibration_samples is None
                   else cfg.calibration_samples)
        t0 = time.perf_counter()
        if samples and calibration.norm_modules(self.algo):
            rows = calibration.calibration_rows(self.train_idx, cfg.batch_size, cfg.seed, samples)
            with counting(self.counts):
                self.calibration_samples = calibration.recalibrate(
                    self.algo, (self._images(r) for r in rows))
        self.wall_s += time.perf_counter() - t0
        self.calibrated = True
        self.save_checkpoint()

    def _val_batches(self):
        """The held-out split in batches (greedy MF's early stopping)."""
        bs = self.cfg.batch_size
        for s in range(0, len(self.val_idx), bs):
            yield self._batch(self.val_idx[s:s + bs])

    def evaluate(self) -> tuple[dict, OpCounter]:
        """Test accuracy per predictor and the counts of the test pass."""
        bs = self.cfg.batch_size
        n = self.n_test
        batches = math.ceil(n / bs)
        correct = {k: 0 for k in self.algo.predictors}
        counts = OpCounter()
        for layer in self._index_layers():
            layer.reset_eval_stats()
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
        """Fit, evaluate and write the results; None if stopped early (checkpoint saved).

        Holds the output folder's lock throughout (creating the folder): a second run into the
        same folder fails at once with :class:`~pbitsim.runfiles.OutFolderBusy`.
        """
        keep_freed_memory()  # the steps' large arrays reuse memory instead of faulting it in
        try:
            with runfiles.out_lock(self.out), thread_count(self.cfg.threads):
                if resume:
                    self.load_checkpoint()
                if not self.fit():
                    return None
                self.calibrate()
                t0 = time.perf_counter()
                acc, inference_counts = self.evaluate()
                eval_s = time.perf_counter() - t0
                return self.write_results(acc, inference_counts, eval_s)
        except runfiles.OutFolderBusy:
            raise
        except runfiles.RunFileError as e:
            raise TrainingError(str(e)) from None

    # ---- results --------------------------------------------------------------------------
    def model_params(self) -> dict:
        """What the estimator needs to describe this run's step: the training choices that
        change the counts and the tile statistics each index layer read (``pbitsim estimate
        --counts`` uses them)."""
        cfg = self.cfg
        layers = self._index_layers()
        stats = [m.input_stats() for m in layers]
        eval_stats = [m.input_stats(training=False) for m in layers]
        total = self.total_epochs * self.steps
        ends = self.algo.ends  # the freezing schedule of the CwC family
        live = (None if ends is None else
                [min(total, math.ceil(e * total - 1e-9)) / total for e in ends])
        return {"batch_size": cfg.batch_size, "grad_quant": cfg.grad_quant,
                "update": cfg.update, "eval_samples": cfg.eval_samples,
                "estimator": cfg.estimator,  # (an earlier version's only record of them)
                "input_stats": [list(s) for s in stats if s is not None],
                "eval_input_stats": [list(s) for s in eval_stats if s is not None],
                "live": live, "layer_epochs": self.algo.layer_epochs(),
                "dfa_epochs": self.algo.dfa_epochs(),
                "calibration_samples": self.calibration_samples,
                **({} if not cfg.precision.fixed else
                   {"weight_bits": cfg.weight_bits, "acc_bits": cfg.acc_bits,
                    "grad_bits": cfg.grad_bits})}

    def _index_layers(self) -> list:
        from ..bridge.modules import BSNConv2d, BSNLinear
        extra = self.algo.extra_index_layers()  # projections, predictors
        return [m for m in self.algo.model.modules()
                if isinstance(m, (BSNConv2d, BSNLinear))] + list(extra)

    def _arch_file(self) -> dict:
        """A user architecture file's path and content hash (nothing for a built-in name)."""
        cfg = self.cfg
        if not cfg.arch_sha256:
            return {}
        # absolute, so `estimate --counts` finds it from any working directory
        return {"arch_file": str(Path(cfg.arch).resolve()), "arch_sha256": cfg.arch_sha256}

    def write_results(self, acc: dict, inference_counts: OpCounter, eval_s: float) -> dict:
        cfg, algo = self.cfg, self.algo
        layer_density = algo.layer_density()
        density = float(np.mean(layer_density)) if layer_density else None
        train_samples = self.samples_per_epoch
        units = algo.units
        meta = {"algo": cfg.algo, "tiles": units.tiles, "device": units.device_spec,
                "eval_samples": cfg.eval_samples if units.tiled else None,
                "arch": algo.arch, **self._arch_file(), "dataset": cfg.dataset,
                "precision": cfg.precision.label(), "activation_density": density,
                "layer_density": layer_density, "train_samples": train_samples,
                "epochs": len(self.history), "test_samples": self.n_test}
        doc = json.loads(self.counts.to_json(**meta))
        doc["inference_counts"] = inference_counts.as_dict()
        doc["model_params"] = self.model_params()
        doc["config"] = cfg.recorded()  # the run's options, as results.json records them
        runfiles.write_counts(self.out, doc)

        energy = _price(self.counts, inference_counts, cfg.energy_table, meta["device"],
                        len(self.history) * train_samples, self.n_test)
        headline = algo.predictors[0]
        results = {
            "format": "pbitsim-train-results", "version": 1,
            "config": cfg.recorded(), **meta,
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
        runfiles.write_results(self.out, results)
        return results


def _price(train: OpCounter, infer: OpCounter, table: str, device: str | None,
           train_samples: int, test_samples: int):
    """Energy of the counted work from the energy model, or the reason it is unavailable."""
    try:
        from ..hardware.pricing import price_counts
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


@contextlib.contextmanager
def thread_count(n: int | None):
    """Torch and numba use ``n`` threads in the block (None: unchanged), then as before.

    Float reductions split over threads, so a run's numbers depend on its thread count.
    """
    if n is None:
        yield
        return
    from .. import kernels
    # numba is not loaded for this (a float rule never needs it); starting its thread pool
    # resets the OpenMP count torch shares, so torch's is set after it, and again if a kernel
    # loads numba in the block
    before = torch.get_num_threads()
    with kernels.numba_threads(n, on_load=lambda: torch.set_num_threads(n)):
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)
