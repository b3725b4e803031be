"""``pbitsim sweep``: accuracy vs energy vs p-bits over a grid (data set, rule, p-bit device, M,
seed: the axes of :data:`pbitsim.sweep.AXES`), locally or on a Dask cluster."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from ..config import check_threads, threads_note
from ..options import DEFAULT_TABLE
from .console import make_console
from .errors import OneLineCommand, PbitsimError
from .progress import make_progress, make_reporter
from .runoptions import run_options
from .signals import stop_on_signals
from .units import format_area, format_energy

EXAMPLES = """\b
Examples:
  pbitsim sweep --estimate-only                       energy and p-bits for M = 1..10, instant
  pbitsim sweep --estimate-only --device ideal,digital,smtj --dataset cifar10
  pbitsim sweep --tiles 1,2,4,7 --dataset mnist --limit-train 5000 --epochs 1 --out runs/sweep
  pbitsim sweep --tiles 7 --device ideal,smtj:offset_sd=0.3,smtj:stuck_rate=0.05 --seeds 0,1,2
  pbitsim sweep --tiles 7 --algo bsff,bgbsff,cwc --dataset mnist,fashion-mnist --arch cwc-mnist
  pbitsim sweep ... --jobs 2        two configurations at a time (the same results as --jobs 1)
  pbitsim sweep ... --scheduler local:4              a local Dask cluster of 4 worker processes
  pbitsim sweep ... --scheduler tcp://head:8786      a running Dask scheduler (shared --out)

