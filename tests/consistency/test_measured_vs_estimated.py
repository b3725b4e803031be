"""One network, one cost model: a measured training step equals the estimator's step.

For every algorithm on the built-in networks, the counts that one training step (and one
inference batch) of the torch bridge records equal what ``pbitsim.energy_models`` estimates for
the same batch: exactly for the real-valued rules; for the tiled rules when the estimator is given
the tile statistics measured on the counts each index layer read. Index products on convolutions
with zero padding are the one term that cannot match exactly from two statistics: a border pixel
is read by fewer output positions than an inner one, so the kernel's count weighs them unequally
(the model assumes every input position is used alike); those keys agree to a few percent.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from pbitsim import OpCounter, counting
from pbitsim import kernels as K
from pbitsim.energy_models.algorithms import ModelParams, get_algorithm
from pbitsim.energy_models.archs import load_arch
from pbitsim.energy_models.tiles import TileStats
from pbitsim.training.algorithms import make_algorithm
from pbitsim.training.trainer import TrainConfig

BATCH = 8


def _cfg(algo, arch, **kw):
    cfg = TrainConfig(algo=algo, dataset="mnist", batch_size=BATCH, tiles=kw.pop("tiles", 3),
                      **kw)
    cfg.arch = arch
    return cfg


def _record_stats(monkeypatch, tiles):
    """Wrap the forward index kernels: the statistics of every count tensor they read."""
    seen = []
    for name in ("index_conv2d", "index_matmul"):
        orig = getattr(K, name)

        def wrapped(x, *a, _orig=orig, **kw):
            seen.append(TileStats(tiles, float(x.mean()) / tiles,
                                  float(np.count_nonzero(x)) / x.size))
            return _orig(x, *a, **kw)
        monkeypatch.setattr(K, name, wrapped)
    return seen


def _estimated(algo, arch_name, params, scope):
    model = get_algorithm(algo)
    arch = load_arch(arch_name)
    rows = (model.training_step if scope == "train" else model.inference_step)(arch, params)
    total = {}
    for row in rows:
        for k, v in row.total().items():
            total[k] = total.get(k, 0.0) + v
    return {k: v for k, v in total.items() if abs(v) > 1e-9}


def _compare(measured: OpCounter, estimated: dict, rel_index: float = 0.0):
    m = measured.as_dict()
    assert set(m) == set(estimated), (sorted(set(m) ^ set(estimated)))
    for key, value in m.items():
        tol = rel_index if rel_index and key.split(":")[0] in ("add", "weight_read", "grad_read") \
            else 1e-9
        assert value == pytest.approx(estimated[key], rel=tol), key


CASES = [("cwc", "cwc-mnist"), ("bp", "cwc-mnist"), ("ff", "ff-mlp-4x2000"),
         ("bp", "ff-mlp-4x2000"), ("bsff", "cwc-mnist"), ("bgbsff", "cwc-mnist")]


@pytest.mark.parametrize("algo, arch", CASES)
def test_one_training_step_and_inference(algo, arch, monkeypatch):
    torch.manual_seed(0)
    tiles = 3
    cfg = _cfg(algo, arch if algo != "bp" or arch == "cwc-mnist" else "mlp", tiles=tiles,
               schedule="none")
    if cfg.arch == "cwc-mnist":
        cfg.arch = None
    alg = make_algorithm(cfg, (1, 28, 28), 10)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, BATCH))
    stats = _record_stats(monkeypatch, tiles)
    with counting() as measured:
        alg.train_step(x, y, (0, 0), 0.0)
    tiled = algo in ("bsff", "bgbsff")
    params = ModelParams(tiles=tiles, batch_size=BATCH, stats=tuple(stats) if tiled else None)
    _compare(measured, _estimated(algo, arch, params, "train"),
             rel_index=0.01 if tiled else 0.0)

    stats.clear()
    with counting() as measured:
        alg.predict(x, (1, 0))
    params = ModelParams(tiles=tiles, batch_size=BATCH, stats=tuple(stats) if tiled else None)
    _compare(measured, _estimated(algo, arch, params, "inference"),
             rel_index=0.01 if tiled else 0.0)
