"""AlexNet's CONV layers on Eyeriss with the ISCA 2016 normalized costs, against published counts.

Run from the repository root: ``python examples/eyeriss_alexnet.py`` (about 10-30 s).

Two tables, every energy in units of one 16-bit MAC (Chen, Emer, Sze, ISCA 2016, Table IV:
ALU 1, RF 1, array 2, global buffer 6, DRAM 200 per 16-bit access), per MAC:

1. **Timeloop's published counts** for AlexNet CONV1 (batch 1) and CONV3 (batch 4) on an
   Eyeriss-like array, each with one fixed mapping (``examples/data/timeloop_eyeriss_alexnet_
   conv{1,3}.toml``, from the Timeloop/Accelergy exercises), priced with those costs, against
   :func:`pbitsim.hardware.mapping.evaluate` on the same layer and mapping, with and without
   the input's sliding-window reuse (``halo``).
2. **The five CONV layers** (batch 16, AlexNet's shapes as the ISCA paper lists them, CONV2/4/5
   grouped two ways) on ``examples/eyeriss_normalized.toml``: pbitsim's own mapping search
   (:func:`~pbitsim.hardware.mapping.map_nest`) against a row-stationary mapping (filter rows
   over the PE rows, output rows over the columns, one filter row x ``q`` channels x ``p``
   filters per PE as the chip's scratchpads allow, the ifmap window sliding along the row),
   evaluated with ``halo`` and the best buffer tiling among a small enumerated set. The papers
   publish this breakdown only as bar charts (no numbers in the text), so this table is
   pbitsim's, not a comparison.

:mod:`tests.hardware.test_eyeriss_alexnet` imports this file and checks table 1 within the
tolerances it states.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from pbitsim.hardware.library import load_hardware
from pbitsim.hardware.mapping import TEMPLATES, MappedNest, _divisors_desc, evaluate, \
    map_nest
from pbitsim.network.loopnest import DIMS, Nest

HERE = Path(__file__).resolve().parent
HARDWARE = HERE / "eyeriss_normalized.toml"
#: Timeloop's published counts: AlexNet CONV1 (batch 1, its mapper's mapping) and CONV3
#: (batch 4, a hand-written row-stationary mapping), each on an Eyeriss-like array.
REFERENCES = (HERE / "data" / "timeloop_eyeriss_alexnet_conv1.toml",
              HERE / "data" / "timeloop_eyeriss_alexnet_conv3.toml")
LEVELS = ("ALU", "RF", "array", "buffer", "DRAM")
#: Batch of the ISCA 2016 AlexNet comparisons.
BATCH = 16
#: AlexNet's CONV layers as (name, G, K per group, C per group, P=Q, R=S, stride): the
#: ISCA 2016 paper's shape table lists C per group (48, 192, 192) with M = G x K filters.
ALEXNET = (("CONV1", 1, 96, 3, 55, 11, 4), ("CONV2", 2, 128, 48, 27, 5, 1),
           ("CONV3", 1, 384, 256, 13, 3, 1), ("CONV4", 2, 192, 192, 13, 3, 1),
           ("CONV5", 2, 128, 192, 13, 3, 1))
#: Eyeriss's scratchpads in 16-bit words (JSSC 2017): they bound the row-stationary mapping's
#: work per PE (the model's one per-PE level has their total).
SPAD_WEIGHTS, SPAD_IFMAP, SPAD_PSUM = 224, 12, 24


def conv_nest(name: str, n: int, g: int, k: int, c: int, p: int, r: int, stride: int) -> Nest:
    """A dense forward conv nest with 16-bit operands; the input is the padded window, so
    every loop point is a real MAC."""
    full = n * g * k * c * p * p * r * r
    return Nest(name, "forward", n, g, k, c, p, p, r, r, stride, float(full),
                (("W", 16), ("I", 16), ("O", 16)))


def homes(hw) -> dict[str, int]:
    """Every tensor of a layer lives in DRAM between layers (the last level)."""
    return dict.fromkeys(("W", "I", "O"), len(hw.levels) - 1)


def breakdown(m: MappedNest, hw) -> dict[str, float]:
    """Normalized energy per MAC by level; the ALU costs 1 per MAC (no zero gating here)."""
    e = m.energy_pj
    out = {"ALU": 1.0, "RF": e.get("rf", 0.0), "array": e.get("noc", 0.0),
           "buffer": e.get("glb", 0.0), "DRAM": e.get("dram", 0.0)}
    return {k: (v if k == "ALU" else v / m.nest.macs) for k, v in out.items()}


def load_reference(path: Path = REFERENCES[0]) -> dict:
    return tomllib.loads(Path(path).read_text())


def dense(published: int, density: float | None) -> float:
    """A count Sparseloop reports compressed (dense x density, rounded up) as the dense
    count it stands for (exact when that is an integer, as here)."""
    return float(published) if density is None else float(round(published / density))


def timeloop_words(ref: dict) -> dict[str, float]:
    """Timeloop's accesses per level (all instances), dense, grouped as the ISCA paper's
    levels: RF = every scratchpad read (gated ones too), update and fill; array = the words
    delivered into the PEs' scratchpads (their fills); buffer = every global-buffer read,
    update and fill; DRAM = reads and updates (compressed ones as the dense count)."""
    t = ref["timeloop"]
    inst = t["instances"]
    ps, ws, fs, gb, dr = (t[k] for k in ("psum_spad", "weights_spad", "ifmap_spad",
                                         "shared_glb", "dram"))
    spad = [ps, ws, fs]
    rf = inst * sum(sp.get(k, 0) for sp in spad
                    for k in ("reads", "gated_reads", "updates", "fills"))
    drm = dr["weight_reads"] + dense(dr["input_reads"], dr.get("input_density")) + \
        dense(dr["output_updates"], dr.get("output_density"))
    return {"ALU": float(inst * t["macs_per_instance"]), "RF": float(rf),
            "array": float(inst * sum(sp["fills"] for sp in spad)),
            "buffer": float(sum(gb.values())), "DRAM": float(drm)}


def timeloop_breakdown(ref: dict, hw) -> dict[str, float]:
    """Timeloop's counts priced with the description's costs, per MAC."""
    w = timeloop_words(ref)
    cost = {"ALU": 1.0, "RF": hw.level("rf").read_pj, "array": hw.compute.noc_pj,
            "buffer": hw.level("glb").read_pj, "DRAM": hw.level("dram").read_pj}
    return {k: w[k] * cost[k] / w["ALU"] for k in LEVELS}


def reference_nest(ref: dict) -> Nest:
    lay = ref["layer"]
    assert lay["P"] == lay["Q"] and lay["R"] == lay["S"]
    return conv_nest(ref["name"], lay["N"], lay["G"], lay["K"], lay["C"], lay["P"], lay["R"],
                     lay["stride"])


def reference_mapping(ref: dict, hw, halo: bool) -> MappedNest:
    """pbitsim's evaluation of the reference's layer and mapping (each level's loops
    outermost first in the reference file)."""
    mp = ref["mapping"]
    spatial = tuple((d, f) for d, f in mp["spatial"])
    factors = [[(d, f) for d, f in mp[lv]] for lv in ("rf", "glb", "dram")]
    orders = [tuple(d for d, _ in f) for f in factors]
    return evaluate(reference_nest(ref), hw, homes(hw), spatial, factors, orders,
                    "timeloop-eyeriss_like", halo=halo)


def _largest(n: int, limit: int) -> int:
    return next(f for f in _divisors_desc(n) if f <= limit)


def row_stationary(nest: Nest, hw, halo: bool = True) -> MappedNest:
    """A row-stationary mapping of ``nest`` (see the module docstring): filter rows ``R`` x a
    replication over channels or filters on the PE rows, output rows ``P`` on the columns;
    per PE one filter row (``S``) of ``q`` channels and ``p`` filters (the largest the
    scratchpads hold); the output row's columns ``Q`` innermost at the buffer, so the ifmap
    window slides (``halo``) and the filter row stays; the rest of the batch, filters,
    channels and output rows split between buffer and DRAM, the buffer holding its ifmap and
    psum tiles, each level's order one of the three loop-order templates. ``halo=False``:
    the same search with every ifmap tile refetched whole (what :func:`map_nest` assumes)."""
    b = nest.bounds
    rows, cols = hw.compute.rows, hw.compute.cols
    glb = hw.level("glb")
    best = None
    for rep in ("C", "K"):
        fr = _largest(b[rep], rows // b["R"])
        spatial = (("R", b["R"]),) + (((rep, fr),) if fr > 1 else ()) + \
            (("P", _largest(b["P"], cols)),)
        rem = dict(b)
        for d, f in spatial:
            rem[d] //= f
        q = _largest(rem["C"], SPAD_IFMAP // b["S"])
        p = _largest(rem["K"], min(SPAD_PSUM, SPAD_WEIGHTS // (q * b["S"])))
        rf = [("S", b["S"]), ("K", p), ("C", q)]
        rem["S"], rem["K"], rem["C"] = 1, rem["K"] // p, rem["C"] // q
        for n_g in _divisors_desc(rem["N"]):
            for k_g in _divisors_desc(rem["K"]):
                for c_g in _divisors_desc(rem["C"]):
                    for p_g in sorted({1, rem["P"]}):
                        buf = [(d, f) for d, f in (("Q", rem["Q"]), ("N", n_g), ("K", k_g),
                                                   ("C", c_g), ("P", p_g)) if f > 1]
                        ext = dict.fromkeys(DIMS, 1)
                        for d, f in rf + buf + list(spatial):
                            ext[d] *= f
                        need = sum(nest.footprint(r, ext) for r in ("I", "O")) * 16
                        if need > glb.capacity_bytes * 8:
                            continue
                        at_buf = dict(buf)
                        dram = [(d, rem[d] // at_buf.get(d, 1)) for d in DIMS
                                if rem[d] // at_buf.get(d, 1) > 1]
                        outer = [d for d, _ in buf if d != "Q"]
                        for order_b in sorted({tuple(d for d in o if d in outer)
                                               for o in TEMPLATES.values()}):
                            for order_d in sorted({tuple(d for d in o if d in dict(dram))
                                                   for o in TEMPLATES.values()}):
                                m = evaluate(nest, hw, homes(hw), spatial,
                                             [rf, buf, dram],
                                             [("C", "K", "S"), order_b + ("Q",), order_d],
                                             "row-stationary", halo=halo)
                                if best is None or m.memory_pj < best.memory_pj * (1 - 1e-12):
                                    best = m
    return best


def _row(label: str, values: dict[str, float]) -> str:
    return f"| {label} | " + " | ".join(f"{values[k]:.3f}" for k in LEVELS) + \
        f" | {sum(values.values()):.3f} |"


def main() -> int:
    hw = load_hardware(HARDWARE)
    print("Timeloop's published counts for AlexNet on an Eyeriss-like array with a fixed "
          "mapping, and pbitsim's on the same mapping; normalized energy per MAC (ISCA 2016 "
          "costs)\n")
    print("| layer | | " + " | ".join(LEVELS) + " | total |\n|---|---|"
          + "---|" * (len(LEVELS) + 1))
    for path in REFERENCES:
        ref = load_reference(path)
        name = f"{ref['name']} (batch {ref['layer']['N']})"
        tl = timeloop_breakdown(ref, hw)
        print(_row(f"{name} | Timeloop", tl))
        for halo in (True, False):
            pb = breakdown(reference_mapping(ref, hw, halo), hw)
            tag = "halo" if halo else "no halo"
            print(_row(f"{name} | pbitsim ({tag})", pb))
            ratio = {k: pb[k] / tl[k] for k in LEVELS}
            print(f"| {name} | ratio ({tag}) | "
                  + " | ".join(f"{ratio[k]:.3f}" for k in LEVELS)
                  + f" | {sum(pb.values()) / sum(tl.values()):.3f} |")
    print(f"\nAlexNet CONV layers, batch {BATCH}, on {HARDWARE.name}: normalized energy per MAC\n")
    print("| layer | mapping | " + " | ".join(LEVELS) + " | total |\n|---|---|"
          + "---|" * (len(LEVELS) + 1))
    no_halo = {}
    free = tuple(lv.capacity_bytes * 8 for lv in hw.levels)
    for name, g, k, c, p, r, stride in ALEXNET:
        nest = conv_nest(name, BATCH, g, k, c, p, r, stride)
        for label, m in (("search", map_nest(nest, hw, homes(hw), free)),
                         ("row-stationary", row_stationary(nest, hw))):
            e = breakdown(m, hw)
            print(f"| {name} | {label}: {m.describe()} | "
                  + " | ".join(f"{e[x]:.3f}" for x in LEVELS) + f" | {sum(e.values()):.3f} |")
        no_halo[name] = sum(breakdown(row_stationary(nest, hw, halo=False), hw).values())
    print("\nrow-stationary without halo, total per MAC: "
          + ", ".join(f"{k} {v:.3f}" for k, v in no_halo.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
