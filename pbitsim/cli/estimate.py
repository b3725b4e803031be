"""``pbitsim estimate``: training and inference energy of the learning rules in pJ.

Pure Python on top of :mod:`pbitsim.estimator` (no torch, no numba): it starts
fast and prints rich tables, or JSON/CSV for scripts.
"""

from __future__ import annotations

import csv
import io

import click

from ..config import DATASET_INPUTS, DEFAULT_DEVICE, DEFAULT_TILES
from ..estimator import DEFAULT_ALGOS, estimate as run_estimate
from ..hardware.tables import DEFAULT_TABLE
from ..network.archs import DEFAULT_ARCH
from ..hardware.pricing import price_counts
from ..network.tiles import DEFAULT_DENSITY
from ..options import DEFAULT_EPOCHS
from .console import make_console
from .precision import precision_options
from .runoptions import run_options
from .rulehelp import algo_nets_help
from ..rulebook import RULES
from .errors import OneLineCommand, PbitsimError
from .units import format_area as _area, format_energy as _si

EXAMPLES = """\b
Examples:
  pbitsim estimate                                   the default rules on cfse-cifar10
  pbitsim estimate --algo mf --dataset mnist         a rule on its own net (mf-mlp-2x1000)
  pbitsim estimate --arch cwc-mnist --tiles 1 --per-layer
  pbitsim estimate --algo cwc,bsff --density 0.1 --table jouppi-7nm
  pbitsim estimate --device digital:lut_width=8,rng=xoshiro128 --per-layer
  pbitsim estimate --arch examples/archs/my-mlp.toml --json -
  pbitsim estimate --counts run/counts.json          price a training run's counts
"""


