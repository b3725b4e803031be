"""The test pass scores exactly the first ``limit_test`` images, whatever the batch size."""

from __future__ import annotations

import torch

from pbitsim.training import TrainConfig, Trainer


def test_last_batch_stops_at_limit_test(mnist_small, tmp_path):
    cfg = TrainConfig(algo="cwc", dataset="mnist", batch_size=32, limit_train=64, limit_test=50)
    (tmp_path / "run").mkdir()  # fit() alone: run() would make the folder and take its lock
    trainer = Trainer(cfg, mnist_small, tmp_path / "run")
    trainer.fit()
    acc, _ = trainer.evaluate()
    x = torch.from_numpy(mnist_small.normalized(mnist_small.test_x[:50]))
    y = torch.from_numpy(mnist_small.test_y[:50])
    # batch norm in eval mode: predicting 50 images at once equals predicting them 32 + 18
    preds = trainer.algo.predict(x, (0,))
    for name, value in acc.items():
        assert value == int((preds[name] == y).sum()) / 50
