"""The files of a run, in one place: names, safe writes, capped reads, checkpoints and the lock.

Every file pbitsim writes or reads back goes through here:

* the names in an output folder: ``checkpoint.pt``, ``results.json``, ``counts.json`` (and the
  lock file ``.pbitsim.lock``);
* :func:`write_text` / :func:`write_bytes`: the safe writer. A regular file is replaced
  atomically (a temporary file in the same folder, fsync, rename), so a reader never sees half a
  file and a failed write (a full disk) leaves the previous file as it was. A symlink is written
  through to its target, never replaced; ``-`` is standard output; a FIFO or a device is written
  directly. New files get ``0o666 & ~umask`` (an existing file keeps its mode); a missing parent
  folder is an error, not created; an empty path is an error;
* :func:`read_bytes`, :func:`read_json`, :func:`read_toml`: reads with a size cap
  (:mod:`pbitsim.config`), refused before anything large is read, and with one-line errors for
  undecodable, malformed or too deeply nested documents;
* :func:`write_results` / :func:`read_results`, :func:`write_counts` / :func:`read_counts`;
* :func:`save_checkpoint` / :func:`load_checkpoint`: torch files loaded with
  ``weights_only=True``, so a checkpoint can hold tensors and plain containers only and loading
  one never runs code;
* :func:`out_lock`: an exclusive lock on an output folder, so two runs never write into the
  same one.

Pure Python at import time (``pbitsim estimate`` imports this and never torch): torch is
imported inside the checkpoint functions only.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import stat
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import MAX_CHECKPOINT_BYTES, MAX_JSON_BYTES, MAX_TOML_BYTES

__all__ = ["CHECKPOINT", "RESULTS", "COUNTS", "LOCK", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION",
           "READABLE_CHECKPOINT_VERSIONS", "RESULTS_FORMAT", "COUNTS_FORMAT", "RunFileError",
           "OutFolderBusy", "write_text", "write_bytes", "json_text", "read_bytes", "read_json",
           "read_toml", "data_file",
           "write_results", "read_results", "write_counts", "read_counts", "save_checkpoint",
           "load_checkpoint", "make_out_folder", "prepare_new_run_folder", "out_lock"]

CHECKPOINT, RESULTS, COUNTS = "checkpoint.pt", "results.json", "counts.json"
LOCK = ".pbitsim.lock"

CHECKPOINT_FORMAT = "pbitsim-train-checkpoint"
#: 2: block 1's pre-activation batch norm, the device; 3: every block's; 4: ``config`` records
#: ``threads``; tensors and plain containers only, loaded with ``weights_only=True``;
#: 5: networks built from an architecture (``models.Net`` module names), index layers keep the
#: statistics of the counts they read, BGBSFF's ``update``. Older versions hold other modules.
CHECKPOINT_VERSION = 5
READABLE_CHECKPOINT_VERSIONS = (5,)
RESULTS_FORMAT = "pbitsim-train-results"
COUNTS_FORMAT = "pbitsim-counts"


class RunFileError(ValueError):
    """A file that cannot be written or read back: one line naming the file and the reason."""


class OutFolderBusy(RunFileError):
    """Another pbitsim process holds the output folder's lock."""


