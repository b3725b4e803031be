"""Outputs of frozen layers, computed once per training stage instead of on every step.

A greedy schedule (CaFo's predictor stages) trains one reader on top of layers that no longer
learn; the hardware recomputes those layers for every batch, and the run's counts must say so.
When the frozen layers are real-valued and deterministic (no p-bits, batch norms on their
running statistics) their output for an image is the same at every step, so the simulator may
compute it once per stage for every image the run reads and replay the recompute's counts:

* values: :class:`FrozenFeatures` computes the frozen layers for every bound image in fixed
  chunks of ``batch`` sorted images (the same values however the run is interrupted and
  resumed); a step then reads its rows. A batch's values equal its own recompute up to float
  reassociation inside torch's convolution (a test compares the two paths);
* counts: the recompute's counts for a batch of ``b`` images are measured once per stage and
  batch size, on the first such batch, and added to the open counter on every step (real layers
  count by shape only; a test checks the counted totals equal the uncached run's exactly).

The cache is skipped (the layers recomputed as before) when its values would exceed
``config.FROZEN_CACHE_MAX_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from pbitsim import config
from pbitsim.network.counters import OpCounter, active_counter, counting

__all__ = ["FrozenFeatures", "FrozenInputs"]

Frozen = Callable[[torch.Tensor], Sequence[torch.Tensor]]


class FrozenFeatures:
    """Per-image outputs of a stage's frozen layers, keyed by the stage.

    Parameters
    ----------
    images : callable
        ``images(rows)``: the (normalised) input tensor of the data set rows ``rows``.
    rows : array of int
        Every data set row the run reads (training and held-out images).
    batch : int
        Chunk size of the fill (the run's batch size).
    max_bytes : int, optional
        Largest cache kept; default ``config.FROZEN_CACHE_MAX_BYTES``.
    """

    def __init__(self, images: Callable[[np.ndarray], torch.Tensor], rows, batch: int,
                 max_bytes: int | None = None):
        self.images = images
        self.rows = np.unique(np.asarray(rows, dtype=np.int64))
        self.batch = int(batch)
        self.max_bytes = config.FROZEN_CACHE_MAX_BYTES if max_bytes is None else int(max_bytes)
        self.pos = np.full(int(self.rows.max()) + 1 if len(self.rows) else 0, -1, dtype=np.int64)
        self.pos[self.rows] = np.arange(len(self.rows))
        self.key = None
        self.values: list[torch.Tensor] | None = None
        self.step_counts: dict[int, OpCounter] = {}

    def read(self, key, frozen: Frozen, widths: Sequence[int], x: torch.Tensor,
             rows) -> list[torch.Tensor] | None:
        """The frozen outputs of batch ``x`` (data set rows ``rows``), its recompute counted.

        ``key`` names the stage (a new key refills the cache); ``frozen(x)`` computes the frozen
        layers' outputs, flattened to ``[B, width]`` each (``widths``). Returns None when the
        cache would be too large: the caller then recomputes.
        """
        if key != self.key:
            self._fill(key, frozen, widths)
        if self.values is None:
            return None
        b = x.shape[0]
        counts = self.step_counts.get(b)
        if counts is None:  # the recompute of a batch of b images, measured once
            counts = OpCounter()
            with counting(counts, isolated=True), torch.no_grad():
                frozen(x)
            self.step_counts[b] = counts
        counter = active_counter()
        if counter is not None:
            counter.add_counts(counts)
        at = torch.from_numpy(self.pos[np.asarray(rows, dtype=np.int64)])
        if bool((at < 0).any()):
            raise KeyError("a row outside the images the cache was bound to")
        return [v[at] for v in self.values]

    def _fill(self, key, frozen: Frozen, widths: Sequence[int]) -> None:
        self.key, self.values, self.step_counts = key, None, {}
        n = len(self.rows)
        if n == 0 or 4 * n * sum(int(w) for w in widths) > self.max_bytes:
            return
        values = [torch.empty(n, int(w)) for w in widths]
        with counting(OpCounter(), isolated=True), torch.no_grad():  # the fill is not the hardware's work
            for s in range(0, n, self.batch):
                outs = frozen(self.images(self.rows[s:s + self.batch]))
                for v, o in zip(values, outs):
                    v[s:s + o.shape[0]] = o
        self.values = values


class FrozenInputs:
    """Mixin of a training step whose greedy stages read frozen real layers through a
    :class:`FrozenFeatures` cache (``self.frozen``, None when the rule's form cannot cache).

    The trainer passes the batch's data set rows (``takes_rows``); held-out batches come in the
    trainer's order, so their rows are ``held_out_rows[offset:offset + n]``
    (:meth:`held_out_rows`). A subclass says whether its layers can be cached
    (:meth:`caches_frozen`).
    """

    takes_rows = True
    frozen: FrozenFeatures | None = None
    _held_out = None

    def caches_frozen(self) -> bool:
        """Whether the frozen layers are real and deterministic (overridden)."""
        return False

    def bind_images(self, images, train_rows, held_out_rows) -> None:
        self._held_out = np.asarray(held_out_rows)
        if self.caches_frozen():
            rows = np.concatenate([np.asarray(train_rows), self._held_out])
            self.frozen = FrozenFeatures(images, rows, self.cfg.batch_size)

    def held_out_rows(self, offset: int, n: int):
        """Rows of the held-out batch that starts ``offset`` samples in (None if unbound)."""
        return None if self._held_out is None else self._held_out[offset:offset + n]
