"""The mapping model against hand-worked cases and bounds (:mod:`pbitsim.hardware.mapping`)."""

from __future__ import annotations

import math

import pytest

from pbitsim.estimator import estimate
from pbitsim.hardware.mapping import evaluate, map_nest
from pbitsim.hardware.spec import ComputeArray, Hardware, Level
from pbitsim.network import costs
from pbitsim.network.archs import Dense, list_archs
from pbitsim.network.loopnest import Nest

DRAM = Level("dram", "dram", math.inf, 1300.0, 1300.0, 64)


def _dense(n=2, k=4, c=6, phase="forward"):
    layer = Dense.of("fc", c, k)
    flat = costs.product(phase, n * k * c, n * c, n * k,
                         weights=k * c if phase == "weight_grad" else 0)
    return Nest.of(layer, n, phase, flat)


def _sram(cap_bytes, per_pe=False, name=None, pj=10.0):
    return Level(name or f"s{cap_bytes}", "register" if per_pe else "sram", cap_bytes, pj, pj,
                 64, per_pe=per_pe)


def test_one_pe_no_buffer_every_access_goes_to_dram():
    """One PE and no buffer: each multiply-accumulate reads both operands from DRAM and
    updates its partial sum there (read-modify-write, but the first update)."""
    nest = _dense(2, 4, 6)
    hw = Hardware("bare", "bare", "hierarchy", levels=(DRAM,))
    m = map_nest(nest, hw, {"W": 0, "I": 0, "O": 0}, (math.inf,))
    macs = 2 * 4 * 6
    assert m.accesses["dram"] == {"W": (macs, 0.0), "I": (macs, 0.0), "O": (macs - 8, macs)}
    assert m.energy_pj["dram"] == pytest.approx((3 * macs - 8 + macs) * 1300 * 32 / 64)
    assert m.cycles == macs


def test_buffer_holding_everything_each_tensor_crosses_dram_once():
    nest = _dense(2, 4, 6)
    hw = Hardware("big", "big", "hierarchy", levels=(_sram(1 << 20), DRAM))
    m = map_nest(nest, hw, {"W": 1, "I": 1, "O": 1}, (8 << 20, math.inf))
    assert m.accesses["dram"] == {"W": (24, 0.0), "I": (12, 0.0), "O": (0.0, 8)}


def test_hand_worked_weight_stationary_register():
    """N=2, K=2, C=3 on one PE: the register keeps K=2 weights, one input and two partial
    sums; C then N loop at DRAM (N innermost). By hand: each weight is fetched once (N does
    not touch W), each input once, the partial sums go back to DRAM after every C step
    (12 write-backs, 8 read back), and at the register every MAC reads W and I and
    updates a partial sum (12 updates, 8 of them on a reloaded sum)."""
    nest = _dense(2, 2, 3)
    rf = _sram(64, per_pe=True, name="rf", pj=1.0)
    hw = Hardware("ws", "ws", "hierarchy", levels=(rf, DRAM))
    m = evaluate(nest, hw, {"W": 1, "I": 1, "O": 1}, (), [[("K", 2)], [("C", 3), ("N", 2)]],
                 [("K",), ("C", "N")])
    assert m.accesses["dram"] == {"W": (6, 0.0), "I": (6, 0.0), "O": (8, 12)}
    assert m.accesses["rf"] == {"W": (12, 6), "I": (12, 6), "O": (8, 12 + 8)}


def test_spatial_multicast_and_reduction():
    """K over 2 PEs (inputs multicast: one buffer read feeds both) and C over 3 (partial sums
    reduced across the array before the buffer)."""
    nest = _dense(1, 2, 3)
    glb = _sram(1 << 20, name="glb")
    hw = Hardware("sp", "sp", "hierarchy", levels=(glb, DRAM), compute=ComputeArray(2, 3))
    m = evaluate(nest, hw, {"W": 0, "I": 0, "O": 0}, (("K", 2), ("C", 3)), [[], []], [(), ()])
    assert m.accesses["glb"]["I"] == (3.0, 0.0)     # 6 MACs, each input to 2 PEs at once
    assert m.accesses["glb"]["W"] == (6.0, 0.0)     # every weight distinct
    assert m.accesses["glb"]["O"] == (0.0, 2.0)     # 6 updates reduced 3 -> 1
    assert m.utilization == 1.0 and m.compute_cycles == 1.0


def _hierarchy(glb_bytes):
    rf = Level("rf", "register", 512, 0.5, 0.5, 16, per_pe=True)
    glb = Level("glb", "sram", glb_bytes, 6.0, 6.0, 64)
    return Hardware(f"h{glb_bytes}", "t", "hierarchy", levels=(rf, glb, DRAM),
                    compute=ComputeArray(12, 14))


def _nests(arch):
    for algo in ("bp", "bsff"):
        try:
            est = estimate(arch=arch, algos=[algo])
        except ValueError:
            continue
        for nest, _ in est.algos[0].counts["train"].nests:
            yield nest


#: One net per kind (convs with groups, pooling, dense MLPs, SFF's convs); every layer shape
#: of the others is one of these kinds.
BOUND_ARCHS = ("cwc-mnist", "cfse-mnist", "mf-mlp-2x1000", "sff-cnn-mnist")


def test_bound_nets_are_builtin():
    assert set(BOUND_ARCHS) <= set(list_archs())


@pytest.mark.parametrize("arch", BOUND_ARCHS)
def test_bounds_on_builtin_layers(arch):
    """DRAM traffic of each operand homed in DRAM lies between the compulsory (each element
    once) and the no-reuse count (once per use); a larger buffer never raises the mapping's
    energy, nor (here) its DRAM traffic."""
    seen = set()
    for nest in _nests(arch):
        if nest.key() in seen:
            continue
        seen.add(nest.key())
        homes = {"W": 2, "I": 2, "O": 2}
        prev = prev_pj = None
        for kb in (8, 32, 512):  # 4^8, 4^9, 4^11 bits: each grid of rooms holds the last
            hw = _hierarchy(kb * 1024)
            m = map_nest(nest, hw, homes, (512 * 8, kb * 1024 * 8, math.inf))
            dram = m.accesses["dram"]
            traffic = 0.0
            for role in ("W", "I", "O"):
                r, w = dram.get(role, (0.0, 0.0))
                if role == nest.accumulates:
                    assert w >= nest.size(role) - 1e-6
                    assert w <= nest.full_macs + 1e-6
                else:
                    assert r >= nest.size(role) * (1 - 1e-9) or nest.index, (arch, nest, role)
                    assert r <= max(nest.full_macs, nest.size(role)) + 1e-6
                traffic += (r + w) * nest.width(role)
            if prev is not None:
                assert traffic <= prev * (1 + 1e-9), (arch, nest.layer, nest.phase, kb)
                assert m.memory_pj <= prev_pj * (1 + 1e-9), (arch, nest.layer, nest.phase, kb)
            prev, prev_pj = traffic, m.memory_pj
