"""Per-operation energy tables: TOML data shipped in ``tables/``, loaded and checked here.

A table has these parts (see ``tables/horowitz-45nm.toml``):

* ``[compute.<op>_<dtype>]``: ``energy_pj`` for one ``add``/``mul``/``cmp`` at that width,
  with ``bits`` (must match the dtype) and ``source``;
* ``[memory.<name>]``: ``read_pj`` / ``write_pj`` for one access of ``access_bits`` bits
  (``capacity_bytes`` where it applies), with ``source``;
* ``[pbit.<kind>]``: the p-bit devices (:mod:`.devices`). ``pbit.smtj`` gives
  ``energy_per_sample_pj`` and ``area_um2`` (per p-bit); ``pbit.digital`` is composed from
  the ``[pbit_parts.*]`` entries (``energy_pj`` per operation and ``area_um2`` for ``bits``
  bits) and names the ``lut_memory`` whose per-bit read prices its lookup table;
* ``[levels]``: which memory prices each count stream (``weight``, ``act``, ``grad``,
  ``state``, ``stash``) and which physical p-bit (``pbit``) prices the ``ideal`` device;
* ``[area.*]`` (optional): silicon area at the table's node, from which hardware descriptions
  (:mod:`.library`) derive the areas they omit: ``area.sram_per_kb`` (``area_um2`` of 1024
  bytes of an SRAM macro, periphery included) and ``area.<op>_<dtype>`` (``area_um2`` of one
  ``add``/``mul`` unit of that width, with ``bits``), with ``source``.

Every energy figure is a key ending in ``_pj`` and every area one ending in ``_um2``. A
table may instead ``[derive]`` its entries from another table by a labelled scaling rule
(``stillmaker-7nm``), which scales energies, not areas.

Widths without an entry are priced by rules (``RULES`` below, shown by
``pbitsim tables show``): integer adds interpolate linearly in bits between the int8
and int32 entries, integer multiplies quadratically; an unsigned ``uN`` below 8 bits
takes the int8 entry scaled by N/8 (add) or (N/8)^2 (multiply); a comparison costs an
integer add of the operand's width (a comparator is a subtractor, and IEEE floats
compare as sign-magnitude integers). A memory word of b bits costs b/access_bits of
one access at the stream's level. A ``pbit_sample`` costs one sample of the table's
device (:meth:`EnergyTable.with_device`; ``ideal`` unless set).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..runfiles import data_file, read_toml


from ..network.counters import dtype_bits
from .pbits import (
    DIGITAL_PARTS, PHYSICAL_KINDS, DeviceCost, Device, Ideal, device_cost, parse_device)

__all__ = ["EnergyTable", "TableError", "load_table", "list_tables", "TABLE_DIR",
           "DEFAULT_TABLE", "MEMORY_STREAMS", "SECTIONS", "RULES"]

TABLE_DIR = Path(__file__).with_name("tables")
DEFAULT_TABLE = "horowitz-45nm"

# Count streams that move words through memory, each priced at one level.
MEMORY_STREAMS = ("weight", "act", "grad", "state", "stash")
SECTIONS = ("compute", "memory", "pbit", "pbit_parts", "area")
COMPUTE_OPS = ("add", "mul", "cmp")

RULES = (
    "intN add: linear in bits between the int8 and int32 entries (scaled by bits/32 above 32)",
    "intN mul: quadratic in bits between the int8 and int32 entries (x(bits/32)^2 above 32)",
    "uN (N < 8): the int8 entry scaled by N/8 (add) or (N/8)^2 (mul); uN >= 8 as intN",
    "cmp at any width: an integer add of that width (a comparator is a subtractor)",
    "memory word of b bits: b / access_bits of one access at the stream's level",
    "float widths need an entry (fp32, fp16, bf16 ...); there is no float rule",
)

#: Largest figure of a table entry, in its unit (pJ per operation, access or sample; um^2 per
#: part or p-bit): 1e12 pJ is a joule per operation. Above it the figure is a typo, and priced
#: over a run's counts it could reach infinity ("inf J", NaN shares, invalid JSON).
MAX_TABLE_FIGURE = 1e12

_META_KEYS = {"name", "title", "node_nm", "voltage_v", "source", "description", "notes",
              "scaling_factor"}
_ENTRY_INFO_KEYS = {"source", "verified", "notes"}


class TableError(ValueError):
    """A table that cannot be used: the message names the table and the bad key."""


@dataclass(frozen=True)
class EnergyTable:
    """A loaded, validated energy table; ``unit_pj(key)`` prices one count of a key."""

    name: str
    meta: dict[str, Any]
    compute: dict[str, dict[str, Any]]
    memory: dict[str, dict[str, Any]]
    pbit: dict[str, dict[str, Any]]
    levels: dict[str, str]
    path: str | None = None
    derived_from: str | None = None
    pbit_parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: Device = Ideal()
    area: dict[str, dict[str, Any]] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # --- construction ------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], path: str | None = None) -> "EnergyTable":
        """Validate a parsed TOML document (a plain table, not a ``[derive]`` one)."""
        name = data.get("name")
        label = name if isinstance(name, str) and name else (path or "<table>")
        if not isinstance(name, str) or not name:
            raise TableError(f"table {label}: missing 'name'")
        for key, value in data.items():
            if key in SECTIONS or key in ("levels", "derive"):
                continue
            if key not in _META_KEYS:
                raise TableError(f"table {label}: unknown top-level key {key!r}")
            if key.endswith("_pj"):
                raise TableError(f"table {label}: top-level energy key {key!r}")
        compute = _section(data, "compute", label)
        memory = _section(data, "memory", label)
        pbit = _section(data, "pbit", label)
        parts = _section(data, "pbit_parts", label)
        area = _section(data, "area", label)
        for entry, body in compute.items():
            _check_compute(label, entry, body)
        for entry, body in memory.items():
            _check_memory(label, entry, body)
        _check_pbits(label, pbit, parts, memory)
        for entry, body in area.items():
            _check_area(label, entry, body)
        for need in ("add_fp32", "mul_fp32", "add_int8", "add_int32", "mul_int8", "mul_int32"):
            if need not in compute:
                raise TableError(f"table {label}: missing compute.{need}")
        levels = data.get("levels")
        if not isinstance(levels, Mapping):
            raise TableError(f"table {label}: missing [levels]")
        for stream in MEMORY_STREAMS:
            level = levels.get(stream)
            if level not in memory:
                raise TableError(f"table {label}: levels.{stream} = {level!r} is not a "
                                 f"[memory.*] entry ({', '.join(sorted(memory)) or 'none'})")
        if levels.get("pbit") not in pbit:
            raise TableError(f"table {label}: levels.pbit = {levels.get('pbit')!r} is not a "
                             f"[pbit.*] entry ({', '.join(sorted(pbit)) or 'none'}); it names "
                             "the physical p-bit that prices the ideal device")
        for key in levels:
            if key not in MEMORY_STREAMS and key != "pbit":
                raise TableError(f"table {label}: unknown levels.{key}")
        meta = {k: v for k, v in data.items() if k in _META_KEYS}
        return cls(name=name, meta=meta, compute=dict(compute), memory=dict(memory),
                   pbit=dict(pbit), levels=dict(levels), path=path, pbit_parts=dict(parts),
                   area=dict(area))

    def with_levels(self, **levels: str) -> "EnergyTable":
        """A copy with some streams (or the p-bit device) moved; checked like a table."""
        data = self.as_mapping()
        data["levels"] = {**self.levels, **levels}
        checked = EnergyTable.from_mapping(data, self.path)
        return dataclasses.replace(self, levels=checked.levels, _cache={})

    def with_device(self, device: "str | Device | None") -> "EnergyTable":
        """A copy whose ``pbit_sample`` costs one sample of ``device`` (a spec string such
        as ``"digital:lut_width=8"``, a parsed spec, or None for ``ideal``)."""
        spec = parse_device(device)
        priced = dataclasses.replace(self, device=spec, _cache={})
        priced.device_cost()   # fails now, naming the entry, if this table cannot price it
        return priced

    def device_cost(self) -> DeviceCost:
        """Energy per sample and area of one p-bit of the table's device."""
        cached = self._cache.get("device_cost")
        if cached is None:
            cached = self._cache["device_cost"] = device_cost(self.device, self)
        return cached

    def as_mapping(self) -> dict[str, Any]:
        """The table as plain data (what ``--toml`` prints)."""
        out = {**self.meta, "levels": dict(self.levels)}
        for section in SECTIONS:
            out[section] = {k: dict(v) for k, v in getattr(self, section).items()}
        return out

    # --- pricing -------------------------------------------------------------
    def unit_pj(self, key: str) -> float:
        """Energy of one count of ``key`` (``add:fp32``, ``act_read:u3``, ``pbit_sample``)."""
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._price_key(key)
        return cached

    def category(self, key: str) -> str:
        """``compute``, ``memory`` or ``pbit`` for a count key (validates it)."""
        op = key.split(":", 1)[0]
        self.unit_pj(key)
        if op == "pbit_sample":
            return "pbit"
        return "compute" if op in COMPUTE_OPS else "memory"

    def _price_key(self, key: str) -> float:
        op, _, dtype = key.partition(":")
        if op == "pbit_sample":
            if dtype:
                raise ValueError(f"count key {key!r}: pbit_sample takes no dtype")
            return self.device_cost().energy_per_sample_pj
        if not dtype:
            raise ValueError(f"count key {key!r} needs a dtype (e.g. {op}:fp32)")
        try:
            bits = dtype_bits(dtype)
        except ValueError:
            raise ValueError(f"count key {key!r}: unknown dtype {dtype!r}") from None
        if bits < 1:
            raise ValueError(f"count key {key!r}: width must be at least 1 bit")
        if op in COMPUTE_OPS:
            return self._compute_pj(key, op, dtype, bits)
        stream, _, action = op.rpartition("_")
        if stream in MEMORY_STREAMS and action in ("read", "write"):
            level = self.memory[self.levels[stream]]
            return float(level[f"{action}_pj"]) * bits / float(level["access_bits"])
        raise ValueError(f"unknown count key {key!r} (not in the shared count vocabulary)")

    def _compute_pj(self, key: str, op: str, dtype: str, bits: int) -> float:
        if op == "cmp":
            explicit = self.compute.get(f"cmp_{dtype}")
            return float(explicit["energy_pj"]) if explicit else self._int_pj("add", bits)
        explicit = self.compute.get(f"{op}_{dtype}")
        if explicit is not None:
            return float(explicit["energy_pj"])
        if dtype.startswith(("fp", "bf")):
            raise ValueError(f"count key {key!r}: table {self.name} has no compute.{op}_{dtype} "
                             "entry (float widths have no rule)")
        return self._int_pj(op, bits)

    def _int_pj(self, op: str, bits: int) -> float:
        """Integer (or uN) add/mul energy by the interpolation rules above."""
        lo = float(self.compute[f"{op}_int8"]["energy_pj"])
        hi = float(self.compute[f"{op}_int32"]["energy_pj"])
        power = 1 if op == "add" else 2
        if bits <= 8:
            return lo * (bits / 8) ** power
        if bits >= 32:
            return hi * (bits / 32) ** power
        t = (bits ** power - 8 ** power) / (32 ** power - 8 ** power)
        return lo + (hi - lo) * t


