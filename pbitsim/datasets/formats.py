"""Reading the on-disk formats: IDX (gzipped or raw) and CIFAR-10 (binary or python batches,
folders or tarballs read member by member), with structure and md5 checks. Nothing read here
can run code: python batches go through a restricted unpickler, and every file or archive
member is size-checked before it is read."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import MAX_DATASET_FILE_BYTES
from .core import (_CIFAR_BATCH, _CIFAR_BIN_MD5, _CIFAR_PY_MD5, _CIFAR_RECORD, _CIFAR_TEST,
                   _CIFAR_TRAIN, _CLASSES, _IDX_CONTENT_MD5, _IDX_FILES, _MEAN_STD, _PRETTY,
                   Dataset, DatasetError)


def _load_source(name: str, source, verify: bool | None) -> Dataset:
    kind, path, extra = source
    if kind == "idx":
        arrays = _load_idx_set(name, extra, verify)
    elif kind == "bin":
        arrays = _assemble_cifar(
            lambda n: _cifar_bin(_read_bytes(path / (n + ".bin")), path / (n + ".bin"), verify))
    elif kind == "py":
        arrays = _assemble_cifar(lambda n: _cifar_py(_read_bytes(path / n), path / n, verify))
    else:
        arrays = _load_cifar_tar(path, verify)
    mean, std = _MEAN_STD[name]
    return Dataset(name=name, **arrays, classes=_CLASSES[name], mean=mean, std=std,
                   source=str(path))


def _read_bytes(path: Path) -> bytes:
    """A whole dataset file, refused before reading when larger than MAX_DATASET_FILE_BYTES."""
    from ..runfiles import read_bytes
    return read_bytes(path, MAX_DATASET_FILE_BYTES, "dataset file", DatasetError)


def _md5_check(path, digest: str, expected: str | None, verify: bool | None, official: bool):
    """Compare md5s under the ``verify`` policy (None: only files of official size)."""
    if verify is False or (verify is None and not official):
        return
    if expected is None:
        raise DatasetError(f"{path}: no official md5 known for this file name")
    if digest != expected:
        raise DatasetError(f"{path}: md5 mismatch (got {digest}, expected {expected}); "
                           "the file is corrupt or not the official release")


# ---- IDX -----------------------------------------------------------------------------------


def _load_idx_set(name: str, files: dict, verify: bool | None) -> dict:
    arrays = {}
    for key, (stem, is_images, official_n) in _IDX_FILES.items():
        path = files[key]
        arr, digest = _read_idx(path, 3 if is_images else 1, want_md5=verify is not False)
        official = arr.shape[0] == official_n
        if digest is not None:
            _md5_check(path, digest, _IDX_CONTENT_MD5[name][stem], verify, official)
        if is_images:
            if arr.shape[1:] != (28, 28):
                raise DatasetError(f"{path}: images are {arr.shape[1]}x{arr.shape[2]}, "
                                   f"{_PRETTY[name]} images are 28x28")
            arrays[key] = arr.reshape(arr.shape[0], 1, 28, 28)
        else:
            arrays[key] = _check_labels(arr, path)
    for split in ("train", "test"):
        nx, ny = arrays[f"{split}_x"].shape[0], arrays[f"{split}_y"].shape[0]
        if nx != ny:
            raise DatasetError(f"{files[split + '_x']}: {nx} images but {files[split + '_y'].name} "
                               f"has {ny} labels")
    return arrays


def _check_labels(raw: np.ndarray, where) -> np.ndarray:
    if raw.size and int(raw.max()) > 9:
        raise DatasetError(f"{where}: label {int(raw.max())} out of range 0..9")
    return raw.astype(np.int64)


def _read_idx(path: Path, ndim: int, want_md5: bool):
    """Read an uint8 IDX file (gzipped or raw); returns (array shaped by its dims, md5|None)."""
    magic_expected = 0x800 | ndim  # 2051 for images, 2049 for labels
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise DatasetError(f"{path}: cannot open ({e.strerror or e})") from None
    with raw:
        is_gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw, mode="rb") if is_gz else raw
        try:
            head = f.read(4)
            if len(head) < 4:
                raise DatasetError(f"{path}: truncated (no IDX header)")
            magic = struct.unpack(">I", head)[0]
            if magic != magic_expected:
                raise DatasetError(f"{path}: bad magic {magic} (expected {magic_expected}, IDX "
                                   f"{'images' if ndim == 3 else 'labels'})")
            dim_bytes = f.read(4 * ndim)
            if len(dim_bytes) < 4 * ndim:
                raise DatasetError(f"{path}: truncated IDX header")
            dims = struct.unpack(">" + "I" * ndim, dim_bytes)
            n = int(np.prod(dims, dtype=np.int64))
            if n > (1 << 31):
                raise DatasetError(f"{path}: implausible IDX dimensions {dims}")
            arr = np.empty(n, dtype=np.uint8)
            got = _readinto_full(f, memoryview(arr))
            if got < n:
                raise DatasetError(f"{path}: truncated: header promises {n} data bytes, "
                                   f"file holds {got}")
            if f.read(1):
                raise DatasetError(f"{path}: wrong size: data continues past the {n} bytes "
                                   f"its header {dims} promises")
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise DatasetError(f"{path}: corrupt or truncated gzip stream ({e})") from None
        except OSError as e:
            raise DatasetError(f"{path}: read error ({e})") from None
    digest = None
    if want_md5:
        h = hashlib.md5(head)
        h.update(dim_bytes)
        h.update(arr)
        digest = h.hexdigest()
    return arr.reshape(dims), digest


def _readinto_full(f, mv: memoryview) -> int:
    got = 0
    while got < len(mv):
        k = f.readinto(mv[got:])
        if not k:
            break
        got += k
    return got


# ---- CIFAR-10 ------------------------------------------------------------------------------


def _assemble_cifar(read_batch: Callable[[str], tuple]) -> dict:
    out = {}
    for split, names in (("train", _CIFAR_TRAIN), ("test", _CIFAR_TEST)):
        parts = [read_batch(n) for n in names]
        out[f"{split}_x"] = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else \
            np.ascontiguousarray(parts[0][0])
        out[f"{split}_y"] = np.concatenate([p[1] for p in parts])
    return out


def _cifar_bin(buf, where, verify: bool | None):
    a = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    if a.size == 0 or a.size % _CIFAR_RECORD:
        raise DatasetError(f"{where}: wrong size {a.size} bytes, not a whole number of "
                           f"{_CIFAR_RECORD}-byte records (1 label + 3072 pixels)")
    if verify is not False:
        official = a.size == _CIFAR_BATCH * _CIFAR_RECORD
        if verify or official:
            _md5_check(where, hashlib.md5(a).hexdigest(), _CIFAR_BIN_MD5.get(Path(str(where)).name),
                       verify, official)
    rows = a.reshape(-1, _CIFAR_RECORD)
    y = _check_labels(rows[:, 0], where)
    x = rows[:, 1:].reshape(-1, 3, 32, 32)
    return x, y


_NP_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("builtins", "object"),
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that only builds numpy arrays and builtin containers (no arbitrary code)."""

    def find_class(self, module, name):
        if (module, name) not in _NP_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module == "_codecs":
            import codecs
            return codecs.encode
        if module in ("copy_reg", "copyreg"):
            import copyreg
            return copyreg._reconstructor
        if module in ("__builtin__", "builtins"):
            return object
        if name in ("ndarray", "dtype"):
            return getattr(np, name)
        core = _np_core()
        sub = getattr(core, module.rsplit(".", 1)[1])
        return getattr(sub, name)


