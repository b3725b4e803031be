"""The sweep's pricing stage: a row per point, from the analytic model at an assumed density
(:func:`estimate_rows`, the instant sweep) or from a trained point's measured counts
(:func:`point_row`), and the rows of a point's seeds aggregated (:func:`aggregate`)."""

from __future__ import annotations

import statistics
from pathlib import Path

from .. import runfiles
from .grid import AXES, Point, StalePoint, SweepConfig, arch_for
from .points import RUNS, _read_point_counts, point_folder

__all__ = ["estimate_rows", "point_row", "aggregate"]


def estimate_rows(cfg: SweepConfig, density: float) -> list[dict]:
    """Energy, p-bit count and area of every point but the seeds, from the analytic model."""
    from ..config import DEFAULT_TILES
    from ..estimator import hardware_summary
    from ..network.archs import load_arch
    from ..hardware.tables import load_table
    table = load_table(cfg.table)
    archs: dict = {}
    rows, seen = [], set()
    for point in cfg.points():
        values = _row_values(point)
        if tuple(values.values()) in seen:
            continue
        seen.add(tuple(values.values()))
        name = arch_for(cfg, point)
        if name not in archs:
            archs[name] = load_arch(name)
        kwargs = {k: v for a, x in zip(AXES, point.values)
                  for k, v in a.estimate_kwargs(x).items()}
        kwargs.setdefault("tiles", DEFAULT_TILES)  # a rule without p-bits ignores it
        s = hardware_summary(archs[name], density=density, table=table, **kwargs)
        rows.append(_row(point, s, density=density))
    return rows


def _row_values(point: Point) -> dict:
    """A point's values on the axes the rows keep (all but the averaged seeds)."""
    return {a.name: v for a, v in zip(AXES, point.values) if not a.averaged}


def _row(point: Point, summary, **extra) -> dict:
    return {**_row_values(point), "arch": summary["arch"], "table": summary["table"],
            "energy_train_pj_per_sample": summary["energy_train_pj_per_sample"],
            "energy_inference_pj": summary["energy_inference_pj"],
            "pbit_energy_share": summary["pbit_energy_share"],
            "n_pbits": summary["n_pbits"], "pbit_area_mm2": summary["pbit_area_mm2"], **extra}


def point_row(cfg: SweepConfig, point: Point, out: Path, results: dict) -> dict:
    """A trained point's accuracy and its measured counts priced with its device."""
    from ..config import DEFAULT_TILES
    from ..estimator import hardware_summary
    from ..network.archs import load_arch
    from ..hardware.tables import load_table
    from ..hardware.pricing import price_counts
    try:
        doc = _read_point_counts(point_folder(out, point))
    except runfiles.RunFileError as e:
        raise StalePoint(f"{e}; pass --recompute to train the point again") from None
    table = load_table(cfg.table)
    train_pj = price_counts(doc["counts"], table, device=point.device)["total_pj"]
    infer_pj = price_counts(doc["inference_counts"], table, device=point.device)["total_pj"]
    density = doc["layer_density"] or doc["activation_density"]
    kwargs = {k: v for a, x in zip(AXES, point.values)
              for k, v in a.estimate_kwargs(x).items()}
    kwargs.setdefault("tiles", DEFAULT_TILES)  # a rule without p-bits ignores it
    if density is not None:
        kwargs["density"] = density
    hw = hardware_summary(load_arch(arch_for(cfg, point)), table=table, **kwargs)
    row = _row(point, hw, seed=point.seed, accuracy=results["accuracy"],
               activation_density=doc["activation_density"],
               train_wall_s=results["train_wall_s"], run=f"{RUNS}/{point.key}")
    # measured, not analytic: the training run's own counts
    row["energy_train_pj_per_sample"] = train_pj / max(1, doc["train_samples"] * doc["epochs"])
    row["energy_inference_pj"] = infer_pj / max(1, doc["test_samples"])
    return row


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per point but the seeds: accuracy mean and sample sd over seeds, mean energies."""
    names = [a.name for a in AXES if not a.averaged]
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(r[n] for n in names), []).append(r)
    rows = []
    for key, rs in groups.items():
        acc = [r["accuracy"] for r in rs]
        first = rs[0]
        densities = [r["activation_density"] for r in rs if r["activation_density"] is not None]
        rows.append({
            **dict(zip(names, key)), "arch": first["arch"], "table": first["table"],
            "seeds": [r["seed"] for r in rs],
            "accuracy_mean": statistics.fmean(acc),
            "accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "accuracy_min": min(acc), "accuracy_max": max(acc),
            **{k: statistics.fmean(r[k] for r in rs)
               for k in ("energy_train_pj_per_sample", "energy_inference_pj",
                         "pbit_energy_share", "train_wall_s")},
            "activation_density": statistics.fmean(densities) if densities else None,
            "n_pbits": first["n_pbits"], "pbit_area_mm2": first["pbit_area_mm2"]})
    return rows