# --- validation helpers -------------------------------------------------------------

def _section(data, name, label) -> dict[str, Mapping[str, Any]]:
    section = data.get(name, {})
    if not isinstance(section, Mapping):
        raise TableError(f"table {label}: [{name}] must be a table of entries")
    for entry, body in section.items():
        if not isinstance(body, Mapping):
            raise TableError(f"table {label}: {name}.{entry} must be a table")
    return dict(section)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_entry(label, where, body, figures, sizes, names=()) -> None:
    """Check one entry: ``figures`` (``*_pj``/``*_um2``) and ``sizes`` are required,
    ``names`` are string-valued keys this entry may have."""
    for key, value in body.items():
        if key.endswith(("_pj", "_um2")):
            if not _number(value) or value < 0:
                raise TableError(f"table {label}: {where}.{key} must be a number >= 0, "
                                 f"got {value!r}")
            if value > MAX_TABLE_FIGURE:
                raise TableError(f"table {label}: {where}.{key} = {value:g} is above the "
                                 f"limit of {MAX_TABLE_FIGURE:g} per operation or part")
            if key not in figures and where.startswith(("pbit.", "pbit_parts.")):
                raise TableError(f"table {label}: unknown key {where}.{key} (expected "
                                 f"{', '.join(figures) or 'no figures'})")
        elif key in sizes or key == "capacity_bytes":
            if not _number(value) or value <= 0 or int(value) != value:
                raise TableError(f"table {label}: {where}.{key} must be a positive integer")
        elif key in names:
            if not isinstance(value, str) or not value:
                raise TableError(f"table {label}: {where}.{key} must be a non-empty string")
        elif key not in _ENTRY_INFO_KEYS:
            hint = (" (energy figures end in _pj, areas in _um2)" if _number(value) else "")
            raise TableError(f"table {label}: unknown key {where}.{key}{hint}")
    for key in (*figures, *sizes, *names):
        if key not in body:
            raise TableError(f"table {label}: {where} lacks {key!r}")
    if not isinstance(body.get("source"), str) or not body["source"].strip():
        raise TableError(f"table {label}: {where} lacks 'source'")


