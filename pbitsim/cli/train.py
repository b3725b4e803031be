"""``pbitsim train``: train through the simulated p-bit hardware; accuracy, counts and energy."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..config import DATASET_INPUTS, threads_note
from ..options import DEFAULT_ALGO, DEFAULT_DATASET, DEFAULT_TABLE
from ..network.archs import list_archs
from .console import make_console
from .errors import OneLineCommand, PbitsimError
from .precision import precision_options
from .runoptions import run_options
from .progress import make_progress, make_reporter
from .rulehelp import arch_help
from .signals import stop_on_signals

from ..rulebook import RULES as ALGOS
DATASETS = tuple(DATASET_INPUTS)


def _stages(history: list) -> str:
    """A staged run's stages and their epochs (``blocks (DFA) x5, predictor 1/3 x1``): a
    greedy rule's loop epochs are its stages', not ``--epochs`` repeated."""
    stages: dict[str, int] = {}
    for record in history:
        name = str(record.get("name") or "")
        if ", epoch " in name:
            key = name.split(", epoch ")[0]
            stages[key] = stages.get(key, 0) + 1
    if not stages:
        return ""
    return "  (stages: " + ", ".join(f"{k} x{v}" for k, v in stages.items()) + ")"


def _summary_table(results: dict):
    from rich.table import Table
    t = Table(title=f"pbitsim train: {results['algo']} on {results['dataset']} "
                    f"({results['arch']})", show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    for k, v in results["test_accuracy"].items():
        mark = "  (headline)" if k == results["predictor"] else ""
        t.add_row(f"test accuracy ({k})", f"{100 * v:.2f}%{mark}")
    if results.get("precision", "fp32") != "fp32":
        t.add_row("datapath", results["precision"])
    if (results.get("eval_samples") or 1) > 1:
        t.add_row("sampled passes per test image", str(results["eval_samples"]))
    t.add_row("train samples x epochs", f"{results['train_samples']} x {results['epochs']}"
              + _stages(results.get("history") or []))
    t.add_row("test samples", str(results["test_samples"]))
    t.add_row("wall time train / test", f"{results['train_wall_s']:.1f} s / {results['eval_wall_s']:.1f} s")
    t.add_row("peak memory", f"{results['peak_memory_mib']:.0f} MiB")
    if results["activation_density"] is not None:
        dens = ", ".join(f"{d:.3f}" for d in results["layer_density"])
        t.add_row("activation density", f"{results['activation_density']:.3f}  (per layer {dens})")
    ops = results["train_counts_by_op"]
    for op in ("add", "mul", "pbit_sample", "weight_read"):
        if ops.get(op):
            t.add_row(f"train {op}", f"{ops[op]:.3e}")
    e = results["energy"]
    if "error" in e:
        from rich.text import Text
        t.add_row("energy", Text(e["error"], style="yellow"))
    else:
        tr = e["train"]
        t.add_row(f"train energy ({e['table']})",
                  f"{tr['total_pj'] / 1e12:.4g} J  = compute {tr['compute_pj'] / 1e12:.3g} + memory "
                  f"{tr['memory_pj'] / 1e12:.3g} + p-bit {tr['pbit_pj'] / 1e12:.3g} J")
        t.add_row("per training sample", f"{e['train_pj_per_sample'] / 1e6:.4g} uJ")
        t.add_row("per inference", f"{e['inference_pj_per_sample'] / 1e6:.4g} uJ")
    h = results.get("hardware_energy")
    if h:
        by = h["train_energy_by_level_pj"]
        total = h["train_per_sample_pj"]
        parts = ", ".join(f"{k} {v / total:.0%}" for k, v in by.items() if v >= 0.005 * total)
        t.add_row(f"on {h['hardware']}, per training sample",
                  f"{total / 1e6:.4g} uJ ({parts})")
        t.add_row(f"on {h['hardware']}, latency / area",
                  f"{h['train_latency_s'] * 1e3:.3g} ms per training sample, "
                  f"{sum(h['area_mm2'].values()):.3g} mm^2")
    return t


@click.command(cls=OneLineCommand)
@click.option("--algo", type=click.Choice(ALGOS), default=DEFAULT_ALGO, show_default=True,
              help="Learning algorithm.")
@click.option("--dataset", type=click.Choice(DATASETS), default=DEFAULT_DATASET, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=True, dir_okay=True), default=None,
              help="Folder with the dataset files (default: $PBITSIM_DATA, the cache, and for "
                   "Fashion-MNIST the Debian package's folder).")
@click.option("--download", is_flag=True, help="Fetch the dataset (md5-checked) if not found.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: runs/ALGO-DATASET[-MTILES]).")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--overwrite", is_flag=True,
              help="Start afresh in an OUT that holds another run's checkpoint, results.json "
                   "or counts.json, replacing them (without it such a folder is refused).")
@click.option("--arch", metavar="NAME|FILE", default=None,
              help=arch_help(", ".join(list_archs())))
@click.option("--table", "energy_table", default=DEFAULT_TABLE, show_default=True,
              help="Energy table for the estimate at the end.")
@click.option("--hardware", metavar="NAME|FILE", default=None,
              help="Also price the run's measured counts on a described memory hierarchy (see "
                   "`pbitsim hardware list`): energy by level, latency, area in the summary "
                   "and results.json (`hardware_energy`).")
@click.option("--threads", type=int, default=None,
              help="torch and numba threads of the run (float sums depend on it, so a resume "
                   "must use the same) [default: as the process].")
@run_options("train", "epochs", "lr", "limit_train", "limit_test", "backend")
@run_options("train", "tiles", "batch_size", "estimator", "grad_quant", "update", "schedule",
             "dfa_epochs", "device", "eval_samples", "calibration_samples")
@precision_options(train=True)
def train(algo, dataset, tiles, epochs, batch_size, lr, seed, limit_train, limit_test, data_dir,
          download, out_dir, resume, overwrite, estimator, grad_quant, update, schedule,
          dfa_epochs, arch, energy_table, hardware, device, threads, eval_samples, backend,
          calibration_samples, weight_bits, acc_bits, grad_bits):
    """Train through the simulated p-bit hardware and report accuracy, counts and energy.

    \b
    Examples:
      pbitsim train --algo bsff --tiles 7 --dataset fashion-mnist --epochs 2
      pbitsim train --algo cwc --dataset mnist --limit-train 5000 --out runs/cwc
      pbitsim train --algo bsff --out runs/cwc --resume      # continue after Ctrl-C
      pbitsim train --algo bp --arch ff-mlp-4x2000 --limit-train 5000
      pbitsim train --algo cwc --arch examples/archs/my-mlp.toml --out runs/my-mlp
      pbitsim train --algo cafo-dfa --tiles 7 --dataset mnist --epochs 12   # CaFo on p-bits
      pbitsim train --algo bsff --weight-bits 8 --acc-bits 16 --limit-train 5000

    Writes OUT/results.json, OUT/counts.json (for `pbitsim estimate --counts`) and
    OUT/checkpoint.pt (every epoch, and on Ctrl-C or SIGTERM). The summary goes to standard
    output, progress to standard error (one line per epoch when that is not a terminal).
    """
    from .. import runfiles
    from ..datasets import DatasetError, load_dataset
    from ..options import OptionError, RunOptions
    from ..training import Trainer, TrainingError

    console, progress_console = make_console(), make_console(stderr=True)
    if resume and overwrite:
        raise PbitsimError("give --resume (continue the run in OUT) or --overwrite (replace "
                           "it), not both")
    try:  # the run's options, checked once, here
        cfg = RunOptions.checked(
            algo=algo, dataset=dataset, tiles=tiles, epochs=epochs, batch_size=batch_size, lr=lr,
            seed=seed, limit_train=limit_train, limit_test=limit_test, estimator=estimator,
            grad_quant=grad_quant, update=update, schedule=schedule, arch=arch,
            energy_table=energy_table, device=device, eval_samples=eval_samples, threads=threads,
            backend=backend, dfa_epochs=dfa_epochs, weight_bits=weight_bits, acc_bits=acc_bits,
            grad_bits=grad_bits, calibration_samples=calibration_samples)
    except OptionError as e:
        raise PbitsimError(str(e)) from None
    hw = None
    if hardware is not None:  # checked before any long work
        from ..hardware.library import HardwareError, load_hardware
        try:
            hw = load_hardware(hardware)
        except (HardwareError, ValueError) as e:
            raise PbitsimError(str(e)) from None
        if not hw.hierarchical:
            hw = None  # the flat levels: the energy the run reports anyway
    if out_dir is None:
        suffix = f"-m{cfg.units.tiles}" if cfg.units.tiled else ""
        out_dir = str(Path("runs") / f"{cfg.algo}-{dataset}{suffix}")
    try:
        # the folder's lock first: a second run into it stops here, before loading anything
        with runfiles.out_lock(out_dir):
            if not resume:  # another run's files are replaced only with --overwrite
                runfiles.prepare_new_run_folder(out_dir, overwrite)
            data = load_dataset(dataset, data_dir, download=download)
            for note in cfg.data_notes(data.train_x.shape[0], data.test_x.shape[0]) + [
                    threads_note(cfg.threads)]:
                if note:
                    progress_console.print(f"note: {note}", soft_wrap=True)
            trainer = Trainer(cfg, data, out_dir)
            with make_progress(progress_console) as progress, stop_on_signals(
                    lambda: setattr(trainer, "stop_requested", True)):
                trainer.reporter = make_reporter(progress)
                t0 = time.perf_counter()
                results = trainer.run(resume=resume)
    except (DatasetError, TrainingError, runfiles.RunFileError) as e:
        raise PbitsimError(str(e)) from None
    if results is None:
        progress_console.print(f"Interrupted: checkpoint saved to "
                               f"{Path(out_dir) / runfiles.CHECKPOINT} ({trainer.saved_at}). "
                               "Continue with the same options and --resume.", markup=False)
        raise SystemExit(130)
    if hw is not None:
        from ..estimator.countsfile import load_counts_file, price_run_on
        try:
            results["hardware_energy"] = price_run_on(
                load_counts_file(Path(out_dir) / runfiles.COUNTS), hw)
            runfiles.write_results(out_dir, results)
        except (ValueError, runfiles.RunFileError) as e:
            raise PbitsimError(f"--hardware {hardware}: {e}") from None
    console.print(_summary_table(results))
    console.print(f"results: {Path(out_dir) / runfiles.RESULTS}   counts: "
                  f"{Path(out_dir) / runfiles.COUNTS}   ({time.perf_counter() - t0:.1f} s)",
                  markup=False)
