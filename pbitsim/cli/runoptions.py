"""The run options ``pbitsim train``, ``pbitsim sweep`` and ``pbitsim estimate`` share: each
declared once here (flag, type, help), its default from :mod:`pbitsim.options` and the rules'
descriptors.

Only the declaration lives here: the values are checked by :func:`pbitsim.options.check_option`
(and, for a run, :meth:`pbitsim.options.RunOptions.validate`), the same line for the same
mistake in every command. ``train`` and ``sweep`` (for every point) show each option's
default; ``estimate`` leaves an option it is not given as None: its own default, or the value
of the ``--counts`` run.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from ..config import BACKENDS, CALIBRATION_SAMPLES, DEFAULT_BACKEND
from ..network.gradients import ESTIMATORS, QUANTIZERS
from ..options import (DEFAULT_BATCH, DEFAULT_DEVICE, DEFAULT_EPOCHS, DEFAULT_ESTIMATOR,
                       DEFAULT_GRAD_QUANT, DEFAULT_UPDATE, UPDATES)
from ..rulebook import ALL_SCHEDULES, RULE_SPECS
from ..schedules import CAFO_DFA_EPOCHS, CAFO_DFA_RULES
from .rulehelp import lr_help, tiled_rules_help, tiles_help

__all__ = ["run_options", "SHARED"]

COMMANDS = ("train", "sweep", "estimate")


@dataclass(frozen=True)
class _Option:
    """One shared option: its flags, the keyword it passes, its type and help, and its default
    as each command states it (train and sweep: the value, shown; estimate: the words)."""

    decls: tuple[str, ...]
    name: str
    type: object
    metavar: str | None
    help: str
    run_default: object = None         # None: not shown (the help says it)
    estimate_default: str | None = None  # words after "[default: "; None: the help says it
    from_counts: bool = True           # estimate takes the --counts run's when not given


def _rules(flag: str) -> str:
    return "/".join(n for n, s in RULE_SPECS.items() if getattr(s, flag))


def _schedule_defaults() -> str:
    groups: dict[str, list[str]] = {}
    for name, spec in RULE_SPECS.items():
        groups.setdefault(spec.default_schedule, []).append(name)
    return "; ".join(f"{k} for {', '.join(v)}" for k, v in groups.items())


def _dfa_defaults() -> str:
    names = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
    return ", ".join(f"{names[d]} {e}" for d, e in CAFO_DFA_EPOCHS.items() if d in names)


def _shared() -> dict[str, _Option]:
    options = (
        _Option(("--tiles", "-M"), "tiles", int, "M", tiles_help(), from_counts=True),
        _Option(("--epochs",), "epochs", int, "E",
                "Training epochs (greedy MF and CaFo: each stage's cap; see --schedule).",
                DEFAULT_EPOCHS, from_counts=False),
        _Option(("--lr",), "lr", float, "LR", lr_help()),
        _Option(("--limit-train",), "limit_train", int, "N",
                "Train on a seeded random subset of N training images (a sweep: the same "
                "subset for every configuration)."),
        _Option(("--limit-test",), "limit_test", int, "N", "Test on the first N test images."),
        _Option(("--backend",), "backend", click.Choice(BACKENDS), None,
                f"The tiled rules ({tiled_rules_help()}): how the index layers run. dense: "
                "torch's float "
                "convolution on the tile counts (fast); index: the index-and-accumulate kernels "
                "(the reference). Same results up to float rounding, identical counts.",
                DEFAULT_BACKEND),
        _Option(("--batch-size",), "batch_size", int, "B",
                "Mini-batch size: amortizes per-step work (the optimizer, batch-norm folding).",
                DEFAULT_BATCH, str(DEFAULT_BATCH)),
        _Option(("--estimator",), "estimator", click.Choice(tuple(ESTIMATORS)), None,
                f"Backward of the binary stochastic units (the tiled rules: "
                f"{tiled_rules_help()}).", DEFAULT_ESTIMATOR, DEFAULT_ESTIMATOR),
        _Option(("--grad-quant",), "grad_quant", click.Choice(tuple(QUANTIZERS)), None,
                f"{_rules('quantized_errors')}'s error quantizer: stochastic ternary "
                "(unbiased) or sign (binary).", DEFAULT_GRAD_QUANT, DEFAULT_GRAD_QUANT),
        _Option(("--update",), "update", click.Choice(UPDATES), None,
                f"{_rules('quantized_errors')}'s weight update: adam, or shift (w -= 2^-k g: "
                "SGD at the power of two nearest --lr, no optimizer state, as the hardware "
                "scheme).", DEFAULT_UPDATE, DEFAULT_UPDATE),
        _Option(("--schedule",), "schedule", click.Choice(ALL_SCHEDULES), None,
                "Layer freezing of the CwC-family blocks: staggered (the reference's windows "
                "scaled to the budget; spread evenly on nets without 4 blocks), reference (its "
                "windows in whole epochs, e.g. MNIST blocks freeze after epochs 2, 3, 4, 5; the "
                "head trains on) or none (every block learns on every step); frozen blocks run "
                "forward only. mf: greedy (as the seeds ran it: one layer at a time, --epochs "
                "per layer, early stopping on a held-out 10%, the layers below recomputed) or "
                "online (every layer every step); the CaFo rules (cafo-*, bscafo-*) the same, "
                "over their predictors.", None, "none, every block learns on every step"),
        _Option(("--dfa-epochs",), "dfa_epochs", int, "E",
                f"{' and '.join(CAFO_DFA_RULES)}: epochs its blocks learn by direct feedback "
                "alignment before the predictors.", None,
                f"the seeds', by the data set (of the input shape): {_dfa_defaults()}"),
        _Option(("--device",), "device", str, "SPEC",
                "p-bit device sampling the tiles (the tiled rules): ideal, digital, smtj, with "
                "options as kind:key=value,... e.g. digital:lut_width=8 or "
                "smtj:offset_sd=0.2,stuck_rate=0.01.", DEFAULT_DEVICE,
                "the --hardware's p-bits, else ideal, priced as the table's levels.pbit"),
        _Option(("--eval-samples",), "eval_samples", int, "K",
                f"{_rules('sampled_eval')}: sampled forward passes per test image, their logits "
                "and class goodnesses summed (K times the inference work).", 1, "1"),
        _Option(("--calibration-samples",), "calibration_samples", int, "N",
                "After training, the batch-norm statistics are recomputed at the final weights "
                "from N training samples (forward passes, counted as training work); 0: tested "
                "with the running averages of the training steps.", None,
                f"{CALIBRATION_SAMPLES}, at most the training set"),
    )
    return {o.name: o for o in options}


#: The shared options by keyword.
SHARED: dict[str, _Option] = _shared()


def _help(option: _Option, command: str) -> str:
    text = option.help
    if command != "estimate":
        if option.name == "schedule":
            text += f" [default: the rule's: {_schedule_defaults()}]"
        elif option.name == "dfa_epochs":
            text += f" [default: the seeds': {_dfa_defaults()}]"
        elif option.name == "calibration_samples":
            text += f" [default: {CALIBRATION_SAMPLES}]"
        elif option.name == "eval_samples":
            text += (" A finished run resumed with another K is re-evaluated, not retrained."
                     if command == "train" else "")
        return text
    if option.name == "schedule":
        text += " Greedy: see --layer-epochs."
    if option.estimate_default is not None:
        counts = "; or the --counts run's" if option.from_counts else ""
        text += f" [default: {option.estimate_default}{counts}]"
    return text


def run_options(command: str, *names: str):
    """Decorator adding the shared options ``names`` (keywords: ``"batch_size"``, ...) as
    ``command`` (``"train"``, ``"sweep"`` or ``"estimate"``) takes them, in the order given."""
    if command not in COMMANDS:
        raise ValueError(f"run_options: command must be one of {', '.join(COMMANDS)}")

    def wrap(fn):
        for name in reversed(names):
            o = SHARED[name]
            shown = command != "estimate"  # train and sweep: the run's default
            default = o.run_default if shown else None
            fn = click.option(*o.decls, o.name, type=o.type, metavar=o.metavar,
                              default=default, show_default=shown and default is not None,
                              help=_help(o, command))(fn)
        return fn
    return wrap