def _check_compute(label, entry, body) -> None:
    where = f"compute.{entry}"
    match = re.fullmatch(r"(add|mul|cmp)_((?:fp|bf|int|u)\d+)", entry)
    if not match:
        raise TableError(f"table {label}: {where}: entry names are <op>_<dtype> with op "
                         "add, mul or cmp (e.g. add_fp32)")
    _check_entry(label, where, body, ("energy_pj",), ("bits",))
    if body["bits"] != dtype_bits(match.group(2)):
        raise TableError(f"table {label}: {where}.bits = {body['bits']} does not match "
                         f"{match.group(2)}")


def _check_memory(label, entry, body) -> None:
    _check_entry(label, f"memory.{entry}", body, ("read_pj", "write_pj"), ("access_bits",))


def _check_area(label, entry, body) -> None:
    where = f"area.{entry}"
    match = re.fullmatch(r"(add|mul)_((?:fp|bf|int|u)\d+)", entry)
    if entry != "sram_per_kb" and not match:
        raise TableError(f"table {label}: {where}: area entries are sram_per_kb or "
                         "<op>_<dtype> with op add or mul (e.g. mul_fp32)")
    for key in body:
        if key.endswith(("_pj", "_um2")) and key != "area_um2":
            raise TableError(f"table {label}: unknown key {where}.{key} (area entries hold "
                             "area_um2 only)")
    _check_entry(label, where, body, ("area_um2",), () if match is None else ("bits",))
    if match and body["bits"] != dtype_bits(match.group(2)):
        raise TableError(f"table {label}: {where}.bits = {body['bits']} does not match "
                         f"{match.group(2)}")


