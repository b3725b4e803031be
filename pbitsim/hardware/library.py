"""Hardware descriptions: TOML data shipped in ``builtin/`` (or a user's file), loaded and
checked here into a :class:`~pbitsim.hardware.spec.Hardware`, as :mod:`.tables` loads energy
tables.

A description (see ``builtin/eyeriss.toml``) has:

* top level: ``name``, ``title``, ``model`` (``flat`` or ``hierarchy``), ``table`` (the energy
  table that prices its compute and p-bits and from which omitted figures are derived: a
  shipped name or a table file, a relative path read from the description's folder),
  ``objective`` (``energy``, ``latency``, ``edp``), ``clock_hz`` (hierarchy only) and
  ``source``;
* ``[[levels]]`` (hierarchy only), innermost first, the last one the ``dram``: ``name``,
  ``kind`` (``register``, ``sram``, ``dram``), ``capacity_bytes`` (per instance; a dram may
  omit it or write ``"inf"``), ``access_bits``, ``read_pj`` / ``write_pj`` per access,
  ``per_pe``, ``bandwidth_bits_per_cycle`` (``"inf"`` or omitted: never the bottleneck),
  ``holds`` (tensor classes), ``area_um2`` per instance, ``source``;
* ``[compute]`` (hierarchy only): ``rows``, ``cols``, ``macs_per_cycle``, ``datapath``,
  ``noc_pj`` per ``noc_bits`` word, ``zero_inputs`` (``skip`` or ``gate``), ``pe_area_um2``,
  ``source``;
* ``[pbits]`` (hierarchy only, optional): ``count`` (omitted: one per unit and tile),
  ``sample_ns``, ``device`` (a ``--device`` spec string), ``source``.

A ``flat`` description is today's pricing: every count stream at the memory its table's
``[levels]`` names; it has no levels, compute array or p-bit array of its own.

Energies per access and areas a description omits are derived from its table by
:data:`DERIVATION_RULES` (:func:`derive_access_pj`, :func:`derive_area_um2`,
:func:`datapath_area_um2`); ``Level.derived`` / ``ComputeArray.derived`` name them and
``pbitsim hardware show`` says so. Pure Python (``pbitsim estimate`` imports it).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from ..config import DEFAULT_DEVICE
from ..network.counters import dtype_bits
from ..runfiles import data_file, read_toml
from .spec import (ELEMENTWISE, LEVEL_KINDS, MODELS, OBJECTIVES, TENSOR_CLASSES, ZERO_HANDLING,
                   ComputeArray, Hardware, Level, PbitArray)
from .tables import (DEFAULT_TABLE, MAX_TABLE_FIGURE, EnergyTable, TableError,
                     load_table)

__all__ = ["HardwareError", "HARDWARE_DIR", "DEFAULT_HARDWARE", "DERIVATION_RULES",
           "VARIANT_KEYS", "hardware_variant",
           "list_hardware", "load_hardware", "hardware_from_mapping", "derive_access_pj",
           "derive_area_um2", "datapath_area_um2", "area_by_component_um2", "hardware_toml",
           "hardware_table"]

HARDWARE_DIR = Path(__file__).with_name("builtin")
#: The hardware ``pbitsim estimate`` prices on unless told otherwise: today's pricing.
DEFAULT_HARDWARE = "table-levels"

#: How omitted figures follow from the energy table (printed by ``pbitsim hardware show``).
DERIVATION_RULES = (
    "sram energy per access: log-log interpolation in capacity_bytes between the table's "
    "[memory.*] entries that have a capacity (energy per bit, read and write apart), the end "
    "segments extended beyond the smallest and largest entry; never below a register's "
    "energy per bit; x access_bits",
    "register energy per access, below the table's smallest SRAM: pbit_parts.register "
    "energy per bit (a flip-flop written) x access_bits, read and write alike; a register "
    "file at least as large as the smallest SRAM is priced as an SRAM of its capacity",
    "dram energy per access: the table's memory.dram entry per bit x access_bits",
    "sram area: capacity_bytes / 1024 x area.sram_per_kb; register area: capacity_bytes x 8 x "
    "pbit_parts.register area per bit; dram area: 0 (off chip, not in the chip's area)",
    "PE area (datapath D): area.add_D + area.mul_D; intN/uN without an entry: the int32 "
    "entries scaled by N/32 (adder) and (N/32)^2 (multiplier), as Accelergy scales Aladdin's "
    "units; float widths need entries",
    "areas are at the table's node as the table gives them (a [derive]d table keeps its "
    "base's areas)",
)

_TOP_KEYS = ("name", "title", "model", "table", "objective", "elementwise", "clock_hz",
             "source", "levels", "compute", "pbits")
_LEVEL_KEYS = ("name", "kind", "capacity_bytes", "access_bits", "read_pj", "write_pj",
               "per_pe", "bandwidth_bits_per_cycle", "holds", "area_um2", "source")
_COMPUTE_KEYS = ("rows", "cols", "macs_per_cycle", "datapath", "noc_pj", "noc_bits",
                 "zero_inputs", "pe_area_um2", "source")
_PBIT_KEYS = ("count", "sample_ns", "device", "source")
#: Names of the area components besides the levels (a level may not take them).
_COMPONENTS = ("compute", "pbits")


class HardwareError(ValueError):
    """A hardware description that cannot be used: the message names it and the bad key."""


# --- loading -------------------------------------------------------------------------

def list_hardware() -> list[str]:
    """Names of the hardware descriptions shipped with pbitsim."""
    return sorted(p.stem for p in HARDWARE_DIR.glob("*.toml"))


def load_hardware(name_or_path: "str | os.PathLike | Hardware" = DEFAULT_HARDWARE) -> Hardware:
    """A description by shipped name (``eyeriss``), by TOML path, or passed through."""
    if isinstance(name_or_path, Hardware):
        return name_or_path
    text = os.fspath(name_or_path)
    path = data_file(text, HARDWARE_DIR, "hardware", HardwareError)
    data = read_toml(path, "hardware", error=HardwareError)
    hw = hardware_from_mapping(data, str(path))
    if path.resolve().parent != HARDWARE_DIR.resolve():
        # a file of the user's: labelled by the file, as tables are
        hw = dataclasses.replace(hw, name=text)
    return hw


def hardware_table(hw: Hardware) -> EnergyTable:
    """The energy table a description names (loaded; the path was resolved at load)."""
    return load_table(hw.table)


def hardware_from_mapping(data: Mapping[str, Any], path: str | None = None) -> Hardware:
    """Validate a parsed TOML document and derive the figures it omits."""
    name = data.get("name")
    label = name if isinstance(name, str) and name else (path or "<hardware>")
    err = _Errors(label)
    if not isinstance(name, str) or not name:
        raise err("missing 'name'")
    _known(err, "", data, _TOP_KEYS)
    title = _string(err, "", data, "title")
    source = _string(err, "", data, "source")
    model = data.get("model")
    if model not in MODELS:
        raise err(f"model = {model!r} is not one of {', '.join(MODELS)}")
    objective = data.get("objective", "energy")
    if objective not in OBJECTIVES:
        raise err(f"objective = {objective!r} is not one of {', '.join(OBJECTIVES)}")
    elementwise = data.get("elementwise", "fused")
    if elementwise not in ELEMENTWISE:
        raise err(f"elementwise = {elementwise!r} is not one of {', '.join(ELEMENTWISE)}")
    table_name, table = _table(err, data.get("table", DEFAULT_TABLE), path)
    common = dict(name=name, title=title, model=model, table=table_name, objective=objective,
                  source=source, path=path)
    if model != "flat":
        common["elementwise"] = elementwise
    if model == "flat":
        for key in ("levels", "compute", "pbits", "clock_hz"):
            if key in data:
                raise err(f"model = 'flat' prices every count stream at the memory table "
                          f"{table.name}'s [levels] names; {key!r} describes a 'hierarchy'")
        return Hardware(**common)
    clock_hz = data.get("clock_hz")
    if not _number(clock_hz) or clock_hz <= 0:
        raise err(f"clock_hz must be a number > 0, got {clock_hz!r}")
    raw_levels = data.get("levels")
    if not isinstance(raw_levels, list) or not raw_levels:
        raise err("model = 'hierarchy' needs [[levels]], innermost first, the last a dram")
    levels = tuple(_level(err, i, body, table) for i, body in enumerate(raw_levels))
    _check_order(err, levels)
    if "compute" not in data:
        raise err("model = 'hierarchy' needs a [compute] section (the PE array)")
    compute = _compute(err, data["compute"], table)
    pbits = _pbits(err, data["pbits"], table) if "pbits" in data else PbitArray()
    return Hardware(clock_hz=float(clock_hz), levels=levels, compute=compute, pbits=pbits,
                    **common)


class _Errors:
    """Builds the one-line errors, every one naming the description."""

    def __init__(self, label: str):
        self.label = label

    def __call__(self, message: str) -> HardwareError:
        return HardwareError(f"hardware {self.label}: {message}")


def _where(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _known(err, section, body, allowed) -> None:
    for key in body:
        if key not in allowed:
            raise err(f"unknown key {_where(section, key)!r} (expected one of "
                      f"{', '.join(allowed)})")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _string(err, section, body, key, default=None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value.strip():
        what = "lacks 'source'" if key == "source" else f"needs a non-empty string {key!r}"
        raise err(f"{section or 'the top level'} {what}")
    return value


def _figure(err, section, body, key, default=None) -> float | None:
    """An energy or area figure: finite, >= 0, at most the tables' limit."""
    if key not in body:
        return default
    value = body[key]
    where = _where(section, key)
    if not _number(value) or value < 0:
        raise err(f"{where} must be a number >= 0, got {value!r}")
    if value > MAX_TABLE_FIGURE:
        raise err(f"{where} = {value:g} is above the limit of {MAX_TABLE_FIGURE:g} per "
                  "access or part")
    return float(value)


