"""Hardware design sweeps: accuracy, energy, p-bit count and area over a grid of choices.

A sweep is a grid over *axes* (:data:`AXES`): data set x learning rule x p-bit device x tile
count M x seed today. Each axis is declared once, as an :class:`Axis` (its name, CLI option,
parser, the :class:`~pbitsim.options.RunOptions` field it sets and how it labels a point's
folder and a column); the CLI's options, the grid, the point folders, the rows of ``sweep.csv``
and the table all come from that one declaration. Adding an axis (e.g. a precision) is adding
one ``Axis(...)`` to :data:`AXES`.

Every point trains through the simulator (the same :class:`~pbitsim.training.Trainer` as
``pbitsim train``) into its own folder ``OUT/runs/<key>/`` (e.g. ``ideal-m7-s0``,
``cifar10-bgbsff-ideal-m7-s0``). A point whose ``results.json`` exists is finished and is read
back, a point with only a checkpoint resumes from it, so an interrupted sweep goes on where it
stopped; either is reused only when its recorded configuration equals the one asked for (else
:class:`SweepError` says which value differs, before anything trains, and ``recompute=True``
trains the point afresh). The measured counts are priced with the point's device; the p-bit
count and their area come from the energy model at the measured activation density.

:class:`SweepRun` trains the points one after the other, ``jobs`` at a time in spawned
processes, or as tasks of a Dask cluster (:mod:`pbitsim.sweep.cluster`, the ``cluster``
extra). Every point runs with the same torch/numba thread count (``SweepConfig.threads``,
recorded in the point's configuration), so neither ``jobs`` nor the cluster changes a result.
The sweep holds the lock of ``OUT`` (:func:`pbitsim.runfiles.out_lock`), each point that of its
own folder (taken by whichever process trains it).

``estimate_rows`` is the instant variant: no training, the analytic model at an assumed
density; both kinds of sweep build their rows with the same ``price_row``. This module imports torch only when a point is trained, and Dask only for a cluster.

The sweep is a pipeline of stages, one module each: :mod:`~pbitsim.sweep.grid` (axes, points,
checks) -> :mod:`~pbitsim.sweep.points` (each point's folder and status: what is finished is
skipped) -> :mod:`~pbitsim.sweep.execute` (serial, processes, or :mod:`~pbitsim.sweep.cluster`)
-> :mod:`~pbitsim.sweep.price` (a row per point; the estimate-only sweep enters here) ->
:mod:`~pbitsim.sweep.output` (``sweep.json``, ``sweep.csv``, plots). This package hands their
public names on.
"""

from __future__ import annotations

from .execute import SweepRun
from .grid import (AXES, Axis, Point, StalePoint, SweepConfig, SweepError, arch_for, axis,
                   check_grid, split_devices)
from .output import plot, series_label, varying, write_outputs
from .points import RUNS, clear_point, point_folder, point_status, train_point
from .price import aggregate, estimate_rows, point_row, price_row

__all__ = ["Axis", "AXES", "axis", "SweepConfig", "SweepError", "StalePoint", "SweepRun",
           "Point", "split_devices", "arch_for", "check_grid", "estimate_rows", "point_status",
           "train_point", "point_row", "price_row", "aggregate", "write_outputs", "plot", "RUNS", "clear_point",
           "point_folder", "series_label", "varying"]