# ------------------------------------------------------------------------------------ writing
def write_text(path: "str | os.PathLike", text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` safely; see the module docstring for what that means.

    Raises
    ------
    RunFileError
        An empty path, a missing parent folder, a folder in the way or any OS error.
    """
    if os.fspath(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: "str | os.PathLike", data: bytes) -> None:
    """Write ``data`` to ``path`` safely (``-``: standard output); see :func:`write_text`."""
    name = os.fspath(path)
    if name == "":
        raise RunFileError("empty output path")
    if name == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    # a symlink (or a chain of them) is written through to its target, never replaced
    target = os.path.realpath(name) if os.path.islink(name) else name
    try:
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise RunFileError(f"cannot write {name}: it is a folder")
        if st is not None and not stat.S_ISREG(st.st_mode):  # FIFO, device, socket
            with open(target, "wb") as fh:
                fh.write(data)
            return
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            raise RunFileError(f"cannot write {name}: folder {folder} does not exist")
        mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
        _replace(target, folder, data, mode)
    except OSError as exc:
        raise RunFileError(f"cannot write {name}: {exc.strerror or exc}") from None


def _replace(target: str, folder: str, data: bytes, mode: int) -> None:
    """Temporary file in ``folder``, fsync, ``mode``, rename over ``target``, fsync the folder."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_all(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _write_all(fh, data: bytes) -> None:
    """``fh.write(data)``; a separate function so tests can simulate a full disk."""
    fh.write(data)


def _umask() -> int:
    """The process umask (read from /proc where possible: setting it is not thread-safe)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------ reading
def read_bytes(path: "str | os.PathLike", cap: int, what: str = "file",
               error: type[Exception] = RunFileError) -> bytes:
    """The content of ``path``, refused with ``error`` when it is larger than ``cap`` bytes.

    A regular file's size is checked before reading; anything else (a device, a FIFO) is read
    up to ``cap + 1`` bytes, so ``/dev/zero`` is refused after at most ``cap`` bytes.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > cap:
                raise error(f"{what} {name} is {st.st_size:,} bytes, more than the "
                            f"{cap:,}-byte limit")
            data = fh.read(cap + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    if len(data) > cap:
        raise error(f"{what} {name} is larger than the {cap:,}-byte limit")
    return data


def read_json(path: "str | os.PathLike", what: str = "JSON file", cap: int = MAX_JSON_BYTES,
              error: type[Exception] = RunFileError) -> Any:
    """A parsed JSON document; unreadable, too large, malformed or too deep: one ``error``."""
    name = os.fspath(path)
    data = read_bytes(name, cap, what, error)
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise error(f"{what} {name} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise error(f"{what} {name} is not JSON: {exc}") from None


def data_file(name_or_path: "str | os.PathLike", directory: Path, noun: str,
              error: type = RunFileError, shipped: str = "shipped") -> Path:
    """The TOML file a ``--table``/``--arch``/``--hardware`` value names: a built-in name (a
    file ``NAME.toml`` in ``directory``; no separator, no ``.toml`` suffix) or a path. An
    unknown name is one ``error`` line listing the built-in names."""
    text = os.fspath(name_or_path)
    builtin = directory / f"{text}.toml"
    if builtin.is_file() and os.sep not in text and not text.endswith(".toml"):
        return builtin
    if text.endswith(".toml") or os.sep in text or Path(text).is_file():
        return Path(text)
    names = ", ".join(sorted(p.stem for p in directory.glob("*.toml")))
    raise error(f"unknown {noun} {text!r} ({shipped}: {names}; or give a .toml file)")


def read_toml(path: "str | os.PathLike", what: str = "TOML file", cap: int = MAX_TOML_BYTES,
              error: type[Exception] = RunFileError) -> dict[str, Any]:
    """A parsed TOML document; unreadable, too large, malformed or too deep: one ``error``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    name = os.fspath(path)
    data = read_bytes(name, cap, what, error)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except RecursionError:
        raise error(f"{what} {name} is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {name} is not valid TOML: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {name} is not valid TOML: {exc}") from None


# --------------------------------------------------------------------------- results, counts
def json_text(doc: Any, name: "str | os.PathLike" = "output") -> str:
    """``doc`` as indented JSON; a NaN or an infinity (which JSON has no word for) is a
    ``RunFileError``, never an ``Infinity``/``NaN`` token another reader would reject."""
    try:
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise RunFileError(f"cannot write {os.fspath(name)}: it would hold a non-finite number "
                           "(NaN or infinity)") from None


def write_results(folder: "str | os.PathLike", doc: dict) -> Path:
    """``folder/results.json`` (a training run's results document)."""
    path = Path(folder) / RESULTS
    write_text(path, json_text(doc, path))
    return path


def read_results(folder: "str | os.PathLike") -> dict:
    """A run's ``results.json``, checked to be a pbitsim results document.

    Raises
    ------
    RunFileError
        Unreadable, not JSON, not a results document, or missing its configuration or accuracy.
    """
    path = Path(folder) / RESULTS
    doc = read_json(path, "results file")
    if not isinstance(doc, dict) or doc.get("format") != RESULTS_FORMAT:
        raise RunFileError(f"results file {path}: not a pbitsim training results document")
    if doc.get("version") != 1:
        raise RunFileError(f"results file {path}: unsupported version {doc.get('version')!r}")
    acc = doc.get("accuracy")
    if (not isinstance(doc.get("config"), dict) or isinstance(acc, bool)
            or not isinstance(acc, (int, float)) or not 0.0 <= acc <= 1.0):
        raise RunFileError(f"results file {path}: missing or invalid config or accuracy")
    per_predictor = doc.get("test_accuracy")
    if not isinstance(per_predictor, dict) or per_predictor.get(doc.get("predictor")) != acc:
        raise RunFileError(f"results file {path}: accuracy disagrees with test_accuracy")
    return doc


def write_counts(folder: "str | os.PathLike", doc: dict) -> Path:
    """``folder/counts.json`` (the counts file ``pbitsim estimate --counts`` reads)."""
    path = Path(folder) / COUNTS
    write_text(path, json_text(doc, path))
    return path


def read_counts(path: "str | os.PathLike", error: type[Exception] = RunFileError) -> dict:
    """A counts file as parsed JSON (a folder means its ``counts.json``); only the format is
    checked here, :mod:`pbitsim.estimator.countsfile` validates the fields."""
    path = Path(path)
    if path.is_dir():
        path = path / COUNTS
    doc = read_json(path, "counts file", error=error)
    if not isinstance(doc, dict) or doc.get("format") != COUNTS_FORMAT:
        raise error(f"counts file {path}: 'format' must be \"{COUNTS_FORMAT}\"")
    return doc


# -------------------------------------------------------------------------------- checkpoints
_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value, where: str = "state") -> None:
    """Tensors and plain containers only: what ``torch.load(weights_only=True)`` accepts."""
    import torch
    if isinstance(value, (torch.Tensor, *_PLAIN)):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, _PLAIN):
                raise TypeError(f"checkpoint {where}: key {k!r} is a {type(k).__name__}")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"checkpoint {where} is a {type(value).__name__}, not a tensor or a "
                    "plain value")


def save_checkpoint(folder: "str | os.PathLike", state: dict) -> Path:
    """Write ``folder/checkpoint.pt`` atomically (a failed write keeps the previous one).

    ``state`` must hold tensors, plain values and containers only (checked: anything else
    could not be loaded back with ``weights_only=True``).
    """
    import torch
    _check_plain(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    path = Path(folder) / CHECKPOINT
    write_bytes(path, buf.getvalue())
    return path


def load_checkpoint(folder: "str | os.PathLike") -> dict:
    """``folder/checkpoint.pt``, loaded without running code, its format and version checked.

    Raises
    ------
    RunFileError
        Missing, too large, unreadable, holding anything but tensors and plain containers (a
        crafted pickle), or not a checkpoint of this pbitsim version.
    """
    import torch
    path = Path(folder) / CHECKPOINT
    if not path.is_file():
        raise RunFileError(f"{path}: no checkpoint to resume from")
    data = read_bytes(path, MAX_CHECKPOINT_BYTES, "checkpoint")
    try:
        with warnings.catch_warnings():  # torch's warnings about foreign pickles: said below
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, foreign, or a pickle that would run code
        text = str(exc).strip()
        if "weights_only" in text:  # never repeat torch's advice to load it unsafely
            raise RunFileError(f"{path}: unreadable checkpoint (it holds more than tensors and "
                               "plain values: a raw pickle, another program's file or a "
                               "crafted one; it was not loaded)") from None
        first = text.splitlines()[0] if text else ""
        raise RunFileError(f"{path}: unreadable checkpoint ({type(exc).__name__}: "
                           f"{first[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RunFileError(f"{path}: not a pbitsim training checkpoint")
    if state.get("version") not in READABLE_CHECKPOINT_VERSIONS:
        readable = ", ".join(map(str, READABLE_CHECKPOINT_VERSIONS))
        raise RunFileError(f"{path}: checkpoint version {state.get('version')} was written by "
                           f"another pbitsim (this one reads {readable}); start a new run")
    if isinstance(state.get("config"), dict):
        state["config"].setdefault("threads", None)  # version 3
    _check_checkpoint_fields(state, path)
    return state


def _check_checkpoint_fields(state: dict, path: Path) -> None:
    """Every field a resume reads has its type and range (a file that loads safely can still
    be edited or damaged: one line naming the field, not a traceback mid-resume). How the
    fields fit the run's own configuration is checked by the trainer."""
    def bad(field, what):
        raise RunFileError(f"{path}: checkpoint field {field} {what}")

    def integer(value, field, lo=0):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            bad(field, f"must be an integer >= {lo}, got {_short(value)}")

    def number(value, field, signed=False):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or (value < 0 and not signed):
            bad(field, f"must be a finite number{'' if signed else ' >= 0'}, got "
                       f"{_short(value)}")

    for key in ("config", "algo", "counts", "partial"):
        if not isinstance(state.get(key), dict):
            bad(repr(key), f"must be a mapping, got {_short(state.get(key))}")
    integer(state.get("epoch"), "'epoch'")
    integer(state.get("step"), "'step'")
    if not isinstance(state.get("calibrated", False), bool):  # batch-norm calibration done
        bad("'calibrated'", f"must be true or false, got {_short(state.get('calibrated'))}")
    integer(state.get("calibration_samples", 0), "'calibration_samples'")
    number(state.get("wall_s"), "'wall_s'")
    for key, n in state["counts"].items():
        if not isinstance(key, str):
            bad("'counts'", f"has a key {_short(key)} that is not a count name")
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 2 ** 63:
            bad(f"counts[{key!r}]", f"must be an integer in 0..2^63-1, got {_short(n)}")
    part = state["partial"]
    for key in ("correct", "seen"):
        integer(part.get(key), f"partial[{key!r}]")
    number(part.get("loss_sum"), "partial['loss_sum']", signed=True)
    number(part.get("wall_s"), "partial['wall_s']")
    if part["correct"] > part["seen"]:
        bad("'partial'", f"counts {part['correct']} correct of {part['seen']} seen")
    history = state.get("history")
    if not isinstance(history, list):
        bad("'history'", f"must be a list, got {_short(history)}")
    for i, record in enumerate(history):
        if not isinstance(record, dict):
            bad(f"history[{i}]", f"must be a mapping, got {_short(record)}")
        integer(record.get("epoch"), f"history[{i}]['epoch']", lo=1)
        integer(record.get("samples"), f"history[{i}]['samples']", lo=1)
        number(record.get("loss"), f"history[{i}]['loss']", signed=True)
        for key in ("train_acc", "wall_s"):
            number(record.get(key), f"history[{i}][{key!r}]")


def _short(value) -> str:
    """A value as an error line shows it (a huge or deep one cut short)."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10 ** 30 else "a huge integer"
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------- output folders
def make_out_folder(folder: "str | os.PathLike") -> Path:
    """Create an output folder (and its parents, as ``mkdir -p``); one-line errors."""
    path = Path(folder)
    if os.fspath(folder) == "":
        raise RunFileError("empty output folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RunFileError(f"cannot create output folder {path}: a file is in the way") from None
    except OSError as exc:
        raise RunFileError(f"cannot create output folder {path}: {exc.strerror or exc}") from None
    return path


def prepare_new_run_folder(folder: "str | os.PathLike", overwrite: bool = False) -> None:
    """A new (not resumed) run may write into ``folder``: it holds no checkpoint, results or
    counts of another run, unless ``overwrite`` (``pbitsim train --overwrite``) says to
    replace them: they are then removed now, so the folder never mixes two runs' files.
    Without it a copied or half-cleaned run folder is never overwritten.

    Raises
    ------
    RunFileError
        The folder holds a run's files (named) and ``overwrite`` is false, or they cannot be
        removed.
    """
    path = Path(folder)
    if overwrite:
        for name in (CHECKPOINT, RESULTS, COUNTS):
            try:
                (path / name).unlink(missing_ok=True)
            except OSError as exc:
                raise RunFileError(f"cannot remove {path / name}: {exc.strerror or exc}") \
                    from None
        return
    if (path / CHECKPOINT).exists():
        raise RunFileError(f"{path} already holds a checkpoint; pass --resume to continue it, "
                           "--overwrite to replace it, or choose another --out")
    held = [name for name in (RESULTS, COUNTS) if (path / name).exists()]
    if held:
        raise RunFileError(f"{path} already holds another run's {' and '.join(held)}; pass "
                           "--overwrite to replace them or choose another --out")


_HELD: dict[str, list] = {}  # realpath -> [open lock file, depth]: re-entrant in one process


@contextlib.contextmanager
def out_lock(folder: "str | os.PathLike") -> Iterator[Path]:
    """Hold an exclusive lock on an output folder (created if missing) for the block.

    Re-entrant within a process (a sweep's point runs under the sweep's own lock). The lock
    is released when the block ends or the process dies, so no stale lock is ever left.

    Raises
    ------
    OutFolderBusy
        Another process holds the folder.
    """
    created = not os.path.isdir(folder)
    path = make_out_folder(folder)
    key = os.path.realpath(path)
    held = _HELD.get(key)
    if held is not None:
        held[1] += 1
        try:
            yield path
        finally:
            held[1] -= 1
        return
    fh = _acquire(path)
    _HELD[key] = [fh, 1]
    try:
        yield path
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):  # nothing written: leave no empty folder behind
            if created and os.listdir(path) == [LOCK]:
                os.unlink(path / LOCK)
                os.rmdir(path)
        fh.close()  # closing the descriptor releases the lock


def _acquire(path: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return io.StringIO()
    lock = path / LOCK
    try:
        fh = open(lock, "a+", encoding="ascii")
    except OSError as exc:
        raise RunFileError(f"cannot lock output folder {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.seek(0)
        owner = fh.read(32).strip()
        fh.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            who = f" (pid {owner})" if owner.isdigit() else ""
            raise OutFolderBusy(f"{path} is in use by another pbitsim run{who}; wait for it to "
                                "finish or choose another --out") from None
        raise RunFileError(f"cannot lock output folder {path}: {exc.strerror or exc}") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh
