"""The step on a hierarchy: placement alike for every rule, measured counts through the same
model, energy by level adding up (:mod:`pbitsim.hardware.model`, :mod:`.placement`)."""

from __future__ import annotations

import math

import pytest

from pbitsim.estimator import estimate
from pbitsim.hardware.library import load_hardware
from pbitsim.hardware.placement import place
from pbitsim.hardware.spec import ComputeArray, Hardware, Level

RULES = ("bp", "cwc", "bsff", "bgbsff")


@pytest.fixture(scope="module")
def on_accel():
    return estimate(arch="cwc-mnist", algos=list(RULES), hardware=load_hardware("pbit-accel"))


def _hw(glb_bytes):
    return Hardware("t", "t", "hierarchy", levels=(
        Level("rf", "register", 64, 0.1, 0.1, 16, per_pe=True),
        Level("glb", "sram", glb_bytes, 5.0, 5.0, 64),
        Level("dram", "dram", math.inf, 1300.0, 1300.0, 64)), compute=ComputeArray(4, 4))


def test_same_sizes_land_at_the_same_level_whatever_the_rule(on_accel):
    """Placement sees sizes, never the rule: equal weights, equal block working sets, equal
    levels; BP's stash and a local rule's kept batch of one size land alike."""
    by_rule = {a.name: a.hardware.placement for a in on_accel.algos}
    sizes: dict[tuple, set] = {}
    for rule, pl in by_rule.items():
        for name in ("weight", "state"):
            if name in pl:
                sizes.setdefault((name, pl[name]["bytes"]), set()).add(pl[name]["level"])
        for block in pl["blocks"].values():
            for cls, v in block.items():
                sizes.setdefault((cls, v["bytes"], pl["weight"]["level"]), set()).add(v["level"])
    assert all(len(levels) == 1 for levels in sizes.values()), sizes
    hw = _hw(1 << 20)
    stash = place(hw, {"weight": 1e6, "stash": 6e6}, [{"act": 1e5, "grad": 1e5}])
    kept = place(hw, {"weight": 1e6}, [{"act": 6e6, "grad": 1e5}])
    assert hw.levels[stash.run["stash"]].name == hw.levels[kept.blocks[0]["act"]].name == "glb"
    big = 9e6
    stash = place(hw, {"weight": 1e6, "stash": big}, [{"act": 1e5, "grad": 1e5}])
    kept = place(hw, {"weight": 1e6}, [{"act": big, "grad": 1e5}])
    assert hw.levels[stash.run["stash"]].name == hw.levels[kept.blocks[0]["act"]].name == "dram"


def test_levels_add_up_and_compute_is_the_flat_compute(on_accel):
    for algo in on_accel.algos:
        cost = algo.hardware
        for scope in ("train", "inference"):
            by = cost.energy_by_level_pj[scope]
            assert math.isclose(sum(by.values()), cost.total_pj(scope))
            assert math.isclose(by["compute"], algo.price[scope]["compute_pj"], rel_tol=1e-12)
            assert math.isclose(by["pbit"], algo.price[scope]["pbit_pj"], rel_tol=1e-12,
                                abs_tol=1e-12)
            assert cost.latency_s(scope) > 0
        assert sum(cost.area_mm2().values()) > 0


@pytest.mark.parametrize("factor", [1.0, 1.01, 0.99])
def test_measured_counts_through_the_same_model(on_accel, factor):
    """The analytic counts price to the analytic energy; counts 1% off, to within 1%."""
    for algo in on_accel.algos:
        cost = algo.hardware
        for scope in ("train", "inference"):
            counts = {k: v * factor for k, v in algo.counts[scope].items()}
            by = cost.price_measured(counts, on_accel.table, scope)
            assert sum(by.values()) == pytest.approx(cost.total_pj(scope) * factor, rel=1e-9)


def test_a_larger_buffer_never_costs_more(on_accel):
    """On the whole step: growing the shared buffer (4x at a time) never raises the energy."""
    prev = None
    for kb in (8, 32, 128):
        est = estimate(arch="cwc-mnist", algos=["bsff"], hardware=_hw(kb * 1024))
        total = est.algos[0].hardware.total_pj()
        if prev is not None:
            assert total <= prev * (1 + 1e-9), kb
        prev = total


def test_flat_hardware_changes_nothing():
    flat = load_hardware("table-levels")
    a = estimate(arch="cwc-mnist", algos=["bsff"]).to_dict()
    b = estimate(arch="cwc-mnist", algos=["bsff"], hardware=flat).to_dict()
    assert b.pop("hardware") == "table-levels"
    assert a == b
