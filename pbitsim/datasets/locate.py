"""Locating a dataset's files: accepted folder layouts, the cache folder, the download target."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .core import (_ALIASES, _CIFAR_TEST, _CIFAR_TRAIN, _IDX_FILES, _PRETTY, _SUBDIRS, DATASETS,
                   DatasetError)


def default_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/pbitsim/<name>`` (``~/.cache/pbitsim/<name>`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pbitsim" / _canonical(name)


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