def _positive_int(err, section, body, key, default=None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise err(f"{_where(section, key)} must be an integer >= 1, got {value!r}")
    return value


def _unbounded(value) -> bool:
    return value == "inf" or (isinstance(value, float) and value == math.inf)


def _table(err, name, path) -> tuple[str, EnergyTable]:
    """The table a description names: a shipped name, else a ``.toml`` file (a relative
    path: from the description's folder)."""
    if not isinstance(name, str) or not name:
        raise err(f"table must name an energy table, got {name!r}")
    is_path = name.endswith(".toml") or os.sep in name
    if is_path and path is not None and not os.path.isabs(os.path.expanduser(name)):
        name = str(Path(path).parent / os.path.expanduser(name))
    try:
        return name, load_table(name)
    except TableError as exc:
        raise err(f"table: {exc}") from None


def _level(err, index, body, table: EnergyTable) -> Level:
    if not isinstance(body, Mapping):
        raise err(f"levels[{index}] must be a table")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise err(f"levels[{index}] needs a non-empty 'name'")
    if name in _COMPONENTS:
        raise err(f"levels[{index}]: the name {name!r} is taken by the "
                  f"{name} component of the area report")
    sec = f"levels.{name}"
    _known(err, sec, body, _LEVEL_KEYS)
    source = _string(err, sec, body, "source")
    kind = body.get("kind")
    if kind not in LEVEL_KINDS:
        raise err(f"{sec}.kind = {kind!r} is not one of {', '.join(LEVEL_KINDS)}")
    cap = body.get("capacity_bytes", "inf" if kind == "dram" else None)
    if _unbounded(cap):
        if kind != "dram":
            raise err(f"{sec}.capacity_bytes: only a dram may be unbounded ('inf'); give a "
                      f"{kind}'s capacity in bytes")
        capacity = math.inf
    elif (not _number(cap) or cap <= 0 or int(cap) != cap):
        raise err(f"{sec}.capacity_bytes must be a positive whole number of bytes"
                  f"{' or ' + repr('inf') if kind == 'dram' else ''}, got {cap!r}")
    else:
        capacity = int(cap)
    access_bits = _positive_int(err, sec, body, "access_bits", 64)
    per_pe = body.get("per_pe", False)
    if not isinstance(per_pe, bool):
        raise err(f"{sec}.per_pe must be true or false, got {per_pe!r}")
    if per_pe and kind == "dram":
        raise err(f"{sec}: a dram cannot be per_pe (one per processing element)")
    bw = body.get("bandwidth_bits_per_cycle", "inf")
    if _unbounded(bw):
        bandwidth = math.inf
    elif not _number(bw) or bw <= 0:
        raise err(f"{sec}.bandwidth_bits_per_cycle must be a number > 0 or 'inf', got {bw!r}")
    else:
        bandwidth = float(bw)
    holds = body.get("holds", list(TENSOR_CLASSES))
    if (not isinstance(holds, list) or not holds
            or not all(isinstance(h, str) for h in holds)):
        raise err(f"{sec}.holds must be a non-empty list of tensor classes "
                  f"({', '.join(TENSOR_CLASSES)})")
    for h in holds:
        if h not in TENSOR_CLASSES:
            raise err(f"{sec}.holds: {h!r} is not a tensor class ({', '.join(TENSOR_CLASSES)})")
    if len(set(holds)) != len(holds):
        raise err(f"{sec}.holds names a tensor class twice")
    derived = []
    read_pj = _figure(err, sec, body, "read_pj")
    write_pj = _figure(err, sec, body, "write_pj")
    if read_pj is None or write_pj is None:
        try:
            d_read, d_write = derive_access_pj(table, kind, capacity, access_bits)
        except ValueError as exc:
            raise err(f"{sec}: read_pj/write_pj omitted and {exc}; give them") from None
        if read_pj is None:
            read_pj = d_read
            derived.append("read_pj")
        if write_pj is None:
            write_pj = d_write
            derived.append("write_pj")
    area = _figure(err, sec, body, "area_um2")
    if area is None:
        try:
            area = derive_area_um2(table, kind, capacity)
        except ValueError as exc:
            raise err(f"{sec}: area_um2 omitted and {exc}; give it") from None
        derived.append("area_um2")
    return Level(name=name, kind=kind, capacity_bytes=capacity, read_pj=read_pj,
                 write_pj=write_pj, access_bits=access_bits, per_pe=per_pe,
                 bandwidth_bits_per_cycle=bandwidth,
                 holds=tuple(c for c in TENSOR_CLASSES if c in holds),
                 area_um2=area, source=source, derived=tuple(derived))


def _check_order(err, levels: tuple[Level, ...]) -> None:
    names = [lv.name for lv in levels]
    for name in names:
        if names.count(name) > 1:
            raise err(f"two levels are named {name!r}")
    if levels[-1].kind != "dram":
        raise err(f"the last level ({levels[-1].name}) must be the dram (levels are "
                  "innermost first)")
    for lv in levels[:-1]:
        if lv.kind == "dram":
            raise err(f"level {lv.name} is a dram but not the last level (one dram, "
                      "outermost)")
    missing = [c for c in TENSOR_CLASSES if c not in levels[-1].holds]
    if missing:
        raise err(f"the dram ({levels[-1].name}) must hold every tensor class (what fits "
                  f"nowhere else lives there); it lacks {', '.join(missing)}")
    for inner, outer in zip(levels, levels[1:]):
        if outer.capacity_bytes < inner.capacity_bytes:
            raise err(f"levels are innermost first: {outer.name} ({outer.capacity_bytes:g} "
                      f"bytes) is smaller than {inner.name} ({inner.capacity_bytes:g} bytes) "
                      "inside it")


def _compute(err, body, table: EnergyTable) -> ComputeArray:
    sec = "compute"
    if not isinstance(body, Mapping):
        raise err("[compute] must be a table")
    _known(err, sec, body, _COMPUTE_KEYS)
    source = _string(err, sec, body, "source")
    for key in ("rows", "cols"):
        if key not in body:
            raise err(f"compute lacks {key!r} (the PE array is rows x cols)")
    rows = _positive_int(err, sec, body, "rows")
    cols = _positive_int(err, sec, body, "cols")
    macs = _positive_int(err, sec, body, "macs_per_cycle", 1)
    noc_bits = _positive_int(err, sec, body, "noc_bits", 32)
    noc_pj = _figure(err, sec, body, "noc_pj", 0.0)
    zero = body.get("zero_inputs", "skip")
    if zero not in ZERO_HANDLING:
        raise err(f"compute.zero_inputs = {zero!r} is not one of {', '.join(ZERO_HANDLING)}")
    datapath = body.get("datapath", "fp32")
    try:
        if not isinstance(datapath, str) or dtype_bits(datapath) < 1:
            raise ValueError
    except ValueError:
        raise err(f"compute.datapath = {datapath!r} is not a data type (fp32, int16, ...)") \
            from None
    pe_area = _figure(err, sec, body, "pe_area_um2")
    derived = ()
    if pe_area is None:
        try:
            pe_area = datapath_area_um2(table, datapath)
        except ValueError as exc:
            raise err(f"compute: pe_area_um2 omitted and {exc}; give it") from None
        derived = ("pe_area_um2",)
    return ComputeArray(rows=rows, cols=cols, macs_per_cycle=macs, noc_pj=noc_pj,
                        zero_inputs=zero, pe_area_um2=pe_area, source=source,
                        datapath=datapath, noc_bits=noc_bits, derived=derived)


def _pbits(err, body, table: EnergyTable) -> PbitArray:
    sec = "pbits"
    if not isinstance(body, Mapping):
        raise err("[pbits] must be a table")
    _known(err, sec, body, _PBIT_KEYS)
    source = _string(err, sec, body, "source")
    count = _positive_int(err, sec, body, "count") if "count" in body else None
    sample_ns = body.get("sample_ns")
    if not _number(sample_ns) or sample_ns <= 0:
        raise err(f"pbits.sample_ns must be a number > 0 (ns per sample), got {sample_ns!r}")
    device = body.get("device", DEFAULT_DEVICE)
    if not isinstance(device, str) or not device:
        raise err(f"pbits.device must be a device spec string (ideal, smtj, digital...), "
                  f"got {device!r}")
    try:
        table.with_device(device)
    except ValueError as exc:
        raise err(f"pbits.device = {device!r}: {exc}") from None
    return PbitArray(count=count, sample_ns=float(sample_ns), device=device, source=source)


# --- derivation rules ------------------------------------------------------------------

def _register_part(table: EnergyTable, what: str) -> Mapping[str, Any]:
    part = table.pbit_parts.get("register")
    if part is None or what not in part:
        raise ValueError(f"table {table.name} has no pbit_parts.register {what} to derive it "
                         "from")
    return part


def derive_access_pj(table: EnergyTable, kind: str, capacity_bytes: float,
                     access_bits: int) -> tuple[float, float]:
    """Read and write energy of one ``access_bits``-bit access of a level of ``kind`` and
    ``capacity_bytes``, from ``table`` (:data:`DERIVATION_RULES`). ValueError if the table
    lacks what the rule needs."""
    if kind == "dram":
        entry = table.memory.get("dram")
        if entry is None:
            raise ValueError(f"table {table.name} has no memory.dram entry")
        per = access_bits / float(entry["access_bits"])
        return float(entry["read_pj"]) * per, float(entry["write_pj"]) * per
    if kind not in ("register", "sram"):
        raise ValueError(f"unknown level kind {kind!r}")
    points: dict[float, tuple[float, float]] = {}
    for entry_name in sorted(table.memory):  # equal capacities: the first by name
        entry = table.memory[entry_name]
        if "capacity_bytes" in entry:
            bits = float(entry["access_bits"])
            points.setdefault(float(entry["capacity_bytes"]),
                              (entry["read_pj"] / bits, entry["write_pj"] / bits))
    if not points:
        raise ValueError(f"table {table.name} has no [memory.*] entry with a capacity")
    caps = sorted(points)
    floor = None
    if "register" in table.pbit_parts and "energy_pj" in table.pbit_parts["register"]:
        part = table.pbit_parts["register"]
        floor = float(part["energy_pj"]) / float(part["bits"])
    if kind == "register" and capacity_bytes < caps[0]:
        if floor is None:
            _register_part(table, "energy_pj")  # raises, naming the missing entry
        return floor * access_bits, floor * access_bits
    if len(caps) == 1:
        read, write = points[caps[0]]
    else:
        i = 0
        while i < len(caps) - 2 and capacity_bytes > caps[i + 1]:
            i += 1
        lo, hi = caps[i], caps[i + 1]
        t = math.log(capacity_bytes / lo) / math.log(hi / lo)
        read, write = (_loglog(points[lo][k], points[hi][k], t, table) for k in (0, 1))
    if floor is not None:
        read, write = max(read, floor), max(write, floor)
    return read * access_bits, write * access_bits


def _loglog(e_lo: float, e_hi: float, t: float, table: EnergyTable) -> float:
    if e_lo <= 0 or e_hi <= 0:
        raise ValueError(f"table {table.name}'s memory energies include 0, which a log-log "
                         "interpolation cannot pass through")
    return e_lo * (e_hi / e_lo) ** t


def derive_area_um2(table: EnergyTable, kind: str, capacity_bytes: float) -> float:
    """Area of one instance of a level of ``kind`` and ``capacity_bytes``
    (:data:`DERIVATION_RULES`)."""
    if kind == "dram":
        return 0.0
    if kind == "register":
        part = _register_part(table, "area_um2")
        return capacity_bytes * 8 * float(part["area_um2"]) / float(part["bits"])
    entry = table.area.get("sram_per_kb")
    if entry is None:
        raise ValueError(f"table {table.name} has no area.sram_per_kb entry")
    return capacity_bytes / 1024 * float(entry["area_um2"])


def datapath_area_um2(table: EnergyTable, datapath: str) -> float:
    """Area of one PE's datapath, an adder plus a multiplier of ``datapath``'s width."""
    total = 0.0
    for op, power in (("add", 1), ("mul", 2)):
        entry = table.area.get(f"{op}_{datapath}")
        if entry is not None:
            total += float(entry["area_um2"])
            continue
        if datapath.startswith(("fp", "bf")):
            raise ValueError(f"table {table.name} has no area.{op}_{datapath} entry (float "
                             "widths have no rule)")
        base = table.area.get(f"{op}_int32")
        if base is None:
            raise ValueError(f"table {table.name} has no area.{op}_{datapath} or "
                             f"area.{op}_int32 entry")
        total += float(base["area_um2"]) * (dtype_bits(datapath) / 32) ** power
    return total


def area_by_component_um2(hw: Hardware, table: EnergyTable | None = None) -> dict[str, Any]:
    """On-chip area by component: ``compute`` (PEs x datapath), one entry per level
    (instances x area; the dram 0) and ``pbits`` (count x the device's area per p-bit; None
    when the count is one per unit and tile, which follows the net). Empty for ``flat``."""
    if not hw.hierarchical:
        return {}
    table = table or hardware_table(hw)
    out: dict[str, Any] = {"compute": hw.compute.pes * hw.compute.pe_area_um2}
    for lv in hw.levels:
        out[lv.name] = lv.area_um2 * (hw.compute.pes if lv.per_pe else 1)
    per_pbit = table.with_device(hw.pbits.device).device_cost().area_um2
    out["pbits"] = None if hw.pbits.count is None else hw.pbits.count * per_pbit
    return out


# --- writing ---------------------------------------------------------------------------

def hardware_toml(hw: Hardware) -> str:
    """A description as TOML with every figure explicit (derived ones marked by a comment):
    loading it gives the same :class:`Hardware`."""
    lines = [f"name = {_value(hw.name)}", f"title = {_value(hw.title)}",
             f"model = {_value(hw.model)}", f"table = {_value(hw.table)}",
             f"objective = {_value(hw.objective)}"]
    if hw.hierarchical:
        lines.append(f"elementwise = {_value(hw.elementwise)}")
        lines.append(f"clock_hz = {_value(hw.clock_hz)}")
    lines.append(f"source = {_value(hw.source)}")
    if not hw.hierarchical:
        return "\n".join(lines) + "\n"
    note = f"  # derived from table {hw.table}"
    c = hw.compute
    lines += ["", "[compute]"]
    for key in ("rows", "cols", "macs_per_cycle", "datapath", "noc_pj", "noc_bits",
                "zero_inputs", "pe_area_um2", "source"):
        lines.append(f"{key} = {_value(getattr(c, key))}" + (note if key in c.derived else ""))
    p = hw.pbits
    if p != PbitArray():  # the defaults stand for an omitted [pbits]
        lines += ["", "[pbits]"]
        if p.count is not None:
            lines.append(f"count = {p.count}")
        lines += [f"sample_ns = {_value(p.sample_ns)}", f"device = {_value(p.device)}",
                  f"source = {_value(p.source)}"]
    for lv in hw.levels:
        lines += ["", "[[levels]]"]
        for key in ("name", "kind", "capacity_bytes", "access_bits", "read_pj", "write_pj",
                    "per_pe", "bandwidth_bits_per_cycle", "holds", "area_um2", "source"):
            value = getattr(lv, key)
            lines.append(f"{key} = {_value(list(value) if key == 'holds' else value)}"
                         + (note if key in lv.derived else ""))
    return "\n".join(lines) + "\n"


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return '"inf"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


# --- variants (a sweep's hardware parameters) ------------------------------------------

#: The parameters a variant may set: ``pbits.count``, ``clock_hz``, ``compute.rows``,
#: ``compute.cols`` and any level's ``<level>.capacity_bytes``.
VARIANT_KEYS = ("pbits.count", "clock_hz", "compute.rows", "compute.cols",
                "<level>.capacity_bytes")


def hardware_variant(hw: Hardware, settings: Mapping[str, float]) -> Hardware:
    """``hw`` with ``settings`` (:data:`VARIANT_KEYS` -> value) applied, named
    ``name[key=value,...]``. A level's energy and area figures that were derived from its
    capacity are derived again at the new one; given figures stay as given."""
    if not settings:
        return hw
    table = hardware_table(hw)
    levels = list(hw.levels)
    compute, pbits, clock = hw.compute, hw.pbits, hw.clock_hz
    for key, value in settings.items():
        if not _number(value) or not math.isfinite(value) or value <= 0:
            raise HardwareError(f"{hw.name}: {key} = {value!r} must be a number > 0")
        if key == "pbits.count":
            pbits = dataclasses.replace(pbits, count=_whole(key, value))
        elif key == "clock_hz":
            clock = float(value)
        elif key in ("compute.rows", "compute.cols"):
            compute = dataclasses.replace(compute, **{key.split(".")[1]: _whole(key, value)})
        elif key.endswith(".capacity_bytes") and key.count(".") == 1:
            name = key.split(".")[0]
            idx = next((i for i, lv in enumerate(levels) if lv.name == name), None)
            if idx is None or levels[idx].kind == "dram":
                raise HardwareError(f"{hw.name}: no level {name!r} with a capacity to set "
                                    f"(levels: {', '.join(lv.name for lv in hw.levels)})")
            lv = levels[idx]
            new = {"capacity_bytes": float(value)}
            if "read_pj" in lv.derived or "write_pj" in lv.derived:
                read, write = derive_access_pj(table, lv.kind, float(value), lv.access_bits)
                new.update({k: v for k, v in (("read_pj", read), ("write_pj", write))
                            if k in lv.derived})
            if "area_um2" in lv.derived:
                new["area_um2"] = derive_area_um2(table, lv.kind, float(value))
            levels[idx] = dataclasses.replace(lv, **new)
        else:
            raise HardwareError(f"{hw.name}: cannot vary {key!r} (choose "
                                f"{', '.join(VARIANT_KEYS)})")
    label = ",".join(f"{k}={_short(v)}" for k, v in settings.items())
    return dataclasses.replace(hw, name=f"{hw.name}[{label}]", levels=tuple(levels),
                               compute=compute, pbits=pbits, clock_hz=clock)


def _whole(key, value) -> int:
    if float(value) != int(value):
        raise HardwareError(f"{key} must be a whole number, got {value!r}")
    return int(value)


def _short(v) -> str:
    return f"{int(v)}" if float(v) == int(v) else f"{v:g}"
