"""Mono-Forward in training: it learns, greedy early stopping, resume mid-layer bit-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbitsim.training import TrainConfig, Trainer
from train_helpers import assert_same_run, cached_vs_recomputed, stop_and_resume

MY_MLP = str(Path(__file__).resolve().parents[2] / "examples" / "archs" / "my-mlp.toml")


def _mf(ds, tmp_path, name="run", **kw):
    cfg = TrainConfig(**{"algo": "mf", "arch": "mf-mlp-2x1000", "dataset": "mnist", "epochs": 1,
                         "batch_size": 32, "limit_train": 500, "limit_test": 200, **kw})
    return Trainer(cfg, ds, tmp_path / name)


@pytest.mark.parametrize("schedule", ["online", "greedy"])
def test_mf_learns_well_above_chance(real_mnist_small, tmp_path, schedule):
    # 500 images (greedy: 450 after the held-out 10%), one epoch per layer, 200 test images:
    # measured 71% online, 75% greedy; chance is 10%, the margin asked is 50 points
    res = _mf(real_mnist_small, tmp_path, schedule=schedule).run()
    assert res["accuracy"] > 0.6
    assert res["predictor"] == "last"
    layers = [h.get("layer") for h in res["history"]]
    assert layers == ([1, 2] if schedule == "greedy" else [None])


def test_greedy_early_stopping_skips_the_rest_of_a_layers_cap(mnist_small, tmp_path,
                                                              monkeypatch):
    import pbitsim.rules.mf.train as A
    from pbitsim import schedules
    monkeypatch.setattr(A, "MF_PATIENCE", {"mnist": 1})
    monkeypatch.setattr(schedules, "MF_MIN_DELTA", 1e9)  # no epoch after the first improves enough
    tr = _mf(mnist_small, tmp_path, schedule="greedy", epochs=4, limit_train=200)
    res = tr.run()
    assert [h["layer"] for h in res["history"]] == [1, 1, 2, 2]
    assert [h["epoch"] for h in res["history"]] == [1, 2, 5, 6]  # epochs 3-4, 7-8 skipped
    counts = json.loads((tmp_path / "run" / "counts.json").read_text())
    assert counts["model_params"]["layer_epochs"] == [2, 2]
    assert counts["epochs"] == 4  # the trained epochs: counts per sample divide by them
    assert len(tr.val_idx) == 20 and len(set(tr.val_idx) & set(tr.train_idx)) == 0




def test_bsmf_learns_well_above_chance(real_mnist_small, tmp_path):
    # MF on 7-tile p-bit units, 784-300-100, 500 images x 1 epoch online: measured 77%;
    # chance is 10%, the margin asked is 40 points
    res = _mf(real_mnist_small, tmp_path, algo="bsmf", arch=MY_MLP, tiles=7,
              schedule="online").run()
    assert res["accuracy"] > 0.5
    assert res["tiles"] == 7 and 0.0 < res["activation_density"] < 1.0


@pytest.mark.parametrize("algo, stop_after", [("mf", 2), ("mf", 9), ("mf", 13), ("bsmf", 9)])
def test_greedy_resume_mid_layer_is_bit_identical(mnist_small, tmp_path, algo, stop_after):
    # stops: layer 1 mid-epoch; layer 2 mid-epoch, twice; the p-bit form in layer 2
    kw = dict(algo=algo, schedule="greedy", epochs=2, batch_size=50, limit_train=200,
              limit_test=50, **({"arch": MY_MLP, "tiles": 3} if algo == "bsmf" else {}))
    # 180 training images: 4 steps per epoch, 16 steps in all
    runs = stop_and_resume(lambda name: _mf(mnist_small, tmp_path, name, **kw), stop_after)
    assert_same_run(*runs, parts=("model", "projs"))


def test_frozen_layer_cache_counts_the_recompute(mnist_small, tmp_path, monkeypatch):
    # Greedy MF on my-mlp (784-300-100): layer 2 reads the frozen layer 1 from a
    # per-stage cache; the counts are the recompute's, exactly, and the run learns as the
    # recomputing one (equal up to float reassociation: the cache's batches are other images)
    kw = dict(arch=MY_MLP, schedule="greedy", epochs=2, batch_size=50, limit_train=300,
              limit_test=100)
    cached, _ = cached_vs_recomputed(lambda name: _mf(mnist_small, tmp_path, name, **kw),
                                     monkeypatch)
    assert cached.algo.frozen.key == ("layer", 1)
    assert [h["layer"] for h in json.loads((cached.out / "results.json").read_text())["history"]] \
        == [1, 1, 2, 2]


def test_no_cache_online(mnist_small, tmp_path):
    # online trains every layer on every step: nothing is frozen
    assert _mf(mnist_small, tmp_path, "online", schedule="online").algo.frozen is None
