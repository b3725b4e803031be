"""``pbitsim sweep``: accuracy vs energy vs p-bits over tile count M and p-bit device."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from ..config import BACKENDS, DEFAULT_BACKEND, MAX_TILES
from .console import make_console
from .errors import OneLineCommand, PbitsimError
from .progress import make_progress, make_reporter
from .signals import stop_on_signals
from .units import format_area, format_energy

DATASETS = ("mnist", "fashion-mnist", "cifar10")

EXAMPLES = """\b
Examples:
  pbitsim sweep --estimate-only                       energy and p-bits for M = 1..10, instant
  pbitsim sweep --estimate-only --device ideal,digital,smtj --dataset cifar10
  pbitsim sweep --tiles 1,2,4,7 --dataset mnist --limit-train 5000 --epochs 1 --out runs/sweep
  pbitsim sweep --tiles 7 --device ideal,smtj:offset_sd=0.3,smtj:stuck_rate=0.05 --seeds 0,1,2
  pbitsim sweep ... --jobs 2        two configurations at a time (the same results as --jobs 1)

\b
An interrupted sweep (Ctrl-C or SIGTERM) saves the running configurations' checkpoints; run
the same command again to skip finished configurations and resume the others. A
configuration whose files were made with other settings is refused (--recompute retrains it).
"""


def _int_list(text: str, name: str, lo: int, hi: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise PbitsimError(f"--{name} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise PbitsimError(f"--{name} is empty")
    bad = [v for v in values if not lo <= v <= hi]
    if bad:
        raise PbitsimError(f"--{name} values must be in {lo}..{hi}, got {bad[0]}")
    return tuple(dict.fromkeys(values))


def _devices(texts) -> tuple[str, ...]:
    """Canonical device specs from --device values (each a comma list of specs)."""
    from ..devices import parse_device, spec_string, split_devices
    specs = []
    for text in texts:
        for spec in split_devices(text):
            try:
                specs.append(spec_string(parse_device(spec)))
            except ValueError as e:
                raise PbitsimError(str(e)) from None
    if not specs:
        raise PbitsimError("--device is empty (give ideal, digital or smtj, with options as "
                           "kind:key=value,...)")
    return tuple(dict.fromkeys(specs))


@click.command(cls=OneLineCommand, epilog=EXAMPLES,
               context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tiles", "-M", "tiles_text", default="1,2,4,7,10", show_default=True,
              help="Tile counts M to sweep (comma-separated).")
@click.option("--device", "device_texts", multiple=True,
              help="p-bit devices: ideal, digital, smtj, with options as "
                   "kind:key=value,...; comma-separated or repeated. [default: ideal]")
@click.option("--algo", type=click.Choice(("bsff", "bgbsff")), default="bsff",
              show_default=True)
@click.option("--dataset", type=click.Choice(DATASETS), default="mnist", show_default=True)
@click.option("--arch", metavar="NAME|FILE", default=None,
              help="Network, as for pbitsim train [default: the CFSE net of the dataset].")
@click.option("--seeds", "seeds_text", default="0", show_default=True,
              help="Training seeds per configuration (accuracy mean and spread over them).")
@click.option("--epochs", type=int, default=1, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=None, help="Layer learning rate (default: as train).")
@click.option("--limit-train", type=int, default=None,
              help="Train every configuration on the same seeded subset of N images.")
@click.option("--limit-test", type=int, default=None, help="Test on the first N test images.")
@click.option("--data-dir", type=click.Path(), default=None,
              help="Dataset folder (as for pbitsim train).")
@click.option("--table", default="horowitz-45nm", show_default=True, help="Energy table.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/sweep",
              show_default=True, help="Output folder: sweep.csv, sweep.json, plots, runs/.")
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="Configurations trained at once (results do not depend on it).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Torch threads of each configuration (recorded with it: results depend on "
                   "it, so it is fixed, not derived from --jobs).")
@click.option("--recompute", is_flag=True,
              help="Retrain configurations whose files in OUT were made with other settings "
                   "(or are unreadable) instead of refusing them.")
@click.option("--estimate-only", is_flag=True,
              help="No training: the analytic energy, p-bit count and area of every M.")
@click.option("--density", type=float, default=None,
              help="--estimate-only: activation density (fraction of p-bit samples that are 1; "
                   "default: the estimator's 0.15).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--backend", type=click.Choice(BACKENDS), default=DEFAULT_BACKEND,
              show_default=True, help="How the index layers run (as for pbitsim train).")
def sweep(tiles_text, device_texts, algo, dataset, arch, seeds_text, epochs, batch_size, lr,
          limit_train, limit_test, data_dir, table, out_dir, jobs, threads, recompute,
          estimate_only, density, no_plots, backend):
    """Sweep tile count M and p-bit device: accuracy, energy, number of p-bits and area.

    Every configuration (device x M x seed) trains BSFF through the simulator for the same
    budget (--arch, by default the CwC-FF reference's CFSE net of the dataset), then its
    measured counts are priced with its device. Results: a table on standard output,
    OUT/sweep.csv, OUT/sweep.json, and PNG plots (accuracy vs energy with M labelled, accuracy
    vs M per device; matplotlib needed). Progress goes to standard error.
    """
    from ..sweep import SweepConfig

    console = make_console()
    if jobs < 1:
        raise PbitsimError(f"--jobs must be >= 1, got {jobs}")
    if threads < 1:
        raise PbitsimError(f"--threads must be >= 1, got {threads}")
    if out_dir == "":
        raise PbitsimError("--out is empty")
    if density is not None and not 0 < density <= 1:
        raise PbitsimError(f"--density must be in (0, 1], got {density}")
    if density is not None and not estimate_only:
        raise PbitsimError("--density applies to --estimate-only (training measures it)")
    cfg = SweepConfig(tiles=_int_list(tiles_text, "tiles", 1, MAX_TILES),
                      devices=_devices(device_texts or ("ideal",)),
                      seeds=_int_list(seeds_text, "seeds", 0, 2 ** 31 - 1), algo=algo,
                      dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr,
                      limit_train=limit_train, limit_test=limit_test, table=table,
                      data_dir=data_dir, threads=threads, arch=arch,
                      train_options={"backend": backend})
    _check_arch(cfg)
    out = Path(out_dir)
    if estimate_only:
        _estimate_only(console, cfg, out, density, no_plots)
    else:
        _train_sweep(console, cfg, out, jobs, recompute, no_plots)


def _check_arch(cfg) -> None:
    """The swept network must fit the dataset and the algorithm (before any training)."""
    from ..arch_rules import resolve_arch
    from ..config import DATASET_INPUTS
    from ..sweep import arch_for
    shape, classes = DATASET_INPUTS[cfg.dataset]
    try:
        resolve_arch(cfg.algo, arch_for(cfg), shape, classes, cfg.dataset, "staggered")
    except ValueError as e:
        raise PbitsimError(f"--arch: {e}" if cfg.arch is not None else str(e)) from None


def _estimate_only(console, cfg, out, density, no_plots):
    from .. import runfiles
    from ..energy_models.tiles import DEFAULT_DENSITY
    from ..sweep import estimate_rows, write_outputs
    density = DEFAULT_DENSITY if density is None else density
    try:
        rows = estimate_rows(cfg, density)
        with runfiles.out_lock(out):
            files = write_outputs(out, {"mode": "estimate", "density": density,
                                        "config": _config_meta(cfg)}, rows, None)
    except ValueError as e:  # TableError, RunFileError: one line
        raise PbitsimError(str(e)) from None
    console.print(_table(rows, trained=False, title=f"{cfg.algo.upper()} on {cfg.dataset} "
                         f"({rows[0]['arch']}, {rows[0]['table']}), analytic estimate at "
                         f"activation density {density:g}"))
    _finish(console, out, rows, files, trained=False, no_plots=no_plots)


def _train_sweep(console, cfg, out, jobs, recompute, no_plots):
    from .. import runfiles
    from ..sweep import SweepRun, aggregate, point_row, write_outputs
    from ..training import TrainingError
    points = cfg.points()
    try:
        cfg.train_config(points[0]).validate()
    except TrainingError as e:
        raise PbitsimError(str(e)) from None
    progress_console = make_console(stderr=True)
    try:
        with make_progress(progress_console, remaining=False) as progress:
            overall = progress.add_task("sweep", total=len(points), stats="")
            run = SweepRun(cfg, out, jobs, recompute,
                           reporter_for=lambda p: make_reporter(progress, p.key, keep=False),
                           on_done=lambda p: progress.update(overall, advance=1))
            with stop_on_signals(run.stop, "the running checkpoints"):
                results = run.run()
        if results is not None:
            with runfiles.out_lock(out):
                runs = [point_row(cfg, p, out, results[p]) for p in points]
                rows = aggregate(runs)
                files = write_outputs(out, {"mode": "train", "config": _config_meta(cfg)},
                                      rows, runs)
    except ValueError as e:  # DatasetError, TrainingError, SweepError, RunFileError, TableError
        raise PbitsimError(str(e)) from None
    if results is None:
        progress_console.print(f"Interrupted: checkpoints saved under {out / 'runs'}. Run the "
                               "same command again to resume (finished configurations are "
                               "skipped).", markup=False)
        raise SystemExit(130)
    console.print(_table(rows, trained=True, title=f"{cfg.algo.upper()} on {cfg.dataset} "
                         f"({rows[0]['arch']}, {rows[0]['table']}), {cfg.epochs} epoch(s), "
                         f"{len(cfg.seeds)} seed(s) per configuration"))
    _finish(console, out, rows, files, trained=True, no_plots=no_plots)


def _config_meta(cfg) -> dict:
    import dataclasses
    meta = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "train_options"}
    return {**meta, **cfg.train_options}  # e.g. the backend


def _finish(console, out, rows, files, trained, no_plots):
    if not no_plots:
        try:
            from ..sweep import plot
            files += plot(out, rows, trained)
        except ValueError as e:  # RunFileError: a plot that cannot be written
            raise PbitsimError(str(e)) from None
        except ImportError:
            hint = escape("pip install 'pbitsim[plot]'")  # rich would eat [plot] as markup
            console.print(f"[yellow]plots skipped: matplotlib is not installed ({hint})[/]")
    console.print("wrote " + ", ".join(str(f) for f in files))


def _table(rows, trained: bool, title: str):
    from rich.table import Table
    t = Table(title=title)
    t.add_column("device", overflow="fold", min_width=10)  # long specs wrap, numbers never
    for col in ("M", "p-bits", "p-bit area") + (("test accuracy",) if trained else ()) + (
            "train / sample", "inference", "p-bit share", "density"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in sorted(rows, key=lambda r: (r["device"], r["tiles"])):
        cells = [r["device"], str(r["tiles"]), f"{r['n_pbits']:,}",
                 format_area(r["pbit_area_mm2"] * 1e6)]
        if trained:
            n = len(r["seeds"])
            spread = f" ± {100 * r['accuracy_sd']:.2f}" if n > 1 else ""
            cells.append(f"{100 * r['accuracy_mean']:.2f}%{spread} (n={n})")
        share = 100 * r["pbit_energy_share"]
        cells += [format_energy(r["energy_train_pj_per_sample"]),
                  format_energy(r["energy_inference_pj"]),
                  "<0.01%" if 0 < share < 0.01 else f"{share:.2f}%",
                  f"{r.get('activation_density', r.get('density')):.3f}"]
        t.add_row(*cells)
    return t
