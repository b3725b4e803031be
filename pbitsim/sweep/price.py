"""The sweep's pricing stage: one row per point, built by one function (:func:`price_row`) for
both kinds of sweep -- from the analytic model at an assumed density (:func:`estimate_rows`,
the instant sweep) or with a trained point's measured counts priced (:func:`point_row`) -- and
the rows of a point's seeds aggregated (:func:`aggregate`)."""

from __future__ import annotations

import statistics
from pathlib import Path

from .. import runfiles
from .grid import AXES, Point, StalePoint, SweepConfig, arch_for
from .points import RUNS, _read_point_counts, point_folder

__all__ = ["price_row", "estimate_rows", "point_row", "aggregate"]


def price_row(cfg: SweepConfig, point: Point, density: "float | list[float] | None",
              measured: "tuple[dict, dict] | None" = None, *, table=None,
              archs: dict | None = None, out_root: "Path | None" = None) -> dict:
    """The row of one point, for either kind of sweep.

    The point's values on the row axes, its net and table, then the analytic model's energies,
    p-bit share, p-bit count and area at ``density`` (None: the estimator's default). Without
    ``measured``, the row ends with that ``density``. With ``measured``, a trained point's
    ``(counts document, results)``: the two energies are its measured counts priced with the
    point's device, per training sample and per test sample, and the run's columns follow
    (seed, accuracy, activation density, wall time, folder). ``table`` (a loaded table) and
    ``archs`` (a name -> loaded net cache) spare reloading them for many rows. On each of
    ``cfg.hardware`` the row gains ``NAME:column`` figures
    (:func:`pbitsim.estimator.estimation.hierarchy_columns`): the analytic step, or the trained
    point's measured counts (its counts file under ``out_root``).
    """
    from ..config import DEFAULT_TILES
    from ..estimator import hardware_summary
    from ..hardware.tables import load_table
    from ..network.archs import load_arch
    table = load_table(cfg.table) if table is None else table
    archs = {} if archs is None else archs
    name = arch_for(cfg, point)
    if name not in archs:
        archs[name] = load_arch(name)
    kwargs = {k: v for a, x in zip(AXES, point.values)
              for k, v in a.estimate_kwargs(x).items()}
    kwargs.setdefault("tiles", DEFAULT_TILES)  # a rule without p-bits ignores it
    # the sweep's budget, as its trained points run it
    kwargs.update(batch_size=cfg.batch_size, epochs=cfg.epochs,
                  train_samples=None if cfg.limit_train is None else
                  min(cfg.limit_train, archs[name].train_samples))
    if density is not None:
        kwargs["density"] = density
    s = hardware_summary(archs[name], table=table, **kwargs)
    row = {**_row_values(point), "arch": s["arch"], "table": s["table"],
           "energy_train_pj_per_sample": s["energy_train_pj_per_sample"],
           "energy_inference_pj": s["energy_inference_pj"],
           "pbit_energy_share": s["pbit_energy_share"],
           "n_pbits": s["n_pbits"], "pbit_area_mm2": s["pbit_area_mm2"]}
    for hw in cfg.hardware:  # the analytic step on each hierarchy (a trained point: below)
        if measured is None:
            on = hardware_summary(archs[name], table=table, hardware=hw, **kwargs)
            row.update({f"{hw.name}:{k}": v for k, v in on["on_hardware"].items()})
    if measured is None:
        row["density"] = density
        return row
    from ..hardware.pricing import price_counts
    doc, results = measured
    if cfg.hardware:  # the run's measured counts through each hierarchy
        from ..estimator.countsfile import load_counts_file, price_run_on
        from ..estimator.estimation import hierarchy_columns
        counts = load_counts_file(point_folder(out_root, point) / runfiles.COUNTS)
        for hw in cfg.hardware:
            on = hierarchy_columns(run=price_run_on(counts, hw))
            row.update({f"{hw.name}:{k}": v for k, v in on.items()})
    train_pj = price_counts(doc["counts"], table, device=point.device)["total_pj"]
    infer_pj = price_counts(doc["inference_counts"], table, device=point.device)["total_pj"]
    # measured, not analytic: the training run's own counts
    row["energy_train_pj_per_sample"] = train_pj / max(1, doc["train_samples"] * doc["epochs"])
    row["energy_inference_pj"] = infer_pj / max(1, doc["test_samples"])
    row.update(seed=point.seed, accuracy=results["accuracy"],
               activation_density=doc["activation_density"],
               train_wall_s=results["train_wall_s"], run=f"{RUNS}/{point.key}")
    return row


def _row_values(point: Point) -> dict:
    """A point's values on the axes the rows keep (all but the averaged seeds)."""
    return {a.name: a.shown(v) for a, v in zip(AXES, point.values) if not a.averaged}


def estimate_rows(cfg: SweepConfig, density: float) -> list[dict]:
    """Energy, p-bit count and area of every point but the seeds, from the analytic model."""
    from ..hardware.tables import load_table
    table, archs = load_table(cfg.table), {}
    rows, seen = [], set()
    for point in cfg.points():
        values = tuple(_row_values(point).values())
        if values not in seen:
            seen.add(values)
            rows.append(price_row(cfg, point, density, table=table, archs=archs))
    return rows


def point_row(cfg: SweepConfig, point: Point, out: Path, results: dict) -> dict:
    """A trained point's row: its accuracy and its measured counts priced with its device (the
    p-bit count and area from the analytic model at its measured density)."""
    try:
        doc = _read_point_counts(point_folder(out, point))
    except runfiles.RunFileError as e:
        raise StalePoint(f"{e}; pass --recompute to train the point again") from None
    density = doc["layer_density"] or doc["activation_density"]
    return price_row(cfg, point, density, (doc, results), out_root=out)


# a run row's columns that aggregate() combines in its own way, or drops
_PER_RUN = {"seed", "accuracy", "run"}


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per point but the seeds: accuracy mean and sample sd over seeds, mean energies.

    A run-row column not named here (one added to :func:`price_row`) is kept: its value when
    every seed has the same, else the mean over seeds.
    """
    names = [a.name for a in AXES if not a.averaged]
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(r[n] for n in names), []).append(r)
    rows = []
    for key, rs in groups.items():
        acc = [r["accuracy"] for r in rs]
        first = rs[0]
        densities = [r["activation_density"] for r in rs if r["activation_density"] is not None]
        row = {
            **dict(zip(names, key)), "arch": first["arch"], "table": first["table"],
            "seeds": [r["seed"] for r in rs],
            "accuracy_mean": statistics.fmean(acc),
            "accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "accuracy_min": min(acc), "accuracy_max": max(acc),
            **{k: statistics.fmean(r[k] for r in rs)
               for k in ("energy_train_pj_per_sample", "energy_inference_pj",
                         "pbit_energy_share", "train_wall_s")},
            "activation_density": statistics.fmean(densities) if densities else None,
            "n_pbits": first["n_pbits"], "pbit_area_mm2": first["pbit_area_mm2"]}
        for k in [k for k in first if k not in row and k not in _PER_RUN]:
            values = [r[k] for r in rs]
            row[k] = values[0] if all(v == values[0] for v in values) else statistics.fmean(values)
        rows.append(row)
    return rows