def _np_core():
    try:
        import numpy._core.multiarray  # noqa: F401  (numpy >= 2)
        import numpy._core.numeric  # noqa: F401
        return np._core
    except ImportError:  # numpy 1.x
        import numpy.core.multiarray  # noqa: F401
        import numpy.core.numeric  # noqa: F401
        return np.core


def _cifar_py(data: bytes, where, verify: bool | None):
    try:
        d = _SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
        if not isinstance(d, dict):
            raise TypeError("not a dict")
        d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}
        x = np.asarray(d["data"])
        labels = np.asarray(d["labels"] if "labels" in d else d["fine_labels"])
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError,
            IndexError, struct.error, UnicodeDecodeError) as e:
        raise DatasetError(f"{where}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DatasetError(f"{where}: wrong size: data is {x.dtype} {x.shape}, expected uint8 [N, 3072]")
    if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
        raise DatasetError(f"{where}: {x.shape[0]} images but {labels.shape[0] if labels.ndim else 0} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"{where}: label out of range 0..9")
    if verify is not False:
        official = x.shape[0] == _CIFAR_BATCH
        if verify or official:
            _md5_check(where, hashlib.md5(data).hexdigest(),
                       _CIFAR_PY_MD5.get(Path(str(where)).name), verify, official)
    return x.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _load_cifar_tar(path: Path, verify: bool | None) -> dict:
    wanted_bin = {n + ".bin": n for n in _CIFAR_TRAIN + _CIFAR_TEST}
    wanted_py = {n: n for n in _CIFAR_TRAIN + _CIFAR_TEST}
    batches: dict = {}
    kind = None
    try:
        with tarfile.open(path, mode="r|*") as tf:  # streaming: members in archive order
            for m in tf:
                if not m.isfile():
                    continue
                base = m.name.rsplit("/", 1)[-1]
                parent = m.name.rsplit("/", 2)[-2] if "/" in m.name else ""
                if base in wanted_bin and kind in (None, "bin"):
                    kind = "bin"
                elif base in wanted_py and kind in (None, "py") and parent != "cifar-10-batches-bin":
                    kind = "py"
                else:
                    continue
                key = wanted_bin.get(base) or wanted_py[base]
                if key in batches:
                    raise DatasetError(f"{path}: duplicate member {m.name}")
                if m.size > MAX_DATASET_FILE_BYTES:  # before decompressing any of it
                    raise DatasetError(f"{path}: member {m.name} is {m.size:,} bytes, more than "
                                       f"a CIFAR-10 batch can be (limit "
                                       f"{MAX_DATASET_FILE_BYTES:,})")
                data = tf.extractfile(m).read()
                if len(data) != m.size:
                    raise DatasetError(f"{path}: truncated member {m.name}")
                where = f"{path}:{m.name}"
                batches[key] = _cifar_bin(data, where, verify) if kind == "bin" \
                    else _cifar_py(data, where, verify)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DatasetError(f"{path}: corrupt or truncated archive ({type(e).__name__}: {e})") from None
    except OSError as e:
        raise DatasetError(f"{path}: read error ({e})") from None
    missing = [n for n in _CIFAR_TRAIN + _CIFAR_TEST if n not in batches]
    if missing:
        suffix = ".bin" if kind != "py" else ""
        raise DatasetError(f"{path}: archive lacks {', '.join(m + suffix for m in missing)} "
                           "(truncated or incomplete archive)")
    return _assemble_cifar(batches.__getitem__)
