"""The sweep's second stage, the points: each point's folder ``OUT/runs/<key>/``, its status
(new, resumable or finished, and whether its recorded configuration is the one asked for),
and training one point through the same :class:`~pbitsim.training.Trainer` as ``pbitsim
train`` (torch is imported only then)."""

from __future__ import annotations

from pathlib import Path

from .. import runfiles
from ..network.counters import OpCounter
from .grid import Point, StalePoint, SweepConfig, SweepError

__all__ = ["RUNS", "point_folder", "point_status", "clear_point", "train_point"]

RUNS = "runs"


_DATA: dict = {}


def _dataset(name: str, data_dir):
    """The dataset, loaded once per process (workers of a parallel sweep load their own)."""
    from ..datasets import load_dataset
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
    from ..options import OptionError
    folder = point_folder(out, point)
    try:
        want = cfg.options(point)
    except OptionError as e:
        raise SweepError(str(e)) from None
    fields = {**want.result_fields(), **{k: getattr(want, k) for k in _COMPARED}}
    hint = "; pass --recompute to train it again, or choose another --out"
    try:
        if (folder / runfiles.RESULTS).exists():
            results = runfiles.read_results(folder)
            _compare(want, results["config"], f"{folder / runfiles.RESULTS}", hint, fields)
            counts = _read_point_counts(folder)  # what point_row prices: readable now
            if OpCounter(counts["counts"]).by_op() != results.get("train_counts_by_op"):
                raise StalePoint(f"{folder}: results.json and counts.json disagree{hint}")
            return "done", results
        if (folder / runfiles.CHECKPOINT).exists():
            state = runfiles.load_checkpoint(folder)
            _compare(want, state.get("config") or {}, f"{folder / runfiles.CHECKPOINT}", hint)
            return "resume", None
    except runfiles.RunFileError as e:
        raise StalePoint(f"{e}{hint}") from None
    return "new", None


def _compare(want, recorded: dict, where: str, hint: str, fields=None) -> None:
    """A run file's recorded configuration against the point's options (``fields`` of them;
    default their result fields), as a resume compares it
    (:meth:`~pbitsim.options.RunOptions.differs_from`)."""
    differs = want.differs_from(recorded, fields)
    if differs is not None:
        k, theirs, v = differs
        raise StalePoint(f"{where} was made with {k}={theirs!r}, this sweep asks "
                         f"{k}={v!r}{hint}")


def _read_point_counts(folder: Path) -> dict:
    """A point's ``counts.json``, validated; :class:`~pbitsim.runfiles.RunFileError` if not."""
    from ..estimator.countsfile import CountsFileError, parse_counts
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
    from ..training import Trainer
    folder = point_folder(out, point)
    if (folder / runfiles.RESULTS).is_file():
        return runfiles.read_results(folder)
    trainer = Trainer(cfg.options(point), _dataset(point.dataset, cfg.data_dir), folder,
                      reporter)
    if on_trainer is not None:
        on_trainer(trainer)
    return trainer.run(resume=(folder / runfiles.CHECKPOINT).is_file())
