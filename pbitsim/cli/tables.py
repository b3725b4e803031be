"""``pbitsim tables list|show NAME [--toml]``: the per-operation energy tables."""

from __future__ import annotations

import sys

import click

from .console import make_console
from .errors import PbitsimError


def _load(name):
    from ..hardware.tables import TableError, load_table
    try:
        return load_table(name)
    except TableError as exc:
        raise PbitsimError(str(exc)) from None


def _console():
    return make_console(markup=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def tables():
    """List and show the per-operation energy tables (TOML data in the package)."""


@tables.command("list")
def list_cmd():
    """The shipped tables, with their node and title."""
    from rich.table import Table

    from ..hardware.tables import list_tables
    out = Table(title="Energy tables (pbitsim estimate --table NAME)", title_justify="left")
    for col in ("Name", "Node", "Title", "Derived from"):
        out.add_column(col)
    for name in list_tables():
        tab = _load(name)
        node = f"{tab.meta['node_nm']} nm" if "node_nm" in tab.meta else "-"
        out.add_row(name, node, str(tab.meta.get("title", "")), tab.derived_from or "-")
    _console().print(out)


@tables.command("show")
@click.argument("name", metavar="NAME|FILE")
@click.option("--toml", "as_toml", is_flag=True,
              help="Print the table as TOML (resolved: a derived table's scaled entries).")
def show_cmd(name, as_toml):
    """Every entry of one table, with its source, and the pricing rules."""
    tab = _load(name)
    if as_toml:
        if tab.path and not tab.derived_from:
            with open(tab.path, encoding="utf-8") as fh:
                sys.stdout.write(fh.read())
        else:
            sys.stdout.write(to_toml(tab.as_mapping()))
        return
    from rich.table import Table

    from ..hardware.pbits import DIGITAL_RULES
    from ..hardware.tables import RULES
    console = _console()
    meta = tab.meta
    console.print(f"{tab.name}: {meta.get('title', '')}")
    if meta.get("source"):
        console.print(f"source: {meta['source']}", soft_wrap=True)
    if tab.derived_from:
        console.print(f"derived from {tab.derived_from}, scaled x{meta['scaling_factor']:.4g}")

    compute = Table(title="Compute (pJ per operation)", title_justify="left")
    for col in ("Entry", "Bits", "Energy", "Source"):
        compute.add_column(col, justify="right" if col in ("Bits", "Energy") else "left",
                           overflow="fold")
    for entry, body in sorted(tab.compute.items()):
        compute.add_row(entry, str(body["bits"]), f"{body['energy_pj']:.4g} pJ", _src(body))
    console.print(compute)

    memory = Table(title="Memory (pJ per access)", title_justify="left")
    for col in ("Entry", "Access", "Capacity", "Read", "Write", "Source"):
        memory.add_column(col, justify="left" if col in ("Entry", "Source") else "right",
                          overflow="fold")
    for entry, body in sorted(tab.memory.items()):
        cap = body.get("capacity_bytes")
        memory.add_row(entry, f"{body['access_bits']} b", _bytes(cap) if cap else "-",
                       f"{body['read_pj']:.4g} pJ", f"{body['write_pj']:.4g} pJ", _src(body))
    console.print(memory)

    pbits = Table(title="p-bit devices (per p-bit; pbitsim estimate --device KIND[:OPTIONS])",
                  title_justify="left")
    for col in ("Device", "Energy / sample", "Area", "Source"):
        pbits.add_column(col, justify="left" if col in ("Device", "Source") else "right",
                         overflow="fold")
    for kind in ("ideal", *tab.pbit):
        cost = tab.with_device(kind).device_cost()
        if kind == "ideal":
            source = f"no hardware of its own: priced as levels.pbit = {cost.priced_as}"
        elif kind == "digital":
            source = (f"default configuration, from the parts below and a LUT read from "
                      f"{tab.pbit[kind]['lut_memory']} (rules below)")
        else:
            source = _src(tab.pbit[kind])
        pbits.add_row(kind, f"{cost.energy_per_sample_pj:.4g} pJ", f"{cost.area_um2:.4g} um^2",
                      source)
    console.print(pbits)

    if tab.pbit_parts:
        parts = Table(title="Digital p-bit parts", title_justify="left")
        for col in ("Part", "Bits", "Energy", "Area", "Source"):
            parts.add_column(col, justify="left" if col in ("Part", "Source") else "right",
                             overflow="fold")
        for entry, body in tab.pbit_parts.items():
            energy = f"{body['energy_pj']:.4g} pJ" if "energy_pj" in body else "-"
            parts.add_row(entry, str(body["bits"]), energy, f"{body['area_um2']:.4g} um^2",
                          _src(body))
        console.print(parts)

    if tab.area:
        area = Table(title="Area at the table's node (hardware descriptions derive omitted "
                     "areas from it: pbitsim hardware show)", title_justify="left")
        for col in ("Entry", "Bits", "Area", "Source"):
            area.add_column(col, justify="left" if col in ("Entry", "Source") else "right",
                            overflow="fold")
        for entry, body in tab.area.items():
            area.add_row(entry, str(body.get("bits", "-")), f"{body['area_um2']:.4g} um^2",
                         _src(body))
        console.print(area)

    console.print("Levels: " + ", ".join(f"{k} -> {v}" for k, v in tab.levels.items()))
    console.print("Rules (widths without an entry; the digital p-bit):")
    for rule in (*RULES, *(DIGITAL_RULES if tab.pbit_parts else ())):
        console.print(f"  {rule}", soft_wrap=True)


def _src(body) -> str:
    flag = " [unverified]" if body.get("verified") is False else ""
    return f"{body['source']}{flag}"


def _bytes(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def to_toml(data: dict) -> str:
    """A resolved table as TOML: scalars first, then one [section.entry] per entry."""
    lines = []
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            flat = {k: v for k, v in value.items() if not isinstance(v, dict)}
            if flat:
                lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in flat.items()]
            for entry, body in value.items():
                if isinstance(body, dict):
                    lines += ["", f"[{key}.{entry}]"]
                    lines += [f"{k} = {_toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
