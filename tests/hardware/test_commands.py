"""``--hardware`` everywhere: estimate (and with --counts), train's summary, the sweep's
pricing dimension and its variants; the Pareto front."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.estimator import estimate
from pbitsim.hardware.library import HardwareError, hardware_variant, load_hardware
from pbitsim.sweep.output import pareto_front


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_error(r, *words):
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_estimate_json_has_levels_latency_area():
    r = _invoke("estimate", "--arch", "cwc-mnist", "--algo", "cwc,bsff", "--hardware",
                "pbit-accel", "--json", "-")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["hardware"] == "pbit-accel"
    direct = estimate(arch="cwc-mnist", algos=["cwc", "bsff"],
                      hardware=load_hardware("pbit-accel"), device="smtj")
    for algo in direct.algos:
        entry = doc["algorithms"][algo.name]
        assert entry["energy_by_level_pj"] == pytest.approx(
            algo.hardware.energy_by_level_pj["train"])
        assert entry["latency_s"] == pytest.approx(algo.hardware.latency_s("train"))
        assert set(entry["area_mm2"]) >= {"rf", "buf", "store"}
        layers = {m["layer"] for m in entry["hardware"]["mappings"]}
        assert layers >= {b.name for b in direct.arch.blocks}
    # the flat default is unchanged and has no hardware figures
    flat = json.loads(_invoke("estimate", "--arch", "cwc-mnist", "--json", "-").output)
    assert "hardware" not in flat and "latency_s" not in flat["algorithms"]["cwc"]


def test_bad_hardware_is_one_line(tmp_path):
    _one_error(_invoke("estimate", "--hardware", "nope"), "unknown hardware")
    _one_error(_invoke("estimate", "--hardware", " "), "--hardware")
    _one_error(_invoke("train", "--algo", "cwc", "--hardware", "nope", "--out",
                       tmp_path / "x"), "unknown hardware")
    _one_error(_invoke("sweep", "--estimate-only", "--hardware-set", "pbits.count=4"),
               "--hardware-set")
    _one_error(_invoke("sweep", "--estimate-only", "--hardware", "eyeriss", "--hardware-set",
                       "pbits.count=x"), "KEY=V")
    _one_error(_invoke("sweep", "--estimate-only", "--hardware", "eyeriss", "--hardware-set",
                       "nolevel.capacity_bytes=4096"), "nolevel")


def test_variants_rederive_what_was_derived():
    hw = load_hardware("pbit-accel")
    buf = hw.level("buf")
    assert "read_pj" in buf.derived
    big = hardware_variant(hw, {"buf.capacity_bytes": 4 * buf.capacity_bytes,
                                "pbits.count": 64})
    assert big.name == f"pbit-accel[buf.capacity_bytes={4 * int(buf.capacity_bytes)}," \
                       "pbits.count=64]"
    assert big.level("buf").read_pj > buf.read_pj          # a larger SRAM costs more per access
    assert big.level("buf").area_um2 > buf.area_um2
    assert big.level("store") == hw.level("store") and big.pbits.count == 64
    eye = load_hardware("eyeriss")  # given figures stay as given
    glb = next(lv for lv in eye.levels if lv.kind == "sram")
    v = hardware_variant(eye, {f"{glb.name}.capacity_bytes": 2 * glb.capacity_bytes})
    assert v.level(glb.name).read_pj == glb.read_pj
    with pytest.raises(HardwareError):
        hardware_variant(hw, {"compute.rows": 2.5})


def test_estimate_only_sweep_prices_each_point_on_each_hardware(tmp_path):
    r = _invoke("sweep", "--estimate-only", "--arch", "cwc-mnist", "--algo", "bsff,cwc",
                "--tiles", "1,7", "--hardware", "pbit-accel", "--hardware-set",
                "pbits.count=64,4096", "--out", tmp_path / "s", "--no-plots")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "s" / "sweep.json").read_text())
    names = ["pbit-accel[pbits.count=64]", "pbit-accel[pbits.count=4096]"]
    assert doc["config"]["hardware"] == names
    for row in doc["rows"]:
        for name in names:
            hw = hardware_variant(load_hardware("pbit-accel"),
                                  {"pbits.count": int(name.split("=")[1][:-1])})
            est = estimate(arch="cwc-mnist", algos=[row["algo"]], tiles=row["tiles"] or 7,
                           hardware=hw)
            cost = est.algos[0].hardware
            assert row[f"{name}:energy_train_pj_per_sample"] == pytest.approx(cost.total_pj())
            assert row[f"{name}:latency_train_s"] == pytest.approx(cost.latency_s())
    few = [r for r in doc["rows"] if r["algo"] == "bsff" and r["tiles"] == 7][0]
    # 64 p-bits time-share what 4096 sample at once: slower, never faster
    assert few[f"{names[0]}:latency_train_s"] > few[f"{names[1]}:latency_train_s"]


def test_train_and_counts_on_hardware(mnist_dir, tmp_path):
    out = tmp_path / "run"
    r = _invoke("train", "--algo", "cwc", "--arch", "cwc-mnist", "--data-dir", mnist_dir,
                "--limit-train", "64", "--batch-size", "32", "--limit-test", "16", "--out", out,
                "--hardware", "pbit-accel")
    assert r.exit_code == 0, r.output
    assert "on pbit-accel" in r.output
    res = json.loads((out / "results.json").read_text())
    h = res["hardware_energy"]
    assert h["hardware"] == "pbit-accel" and h["train_latency_s"] > 0
    r = _invoke("estimate", "--counts", out / "counts.json", "--hardware", "pbit-accel",
                "--json", "-")
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)["measured"]["hardware"]
    assert m["train_per_sample_pj"] == pytest.approx(h["train_per_sample_pj"], rel=1e-9)
    # a real-valued rule's measured counts are the analytic ones: so are their prices
    flat = json.loads(r.output)["measured"]
    assert flat["train_per_sample_pj"] == pytest.approx(flat["analytic_train_per_sample_pj"],
                                                        rel=1e-9)
    assert m["train_per_sample_pj"] == pytest.approx(m["analytic_train_per_sample_pj"],
                                                     rel=1e-9)


def test_pareto_front():
    pts = [(1, 5), (2, 4), (3, 4.5), (4, 1), (5, 1), (0.5, 9)]
    assert pareto_front(pts) == [5, 0, 1, 3]
    assert pareto_front([(1, 1)]) == [0]
