"""Loaders for MNIST, Fashion-MNIST and CIFAR-10 (numpy only; no torch, no rich).

``load_dataset(name, data_dir)`` returns a :class:`Dataset` with uint8 images ``[N, C, H, W]``
and int64 labels ``[N]``. Accepted on-disk layouts:

* MNIST / Fashion-MNIST: the four IDX files (``train-images-idx3-ubyte`` etc.), gzipped or raw
  (gzip is detected from the content, not the name).
* CIFAR-10: the binary version (``cifar-10-batches-bin/*.bin``, or the ``cifar-10-binary.tar.gz``
  tarball, read member by member without extracting), or the python version
  (``cifar-10-batches-py/data_batch_*``, or ``cifar-10-python.tar.gz``). Python batches are
  unpickled with a restricted unpickler that only accepts numpy arrays and plain containers.

``data_dir`` may be the folder holding the files or a parent holding a ``mnist/``,
``fashion-mnist/`` or ``cifar10/`` subfolder (also torchvision's ``MNIST/raw``,
``FashionMNIST/raw`` and a bare ``cifar-10-batches-bin``/``-py``). Without ``data_dir``:
``$PBITSIM_DATA`` (same rules), then ``~/.cache/pbitsim/<name>`` (``$XDG_CACHE_HOME`` honoured),
and for Fashion-MNIST the Debian ``dataset-fashion-mnist`` path ``/usr/share/datasets/fashion-mnist``.

Integrity: structure is always checked (magic, sizes, image/label counts, label range, gzip
CRC). md5s: ``verify=None`` (default) checks files that have the official size against the
official md5 of their *decoded* content (so re-gzipped or gunzipped copies still pass, e.g.
Debian re-compresses Fashion-MNIST), ``verify=True`` requires every file to match, and
``verify=False`` skips md5s. Downloads are always checked against the official archive md5s.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import pickle
import struct
import tarfile
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from .config import MAX_DATASET_FILE_BYTES

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "ProgressFn",
    "default_cache_dir",
    "load_dataset",
]

DATASETS = ("mnist", "fashion-mnist", "cifar10")

ProgressFn = Callable[[str, int, Optional[int]], None]
"""``progress(description, done_bytes, total_bytes_or_None)``, called while downloading."""


class DatasetError(ValueError):
    """A dataset is missing or corrupt; the message is one line and names the file."""


# --------------------------------------------------------------------------------------------
# Static facts about the datasets
# --------------------------------------------------------------------------------------------

_ALIASES = {
    "mnist": "mnist",
    "fashion-mnist": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}

# Subfolders of a parent data_dir that may hold a dataset (relative paths, tried in order).
_SUBDIRS = {
    "mnist": ("mnist", "MNIST", "MNIST/raw", "mnist/raw"),
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw",
                      "fashion-mnist/raw"),
    "cifar10": ("cifar10", "cifar-10", "CIFAR10", "cifar10/raw"),
}

_DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_CLASSES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
}
_MEAN_STD = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.5,), (0.5,)),
    "cifar10": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
_PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

# IDX files: key -> (stem, is_images, official count)
_IDX_FILES = {
    "train_x": ("train-images-idx3-ubyte", True, 60000),
    "train_y": ("train-labels-idx1-ubyte", False, 60000),
    "test_x": ("t10k-images-idx3-ubyte", True, 10000),
    "test_y": ("t10k-labels-idx1-ubyte", False, 10000),
}
# md5 of the decoded (gunzipped) IDX files; identical for every faithful copy.
_IDX_CONTENT_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = ("test_batch",)
_CIFAR_BIN_MD5 = {
    "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
    "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
    "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
    "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
    "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
    "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
}
_CIFAR_PY_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
_CIFAR_RECORD = 1 + 3 * 32 * 32
_CIFAR_BATCH = 10000

# Downloads: filename -> md5 of the file as served, and the mirrors (tried in order).
DOWNLOADS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {
        "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
    },
}
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}

_urlopen = urllib.request.urlopen  # indirection so tests can substitute an opener


# --------------------------------------------------------------------------------------------
# The Dataset record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """An in-memory image classification dataset.

    ``train_x``/``test_x``: uint8 ``[N, C, H, W]``; ``train_y``/``test_y``: int64 ``[N]``;
    ``mean``/``std``: per-channel statistics used by :meth:`normalized` on ``x / 255``.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple
    mean: tuple
    std: tuple
    source: str = ""  # where the data was read from (informational)

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(f"{split}_x must be uint8 [N, C, H, W], got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.ndim != 1 or y.shape[0] != x.shape[0]:
                raise ValueError(f"{split}_y must be int64 [{x.shape[0]}], got {y.dtype} {y.shape}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"train/test image shapes differ: {self.train_x.shape[1:]} vs "
                             f"{self.test_x.shape[1:]}")
        c = self.train_x.shape[1]
        if len(self.mean) != c or len(self.std) != c:
            raise ValueError(f"mean/std need {c} channel values")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple:
        """``(C, H, W)``."""
        return tuple(self.train_x.shape[1:])

    def normalized(self, x: np.ndarray) -> np.ndarray:
        """``(x / 255 - mean[c]) / std[c]`` as float32, for uint8 ``x`` shaped ``[..., C, H, W]``."""
        x = np.asarray(x)
        if x.dtype != np.uint8:
            raise TypeError(f"normalized() expects uint8 pixels, got {x.dtype}")
        c = len(self.mean)
        if x.ndim < 3 or x.shape[-3] != c:
            raise ValueError(f"normalized() expects [..., {c}, H, W], got shape {x.shape}")
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        scale = (1.0 / (255.0 * std)).astype(np.float32)[:, None, None]
        shift = (mean / std).astype(np.float32)[:, None, None]
        out = x.astype(np.float32)
        out *= scale
        out -= shift
        return out

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.train_x.shape[0]}, test={self.test_x.shape[0]},"
                f" shape={self.input_shape}, classes={self.num_classes}, source={self.source!r})")


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def default_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/pbitsim/<name>`` (``~/.cache/pbitsim/<name>`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pbitsim" / _canonical(name)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    progress: ProgressFn | None = None,
    verify: bool | None = None,
) -> Dataset:
    """Load ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"`` (see the module docstring).

    With ``download=True`` and nothing found, the official files are fetched (md5-checked,
    written atomically) into ``data_dir`` (or ``data_dir/<name>`` when ``data_dir`` is a
    parent folder), else ``$PBITSIM_DATA/<name>``, else ``~/.cache/pbitsim/<name>``.
    """
    name = _canonical(name)
    explicit = data_dir is not None
    root = Path(data_dir).expanduser() if explicit else None
    if root is None and os.environ.get("PBITSIM_DATA"):
        root = Path(os.environ["PBITSIM_DATA"]).expanduser()
    if explicit and root.is_file():  # e.g. the CIFAR tarball itself: use its folder
        root = root.parent
    if explicit and not root.is_dir() and not download:
        raise DatasetError(f"data directory {root} does not exist")

    roots = [root] if root is not None else []
    if not explicit:
        roots.append(default_cache_dir(name))
        if name == "fashion-mnist":
            roots.append(_DEBIAN_FASHION_MNIST)
    candidates = _candidate_dirs(name, roots)

    partial = None
    for d in candidates:
        status, info = _probe(name, d)
        if status == "complete":
            return _load_source(name, info, verify)
        if status == "partial" and partial is None:
            partial = info

    if download:
        target = _download_target(name, root)
        _download(name, target, progress)
        status, info = _probe(name, target)
        if status != "complete":  # pragma: no cover - _download guarantees the files
            raise DatasetError(f"{target}: download finished but {_PRETTY[name]} files are missing")
        return _load_source(name, info, verify)

    if partial is not None:
        raise DatasetError(partial)
    where = ", ".join(str(d) for d in (candidates or roots)) or "(nowhere)"
    raise DatasetError(
        f"no {_PRETTY[name]} data found (looked in {where}); pass a data directory holding "
        f"{_expected_files(name)} (--data-dir) or fetch it with --download "
        "(download=True in Python)"
    )


# --------------------------------------------------------------------------------------------
# Locating files
# --------------------------------------------------------------------------------------------


def _canonical(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return _ALIASES[key]


def _candidate_dirs(name: str, roots: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for r in roots:
        for d in [r, *(r / s for s in _SUBDIRS[name])]:
            if d.is_dir() and d not in out:
                out.append(d)
    return out


def _expected_files(name: str) -> str:
    if name == "cifar10":
        return "cifar-10-binary.tar.gz, cifar-10-batches-bin/ or cifar-10-batches-py/"
    return "train-images-idx3-ubyte[.gz] and the other IDX files"


def _idx_file(d: Path, stem: str) -> Path | None:
    # Standard names, plus the "train-images.idx3-ubyte" spelling of some mirrors.
    alt = stem.replace("-idx", ".idx")
    for fname in (stem + ".gz", stem, alt + ".gz", alt):
        p = d / fname
        if p.is_file():
            return p
    return None


def _probe(name: str, d: Path):
    """('complete', source) | ('partial', message) | ('none', None) for folder ``d``."""
    if name in ("mnist", "fashion-mnist"):
        found = {k: _idx_file(d, stem) for k, (stem, _, _) in _IDX_FILES.items()}
        missing = [_IDX_FILES[k][0] for k, p in found.items() if p is None]
        if not missing:
            return "complete", ("idx", d, found)
        if len(missing) < len(found):
            return "partial", (f"{d / missing[0]}[.gz]: missing ({_PRETTY[name]} folder {d} "
                               f"lacks {', '.join(missing)})")
        return "none", None

    # CIFAR-10: binary folder, binary tarball, python folder, python tarball.
    partial = None
    for sub, kind, names in (
        ("cifar-10-batches-bin", "bin", [n + ".bin" for n in _CIFAR_TRAIN + _CIFAR_TEST]),
        (".", "bin", [n + ".bin" for n in _CIFAR_TRAIN + _CIFAR_TEST]),
        ("cifar-10-batches-py", "py", list(_CIFAR_TRAIN + _CIFAR_TEST)),
        (".", "py", list(_CIFAR_TRAIN + _CIFAR_TEST)),
    ):
        folder = d / sub if sub != "." else d
        if not folder.is_dir():
            continue
        present = [n for n in names if (folder / n).is_file()]
        if len(present) == len(names):
            return "complete", (kind, folder, None)
        if present and partial is None:
            missing = [n for n in names if n not in present]
            partial = f"{folder / missing[0]}: missing (CIFAR-10 folder {folder} lacks {', '.join(missing)})"
    for tname in ("cifar-10-binary.tar.gz", "cifar-10-python.tar.gz"):
        if (d / tname).is_file():
            return "complete", ("tar", d / tname, None)
    if partial:
        return "partial", partial
    return "none", None


def _download_target(name: str, root: Path | None) -> Path:
    if root is None:
        return default_cache_dir(name)
    leaf_names = {name, *(s.split("/")[0].lower() for s in _SUBDIRS[name])}
    if root.name.lower() in leaf_names:
        return root
    return root / name


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


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
    from .runfiles import read_bytes
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


# --------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------


def _download(name: str, target: Path, progress: ProgressFn | None) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"{target}: cannot create download folder ({e.strerror or e})") from None
    for fname, md5 in DOWNLOADS[name].items():
        dest = target / fname
        if dest.is_file() and _file_md5(dest) == md5:
            continue
        _download_file([base + fname for base in MIRRORS[name]], dest, md5, progress,
                       f"{name}/{fname}")


def _file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_file(urls: list, dest: Path, md5: str, progress: ProgressFn | None,
                   desc: str) -> None:
    """Fetch ``dest`` from the first mirror that serves the right bytes; atomic (temp+rename)."""
    failures = []
    for url in urls:
        tmp = None
        try:
            with _urlopen(url, timeout=60) as resp:
                length = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
                total = int(length) if length and str(length).isdigit() else None
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
                h, done = hashlib.md5(), 0
                if progress:
                    progress(desc, 0, total)
                with os.fdopen(fd, "wb") as out:
                    while True:
                        chunk = resp.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(desc, done, total)
            if total is not None and done != total:
                raise DatasetError(f"truncated download ({done} of {total} bytes)")
            if h.hexdigest() != md5:
                raise DatasetError(f"md5 mismatch (got {h.hexdigest()}, expected {md5})")
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
            tmp = None
            return
        except (OSError, DatasetError, http.client.HTTPException, ValueError) as e:
            failures.append(f"{url}: {e}")
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
    raise DatasetError(f"{dest}: download failed ({'; '.join(failures) or 'no mirrors'})")