def _check_pbits(label, pbit, parts, memory) -> None:
    """The p-bit devices and, where ``pbit.digital`` is present, the parts it is made of."""
    for entry, body in pbit.items():
        where = f"pbit.{entry}"
        if entry not in PHYSICAL_KINDS:
            raise TableError(f"table {label}: {where} is not a p-bit device kind "
                             f"({', '.join(PHYSICAL_KINDS)})")
        if entry == "digital":
            _check_entry(label, where, body, (), (), names=("lut_memory",))
            level = memory.get(body["lut_memory"])
            if level is None or "capacity_bytes" not in level:
                raise TableError(f"table {label}: {where}.lut_memory = {body['lut_memory']!r} "
                                 "is not a [memory.*] entry with capacity_bytes")
        else:
            _check_entry(label, where, body, ("energy_per_sample_pj", "area_um2"), ())
    for entry, body in parts.items():
        if entry not in DIGITAL_PARTS:
            raise TableError(f"table {label}: pbit_parts.{entry} is not a digital p-bit part "
                             f"({', '.join(DIGITAL_PARTS)})")
        _check_entry(label, f"pbit_parts.{entry}", body, DIGITAL_PARTS[entry], ("bits",))
    if "digital" in pbit:
        for entry in DIGITAL_PARTS:
            if entry not in parts:
                raise TableError(f"table {label}: missing pbit_parts.{entry} "
                                 "(pbit.digital is composed from the parts)")


# --- loading -------------------------------------------------------------------------

def list_tables() -> list[str]:
    """Names of the tables shipped with pbitsim."""
    return sorted(p.stem for p in TABLE_DIR.glob("*.toml"))


def load_table(name_or_path: "str | os.PathLike | EnergyTable" = DEFAULT_TABLE) -> EnergyTable:
    """A table by shipped name (``horowitz-45nm``), by TOML path, or passed through."""
    if isinstance(name_or_path, EnergyTable):
        return name_or_path
    text = os.fspath(name_or_path)
    path = data_file(text, TABLE_DIR, "table", TableError)
    table = _load_path(path, seen=())
    if path.resolve().parent != TABLE_DIR.resolve():
        # a file of the user's (often an edited copy of a shipped table): labelled by the
        # file, not by the inner name it was copied with
        table = dataclasses.replace(table, name=text)
    return table


