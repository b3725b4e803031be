"""Fetching the official files: mirror by mirror, md5-checked, written atomically."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
from pathlib import Path

from .core import DOWNLOADS, MIRRORS, DatasetError, ProgressFn


def _urlopen(*args, **kwargs):
    """``pbitsim.datasets._urlopen`` at call time (tests substitute an opener there)."""
    from .. import datasets
    return datasets._urlopen(*args, **kwargs)


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
