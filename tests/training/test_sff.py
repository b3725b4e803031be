"""Scalable FF in training: it learns (real and on tiled p-bits), resume is bit-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbitsim.training import TrainConfig, Trainer
from train_helpers import assert_same_run, stop_and_resume

SMALL_SFF = str(Path(__file__).resolve().parents[2] / "examples" / "archs" / "small-sff.toml")


def _sff(ds, tmp_path, name="run", **kw):
    cfg = TrainConfig(**{"algo": "sff", "arch": SMALL_SFF, "dataset": "mnist", "epochs": 1,
                         "batch_size": 32, "limit_train": 1000, "limit_test": 500, **kw})
    return Trainer(cfg, ds, tmp_path / name)


@pytest.mark.parametrize("tiles", [None, 7])
def test_sff_learns_well_above_chance(real_mnist_small, tmp_path, tiles):
    # 1,000 images x 3 epochs (batch 32), 500 test images, small-sff (16 / 32 channels), the
    # default rates: measured 38.2% real (lr 1e-3), 46.6% on 7-tile p-bit units (sff --tiles 7
    # = bssff, lr 3e-3); chance is 10%, the margin asked is 15 points
    res = _sff(real_mnist_small, tmp_path, tiles=tiles, epochs=3).run()
    assert res["algo"] == ("sff" if tiles is None else "bssff")
    assert res["predictor"] == "avg" and set(res["test_accuracy"]) == {"avg", "last"}
    assert res["accuracy"] > 0.25
    if tiles is not None:
        assert res["tiles"] == 7 and 0.0 < res["activation_density"] < 1.0
    counts = json.loads((tmp_path / "run" / "counts.json").read_text())
    assert counts["algo"] == res["algo"]


@pytest.mark.parametrize("tiles", [None, 3])
def test_resume_is_bit_identical(mnist_small, tmp_path, tiles):
    kw = dict(tiles=tiles, epochs=2, batch_size=50, limit_train=200, limit_test=50)
    # 200 images: 4 steps per epoch, 8 in all; stopped mid-epoch 2
    runs = stop_and_resume(lambda name: _sff(mnist_small, tmp_path, name, **kw), 6)
    assert_same_run(*runs, parts=("model", "gconvs"))


def test_default_net_of_sff():
    for tiles in (None, 5):
        cfg = TrainConfig(algo="sff", dataset="cifar10", tiles=tiles)
        cfg = cfg.validate()
        assert cfg.arch == "sff-cnn-cifar10" and cfg.algo == ("sff" if tiles is None else "bssff")
