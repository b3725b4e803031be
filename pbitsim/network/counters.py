"""Operation counters: what the simulated hardware did, as named integer counts.

Keys are ``op`` or ``op:dtype``.  The energy model maps each key to an energy per
action, so every producer records the width it actually worked at; ``total("add")``
sums every width of one op.

Vocabulary (shared by the kernels, the torch bridge, the training counts file and
the energy model):

* arithmetic: ``add``, ``mul``, ``cmp`` (comparisons: max-pool, thresholds), each
  with a dtype; ``pbit_sample`` (one p-bit draw, no dtype);
* memory, in words of the dtype's width: ``weight_read`` / ``weight_write``,
  ``act_read`` / ``act_write`` (activations), ``grad_read`` / ``grad_write``
  (gradients and weight-gradient accumulators), ``state_read`` / ``state_write``
  (optimizer state such as Adam's moments), ``stash_read`` / ``stash_write``
  (activations kept for a backward pass, across the network until it reaches them);
* dtypes: ``fp32``, ``fp16``, ``bf16``, ``int8``, ``int16``, ``int32`` and ``uN``
  (unsigned N-bit: ``u1`` a binary activation, ``u3`` a tile count 0..7).
  :func:`dtype_bits` gives the width.

``counting()`` opens a context in which torch-bridge modules add their counts to
a shared counter; kernels themselves only ever take an explicit ``counter=``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Iterator, Mapping

from ..runfiles import read_json, write_text as atomic_write_text

__all__ = ["OpCounter", "counting", "active_counter", "atomic_write_text", "dtype_bits",
           "uint_dtype"]

def dtype_bits(dtype: str) -> int:
    """Width in bits of a count dtype: ``fp32`` -> 32, ``int8`` -> 8, ``u3`` -> 3."""
    for prefix in ("fp", "bf", "int", "u"):
        if dtype.startswith(prefix) and dtype[len(prefix):].isdigit():
            return int(dtype[len(prefix):])
    raise ValueError(f"unknown dtype {dtype!r} (expected fpN, bfN, intN or uN)")


def uint_dtype(max_value: int) -> str:
    """The narrowest ``uN`` that holds 0..max_value (``u1`` for binary, ``u3`` for 0..7)."""
    return f"u{max(1, int(max_value).bit_length())}"


class OpCounter:
    """Named integer counts that add, compare and round-trip through JSON."""

    __slots__ = ("_counts",)

    def __init__(self, counts: Mapping[str, int] | None = None, **kw: int):
        self._counts: dict[str, int] = {}
        for src in (counts or {}), kw:
            for key, n in src.items():
                self.add(key, n)

    @staticmethod
    def key(op: str, dtype: str | None = None) -> str:
        return op if dtype is None else f"{op}:{dtype}"

    def add(self, op: str, n: int, dtype: str | None = None) -> None:
        """Add ``n`` (a non-negative integer) to ``op`` at width ``dtype``."""
        n = int(n)
        if n < 0:
            raise ValueError(f"count for {op!r} must be >= 0, got {n}")
        if n:
            k = self.key(op, dtype)
            self._counts[k] = self._counts.get(k, 0) + n

    def add_counts(self, counts: Mapping[str, float]) -> None:
        """Add a ``{key: number}`` mapping (a :class:`pbitsim.network.costs.Counts`) of whole numbers."""
        for key, v in counts.items():
            n = round(v)
            if abs(v - n) > 1e-9 * max(1.0, abs(v)):
                raise ValueError(f"count for {key!r} must be a whole number, got {v}")
            self.add(key, n)

    def __getitem__(self, key: str) -> int:
        return self._counts.get(key, 0)

    def total(self, op: str) -> int:
        """Sum of ``op`` over every width (``add`` + ``add:fp32`` + ...)."""
        prefix = op + ":"
        return sum(n for k, n in self._counts.items() if k == op or k.startswith(prefix))

    def by_op(self) -> dict[str, int]:
        """Counts with widths merged: ``{"add": ..., "mul": ...}``."""
        out: dict[str, int] = {}
        for k, n in self._counts.items():
            op = k.split(":", 1)[0]
            out[op] = out.get(op, 0) + n
        return out

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self._counts.items()))

    def keys(self):
        return self.as_dict().keys()

    def items(self):
        return self.as_dict().items()

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self._counts)

    def __bool__(self) -> bool:
        return bool(self._counts)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OpCounter):
            return self._counts == other._counts
        if isinstance(other, Mapping):
            return self._counts == {k: v for k, v in other.items() if v}
        return NotImplemented

    def __add__(self, other: "OpCounter") -> "OpCounter":
        out = self.copy()
        out += other
        return out

    def __iadd__(self, other: "OpCounter | Mapping[str, int]") -> "OpCounter":
        items = other._counts.items() if isinstance(other, OpCounter) else other.items()
        for k, n in items:
            self.add(k, n)
        return self

    def scaled(self, factor: int) -> "OpCounter":
        """Counts multiplied by a non-negative integer (e.g. per sample -> per epoch)."""
        return OpCounter({k: n * int(factor) for k, n in self._counts.items()})

    def copy(self) -> "OpCounter":
        return OpCounter(self._counts)

    def clear(self) -> None:
        self._counts.clear()

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v}" for k, v in self.as_dict().items())
        return f"OpCounter({body})"

    # --- JSON -------------------------------------------------------------
    def to_json(self, **meta) -> str:
        """JSON text: ``{"format": "pbitsim-counts", "version": 1, "counts": {...}, **meta}``."""
        return json.dumps({"format": "pbitsim-counts", "version": 1, **meta,
                           "counts": self.as_dict()}, indent=2)

    @classmethod
    def from_document(cls, data) -> "OpCounter":
        """Counts from a parsed counts document (or a bare ``{name: int}`` mapping)."""
        counts = data.get("counts", data) if isinstance(data, dict) else None
        if not isinstance(counts, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in counts.values()):
            raise ValueError("not a pbitsim counts document: expected {'counts': {name: int}}")
        return cls(counts)

    def save(self, path: str | os.PathLike, **meta) -> None:
        atomic_write_text(path, self.to_json(**meta) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "OpCounter":
        return cls.from_document(read_json(path, "counts file"))


_ACTIVE: contextvars.ContextVar[tuple[OpCounter, ...]] = contextvars.ContextVar(
    "pbitsim_active_counters", default=())


@contextlib.contextmanager
def counting(counter: OpCounter | None = None, *, isolated: bool = False) -> Iterator[OpCounter]:
    """Collect the counts of every bridge module run inside the block.

    Contexts nest: an inner block's counts also reach the outer counters, unless ``isolated``
    (work that is not the hardware's, such as a simulator's cache fill, counted apart).
    """
    c = counter if counter is not None else OpCounter()
    token = _ACTIVE.set(((c,) if isolated else _ACTIVE.get() + (c,)))
    try:
        yield c
    finally:
        _ACTIVE.reset(token)


def active_counter() -> OpCounter | None:
    """A counter that forwards to every open ``counting()`` block, or None if none is open."""
    stack = _ACTIVE.get()
    if not stack:
        return None
    if len(stack) == 1:
        return stack[0]
    return _Fanout(stack)


class _Fanout(OpCounter):
    """Adds to several counters at once (nested ``counting()`` blocks)."""

    __slots__ = ("_targets",)

    def __init__(self, targets):
        super().__init__()
        self._targets = targets

    def add(self, op, n, dtype=None):
        for t in self._targets:
            t.add(op, n, dtype)