def _versus(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if abs(ratio - 1.0) < 5e-4:
        return "1x"
    return f"{1 / ratio:.3g}x lower" if ratio < 1 else f"{ratio:.3g}x higher"


def _label(algo, result) -> str:
    spec = algo.algorithm.rule
    if spec is None:  # a walk registered outside a rule package
        name = algo.name
        return f"{name} M={result.params.tiles}" if algo.algorithm.tiled else name
    return spec.display(result.params.tiles)


def _params_text(result) -> str:
    """`` (N parameters)``: the rules' own parameter count on the net (their models,
    predictors, projections) when they agree; else empty (the assumptions list each)."""
    counts = {a.algorithm.model_params(result.arch) for a in result.algos}
    return f" ({counts.pop():,} parameters)" if len(counts) == 1 else ""


def _share(part: float, total: float) -> str:
    if not total:
        return "-"
    percent = 100 * part / total
    return "<1%" if 0 < percent < 0.5 else f"{percent:.0f}%"


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise PbitsimError(f"--layer-epochs must be comma-separated integers, got {text!r}") \
            from None


def _parse_density(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise PbitsimError(f"--density must be a number in (0, 1] or a comma list, "
                           f"got {text!r}") from None
    if not values or any(not 0.0 < v <= 1.0 for v in values):
        raise PbitsimError(f"--density must be in (0, 1], got {text!r}")
    return values


@click.command(cls=OneLineCommand, epilog=EXAMPLES,
               context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--arch", metavar="NAME|FILE",
              help=f"Built-in network or a TOML file [default: {DEFAULT_ARCH} for the default "
                   "list; with --algo, the rules' own net for --dataset (cifar10 unless given): "
                   f"{algo_nets_help()}].")
@click.option("--algo", metavar="LIST",
              help=f"Comma-separated rules, of {', '.join(RULES)} "
                   f"[default: {','.join(DEFAULT_ALGOS)}].")
@click.option("--density", metavar="P[,P...]",
              help=f"Activation density of the binary units, in (0, 1]; one value or one "
                   f"per block [default: {DEFAULT_DENSITY}].")
@click.option("--table", metavar="NAME|FILE", default=None,
              help=f"Energy table (see `pbitsim tables list`) or a TOML file [default: the "
                   f"hardware's table; {DEFAULT_TABLE}].")
@click.option("--hardware", metavar="NAME|FILE", default=None,
              help="Hardware to price on (see `pbitsim hardware list`) or a TOML file: a "
                   "memory hierarchy adds energy by level, latency and area [default: "
                   "table-levels, the energy table's flat levels].")
@click.option("--layer-epochs", metavar="E1,E2,...",
              help="mf --schedule greedy: epochs each layer trained (e.g. the seeds' caps "
                   "14,14 on MNIST) [default: --epochs each; or the --counts run's].")
@click.option("--dataset", type=click.Choice(tuple(DATASET_INPUTS)), default=None,
              help="The data set: without --arch, the network is the one `pbitsim train "
                   "--algo A --dataset D` trains (each rule's own; the CFSE net for the "
                   "default list); it also picks the layer windows of --schedule and CaFo-DFA's "
                   "block epochs [default: cifar10, or the --arch's input shape].")
@click.option("--epochs", metavar="E", type=int, default=DEFAULT_EPOCHS, show_default=True,
              help="Epochs for the training-run total.")
@click.option("--train-size", metavar="N", type=int,
              help="Training samples per epoch [default: the architecture's].")
@click.option("--per-layer", is_flag=True, help="Also show each block's energy.")
@click.option("--json", "json_out", metavar="FILE", help="Write the numbers as JSON ('-': stdout).")
@click.option("--csv", "csv_out", metavar="FILE", help="Write the numbers as CSV ('-': stdout).")
@click.option("--counts", "counts_path", metavar="FILE.json",
              help="A training run's counts: its arch, algorithm, tiles and densities are "
                   "used, and its measured counts are priced beside the estimate.")
@run_options("estimate", "tiles", "batch_size", "estimator", "grad_quant", "update", "schedule",
             "dfa_epochs", "device", "eval_samples", "calibration_samples")
@precision_options(train=False)
def estimate(arch, algo, tiles, density, table, hardware, device, batch_size, estimator,
             grad_quant, update, schedule, layer_epochs, dfa_epochs, dataset, eval_samples,
             calibration_samples, epochs, train_size, per_layer, json_out, csv_out, counts_path,
             weight_bits, acc_bits, grad_bits):
    """Project the training and inference energy of BP, FF, CwC-FF, BSFF, BGBSFF, MF, CaFo, SFF
    and their tiled forms (pJ).

    Counts every operation and memory access per training sample and per inference
    with the analytic model of each algorithm, and prices them with a per-operation
    energy table.
    """
    for flag, given in (("--algo", algo), ("--arch", arch)):  # '' is not "the default"
        if given is not None and not given.replace(",", "").strip():
            raise PbitsimError(f"{flag} is empty (leave it out for the default)")
    hw = None
    if hardware is not None:
        from ..hardware.library import HardwareError, load_hardware
        if not hardware.strip():
            raise PbitsimError("--hardware is empty (leave it out for the default)")
        try:
            hw = load_hardware(hardware)
        except (HardwareError, ValueError) as exc:
            raise PbitsimError(str(exc)) from None
    if table is None:
        table = hw.table if hw is not None else DEFAULT_TABLE
    measured = None
    algo_given = algo is not None
    tiles_given = tiles is not None  # the user's --tiles (mf/sff/cafo-* then run tiled)
    if counts_path:
        from ..estimator.countsfile import load_counts_file
        try:
            measured = load_counts_file(counts_path)
        except ValueError as exc:
            raise PbitsimError(str(exc)) from None
    densities = _parse_density(density) if density is not None else None
    stats_given = tiles is not None or densities is not None  # the user's, not the run's
    if measured is not None:
        from ..estimator.countsfile import run_arch
        try:
            arch = run_arch(measured, arch)
        except ValueError as exc:
            raise PbitsimError(str(exc)) from None
        tiles = tiles if tiles is not None else measured.tiles
        densities = densities or (list(measured.densities) if measured.densities else None)
        if algo is None:
            algo = ",".join(dict.fromkeys(["bp", "ff", "cwc", measured.algo]))
        elif measured.algo not in [a.strip() for a in algo.split(",")]:
            # the measured counts are always compared with the run's own rule
            algo = f"{algo},{measured.algo}"
        if device is None and measured.device_spec is not None:
            device = measured.device_spec
    algos = [a.strip() for a in (algo or ",".join(DEFAULT_ALGOS)).split(",") if a.strip()]
    if tiles_given:  # mf/sff/cafo-* with --tiles: their tiled p-bit forms
        from ..rulebook import resolve_algo
        algos = list(dict.fromkeys(resolve_algo(a, tiles) for a in algos))
    if json_out == "-" and csv_out == "-":
        raise PbitsimError("--json - and --csv - cannot both write to stdout")
    for flag, target in (("--json", json_out), ("--csv", csv_out)):
        if target is not None and not target.strip():
            raise PbitsimError(f"{flag} is empty (give a file name, or - for standard output)")
    try:
        # the shared run options as given (None: estimate's default, or the --counts run's)
        given = dict(grad_quant=grad_quant, update=update, eval_samples=eval_samples,
                     batch_size=batch_size, estimator=estimator,
                     calibration_samples=calibration_samples)
        options = dict(given, weight_bits=weight_bits, acc_bits=acc_bits, grad_bits=grad_bits)
        if measured is not None:  # the run's own choices and measured statistics
            run = measured.estimate_options()
            if weight_bits is None and acc_bits is None and grad_bits is None:
                for key in ("weight_bits", "acc_bits", "grad_bits"):  # the run's datapath
                    if key in run:
                        options[key] = run[key]
            for key, value in given.items():
                if value is None and key in run:
                    options[key] = run[key]
            for key in ("stats", "eval_stats", "live", "layer_epochs", "dfa_epochs",
                        "run_samples"):
                if key in run and not (key.endswith("stats") and stats_given):
                    options[key] = run[key]
        if layer_epochs is not None:
            options["layer_epochs"] = _int_list(layer_epochs)
        if dfa_epochs is not None:
            options["dfa_epochs"] = dfa_epochs
        if schedule is not None:  # the user's schedule replaces the run's
            options.pop("live", None)
            if layer_epochs is None:
                options.pop("layer_epochs", None)
            options.update(schedule=schedule, dataset=dataset)
        elif dataset is not None:
            options["dataset"] = dataset
        options = {k: v for k, v in options.items() if v is not None}
        result = run_estimate(arch=arch or None,
                              algos=algos if algo_given or measured else DEFAULT_ALGOS,
                              table=table,
                              tiles=DEFAULT_TILES if tiles is None else tiles,
                              density=densities or DEFAULT_DENSITY,
                              train_samples=train_size, epochs=epochs,
                              device=(hw.pbits.device if hw is not None and hw.hierarchical
                                      else DEFAULT_DEVICE) if device is None else device,
                              skip_incompatible=not algo_given,
                              hardware=hw if hw is not None and hw.hierarchical else None,
                              **options)
        if batch_size is not None and batch_size > result.train_samples:  # the user's batch
            shown = f"{batch_size:,}" if batch_size < 10 ** 15 else \
                f"of {len(str(batch_size))} digits"
            raise PbitsimError(f"--batch-size {shown} is more than the {result.train_samples:,} "
                               f"samples of an epoch of {result.arch.name} (give at most "
                               f"{result.train_samples:,}, or a larger --train-size)")
        measured_price = _price_measured(measured, result) if measured else None
    except ValueError as exc:
        raise PbitsimError(str(exc)) from None

    if json_out is not None:
        doc = result.to_dict()
        if measured_price:
            doc["measured"] = measured_price
        from ..runfiles import RunFileError, json_text
        try:
            text = json_text(doc, json_out)
        except RunFileError as exc:
            raise PbitsimError(str(exc)) from None
        _write(json_out, text)
    if csv_out is not None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(result.csv_rows())
        _write(csv_out, buf.getvalue())
    if "-" not in (json_out, csv_out):
        _render(result, per_layer, measured, measured_price)


def _write(target: str, text: str) -> None:
    """``-``: standard output; else the safe writer (atomic for a file, through a symlink,
    directly into a FIFO or a device)."""
    from ..runfiles import RunFileError, write_text
    try:
        write_text(target, text)
    except RunFileError as exc:
        raise PbitsimError(str(exc)) from None


def _price_measured(measured, result) -> dict:
    """Price a run's measured counts per sample, beside the analytic estimate."""
    if result.arch.name == measured.arch:
        measured.check_arch(result.arch)
    try:
        train = price_counts(measured.train_per_sample(), result.table)
        infer_counts = measured.inference_per_sample()
        infer = price_counts(infer_counts, result.table) if infer_counts else None
    except ValueError as exc:
        raise ValueError(f"counts file {measured.path}: {exc}") from None
    analytic = result.get(measured.algo)
    out = {"path": measured.path, "algo": measured.algo, "dataset": measured.dataset,
           "train_samples": measured.train_samples, "epochs": measured.epochs,
           "test_samples": measured.test_samples,
           "train_per_sample_pj": train["total_pj"],
           "train_split_pj": {k: train[f"{k}_pj"] for k in ("compute", "memory", "pbit")},
           "train_run_pj": train["total_pj"] * measured.train_samples * measured.epochs,
           "inference_pj": infer["total_pj"] if infer else None}
    if analytic is not None:
        out["analytic_train_per_sample_pj"] = analytic.total_pj("train")
        out["analytic_inference_pj"] = analytic.total_pj("inference")
        if analytic.hardware is not None:  # the same hierarchy model, on the measured counts
            cost = analytic.hardware
            by = cost.price_measured(measured.train_per_sample(), result.table)
            out["hardware"] = {"name": cost.hw.name, "train_energy_by_level_pj": by,
                               "train_per_sample_pj": sum(by.values()),
                               "analytic_train_per_sample_pj": cost.total_pj("train")}
            if infer_counts:
                ib = cost.price_measured(infer_counts, result.table, "inference")
                out["hardware"].update(inference_energy_by_level_pj=ib,
                                       inference_pj=sum(ib.values()))
    return out


def _render(result, per_layer: bool, measured, measured_price) -> None:
    from rich.table import Table

    console = make_console(markup=False)
    arch = result.arch
    title = (f"Energy per algorithm: {arch.name}{_params_text(result)}, "
             f"table {result.table.name}")
    if result.params.precision.fixed:
        title += f", datapath {result.params.precision.label()}"
    summary = Table(title=title, title_justify="left")
    # a "vs X" column only where X was estimated (no column of dashes)
    refs = [r for r in dict.fromkeys(("bp", result.ff_baseline)) if result.get(r) is not None]
    for col in ("Algorithm", "Train / sample", f"Train / epoch ({result.train_samples:,})",
                "Inference", "Compute", "Memory", "p-bit",
                *(f"vs {_label(result.get(r), result)}" for r in refs)):
        summary.add_column(col, justify="left" if col == "Algorithm" else "right")
    run_epochs = {a.name: result.run_epochs(a.name) for a in result.algos}
    show_run = any(e > 1 for e in run_epochs.values())
    if show_run:
        summary.add_column("Run (epochs)", justify="right")
    for algo in result.algos:
        price = algo.price["train"]
        total = price["total_pj"]
        row = [_label(algo, result), _si(total), _si(total * result.train_samples),
               _si(algo.total_pj("inference")), _share(price["compute_pj"], total),
               _share(price["memory_pj"], total), _share(price["pbit_pj"], total),
               *(_versus(result.ratio(algo.name, r)) for r in refs)]
        if show_run:
            e = run_epochs[algo.name]
            row.append(f"{_si(total * result.train_samples * e)} ({e})")
        summary.add_row(*row)
    console.print(summary)

    terms = Table(title="Largest terms (training, per sample)", title_justify="left")
    for col in ("Algorithm", "Phase", "Count key", "Energy", "Share"):
        terms.add_column(col, justify="right" if col in ("Energy", "Share") else "left")
    for algo in result.algos:
        total = algo.total_pj("train")
        for i, (phase, key, pj) in enumerate(algo.top_terms("train", 3)):
            terms.add_row(algo.name if i == 0 else "", phase, key, _si(pj), _share(pj, total))
    console.print(terms)

    if result.hardware is not None:
        _hardware_table(console, result)

    tiled = [a for a in result.algos if a.algorithm.tiled]
    cost = result.table.device_cost()
    if tiled:
        hw = Table(title=f"p-bit hardware, device {cost.spec} (one p-bit per tiled unit and "
                         "tile)", title_justify="left")
        for col in ("Algorithm", "p-bits", "Area", "Energy / p-bit sample",
                    "p-bit energy / train sample", "Share of training"):
            hw.add_column(col, justify="left" if col == "Algorithm" else "right")
        for algo in tiled:
            hw.add_row(_label(algo, result), f"{algo.n_pbits:,}",
                       _area(algo.pbit_area_um2),
                       _si(cost.energy_per_sample_pj), _si(algo.price["train"]["pbit_pj"]),
                       _share(algo.price["train"]["pbit_pj"], algo.total_pj("train")))
        console.print(hw)

    if per_layer:
        for algo in result.algos:
            table = Table(title=f"Per layer: {algo.algorithm.title}", title_justify="left")
            columns = ["Layer", "Layers", "Train / sample", "Share", "Inference",
                       "Largest term (training)"]
            if algo.algorithm.tiled:
                columns.insert(5, "p-bits")
            for col in columns:
                table.add_column(col, justify="right" if col in (
                    "Train / sample", "Share", "Inference", "p-bits") else "left")
            total = algo.total_pj("train")
            for layer in algo.layers:
                key, pj = algo.largest_key(layer)
                row = [layer.name, layer.description, _si(layer.total_pj("train")),
                       _share(layer.total_pj("train"), total), _si(layer.total_pj("inference")),
                       f"{key} ({_share(pj, layer.total_pj('train'))})"]
                if algo.algorithm.tiled:
                    row.insert(5, f"{layer.n_pbits:,}")
                table.add_row(*row)
            console.print(table)

    if measured_price:
        table = Table(title=f"Measured counts: {measured.path}", title_justify="left")
        for col in ("Source", "Train / sample", "Inference", "Compute", "Memory", "p-bit"):
            table.add_column(col, justify="left" if col == "Source" else "right")
        m = measured_price
        total = m["train_per_sample_pj"]
        table.add_row(f"measured {m['algo']} ({m['epochs']} x {m['train_samples']:,} samples)",
                      _si(total), _si(m["inference_pj"]) if m["inference_pj"] else "-",
                      *(_share(m["train_split_pj"][k], total)
                        for k in ("compute", "memory", "pbit")))
        analytic = result.get(m["algo"])
        if analytic is not None:
            price = analytic.price["train"]
            table.add_row(f"analytic {m['algo']}", _si(price["total_pj"]),
                          _si(analytic.total_pj("inference")),
                          *(_share(price[f"{k}_pj"], price["total_pj"])
                            for k in ("compute", "memory", "pbit")))
            table.add_row("measured / analytic", f"{total / price['total_pj']:.3g}",
                          f"{m['inference_pj'] / analytic.total_pj('inference'):.3g}"
                          if m["inference_pj"] else "-", "", "", "")
        console.print(table)
        h = m.get("hardware")
        if h:
            console.print(f"On {h['name']}: measured {_si(h['train_per_sample_pj'])} per "
                          f"training sample, analytic {_si(h['analytic_train_per_sample_pj'])} "
                          f"(measured / analytic "
                          f"{h['train_per_sample_pj'] / h['analytic_train_per_sample_pj']:.4g})")

    for algo in result.algos:
        _schedules_table(console, result, algo.name)

    console.print("Assumptions:", style="bold")
    for line in result.assumptions():
        console.print(f"  {line}", soft_wrap=True)


def _hardware_table(console, result) -> None:
    """Energy by level, latency, throughput and area on a memory hierarchy."""
    from rich.table import Table

    hw = result.hardware
    costs = [(a, a.hardware) for a in result.algos if a.hardware is not None]
    levels = ["compute", "pbit", *(lv.name for lv in hw.levels)]
    if any("noc" in c.energy_by_level_pj["train"] for _, c in costs):
        levels.append("noc")
    ref = next((a for a, _ in costs if a.name == "bp"), None)
    table = Table(title=f"On {hw.name} ({hw.title}): training, per sample", title_justify="left")
    for col in ("Algorithm", "Energy", *levels, "Latency", "Samples/s", "Area",
                *(("vs BP",) if ref else ())):
        table.add_column(col, justify="left" if col == "Algorithm" else "right")
    for algo, c in costs:
        total = c.total_pj("train")
        by = c.energy_by_level_pj["train"]
        row = [_label(algo, result), _si(total), *(_share(by.get(lv, 0.0), total)
                                                    for lv in levels),
               f"{c.latency_s('train') * 1e3:.3g} ms", f"{c.samples_per_s('train'):,.0f}",
               f"{sum(c.area_mm2().values()):.3g} mm2"]
        if ref:
            row.append(_versus(total / ref.hardware.total_pj("train")))
        table.add_row(*row)
    console.print(table)
    place = costs[0][1].placement if costs else {}
    lines = [f"{k} in {v['level']} ({_bytes(v['bytes'])})" for k, v in place.items()
             if k != "blocks"]
    if lines:
        console.print("Placement: " + "; ".join(lines) + " (per rule in the JSON)")


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _schedules_table(console, result, name: str) -> None:
    """A rule's greedy and online schedules side by side (MF, CaFo): its block stage (CaFo-DFA),
    online, greedy per stage, each schedule's run."""
    from rich.table import Table
    sched = result.schedules(name)
    if sched is not None:
        noun = sched["stage_noun"]
        label = result.get(name).algorithm.rule.label if result.get(name).algorithm.rule else name
        table = Table(title=f"{label} schedules (per sample / per epoch / run); the seeds "
                            "measured greedy", title_justify="left")
        for col in ("Schedule", "Stage", "Train / sample", "Train / epoch", "Epochs", "Run"):
            table.add_column(col, justify="left" if col in ("Schedule", "Stage") else "right")
        if sched["block_stage_epochs"]:
            table.add_row("both", "blocks (DFA)", _si(sched["block_stage_per_sample_pj"]),
                          _si(sched["block_stage_per_epoch_pj"]),
                          str(sched["block_stage_epochs"]),
                          _si(sched["block_stage_per_epoch_pj"] * sched["block_stage_epochs"]))
        table.add_row("online", f"every {noun}", _si(sched["online_per_sample_pj"]),
                      _si(sched["online_per_epoch_pj"]), str(sched["online_epochs"]),
                      _si(sched["online_per_epoch_pj"] * sched["online_epochs"]))
        for k, (ps, pe, e) in enumerate(zip(sched["greedy_stage_per_sample_pj"],
                                            sched["greedy_stage_per_epoch_pj"],
                                            sched["greedy_layer_epochs"])):
            below = f"+{k} recomputed" if noun == "layer" else f"{k + 1} block(s) recomputed"
            table.add_row("greedy" if k == 0 else "", f"{noun} {k + 1} ({below})",
                          _si(ps), _si(pe), str(e), _si(ps * result.train_samples * e))
        extra = sched["block_stage_epochs"]
        if extra:
            table.add_row("online", "run", "", "", str(extra + sched["online_epochs"]),
                          _si(sched["online_run_pj"]))
        table.add_row("greedy", "run", "", "", str(extra + sum(sched["greedy_layer_epochs"])),
                      _si(sched["greedy_run_pj"]))
        console.print(table)
