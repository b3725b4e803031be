"""``pbitsim hardware list|show NAME [--toml]``: the hardware descriptions."""

from __future__ import annotations

import math
import sys

import click

from .console import make_console
from .errors import PbitsimError


def _load(name):
    from ..hardware.library import HardwareError, load_hardware
    try:
        return load_hardware(name)
    except HardwareError as exc:
        raise PbitsimError(str(exc)) from None


def _console():
    return make_console(markup=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def hardware():
    """List and show the hardware descriptions (TOML data in the package, or your files)."""


@hardware.command("list")
def list_cmd():
    """The shipped descriptions: model, PE array, on-chip memory, clock, table."""
    from rich.table import Table

    from ..hardware.library import list_hardware
    out = Table(title="Hardware descriptions (pbitsim hardware show NAME)",
                title_justify="left")
    for col in ("Name", "Model", "PEs", "On-chip memory", "Clock", "Table", "Title"):
        out.add_column(col, overflow="fold")
    for name in list_hardware():
        hw = _load(name)
        if hw.hierarchical:
            pes = f"{hw.compute.rows} x {hw.compute.cols}"
            chip = sum(lv.capacity_bytes * (hw.compute.pes if lv.per_pe else 1)
                       for lv in hw.levels if lv.kind != "dram")
            out.add_row(name, hw.model, pes, _bytes(chip), _hz(hw.clock_hz), hw.table,
                        hw.title)
        else:
            out.add_row(name, hw.model, "-", "-", "-", hw.table, hw.title)
    _console().print(out)


@hardware.command("show")
@click.argument("name", metavar="NAME|FILE")
@click.option("--toml", "as_toml", is_flag=True,
              help="Print the description as TOML, every figure explicit (derived ones "
                   "marked by a comment).")
def show_cmd(name, as_toml):
    """Levels, compute array, p-bits, clock, area by component and sources of one
    description; which figures were derived from its energy table, and the rules."""
    from ..hardware.library import (DERIVATION_RULES, area_by_component_um2, hardware_table,
                                    hardware_toml)
    hw = _load(name)
    if as_toml:
        sys.stdout.write(hardware_toml(hw))
        return
    table = hardware_table(hw)
    console = _console()
    console.print(f"{hw.name}: {hw.title}")
    console.print(f"source: {hw.source}", soft_wrap=True)
    if not hw.hierarchical:
        console.print(f"model flat: every count stream at the memory table {table.name}'s "
                      "[levels] names, one access per use of an operand (no reuse, no "
                      "capacities); energy only (no latency, no area)", soft_wrap=True)
        for stream, level in table.levels.items():
            if stream == "pbit":
                continue
            body = table.memory[level]
            console.print(f"  {stream} -> {level}: {body['read_pj']:.4g} pJ read, "
                          f"{body['write_pj']:.4g} pJ write per {body['access_bits']} b")
        console.print(f"  p-bits: priced as the table's {table.levels['pbit']} "
                      "(pbitsim estimate --device)")
        return
    console.print(f"model hierarchy; table {table.name}; clock {_hz(hw.clock_hz)}; "
                  f"mapping objective {hw.objective}")
    _levels(console, hw, table)
    c = hw.compute
    zeros = ("skipped (no fetch, no add, no cycle)" if c.zero_inputs == "skip"
             else "gated (no energy, the cycle spent)")
    console.print(f"Compute array: {c.rows} x {c.cols} = {c.pes} PEs, {c.macs_per_cycle} "
                  f"MAC per PE per cycle, datapath {c.datapath}; NoC {c.noc_pj:.4g} pJ per "
                  f"{c.noc_bits}-bit word; zero inputs {zeros}; PE datapath area "
                  f"{c.pe_area_um2:,.0f} um^2{_flag(c, 'pe_area_um2')}", soft_wrap=True)
    console.print(f"  source: {c.source}", soft_wrap=True)
    p = hw.pbits
    cost = table.with_device(p.device).device_cost()
    count = (f"{p.count:,} physical p-bits (more unit x tile samples time-share them)"
             if p.count is not None else
             "none described: one p-bit per unit and tile, all in parallel (the count and "
             "area follow the net)")
    timing = f"{p.sample_ns:g} ns per sample" + ("" if p.source else " (default)")
    console.print(f"p-bits: {count}; device {p.device}: {cost.energy_per_sample_pj:.4g} pJ "
                  f"per sample and {cost.area_um2:.4g} um^2 per p-bit (table {table.name}); "
                  f"{timing}", soft_wrap=True)
    if p.source:
        console.print(f"  source: {p.source}", soft_wrap=True)
    _area(console, hw, area_by_component_um2(hw, table))
    console.print(f"Derived figures follow from table {table.name} by these rules "
                  "(pbitsim.hardware.library):")
    for rule in DERIVATION_RULES:
        console.print(f"  {rule}", soft_wrap=True)


def _levels(console, hw, table):
    from rich.table import Table

    from ..hardware.library import derive_access_pj
    out = Table(title="Memory levels, innermost first (energy per access; * derived from "
                "the table; 'rule' = what the table's rule gives)", title_justify="left")
    for col in ("Level", "Kind", "Capacity", "Instances", "Access", "Read", "Write", "Rule",
                "Bandwidth", "Holds", "Area / instance"):
        out.add_column(col, overflow="fold",
                       justify="left" if col in ("Level", "Kind", "Holds") else "right")
    for lv in hw.levels:
        cap = "unbounded" if math.isinf(lv.capacity_bytes) else _bytes(lv.capacity_bytes)
        bw = ("-" if math.isinf(lv.bandwidth_bits_per_cycle)
              else f"{lv.bandwidth_bits_per_cycle:g} b/cycle")
        area = ("off chip" if lv.kind == "dram" and lv.area_um2 == 0
                else f"{lv.area_um2:,.0f} um^2{_flag(lv, 'area_um2')}")
        try:
            rule = f"{derive_access_pj(table, lv.kind, lv.capacity_bytes, lv.access_bits)[0]:.4g} pJ"
        except ValueError:
            rule = "-"
        out.add_row(lv.name, lv.kind, cap, f"{hw.compute.pes:,} (per PE)" if lv.per_pe else "1",
                    f"{lv.access_bits} b", f"{lv.read_pj:.4g} pJ{_flag(lv, 'read_pj')}",
                    f"{lv.write_pj:.4g} pJ{_flag(lv, 'write_pj')}", rule, bw,
                    ", ".join(lv.holds), area)
    console.print(out)
    console.print("Sources:")
    for lv in hw.levels:
        console.print(f"  {lv.name}: {lv.source}", soft_wrap=True)


def _area(console, hw, parts):
    from rich.table import Table
    out = Table(title="Area by component (at the table's node)", title_justify="left")
    for col in ("Component", "Area", "Share"):
        out.add_column(col, justify="left" if col == "Component" else "right")
    total = sum(v for v in parts.values() if v is not None)
    for comp, um2 in parts.items():
        if comp != "pbits" and comp != "compute" and hw.level(comp).kind == "dram":
            continue
        label = {"compute": f"PE datapaths ({hw.compute.pes})",
                 "pbits": "p-bits"}.get(comp, comp)
        if um2 is None:
            out.add_row(label, "follows the net", "-")
        else:
            share = f"{100 * um2 / total:.1f}%" if total else "-"
            out.add_row(label, f"{um2 / 1e6:.4g} mm^2", share)
    out.add_row("total on chip", f"{total / 1e6:.4g} mm^2", "100%" if total else "-")
    console.print(out)
    console.print("  (memories, PE datapaths and p-bits only: control, NoC wiring and I/O "
                  "are not counted)")


def _flag(obj, key) -> str:
    return " *" if key in obj.derived else ""


def _bytes(n: float) -> str:
    n = int(n)
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale:,} {unit}"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.3g} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.4g} KiB"
    return f"{n} B"


def _hz(hz: float) -> str:
    return f"{hz / 1e9:g} GHz" if hz >= 1e9 else f"{hz / 1e6:g} MHz"
