"""Map a loop nest onto a memory hierarchy and count every operand's accesses at every level.

The cost model is Timeloop's analytical one, reduced to what pbitsim's products need:

* A **mapping** splits each loop bound of the nest (:mod:`pbitsim.network.loopnest`) into a
  spatial factor (unrolled over the PE array's rows or columns, at most one dimension each)
  and temporal factors, one per memory level (innermost first), each level's loops in an order.
  A level's *tile* of an operand is what the loops at that level and below cover (for the
  input, the sliding window: ``(p - 1) * stride + r`` rows).
* An operand lives at its **home** level (where placement put the whole tensor,
  :mod:`pbitsim.hardware.placement`) and may keep tiles in the levels inside it that hold its
  tensor class; the tiles at a level must fit the capacity placement left free there.
* **Fills**: a tile at level ``l`` is refetched for every iteration of the loops above ``l``,
  except that a run of innermost loops above ``l`` that the operand does not depend on reuses
  it (it is *stationary* across them). Fills = tile x (PE instances, for a per-PE level) x the
  product of the loop bounds above ``l`` after that run.
* Across the PE array, a spatial dimension an operand does not depend on is a **multicast**
  (one read of the parent feeds every PE along it) or, for the accumulating operand, a
  **spatial reduction** (partial sums combined across the array before they reach the parent).
* The accumulating operand's tiles are written back after every visit and read back for every
  visit but the first.
* At the MACs, every multiply-accumulate reads its two inputs from their innermost level and
  updates the partial sum there. An index-and-accumulate product fetches the weight (forward)
  or the error (weight gradient) only for nonzero input counts; with ``zero_inputs = "skip"``
  a zero also costs no cycle (Sparseloop's skipping), with ``"gate"`` it costs the cycle.
* Padded convolutions: the loop bounds include the border taps; MAC-level accesses are scaled
  to the taps that fall inside the image (``nest.macs``), tile traffic is not (an upper bound).

A bounded, deterministic search (every choice of spatial dimensions x three loop-order
templates -- weight-, output- and input-stationary -- each filling the levels greedily from the
inside out) picks the mapping with the least energy (or latency, or energy x delay). Pure
Python; results are cached per nest shape, placement and hardware.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import lru_cache

from ..network.loopnest import DIMS, RELEVANT, Nest
from .spec import Hardware

__all__ = ["MappedNest", "map_nest", "TEMPLATES", "evaluate"]

ROLES = ("W", "I", "O")
#: Rooms (bits) the greedy tile fill of a shared level may use, each a candidate besides its
#: whole free room: one grid whatever the capacity, so a buffer 4^k times larger keeps every
#: candidate a smaller one had, and its best mapping is never worse.
_ROOMS = tuple(float(4 ** j) for j in range(5, 18))
#: Dimensions the PE array may unroll (the kernel's rows and columns are left temporal).
_SPATIAL_DIMS = ("N", "G", "K", "C", "P", "Q", "R")
#: Loop orders, outermost first: the innermost loops are those the stationary operand does
#: not depend on, so its tile stays while they run.
TEMPLATES = {
    "weight-stationary": ("G", "K", "C", "R", "S", "N", "P", "Q"),
    "output-stationary": ("G", "N", "K", "P", "Q", "C", "R", "S"),
    "input-stationary": ("G", "N", "C", "P", "Q", "R", "S", "K"),
}


@dataclass
class MappedNest:
    """One nest on one hardware: the chosen mapping and what it costs.

    ``reads_bits``/``writes_bits``: per level name, bits read and written (all instances);
    ``accesses``: per level name and operand, ``(reads, writes)`` in words; ``noc_bits``:
    bits crossing the PE array (a word of b bits costs b / ``noc_bits`` of the array's
    ``noc_pj``); ``energy_pj``: per level name (plus ``noc``), memory only (the
    arithmetic is priced from the flat counts); ``cycles``: the slowest of compute and every
    level's bandwidth; ``utilization``: busy PE fraction.
    """

    nest: Nest
    template: str
    spatial: tuple[tuple[str, int], ...]
    factors: tuple[tuple[tuple[str, int], ...], ...]
    homes: dict[str, int]
    accesses: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    reads_bits: dict[str, float] = field(default_factory=dict)
    writes_bits: dict[str, float] = field(default_factory=dict)
    noc_bits: float = 0.0
    energy_pj: dict[str, float] = field(default_factory=dict)
    compute_cycles: float = 0.0
    cycles: float = 0.0
    utilization: float = 0.0

    @property
    def memory_pj(self) -> float:
        return sum(self.energy_pj.values())

    def describe(self) -> str:
        sp = " ".join(f"{d}{f}" for d, f in self.spatial if f > 1) or "none"
        return f"{self.template}, spatial {sp}, utilization {self.utilization:.0%}"


@lru_cache(maxsize=None)
def _divisors_desc(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    return tuple(sorted(set(small + [n // d for d in small]), reverse=True))


def _chains(nest: Nest, hw: Hardware, homes: dict[str, int]) -> dict[str, list[int]]:
    """Levels that may keep each operand's tiles, innermost first, ending at its home."""
    out = {}
    for role in ROLES:
        cls, home = nest.tensor_class(role), homes[role]
        out[role] = [l for l in range(home) if hw.levels[l].may_hold(cls)] + [home]
    return out


