"""Training any architecture: user TOML files (an MLP, a grouped ConvNet), their recorded
name, path and content hash, and the default CFSE net of the CwC-FF reference."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from pbitsim.training import TrainConfig, Trainer, TrainingError
from pbitsim.training.models import Net

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "archs"


def _train(ds, out, **kw):
    cfg = TrainConfig(**{"epochs": 1, "batch_size": 32, "limit_train": 64, "limit_test": 32,
                         "tiles": 3, **kw})
    return Trainer(cfg, ds, out)


@pytest.mark.parametrize("algo", ["cwc", "bsff", "bgbsff", "ff", "bp"])
def test_user_mlp_trains_with_every_algorithm(mnist_small, tmp_path, algo):
    path = tmp_path / "my-mlp.toml"
    shutil.copy(EXAMPLES / "my-mlp.toml", path)
    kw = dict(algo=algo, arch=str(path), limit_train=256, limit_test=64)
    t = _train(mnist_small, tmp_path / "run", **kw)
    res = t.run()
    model = t.algo.model
    assert [layer.weight.numel() for layer in model.linears] == [784 * 300, 300 * 100]
    assert res["arch"] == "my-mlp" and res["config"]["arch"] == str(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    counts = json.loads((tmp_path / "run" / "counts.json").read_text())
    for doc in (res, counts):
        assert doc["arch_file"] == str(path) and doc["arch_sha256"] == sha
    # it learns: 8 steps on the synthetic set give 45-78% (best predictor, per rule); chance is
    # 10%, and 20 of 64 right by chance has probability below 1e-5
    assert max(res["test_accuracy"].values()) > 0.3, res["test_accuracy"]
    if algo in ("bsff", "bgbsff"):
        assert len(res["layer_density"]) == 2
        # p-bits: M per unit of both blocks, every training image and every image of the
        # batch-norm calibration after training (all 256)
        assert counts["model_params"]["calibration_samples"] == 256
        assert counts["counts"]["pbit_sample"] == 3 * (300 + 100) * (256 + 256)
    # the checkpoint records the file's hash: an edited file does not resume it
    path.write_text(path.read_text().replace("units = 100", "units = 200"))
    with pytest.raises(TrainingError, match="arch_sha256"):
        _train(mnist_small, tmp_path / "run", **kw).run(resume=True)


@pytest.mark.parametrize("algo", ["bsff", "bp"])
def test_user_convnet_trains(cifar_small, tmp_path, algo):
    """examples/archs/small-convnet.toml: a grouped, strided conv and a dense block."""
    t = _train(cifar_small, tmp_path / algo, algo=algo, dataset="cifar10",
               arch=str(EXAMPLES / "small-convnet.toml"))
    res = t.run()
    assert res["arch"] == "small-convnet"
    conv2 = t.algo.model.linears[1]
    assert tuple(conv2.weight.shape) == (80, 4, 3, 3)  # 40 input channels in 10 groups
    if algo == "bsff":
        units = 40 * 32 * 32 + 80 * 8 * 8 + 200
        # every training image and every image of the calibration (all 64)
        assert res["train_counts_by_op"]["pbit_sample"] == 3 * units * (64 + 64)


def test_cfse_is_the_default_and_grouped(mnist_small):
    cfg = TrainConfig(algo="cwc")
    cfg = cfg.validate()
    assert cfg.arch == "cfse-mnist" and cfg.arch_sha256 is None
    torch.manual_seed(0)
    net = Net(__import__("pbitsim.network", fromlist=["load_arch"]).load_arch(cfg.arch))
    assert [m.groups for m in net.linears] == [1, 10, 1, 10]
    x = torch.randn(2, 1, 28, 28)
    ys, logits = net(x)
    assert [tuple(y.shape[1:]) for y in ys] == [(20, 28, 28), (80, 14, 14), (240, 14, 14),
                                               (480, 7, 7)]
    assert logits.shape == (2, 10)
    # a class's channel group of a grouped conv reads only its own group below: a change in
    # group 0 of block 1 leaves every other group of block 2 unchanged
    with torch.no_grad():
        h = torch.randn(2, 20, 28, 28)
        out = net.linears[1](h)
        h2 = h.clone()
        h2[:, 0:2] += 1.0
        diff = (net.linears[1](h2) - out).abs().sum((0, 2, 3))
    assert diff[:8].gt(0).all() and diff[8:].eq(0).all()