def _load_path(path: Path, seen: tuple[str, ...]) -> EnergyTable:
    data = read_toml(path, "table", error=TableError)
    if "derive" in data:
        return _derive(data, str(path), seen + (os.path.realpath(path),))
    return EnergyTable.from_mapping(data, str(path))


def _derive(data: Mapping[str, Any], path: str, seen: tuple[str, ...]) -> EnergyTable:
    """Scale a base table's entries by the Stillmaker-Baas polynomial ratio."""
    label = data.get("name") or path
    spec = data["derive"]
    if not isinstance(spec, Mapping):
        raise TableError(f"table {label}: [derive] must be a table")
    base_name = spec.get("base")
    if not isinstance(base_name, str) or not base_name:
        raise TableError(f"table {label}: derive.base must name another table")
    factor = scaling_factor(spec, label)
    scale = spec.get("scale")
    if not isinstance(scale, list) or not all(isinstance(s, str) for s in scale):
        raise TableError(f"table {label}: derive.scale must be a list of entry names")
    base_path = _base_path(base_name, path)
    if not base_path.is_file():
        what = "a folder" if base_path.is_dir() else "not found"
        raise TableError(f"table {label}: derive.base = {base_name!r} is neither a shipped "
                         f"table nor a table file ({base_path} is {what})")
    if os.path.realpath(base_path) in seen:  # a table derived from itself, or a cycle
        raise TableError(f"table {label}: derive.base {base_name!r} leads back to {path} "
                         "(a table cannot be derived from itself)")
    base = _load_path(base_path, seen).as_mapping()
    for target in scale:
        section, _, entry = target.partition(".")
        if section not in SECTIONS or (entry and entry not in base.get(section, {})):
            raise TableError(f"table {label}: derive.scale entry {target!r} is not in "
                             f"table {base_name}")
        for name in ([entry] if entry else list(base[section])):
            body = base[section][name]
            for key in list(body):
                if key.endswith("_pj"):
                    body[key] = body[key] * factor
            done = [f"energy scaled x{factor:.4g} by the {label} rule"
                    if any(k.endswith("_pj") for k in body) else "",
                    "area unscaled" if any(k.endswith("_um2") for k in body) else ""]
            body["source"] = f"{body['source']} -- {'; '.join(filter(None, done))}"
    merged = {**base, **{k: v for k, v in data.items() if k != "derive"}}
    for section in (*SECTIONS, "levels"):
        if section in data:
            merged[section] = {**base.get(section, {}), **data[section]}
    table = EnergyTable.from_mapping(merged, path)
    return dataclasses.replace(table, meta={**table.meta, "scaling_factor": factor},
                               derived_from=base_name)


def _base_path(base: str, path: str) -> Path:
    """Where ``derive.base`` points: a shipped table's name, else a file beside the deriving
    table (``name`` or ``name.toml``; relative paths from the deriving table's folder)."""
    here = Path(path).parent
    if not base.endswith(".toml") and os.sep not in base:
        shipped = TABLE_DIR / f"{base}.toml"
        if shipped.is_file():
            return shipped
        if not (here / base).is_dir():  # a folder of that name: said as a folder
            base = f"{base}.toml"
    return here / os.path.expanduser(base)


def scaling_factor(spec: Mapping[str, Any], label: str = "<table>") -> float:
    """(aV^2 + bV + c) at the target over the same at the source, from a [derive] spec."""
    try:
        v0 = float(spec["source_voltage_v"])
        v1 = float(spec["target_voltage_v"])
        a0, b0, c0 = (float(x) for x in spec["source_fit"])
        a1, b1, c1 = (float(x) for x in spec["target_fit"])
    except (KeyError, TypeError, ValueError):
        raise TableError(f"table {label}: [derive] needs source_voltage_v, target_voltage_v "
                         "and source_fit/target_fit = [a, b, c]") from None
    src = a0 * v0 * v0 + b0 * v0 + c0
    dst = a1 * v1 * v1 + b1 * v1 + c1
    if src <= 0 or dst <= 0:
        raise TableError(f"table {label}: the scaling fits give a non-positive energy")
    return dst / src
