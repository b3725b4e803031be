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

The package: :mod:`.core` (the :class:`Dataset` record, the error, the static facts),
:mod:`.locate` (where the files are), :mod:`.formats` (reading IDX and CIFAR-10, size-capped,
no code run by any file) and :mod:`.download` (fetching the official files).
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from .core import _DEBIAN_FASHION_MNIST, _PRETTY, DATASETS, Dataset, DatasetError, ProgressFn
from .core import DOWNLOADS, MIRRORS  # noqa: F401  (the official files: tests substitute entries)
from .download import _download
from .formats import _load_source
from .locate import (_candidate_dirs, _canonical, _download_target, _expected_files, _probe,
                     default_cache_dir)

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "ProgressFn",
    "default_cache_dir",
    "load_dataset",
]

_urlopen = urllib.request.urlopen  # indirection so tests can substitute an opener


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
