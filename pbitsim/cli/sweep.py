"""``pbitsim sweep``: accuracy vs energy vs p-bits over tile count M and p-bit device."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import click

from ..config import BACKENDS, DEFAULT_BACKEND, MAX_TILES
from .console import make_console
from .errors import OneLineCommand, PbitsimError
from .progress import BarReporter, make_progress
from .units import format_area, format_energy

DATASETS = ("mnist", "fashion-mnist", "cifar10")

EXAMPLES = """\b
Examples:
  pbitsim sweep --estimate-only                       energy and p-bits for M = 1..10, instant
  pbitsim sweep --estimate-only --device ideal,digital,smtj --dataset cifar10
  pbitsim sweep --tiles 1,2,4,7 --dataset mnist --limit-train 5000 --epochs 1 --out runs/sweep
  pbitsim sweep --tiles 7 --device ideal,smtj:offset_sd=0.3,smtj:stuck_rate=0.05 --seeds 0,1,2
  pbitsim sweep ... --jobs 2        two configurations at a time (threads split between them)

\b
An interrupted sweep (Ctrl-C) saves the running configurations' checkpoints; run the same
command again to skip finished configurations and resume the others.
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
    from ..energy_models.devices import parse_device, spec_string
    from ..sweep import split_devices
    specs = []
    for text in texts:
        for spec in split_devices(text):
            try:
                specs.append(spec_string(parse_device(spec)))
            except ValueError as e:
                raise PbitsimError(str(e)) from None
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
              help="Configurations trained at once (each gets cores / jobs threads).")
@click.option("--estimate-only", is_flag=True,
              help="No training: the analytic energy, p-bit count and area of every M.")
@click.option("--density", type=float, default=None,
              help="--estimate-only: activation density (fraction of p-bit samples that are 1; "
                   "default: the estimator's 0.15).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--backend", type=click.Choice(BACKENDS), default=DEFAULT_BACKEND,
              show_default=True, help="How the index layers run (as for pbitsim train).")
def sweep(tiles_text, device_texts, algo, dataset, seeds_text, epochs, batch_size, lr,
          limit_train, limit_test, data_dir, table, out_dir, jobs, estimate_only, density,
          no_plots, backend):
    """Sweep tile count M and p-bit device: accuracy, energy, number of p-bits and area.

    Every configuration (device x M x seed) trains BSFF through the simulator for the same
    budget (the CwC-FF ConvNet of the dataset), then its measured counts are priced with
    its device. Results: a table here, OUT/sweep.csv, OUT/sweep.json, and PNG plots
    (accuracy vs energy with M labelled, accuracy vs M per device; matplotlib needed).
    """
    from ..sweep import SweepConfig

    console = make_console()
    if jobs < 1:
        raise PbitsimError(f"--jobs must be >= 1, got {jobs}")
    if density is not None and not 0 < density <= 1:
        raise PbitsimError(f"--density must be in (0, 1], got {density}")
    if density is not None and not estimate_only:
        raise PbitsimError("--density applies to --estimate-only (training measures it)")
    cfg = SweepConfig(tiles=_int_list(tiles_text, "tiles", 1, MAX_TILES),
                      devices=_devices(device_texts or ("ideal",)),
                      seeds=_int_list(seeds_text, "seeds", 0, 2 ** 31 - 1), algo=algo,
                      dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr,
                      limit_train=limit_train, limit_test=limit_test, table=table,
                      data_dir=data_dir, train_options={"backend": backend})
    out = Path(out_dir)
    if estimate_only:
        _estimate_only(console, cfg, out, density, no_plots)
    else:
        _train_sweep(console, cfg, out, jobs, no_plots)


def _estimate_only(console, cfg, out, density, no_plots):
    from ..energy_models import TableError
    from ..energy_models.tiles import DEFAULT_DENSITY
    from ..sweep import estimate_rows, write_outputs
    density = DEFAULT_DENSITY if density is None else density
    try:
        rows = estimate_rows(cfg, density)
    except (TableError, ValueError) as e:
        raise PbitsimError(str(e)) from None
    files = write_outputs(out, {"mode": "estimate", "density": density,
                                "config": _config_meta(cfg)}, rows, None)
    console.print(_table(rows, trained=False, title=f"{cfg.algo.upper()} on {cfg.dataset} "
                         f"({rows[0]['arch']}, {rows[0]['table']}), analytic estimate at "
                         f"activation density {density:g}"))
    _finish(console, out, rows, files, trained=False, no_plots=no_plots)


