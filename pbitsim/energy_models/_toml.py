"""Reading the TOML data files (energy tables, architectures) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import MAX_TOML_BYTES
from ..runfiles import read_toml as _read_capped


def read_toml(path: Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The parsed file; an unreadable, too large (``MAX_TOML_BYTES``), too deeply nested or
    malformed one raises ``error`` naming ``what`` and the path."""
    return _read_capped(path, what, MAX_TOML_BYTES, error)