def _extents(factors, spatial, level: int, per_pe: bool) -> dict[str, int]:
    ext = {d: 1 for d in DIMS}
    for l in range(level + 1):
        for d, f in factors[l]:
            ext[d] *= f
    if not per_pe:
        for d, f in spatial:
            ext[d] *= f
    return ext


def evaluate(nest: Nest, hw: Hardware, homes: dict[str, int], spatial, factors,
             orders, template: str = "", chains: dict[str, list[int]] | None = None,
             halo: bool = False) -> MappedNest:
    """The accesses, energy and cycles of one mapping (see the module docstring).

    ``spatial``: ``((dim, factor), ...)`` over the PE array (a dimension at most once; two
    dimensions may share an array axis, as a row-stationary mapping does); ``factors[l]``:
    the temporal ``(dim, factor)`` pairs of level ``l``; ``orders[l]``: level ``l``'s loop
    dimensions, outermost first; ``chains``: the levels keeping each operand's tiles (default:
    every level inside its home that holds its tensor class).

    ``halo``: count the input's sliding-window reuse between consecutive iterations of the
    innermost loop above a level that moves its window (``P``/``R`` over rows, ``Q``/``S``
    over columns): each step brings in only the rows (columns) the previous tile did not
    have, as Timeloop counts fills and as Eyeriss's ifmap scratchpad slides along a row. Off
    by default (each tile refetched whole, an upper bound: what :func:`map_nest` prices)."""
    levels = hw.levels
    L = len(levels)
    chains = chains or _chains(nest, hw, homes)
    sp = dict(spatial)
    s_all = math.prod(sp.values()) if sp else 1
    acc = nest.accumulates
    fetched = ("W" if nest.phase == "forward" else "O") if nest.index else None
    # temporal loops above each level, innermost first (dims with factor > 1)
    above: list[list[tuple[str, int]]] = []
    for l in range(L):
        seq = []
        for l2 in range(l + 1, L):
            f2 = dict(factors[l2])
            seq.extend((d, f2[d]) for d in reversed(orders[l2]) if f2.get(d, 1) > 1)
        above.append(seq)

    def t_above(role, l):
        rel, prod, skipping = RELEVANT[role], 1, True
        for d, f in above[l]:
            if skipping and d not in rel:
                continue
            skipping = False
            prod *= f
        return prod

    def halo_step(role, l):
        """The innermost loop above ``l`` that ``role`` depends on, as ``(dim, factor,
        stride)`` with ``stride`` the iterations of ``dim`` one of its steps advances over
        (its factors at the levels inside it, and the array's if it is outside the array),
        when ``halo`` applies (the non-accumulating input), else None."""
        if not halo or role != "I" or role == acc:
            return None
        for l2 in range(l + 1, L):
            f2 = dict(factors[l2])
            for d in reversed(orders[l2]):
                if f2.get(d, 1) > 1 and d in RELEVANT[role]:
                    inner = math.prod(f for l3 in range(l2) for x, f in factors[l3] if x == d)
                    if not levels[l2].per_pe:
                        inner *= sp.get(d, 1)
                    return d, f2[d], inner
        return None

    reads = [dict.fromkeys(ROLES, 0.0) for _ in range(L)]
    writes = [dict.fromkeys(ROLES, 0.0) for _ in range(L)]
    noc = 0.0
    for role in ROLES:
        chain = chains[role]
        bits_rel = RELEVANT[role]
        s_rel = math.prod(f for d, f in spatial if d in bits_rel) if sp else 1
        # the MACs and the innermost level
        c0 = chain[0]
        uses = nest.macs * (nest.nonzero if role in (fetched, acc) and nest.index else 1.0)
        if not levels[c0].per_pe and s_all > 1:
            share = s_rel / s_all          # multicast (inputs) or spatial reduction (output)
            noc += uses * nest.width(role)  # every PE receives / sends its word
            uses *= share
        if role == acc:  # read-modify-write, but the first update of each element
            writes[c0][role] += uses
            reads[c0][role] += max(0.0, uses - nest.size(role))
        else:
            reads[c0][role] += uses
        # between consecutive levels of the chain
        for child, parent in zip(chain, chain[1:]):
            fills = _fills(nest, role, child, chain, factors, spatial, levels, t_above,
                           halo_step(role, child))
            to_parent = fills
            if levels[child].per_pe and not levels[parent].per_pe:
                noc += fills * nest.width(role)
                to_parent = fills * s_rel / s_all
            if role == acc:
                writes[parent][role] += to_parent
                back = max(0.0, to_parent - nest.size(role))
                reads[parent][role] += back
                writes[child][role] += back
            else:
                reads[parent][role] += to_parent
                writes[child][role] += fills
    out = MappedNest(nest, template, tuple(spatial), tuple(tuple(f) for f in factors),
                     dict(homes))
    width = {role: nest.width(role) for role in ROLES}
    for l, lv in enumerate(levels):
        rb = sum(reads[l][r] * width[r] for r in ROLES)
        wbits = sum(writes[l][r] * width[r] for r in ROLES)
        if rb or wbits:
            out.accesses[lv.name] = {r: (reads[l][r], writes[l][r]) for r in ROLES
                                     if reads[l][r] or writes[l][r]}
            out.reads_bits[lv.name] = rb
            out.writes_bits[lv.name] = wbits
            out.energy_pj[lv.name] = (rb * lv.read_pj + wbits * lv.write_pj) / lv.access_bits
    out.noc_bits = noc
    if hw.compute.noc_pj and noc:
        out.energy_pj["noc"] = noc / hw.compute.noc_bits * hw.compute.noc_pj
    work = nest.macs * (nest.nonzero if nest.index and hw.compute.zero_inputs == "skip" else 1)
    out.compute_cycles = work / (s_all * hw.compute.macs_per_cycle)
    out.utilization = s_all / hw.compute.pes
    cycles = out.compute_cycles
    for l, lv in enumerate(levels):
        bits = out.reads_bits.get(lv.name, 0.0) + out.writes_bits.get(lv.name, 0.0)
        if bits and math.isfinite(lv.bandwidth_bits_per_cycle):
            inst = s_all if lv.per_pe else 1
            cycles = max(cycles, bits / (lv.bandwidth_bits_per_cycle * inst))
    out.cycles = cycles
    return out


