"""price_counts: the fixed interface other parts of pbitsim price their counts with."""

import pytest

from pbitsim import OpCounter
from pbitsim.hardware.tables import load_table
from pbitsim.hardware.pricing import price_counts

approx = pytest.approx

VOCABULARY = ["add:fp32", "mul:fp32", "cmp:u3", "pbit_sample", "weight_read:fp32",
              "weight_write:fp32", "act_read:u1", "act_write:u3", "grad_read:fp32",
              "grad_write:fp32", "state_read:fp32", "state_write:fp32", "add:int8",
              "add:int16", "mul:int32", "add:fp16", "mul:bf16", "cmp:fp32"]


def test_prices_every_vocabulary_key():
    result = price_counts({k: 1 for k in VOCABULARY})
    assert set(result) >= {"total_pj", "compute_pj", "memory_pj", "pbit_pj", "by_key"}
    assert set(result["by_key"]) == set(VOCABULARY)
    assert all(v > 0 for v in result["by_key"].values())
    parts = result["compute_pj"] + result["memory_pj"] + result["pbit_pj"]
    assert result["total_pj"] == approx(parts)
    assert result["total_pj"] == approx(sum(result["by_key"].values()))


def test_split_and_values():
    r = price_counts({"add:fp32": 10, "mul:fp32": 2, "act_read:u1": 64, "pbit_sample": 1000})
    assert r["compute_pj"] == approx(10 * 0.9 + 2 * 3.7)
    assert r["memory_pj"] == approx(10.0)            # 64 one-bit words = one 64-bit access
    assert r["pbit_pj"] == approx(1000 * 0.002)


def test_accepts_opcounter_name_path_and_table(tmp_path):
    counter = OpCounter()
    counter.add("add", 5, "fp32")
    counter.add("pbit_sample", 7)
    tab = load_table("horowitz-45nm")
    path = tab.path
    results = [price_counts(counter), price_counts(counter, "horowitz-45nm"),
               price_counts(counter, path), price_counts(counter, tab)]
    assert all(r == results[0] for r in results)
    assert price_counts(counter, "jouppi-7nm")["total_pj"] < results[0]["total_pj"]


def test_errors_name_the_key():
    with pytest.raises(ValueError, match="'bogus:fp32'"):
        price_counts({"add:fp32": 1, "bogus:fp32": 1})
    with pytest.raises(ValueError, match="'add:fp32'"):
        price_counts({"add:fp32": -1})
    with pytest.raises(ValueError, match="'mul'"):
        price_counts({"mul": 3})
    with pytest.raises(TypeError):
        price_counts([("add:fp32", 1)])


def test_empty_counts_cost_nothing():
    assert price_counts({})["total_pj"] == 0.0