def _train_sweep(console, cfg, out, jobs, no_plots):
    from ..datasets import DatasetError
    from ..sweep import aggregate, point_row, write_outputs
    from ..training import TrainingError
    points = cfg.points()
    try:
        cfg.train_config(points[0]).validate()
    except TrainingError as e:
        raise PbitsimError(str(e)) from None
    out.mkdir(parents=True, exist_ok=True)
    try:
        results = (_run_parallel if jobs > 1 else _run_serial)(console, cfg, points, out, jobs)
    except (DatasetError, TrainingError) as e:
        raise PbitsimError(str(e)) from None
    if results is None:
        console.print(f"Interrupted: checkpoints saved under {out / 'runs'}. Run the same "
                      "command again to resume (finished configurations are skipped).")
        raise SystemExit(130)
    runs = [point_row(cfg, p, out, results[p]) for p in points]
    rows = aggregate(runs)
    files = write_outputs(out, {"mode": "train", "config": _config_meta(cfg)}, rows, runs)
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
        except ImportError:
            console.print("[yellow]plots skipped: matplotlib is not installed "
                          "(pip install 'pbitsim[plot]')[/]")
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


# --------------------------------------------------------------------------- running points
def _run_serial(console, cfg, points, out, jobs):
    """Train the points one after the other in this process; None if interrupted."""
    from ..sweep import train_point
    results = {}
    current = {}
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # finish the step, checkpoint, stop
        current["stop"] = True
        if "trainer" in current:
            current["trainer"].stop_requested = True

    signal.signal(signal.SIGINT, on_sigint)
    try:
        with make_progress(console, remaining=False) as progress:
            overall = progress.add_task("sweep", total=len(points), stats="")
            for point in points:
                if current.get("stop"):
                    return None
                reporter = BarReporter(progress, point.key, keep=False)
                res = train_point(cfg, point, out, reporter,
                                  on_trainer=lambda t: current.__setitem__("trainer", t))
                reporter.close()
                current.pop("trainer", None)
                if res is None:
                    return None
                results[point] = res
                progress.update(overall, advance=1)
    finally:
        signal.signal(signal.SIGINT, previous)
    return results


# Worker side of a parallel sweep (a spawned process): progress goes back through a queue, and
# a shared event (set by the parent on Ctrl-C) stops the running trainer at its next step.
_WORKER: dict = {}


def _worker_init(threads: int, queue, stop_event) -> None:
    import numba
    import torch
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    _WORKER.update(queue=queue, stop=stop_event)
    signal.signal(signal.SIGINT, lambda signum, frame: stop_event.set())


class _QueueReporter:
    """Forwards the trainer's progress calls to the parent; checks for a stop at every step."""

    def __init__(self, key):
        self.key = key

    def __getattr__(self, name):
        def forward(*args):
            if _WORKER["stop"].is_set() and "trainer" in _WORKER:
                _WORKER["trainer"].stop_requested = True
            _WORKER["queue"].put((self.key, name, args))
        return forward


def _worker_run(cfg, point, out):
    from ..sweep import train_point
    if _WORKER["stop"].is_set():
        return point, None
    res = train_point(cfg, point, out, _QueueReporter(point.key),
                      on_trainer=lambda t: _WORKER.__setitem__("trainer", t))
    _WORKER.pop("trainer", None)
    return point, res


def _run_parallel(console, cfg, points, out, jobs):
    """Train up to ``jobs`` points at once in spawned processes; None if interrupted.

    Ctrl-C (to this process, or to the whole terminal group) sets the shared stop event: the
    running points checkpoint after their current step, the queued ones never start.
    """
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    messages, stop = ctx.Queue(), ctx.Event()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    results = {}
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        with make_progress(console, remaining=False) as progress, ProcessPoolExecutor(
                max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                initargs=(threads, messages, stop)) as pool:
            overall = progress.add_task("sweep", total=len(points), stats="")
            reporters = {p.key: BarReporter(progress, p.key, keep=False) for p in points}
            pending = {pool.submit(_worker_run, cfg, p, out) for p in points}
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(messages, reporters, queue_mod)
                for fut in done:
                    if fut.cancelled():
                        continue
                    point, res = fut.result()
                    reporters[point.key].close()
                    if res is not None:
                        results[point] = res
                        progress.update(overall, advance=1)
                if stop.is_set():
                    for fut in pending:
                        fut.cancel()
    finally:
        signal.signal(signal.SIGINT, previous)
    return None if stop.is_set() or len(results) < len(points) else results


def _drain(messages, reporters, queue_mod):
    while True:
        try:
            key, name, args = messages.get_nowait()
        except queue_mod.Empty:
            return
        getattr(reporters[key], name)(*args)