def _fills(nest, role, l, chain, factors, spatial, levels, t_above, step=None) -> float:
    """Words brought into level ``l``'s instances for ``role`` over the whole nest (for the
    accumulating operand: its write-backs). ``step``: ``(dim, factor, stride)``, the innermost
    loop above ``l`` whose consecutive iterations may share part of the input's window, and
    the iterations of ``dim`` one step advances over (see ``halo`` in :func:`evaluate`), or
    None."""
    if l == chain[-1]:
        return float(nest.size(role))
    per_pe = levels[l].per_pe
    ext = _extents(factors, spatial, l, per_pe)
    tile = nest.footprint(role, ext)
    inst = math.prod(f for _, f in spatial) if per_pe and spatial else 1
    n = t_above(role, l)
    if step is not None and step[0] in "PQRS" and step[1] > 1:
        d, f, inner = step
        o, k = ("P", "R") if d in "PR" else ("Q", "S")
        span = (ext[o] - 1) * nest.stride + ext[k]          # the window's rows (columns)
        shift = inner * nest.stride if d == o else inner    # how far one step moves it
        new = tile // span * min(span, shift)               # words one step brings in
        return float((tile + (f - 1) * new) * inst * (n // f))
    return float(tile * inst * n)


def _fits(nest, hw, chains, homes, free_bits, factors, spatial, level) -> bool:
    lv = hw.levels[level]
    need = 0
    for role in ROLES:
        if level in chains[role] and level != homes[role]:
            ext = _extents(factors, spatial, level, lv.per_pe)
            need += nest.footprint(role, ext) * nest.width(role)
    return need <= free_bits[level]


def _search(nest: Nest, hw: Hardware, homes: dict[str, int], free_bits: tuple[float, ...],
            objective: str) -> MappedNest:
    L = len(hw.levels)
    bounds = nest.bounds
    rows, cols = hw.compute.rows, hw.compute.cols
    cand = [d for d in _SPATIAL_DIMS if bounds[d] > 1]

    def best_factor(n, limit):
        return next(f for f in _divisors_desc(n) if f <= limit)

    spatials = [()]
    for dr in cand:
        fr = best_factor(bounds[dr], rows)
        if fr > 1:
            spatials.append(((dr, fr),))
        for dc in cand:
            if dc == dr:
                continue
            fc = best_factor(bounds[dc], cols)
            if fr > 1 and fc > 1:
                spatials.append(((dr, fr), (dc, fc)))
            elif fc > 1 and fr == 1 and ((dc, fc),) not in spatials:
                spatials.append(((dc, fc),))
    best, best_score = None, math.inf
    for spatial in spatials:
        tried = set()
        rem0 = dict(bounds)
        for d, f in spatial:
            rem0[d] //= f
        # a level too small for even one element of every operand is bypassed by some
        # (the input first, then the weights, then the partial sums)
        chains = _chains(nest, hw, homes)
        unit = [[] for _ in range(L)]
        for l in range(L - 1):
            for role in ("I", "W", "O"):
                if _fits(nest, hw, chains, homes, free_bits, unit, spatial, l):
                    break
                if l in chains[role] and l != homes[role]:
                    chains[role] = [x for x in chains[role] if x != l]
        if not all(_fits(nest, hw, chains, homes, free_bits, unit, spatial, l)
                   for l in range(L - 1)):
            continue
        shared = [l for l in range(L - 1) if not hw.levels[l].per_pe]
        top = max((free_bits[l] for l in shared), default=0.0)
        # rooms beyond what all of a level's operands need change nothing
        whole = max((sum(nest.size(r) * nest.width(r) for r in ROLES
                         if l in chains[r] and l != homes[r]) for l in shared), default=0.0)
        rooms = sorted({r for r in _ROOMS if r < min(top, whole)} | {top}, reverse=True)
        held = [[(r, nest.width(r)) for r in ROLES if l in chains[r] and l != homes[r]]
                for l in range(L)]
        for (name, order), budget in itertools.product(TEMPLATES.items(), rooms or [0.0]):
            rem = dict(rem0)
            factors: list[list[tuple[str, int]]] = [[] for _ in range(L)]
            inner = {d: 1 for d in DIMS}          # temporal extents of the levels below
            for l in range(L - 1):
                lv = hw.levels[l]
                room = free_bits[l] if lv.per_pe or not math.isfinite(free_bits[l]) \
                    else min(free_bits[l], budget)
                cur = dict(inner)
                if not lv.per_pe:
                    for d, f in spatial:
                        cur[d] *= f
                for d in reversed(order):
                    if rem[d] == 1:
                        continue
                    base = cur[d]
                    for f in _divisors_desc(rem[d]):
                        if f == 1:
                            break
                        cur[d] = base * f
                        if sum(nest.footprint(r, cur) * w for r, w in held[l]) <= room:
                            rem[d] //= f
                            factors[l].append((d, f))
                            inner[d] *= f
                            break
                        cur[d] = base
            factors[L - 1] = [(d, rem[d]) for d in DIMS if rem[d] > 1]
            signature = (name, tuple(tuple(f) for f in factors))
            if signature in tried:
                continue
            tried.add(signature)
            orders = [tuple(d for d in order if any(d == x for x, _ in factors[l]))
                      for l in range(L)]
            m = evaluate(nest, hw, homes, spatial, factors, orders, name, chains, halo=True)
            score = (m.memory_pj if objective == "energy" else m.cycles if objective == "latency"
                     else m.memory_pj * m.cycles)
            if score < best_score * (1 - 1e-12):
                best, best_score = m, score
    if best is None:
        raise ValueError(f"{hw.name}: no mapping of {nest.layer} ({nest.phase}) fits its "
                         "levels (the smallest tiles exceed a level's free capacity)")
    return best


_CACHE: dict = {}
_CACHE_MAX = 8192


def _cached(nest: Nest, hw: Hardware, homes: tuple, free_bits: tuple, objective: str):
    """The search's result, kept per nest shape, memory levels, PE array, placement and
    objective (not per name, clock or p-bits: they do not change a mapping)."""
    key = (nest.key(), hw.levels, hw.compute, homes, free_bits, objective)
    hit = _CACHE.get(key)
    if hit is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        hit = _CACHE[key] = _search(nest, hw, dict(homes), free_bits, objective)
    return hit


def map_nest(nest: Nest, hw: Hardware, homes: dict[str, int], free_bits: tuple[float, ...],
             objective: str | None = None) -> MappedNest:
    """The best mapping of ``nest`` on ``hw`` (see the module docstring).

    ``homes``: the level index where each operand (``W``, ``I``, ``O``) lives whole;
    ``free_bits``: per level, the bits per instance left for tiles after placement.
    """
    objective = objective or hw.objective
    homes_t = tuple(sorted(homes.items()))
    m = _cached(nest, hw, homes_t, tuple(free_bits), objective)
    if m.nest.layer != nest.layer:
        m = MappedNest(nest, m.template, m.spatial, m.factors, m.homes, m.accesses,
                       m.reads_bits, m.writes_bits, m.noc_bits, m.energy_pj,
                       m.compute_cycles, m.cycles, m.utilization)
    return m
