"""A short training run on the dense and the index backend: the same run up to float rounding."""

from __future__ import annotations

import json

import pytest

from pbitsim.training import TrainConfig, Trainer, TrainingError


@pytest.mark.parametrize("algo", ["bsff", "bgbsff"])
def test_backends_train_alike(mnist_small, tmp_path, algo):
    """Counts within 1e-3 of each other on every key and accuracy within a few points.

    Not identical: the backends sum the same terms in another order, and a p-bit whose uniform
    falls between the two rounded sigmoids (~1e-7 per draw) fires on one backend only; the
    layers then read slightly different counts. Per layer, on the same input, the counts are
    identical (tests/bridge/test_backends.py)."""
    res, counts = {}, {}
    for backend in ("index", "dense"):
        # the small ConvNet (the default CFSE net's grouped convolutions: per layer, in
        # tests/bridge/test_backends.py); 320 images: with 160 the two backends' accuracies
        # drift apart by up to 7 points on the synthetic set
        cfg = TrainConfig(algo=algo, dataset="mnist", arch="cwc-mnist", tiles=7, epochs=1,
                          batch_size=32, limit_train=320, limit_test=200, backend=backend)
        res[backend] = Trainer(cfg, mnist_small, tmp_path / backend).run()
        counts[backend] = json.loads((tmp_path / backend / "counts.json").read_text())
        assert res[backend]["config"]["backend"] == backend
    for pred, acc in res["index"]["test_accuracy"].items():
        assert abs(res["dense"]["test_accuracy"][pred] - acc) <= 0.05, pred
    a, b = counts["index"]["counts"], counts["dense"]["counts"]
    assert a.keys() == b.keys()
    for key, n in a.items():
        assert abs(b[key] - n) <= 1e-3 * n, key


def test_backend_is_checked_and_decides_the_resume(mnist_small, tmp_path):
    with pytest.raises(TrainingError, match="unknown --backend 'gpu'"):
        TrainConfig(backend="gpu").validate()
    cfg = dict(algo="bsff", dataset="mnist", tiles=2, batch_size=32, limit_train=64,
               limit_test=32)
    Trainer(TrainConfig(**cfg, backend="index"), mnist_small, tmp_path / "r").run()
    with pytest.raises(TrainingError, match="backend='index'"):
        Trainer(TrainConfig(**cfg, backend="dense"), mnist_small,
                tmp_path / "r").run(resume=True)