\b
An interrupted sweep (Ctrl-C or SIGTERM) saves the running configurations' checkpoints; run
the same command again to skip finished configurations and resume the others. A
configuration whose files were made with other settings is refused (--recompute retrains it).
"""


def _axis_options(command):
    """One repeatable option per sweep axis (:data:`pbitsim.sweep.AXES`), each value a comma
    list; the command receives them as ``axis_<name>``."""
    from ..sweep.grid import AXES
    for a in reversed(AXES):
        decls = (a.option,) + ((a.short,) if a.short else ())
        command = click.option(*decls, f"axis_{a.name}", multiple=True, metavar="V[,V...]",
                               help=f"{a.help} [default: {a.default}]")(command)
    return command


@click.command(cls=OneLineCommand, epilog=EXAMPLES,
               context_settings={"help_option_names": ["-h", "--help"]})
@_axis_options
@click.option("--arch", metavar="NAME|FILE", default=None,
              help="Network, as for pbitsim train [default: the CFSE net of the dataset].")
@click.option("--data-dir", type=click.Path(), default=None,
              help="Dataset folder (as for pbitsim train; on a cluster: as the workers see it, "
                   "or leave it out and set PBITSIM_DATA on the workers).")
@click.option("--table", default=DEFAULT_TABLE, show_default=True, help="Energy table.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/sweep",
              show_default=True, help="Output folder: sweep.csv, sweep.json, plots, runs/ "
                                      "(on a cluster: shared with every worker, same path).")
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="Configurations trained at once (results do not depend on it).")
@click.option("--scheduler", default=None, metavar="local:N|tcp://HOST:PORT",
              help="Train the configurations as tasks of a Dask cluster: local:N starts N "
                   "worker processes here, tcp://HOST:PORT uses a running `dask scheduler` "
                   "(needs the cluster extra: pip install 'pbitsim[cluster]'). Results do not "
                   "depend on it.")
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
@click.option("--hardware", "hardware", multiple=True, metavar="NAME|FILE[,...]",
              help="Also price every configuration on these memory hierarchies (see `pbitsim "
                   "hardware list`): energy, latency and area columns per hardware, and a "
                   "Pareto plot. A pricing dimension: nothing more is trained.")
@click.option("--hardware-set", "hardware_set", multiple=True, metavar="KEY=V[,V...]",
              help="Hardware parameters swept on each --hardware: pbits.count, clock_hz, "
                   "compute.rows, compute.cols or LEVEL.capacity_bytes (repeat for a grid).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@run_options("sweep", "epochs", "batch_size", "lr", "limit_train", "limit_test", "backend")
def sweep(arch, epochs, batch_size, lr, limit_train, limit_test, data_dir, table, out_dir, jobs,
          scheduler, threads, recompute, estimate_only, density, hardware, hardware_set,
          no_plots, backend, **axes):
    """Sweep p-bit hardware and learning choices: accuracy, energy, number of p-bits and area.

    Every configuration of the grid (data set x rule x p-bit device x M x seed) trains through
    the simulator for the same budget (--arch, by default the CwC-FF reference's CFSE net of
    the dataset), then its measured counts are priced with its device. Results: a table on
    standard output, OUT/sweep.csv, OUT/sweep.json, and PNG plots (accuracy vs energy with M
    labelled, accuracy vs M; matplotlib needed), rewritten as configurations finish. Progress
    goes to standard error.
    """
    from ..sweep import AXES, SweepConfig, check_grid

    console = make_console()
    if jobs < 1:
        raise PbitsimError(f"--jobs must be >= 1, got {jobs}")
    try:
        check_threads(threads)
    except ValueError as e:
        raise PbitsimError(str(e)) from None
    if out_dir == "":
        raise PbitsimError("--out is empty")
    if density is not None and not 0 < density <= 1:
        raise PbitsimError(f"--density must be in (0, 1], got {density}")
    if density is not None and not estimate_only:
        raise PbitsimError("--density applies to --estimate-only (training measures it)")
    if scheduler is not None:
        _check_scheduler(scheduler, jobs, estimate_only)
    grid = {}
    for a in AXES:
        try:
            grid[a.name] = a.parse(axes[f"axis_{a.name}"] or (a.default,))
        except ValueError as e:
            raise PbitsimError(str(e)) from None
    cfg = SweepConfig(grid=grid, epochs=epochs, batch_size=batch_size, lr=lr,
                      limit_train=limit_train, limit_test=limit_test, table=table,
                      data_dir=data_dir, threads=threads, arch=arch,
                      train_options={"backend": backend},
                      hardware=_hardware_list(hardware, hardware_set))
    try:
        check_grid(cfg)
    except ValueError as e:
        raise PbitsimError(str(e)) from None
    out = Path(out_dir)
    if estimate_only:
        _estimate_only(console, cfg, out, density, no_plots)
    else:
        _train_sweep(console, cfg, out, jobs, scheduler, recompute, no_plots)


def _hardware_list(names, settings) -> tuple:
    """``--hardware`` and ``--hardware-set``: the loaded hierarchies and their variants (the
    flat ``table-levels`` adds nothing: its figures are the sweep's own columns)."""
    import itertools
    from ..hardware.library import HardwareError, hardware_variant, load_hardware
    if settings and not names:
        raise PbitsimError("--hardware-set varies a --hardware; give one")
    grid = []
    for text in settings:
        key, sep, values = text.partition("=")
        try:
            nums = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            nums = []
        if not sep or not key.strip() or not nums:
            raise PbitsimError(f"--hardware-set {text!r}: give KEY=V[,V...] with numbers")
        grid.append([(key.strip(), v) for v in nums])
    out = []
    try:
        for text in (n.strip() for group in names for n in group.split(",")):
            if not text:
                raise PbitsimError("--hardware has an empty name")
            hw = load_hardware(text)
            if not hw.hierarchical:
                continue
            for combo in itertools.product(*grid) if grid else [()]:
                out.append(hardware_variant(hw, dict(combo)))
    except (HardwareError, ValueError) as e:
        raise PbitsimError(str(e)) from None
    names_seen = [hw.name for hw in out]
    if len(set(names_seen)) != len(names_seen):
        raise PbitsimError("--hardware lists the same hardware twice")
    return tuple(out)


def _check_scheduler(scheduler, jobs, estimate_only) -> None:
    """``--scheduler``: its form, that it applies, and that Dask is installed (before work)."""
    from ..sweep import SweepError
    from ..sweep.cluster import parse_scheduler, require_dask
    if estimate_only:
        raise PbitsimError("--scheduler applies to trained sweeps (--estimate-only is instant)")
    if jobs != 1:
        raise PbitsimError("give --jobs or --scheduler, not both (on a cluster the workers "
                           "decide how many configurations train at once)")
    try:
        parse_scheduler(scheduler)
        require_dask()
    except SweepError as e:
        raise PbitsimError(str(e)) from None


def _estimate_only(console, cfg, out, density, no_plots):
    from .. import runfiles
    from ..network.tiles import DEFAULT_DENSITY
    from ..sweep import estimate_rows, write_outputs
    density = DEFAULT_DENSITY if density is None else density
    try:
        rows = estimate_rows(cfg, density)
        with runfiles.out_lock(out):
            files = write_outputs(out, {"mode": "estimate", "density": density,
                                        "config": cfg.meta()}, rows, None)
    except ValueError as e:  # TableError, RunFileError: one line
        raise PbitsimError(str(e)) from None
    console.print(_table(rows, trained=False, title=f"{_title(rows)}, analytic estimate at "
                         f"activation density {density:g}"))
    _finish(console, out, rows, files, trained=False, no_plots=no_plots)


class _Stream:
    """The outputs of a trained sweep, rewritten as its points finish (in any order): a line
    per point on the progress console, ``sweep.csv``/``sweep.json``, and the plots at most
    every :data:`PLOT_EVERY_S` seconds."""

    PLOT_EVERY_S = 30.0

    def __init__(self, cfg, out, points, console, progress, overall, no_plots):
        self.cfg, self.out, self.points, self.console = cfg, out, points, console
        self.progress, self.overall, self.no_plots = progress, overall, no_plots
        self.runs: dict = {}
        self.plotted = None

    def state(self, done, running, queued):
        self.progress.update(self.overall, completed=done,
                             stats=f"{done} done, {running} running, {queued} queued")

    def done(self, point, results):
        import time
        from ..sweep import point_row
        row = point_row(self.cfg, point, self.out, results)
        self.runs[point] = row
        share = f"{len(self.runs)}/{len(self.points)}"
        self.console.print(f"done {share} {point.key}: test accuracy {100 * row['accuracy']:.2f}%"
                           f", {format_energy(row['energy_train_pj_per_sample'])} per training "
                           "sample", markup=False, highlight=False, soft_wrap=True)
        files = self.write()
        now = time.monotonic()
        if not self.no_plots and (self.plotted is None or now - self.plotted > self.PLOT_EVERY_S):
            self.plotted = now
            with contextlib.suppress(ImportError):  # said once at the end
                from ..sweep import aggregate, plot
                plot(self.out, aggregate(self.ordered()), trained=True)
        return files

    def failed(self, point, message):
        self.console.print(f"failed {point.key}: {message}", markup=False, highlight=False,
                           soft_wrap=True)

    def ordered(self) -> list:
        return [self.runs[p] for p in self.points if p in self.runs]

    def write(self):
        from ..sweep import aggregate, write_outputs
        runs = self.ordered()
        meta = {"mode": "train", "config": self.cfg.meta(),
                "points_done": len(runs), "points_total": len(self.points)}
        return write_outputs(self.out, meta, aggregate(runs), runs)


def _train_sweep(console, cfg, out, jobs, scheduler, recompute, no_plots):
    from .. import runfiles
    from ..sweep import SweepRun, aggregate
    from ..options import OptionError
    points = cfg.points()
    try:  # every point's options, checked once, here (the points' runs reuse them)
        for point in points:
            cfg.options(point)
    except OptionError as e:
        raise PbitsimError(str(e)) from None
    progress_console = make_console(stderr=True)
    if scheduler is None and threads_note(cfg.threads):  # a cluster's workers: their own CPUs
        progress_console.print(f"note: {threads_note(cfg.threads)}", soft_wrap=True)
    try:
        with make_progress(progress_console, remaining=False) as progress:
            overall = progress.add_task("sweep", total=len(points), stats="")
            stream = _Stream(cfg, out, points, progress_console, progress, overall, no_plots)
            run = SweepRun(cfg, out, jobs, recompute,
                           reporter_for=lambda p: make_reporter(progress, p.key, keep=False),
                           on_done=stream.done, on_state=stream.state, on_failed=stream.failed,
                           scheduler=scheduler)
            with stop_on_signals(run.stop, "the running checkpoints"):
                results = run.run()
        if results is not None and results:
            with runfiles.out_lock(out):
                for p in points:  # points read back at once have not streamed (same rows)
                    if p in results and p not in stream.runs:
                        stream.done(p, results[p])
                files = stream.write()
    except ValueError as e:  # DatasetError, TrainingError, SweepError, RunFileError, TableError
        raise PbitsimError(str(e)) from None
    if results is None:
        progress_console.print(f"Interrupted: checkpoints saved under {out / 'runs'}. Run the "
                               "same command again to resume (finished configurations are "
                               "skipped).", markup=False)
        raise SystemExit(130)
    if results:
        rows = aggregate(stream.ordered())
        console.print(_table(rows, trained=True, title=f"{_title(rows)}, {cfg.epochs} epoch(s), "
                             f"{len(cfg.values('seed'))} seed(s) per configuration"))
        _finish(console, out, rows, files, trained=True, no_plots=no_plots)
    if run.failed:
        raise _PointsFailed(f"{len(run.failed)} of {len(points)} configuration(s) failed (see "
                            "above); the finished ones are in the outputs. Fix the cause and "
                            "run the same command again to train the rest.")


class _PointsFailed(PbitsimError):
    """Some cluster points failed after others trained: exit 1, not a usage error."""

    exit_code = 1


def _title(rows) -> str:
    from ..sweep.output import title as plot_title
    return plot_title(rows)


def _finish(console, out, rows, files, trained, no_plots):
    if not no_plots:
        try:
            from ..sweep import plot
            files += plot(out, rows, trained)
        except ValueError as e:  # RunFileError: a plot that cannot be written
            raise PbitsimError(str(e)) from None
        except ImportError:
            console.print("plots skipped: matplotlib is not installed (pip install "
                          "'pbitsim[plot]')", style="yellow")
    console.print("wrote " + ", ".join(str(f) for f in files))


def _table(rows, trained: bool, title: str):
    from rich.table import Table
    from ..sweep import AXES, varying
    shown = [a for a in AXES if a.name in ("device", "tiles") or a in varying(rows)]
    t = Table(title=title)
    for a in shown:
        if a.name == "device":
            t.add_column(a.column, overflow="fold", min_width=10)  # long specs wrap
        else:
            t.add_column(a.column, justify="right" if a.name == "tiles" else "left",
                         no_wrap=True)
    for col in ("p-bits", "p-bit area") + (("test accuracy",) if trained else ()) + (
            "train / sample", "inference", "p-bit share", "density"):
        t.add_column(col, justify="right", no_wrap=True)
    hws = list(dict.fromkeys(k.split(":")[0] for k in (rows[0] if rows else {}) if ":" in k))
    for name in hws:
        t.add_column(f"{name}: train / latency / area", justify="right")

    for r in rows:  # in grid order
        cells = ["-" if r[a.name] is None else str(r[a.name]) for a in shown]
        cells += [f"{r['n_pbits']:,}", format_area(r["pbit_area_mm2"] * 1e6)]
        if trained:
            n = len(r["seeds"])
            spread = f" ± {100 * r['accuracy_sd']:.2f}" if n > 1 else ""
            cells.append(f"{100 * r['accuracy_mean']:.2f}%{spread} (n={n})")
        share = 100 * r["pbit_energy_share"]
        density = r.get("activation_density", r.get("density"))
        cells += [format_energy(r["energy_train_pj_per_sample"]),
                  format_energy(r["energy_inference_pj"]),
                  "<0.01%" if 0 < share < 0.01 else f"{share:.2f}%",
                  "-" if density is None else f"{density:.3f}"]
        for name in hws:
            cells.append(f"{format_energy(r[name + ':energy_train_pj_per_sample'])} / "
                         f"{r[name + ':latency_train_s'] * 1e3:.3g} ms / "
                         f"{r[name + ':area_mm2']:.3g} mm2")
        t.add_row(*cells)
    return t
