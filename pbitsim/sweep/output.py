"""The sweep's last stage: ``sweep.json`` and ``sweep.csv`` (atomic) and the PNG plots."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .. import runfiles
from .grid import AXES, Axis, axis

__all__ = ["write_outputs", "plot", "title", "varying", "series_label", "pareto_front"]


def write_outputs(out: Path, meta: dict, rows: list[dict], runs: list[dict] | None) -> list[Path]:
    """``sweep.json`` (everything) and ``sweep.csv`` (one row per point but the seeds),
    atomically (rewritten as points finish: ``meta`` says how many)."""
    out = Path(out)
    doc = {"format": "pbitsim-sweep", "version": 2, **meta, "rows": rows}
    if runs is not None:
        doc["runs"] = runs
    runfiles.write_text(out / "sweep.json", runfiles.json_text(doc, out / "sweep.json"))
    buf = io.StringIO()
    columns = [k for k in rows[0] if not isinstance(rows[0][k], list)] if rows else []
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    runfiles.write_text(out / "sweep.csv", buf.getvalue())
    return [out / "sweep.json", out / "sweep.csv"]


def varying(rows: list[dict]) -> list[Axis]:
    """The row axes with more than one value in ``rows``."""
    return [a for a in AXES if not a.averaged and len({r[a.name] for r in rows}) > 1]


def series_label(row: dict, axes) -> str:
    """A row's line in the plots: its values on ``axes`` (``ideal``, ``bsff ideal``...)."""
    return " ".join(str(row[a.name]) for a in axes) or str(row["device"])


def plot(out: Path, rows: list[dict], trained: bool) -> list[Path]:
    """PNG plots (needs matplotlib, the ``plot`` extra); returns the files written.

    One line per combination of the varying axes other than M. Trained sweeps: accuracy vs
    energy per training sample (points labelled with M, error bars one sd over seeds) and
    accuracy vs M. Estimates: energy per training sample and p-bit area vs M.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [a for a in varying(rows) if a.name != "tiles"] or [axis("device")]
    series: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: -1 if r["tiles"] is None else r["tiles"]):
        series.setdefault(_plain(series_label(r, lines)), []).append(r)
    tiled = {k: [r for r in rs if r["tiles"] is not None] for k, rs in series.items()}
    written = []
    if trained:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for label, rs in series.items():
            x = [r["energy_train_pj_per_sample"] / 1e6 for r in rs]
            y = [100 * r["accuracy_mean"] for r in rs]
            ax.errorbar(x, y, yerr=[100 * r["accuracy_sd"] for r in rs], marker="o",
                        capsize=3, label=label)
            for xi, yi, r in zip(x, y, rs):
                if r["tiles"] is not None:
                    ax.annotate(f"M={r['tiles']}", (xi, yi), textcoords="offset points",
                                xytext=(4, 4), fontsize=8)
        energies = [r["energy_train_pj_per_sample"] for r in rows]
        if max(energies) > 10 * min(energies):  # log only where the range needs it
            ax.set_xscale("log")
        ax.margins(x=0.15, y=0.1)  # room for the M=... labels of the outermost points
        ax.set(xlabel="training energy per sample (uJ, measured counts)",
               ylabel="test accuracy (%)", title=_plain(title(rows)))
        written.append(_save(fig, Path(out) / "accuracy_vs_energy.png"))
        if any(tiled.values()):
            fig, ax = plt.subplots(figsize=(6.4, 4.4))
            for label, rs in tiled.items():
                if rs:
                    ax.errorbar([r["tiles"] for r in rs], [100 * r["accuracy_mean"] for r in rs],
                                yerr=[100 * r["accuracy_sd"] for r in rs], marker="o",
                                capsize=3, label=label)
            ax.set(xlabel="tiles per unit M", ylabel="test accuracy (%)",
                   title=_plain(title(rows)))
            written.append(_save(fig, Path(out) / "accuracy_vs_tiles.png"))
    elif any(tiled.values()):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
        for label, rs in tiled.items():
            if not rs:
                continue
            m = [r["tiles"] for r in rs]
            ax1.plot(m, [r["energy_train_pj_per_sample"] / 1e6 for r in rs], marker="o",
                     label=label)
            ax2.plot(m, [r["pbit_area_mm2"] for r in rs], marker="o", label=label)
        ax1.set(xlabel="tiles per unit M", ylabel="training energy per sample (uJ)")
        ax2.set(xlabel="tiles per unit M", ylabel="p-bit area (mm$^2$)", yscale="log")
        fig.suptitle(_plain(title(rows)) + " (analytic estimate)")
        written.append(_save(fig, Path(out) / "energy_vs_tiles.png"))
    hws = list(dict.fromkeys(k.split(":")[0] for k in rows[0] if ":" in k)) if rows else []
    if hws:
        written.append(_pareto(out, rows, hws, lines, plt))
    return written


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats in both coordinates (lower is better), in
    order of the first coordinate."""
    order = sorted(range(len(points)), key=lambda i: points[i])
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def _pareto(out: Path, rows: list[dict], hws: list[str], lines, plt) -> Path:
    """Energy per training sample against latency and against area, one marker per
    configuration and hardware, the Pareto front of each panel drawn through them."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, col, xlabel in ((axes[0], "latency_train_s", "latency per training sample (ms)"),
                            (axes[1], "area_mm2", "area (mm$^2$)")):
        pts, labels = [], []
        for hw in hws:
            for r in rows:
                x = r[f"{hw}:{col}"] * (1e3 if col == "latency_train_s" else 1)
                y = r[f"{hw}:energy_train_pj_per_sample"] / 1e6
                pts.append((x, y))
                m = "" if r["tiles"] is None else f" M={r['tiles']}"
                labels.append(_plain(f"{hw} {series_label(r, lines)}{m}"))
        front = pareto_front(pts)
        for hw in hws:
            sel = [i for i, lab in enumerate(labels) if lab.startswith(_plain(hw) + " ")]
            ax.scatter([pts[i][0] for i in sel], [pts[i][1] for i in sel], label=_plain(hw),
                       s=18)
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], color="black",
                linewidth=1, label="Pareto front")
        for i in front:
            ax.annotate(labels[i], pts[i], textcoords="offset points", xytext=(4, 4),
                        fontsize=6)
        ax.set(xlabel=xlabel, ylabel="training energy per sample (uJ)")
    fig.suptitle(_plain(title(rows)) + " on the hardware swept")
    return _save(fig, Path(out) / "pareto.png")


def _plain(text: str) -> str:
    """A user string (a net's or table's name, a device spec) as matplotlib prints it: ``$``
    would start its math mode (``$\\x$`` raises), so it is escaped."""
    return text.replace("$", r"\$")


def title(rows) -> str:
    """What the rows share: the rule and data set when there is one of each, net and table."""
    r = rows[0]
    algos = sorted({str(x["algo"]) for x in rows})
    datasets = sorted({str(x["dataset"]) for x in rows})
    archs = sorted({str(x["arch"]) for x in rows})
    from ..rulebook import RULE_SPECS
    labels = [RULE_SPECS[a].label if a in RULE_SPECS else a for a in algos]
    return (f"{', '.join(labels)} on {', '.join(datasets)} "
            f"({', '.join(archs)}, {r['table']})")


def _save(fig, path: Path) -> Path:
    """Save a figure with the safe writer (:func:`pbitsim.runfiles.write_bytes`) and close it."""
    import matplotlib.pyplot as plt
    for ax in fig.axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=120, format="png")
    plt.close(fig)
    runfiles.write_bytes(path, buf.getvalue())
    return path
