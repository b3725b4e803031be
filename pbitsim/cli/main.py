"""The ``pbitsim`` command: a click group whose subcommands are imported on first use.

Listing ``--help`` must not import numba or torch, so each subcommand's one-line help
is kept here beside the module path that implements it.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from .console import guard_stdout
from .errors import PbitsimError


def _rules_text() -> str:
    """The learning rules by label, their p-bit forms named once (from the descriptors)."""
    from ..rulebook import RULE_SPECS
    labels = list(dict.fromkeys(s.label.split(" ")[0] for s in RULE_SPECS.values()
                                if not s.tiled))
    return ", ".join(labels) + " and their p-bit forms"


def _axes_text() -> str:
    """The sweep's axes, from the sweep's own list."""
    from ..sweep.grid import AXES
    names = {"algo": "learning rule", "tiles": "tile count M", "device": "p-bit device",
             "precision": "datapath precision", "dataset": "data set", "seed": "seed"}
    return ", ".join(names.get(a.name, a.name) for a in AXES)


# name -> (module:attribute, one-line help shown by `pbitsim --help`, made when shown)
SUBCOMMANDS: dict[str, tuple[str, object]] = {
    "estimate": ("pbitsim.cli.estimate:estimate",
                 lambda: f"Project training and inference energy of {_rules_text()} (pJ)."),
    "tables": ("pbitsim.cli.tables:tables",
               lambda: "List and show the per-operation energy tables."),
    "hardware": ("pbitsim.cli.hardware:hardware",
                 lambda: "List and show the hardware descriptions (memory levels, PEs, "
                         "p-bits, area)."),
    "sweep": ("pbitsim.cli.sweep:sweep",
              lambda: f"Sweep over {_axes_text()}: accuracy, energy, p-bits, area."),
    "train": ("pbitsim.cli.train:train",
              lambda: "Train through the simulated p-bit hardware; report accuracy and counted "
                      "energy."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx):
        return sorted(set(SUBCOMMANDS) | set(self.commands))

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        if name not in SUBCOMMANDS:
            return None
        target, _ = SUBCOMMANDS[name]
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ImportError as exc:  # e.g. torch missing for `train`
            raise PbitsimError(f"the '{name}' command is unavailable: {exc}") from None

    def resolve_command(self, ctx, args):
        """An unknown subcommand is one ``Error:`` line (click would print the usage too)."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise PbitsimError(exc.format_message()) from None

    def format_commands(self, ctx, formatter):
        rows = [(name, SUBCOMMANDS[name][1]()) for name in self.list_commands(ctx)
                if name in SUBCOMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pbitsim")
def cli():
    """pbitsim: p-bit hardware simulator and energy estimator for learning without backprop.

    \b
    Start here:
      pbitsim estimate                 energy of the default rules on the default network
      pbitsim estimate --help          every option, with examples
      pbitsim tables list              the per-operation energy tables shipped
      pbitsim hardware list            the hardware descriptions shipped
      pbitsim train --help             train through the simulated hardware
      pbitsim sweep --estimate-only    energy, p-bits and area over tile count M
    """


def main(argv=None):
    """Console entry point: bad input ends with a one-line error and exit status 2."""
    try:
        guard_stdout()  # closed: refused now; unwritable later: one line (cli/console.py)
        cli.main(args=argv, prog_name="pbitsim", standalone_mode=True)
    except PbitsimError as exc:  # raised before click runs
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
