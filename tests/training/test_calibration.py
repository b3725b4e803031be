"""The batch-norm statistics a run tests with are those of its final weights (issue 23).

After training, :func:`pbitsim.training.calibration.recalibrate` recomputes every running
statistic at the final weights. Checked against an independent computation: a copy of the
trained network runs all the calibration images in one batch, every batch norm's input is
recorded, and its per-channel mean and (unbiased) variance are taken in float64.

Tolerances. The calibration averages per-batch statistics of batches of 64 while the reference
takes one batch of all of them, so (1) the variance misses the spread of the batch means, at most
1/64 of the variance for independent images, (2) each block after the first reads inputs
normalised by its batch's statistics instead of the whole set's, and (3) in the p-bit net the
reference draws its own p-bit samples (a fresh seed key), about one count of noise per unit
averaged over >= 256 x H x W values per channel. Measured on these runs, the worst channel of
any batch norm: CwC-FF 0.2% of a standard deviation on the mean and 0.7% on the variance, BSFF
2.2% and 3.7%; the test allows 10% and 8%. The statistics the training steps alone leave
(``calibration_samples=0``) are off by 66% / 86% (CwC-FF) and 45% / 86% (BSFF): the test checks
that they fail it.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from pbitsim import counting
from pbitsim.bridge.modules import _Foldable
from pbitsim.estimator.algorithms import ModelParams, get_algorithm
from pbitsim.network.archs import load_arch
from pbitsim.training import TrainConfig, Trainer
from pbitsim.training.calibration import calibration_rows

BATCH = 64
MEAN_TOL_SD = 0.10  # |running mean - reference mean| / reference standard deviation
VAR_TOL = 0.08  # relative error of the running variance


def _train(ds, tmp_path, name, **kw):
    cfg = TrainConfig(dataset="mnist", epochs=1, batch_size=BATCH, limit_train=256,
                      limit_test=64, arch="cfse-mnist", seed=0, threads=1, **kw)
    cfg = cfg.validate()
    trainer = Trainer(cfg, ds, tmp_path / name)
    trainer.run()
    return trainer


def _reference_stats(trainer):
    """Per-norm ``(mean, var)`` of its input over all the calibration images in one batch, on
    a copy of the trained network (fresh p-bit draws)."""
    model = copy.deepcopy(trainer.algo.model)
    norms = [m for m in model.modules() if isinstance(m, _Foldable)]
    seen = {id(m): [] for m in norms}

    def record(m, fn):
        def wrapped(x, *a, **k):
            seen[id(m)].append(x.detach().double())
            return fn(x, *a, **k)
        return wrapped

    for m in norms:
        m.forward = record(m, m.forward)
        m.batch_stats = record(m, m.batch_stats)  # the fused batch norm + p-bits
    rows = np.concatenate(calibration_rows(trainer.train_idx, BATCH, trainer.cfg.seed, 10**9))
    model.train()
    with torch.no_grad(), counting():
        model.blocks(trainer._images(rows), (12345, 0), upto=len(model.linears) - 1)
    out = []
    for m in norms:
        (x,) = seen[id(m)]
        dims = (0,) + tuple(range(2, x.dim()))
        var, mean = torch.var_mean(x, dim=dims, correction=1)
        out.append((mean, var))
    return [m for m in trainer.algo.model.modules() if isinstance(m, _Foldable)], out


def _errors(norms, ref):
    """Worst mean error (in reference standard deviations) and relative variance error."""
    mean_err = var_err = 0.0
    for m, (mean, var) in zip(norms, ref):
        sd = var.sqrt().clamp_min(1e-6)
        mean_err = max(mean_err, float(((m.running_mean.double() - mean).abs() / sd).max()))
        var_err = max(var_err, float(((m.running_var.double() - var).abs()
                                      / var.clamp_min(1e-12)).max()))
    return mean_err, var_err


@pytest.mark.parametrize("algo, tiles", [("cwc", None), ("bsff", 3)], ids=["cwc", "bsff"])
def test_running_statistics_are_the_final_weights(algo, tiles, real_mnist_small, tmp_path):
    trainer = _train(real_mnist_small, tmp_path, "cal", algo=algo, tiles=tiles)
    assert trainer.calibrated and trainer.calibration_samples == 256
    norms, ref = _reference_stats(trainer)
    assert len(norms) == (8 if tiles else 4)  # post batch norms (and the tiles' pre ones)
    mean_err, var_err = _errors(norms, ref)
    assert mean_err < MEAN_TOL_SD and var_err < VAR_TOL, (mean_err, var_err)

    stale = _train(real_mnist_small, tmp_path, "stale", algo=algo, tiles=tiles,
                   calibration_samples=0)  # the same training, tested with its running averages
    assert not stale.calibration_samples
    for a, b in zip(trainer.algo.model.linears, stale.algo.model.linears):
        assert torch.equal(a.weight, b.weight)
    s_mean, s_var = _errors([m for m in stale.algo.model.modules() if isinstance(m, _Foldable)],
                            ref)
    assert s_mean > MEAN_TOL_SD or s_var > VAR_TOL, (s_mean, s_var)


def test_calibration_rows_are_seeded_and_fixed():
    idx = np.arange(100, 400)
    a = calibration_rows(idx, 64, 0, 200)
    assert [len(r) for r in a] == [64, 64, 64, 8]
    assert all(np.array_equal(x, y) for x, y in zip(a, calibration_rows(idx, 64, 0, 200)))
    assert not np.array_equal(a[0], calibration_rows(idx, 64, 1, 200)[0])
    flat = np.concatenate(a)
    assert len(set(flat)) == 200 and set(flat) <= set(idx)
    # a trailing batch of one is dropped (batch norm needs two), the whole set at most
    assert [len(r) for r in calibration_rows(idx, 64, 0, 129)] == [64, 64]
    assert sum(map(len, calibration_rows(idx, 64, 0, 10**6))) == 300


@pytest.mark.parametrize("algo, arch", [("cwc", "cfse-mnist"), ("bp", "cfse-mnist"),
                                        ("sff", "sff-cnn-mnist")])
def test_calibration_work_is_counted_and_estimated(algo, arch, mnist_small, tmp_path):
    """A run's counts minus the same run's without calibration = the estimator's calibration
    term over the run, key by key (real-valued nets: exact); MF's net has no batch norm, so it
    calibrates nothing and its counts are unchanged."""
    kw = dict(algo=algo, arch=arch, limit_train=200)
    runs = {}
    for name, n in (("with", None), ("without", 0)):
        cfg = TrainConfig(dataset="mnist", epochs=1, batch_size=BATCH, limit_test=64, seed=0,
                          threads=1, calibration_samples=n, **kw)
        cfg = cfg.validate()
        trainer = Trainer(cfg, mnist_small, tmp_path / name)
        trainer.run()
        runs[name] = trainer
    assert runs["with"].calibration_samples == 200
    measured = {k: v - runs["without"].counts.as_dict().get(k, 0)
                for k, v in runs["with"].counts.as_dict().items()}
    measured = {k: v for k, v in measured.items() if v}
    net, model = load_arch(arch), get_algorithm(algo)
    run_samples = 200  # one epoch of 200 samples (3 batches of 64 and one of 8)

    def step(n):
        total = {}
        for row in model.training_step(net, ModelParams(batch_size=BATCH, calibration_samples=n,
                                                        run_samples=run_samples)):
            for k, v in row.total().items():
                total[k] = total.get(k, 0.0) + v
        return total

    with_cal, without = step(200), step(0)
    estimated = {k: (v - without.get(k, 0.0)) * run_samples / BATCH for k, v in with_cal.items()}
    estimated = {k: v for k, v in estimated.items() if abs(v) > 1e-6}
    assert set(measured) == set(estimated)
    for k, v in measured.items():
        assert v == pytest.approx(estimated[k], rel=1e-9), k


def test_no_batch_norm_no_calibration(mnist_small, tmp_path):
    cfg = TrainConfig(algo="mf", arch="mf-mlp-2x1000", schedule="online", dataset="mnist",
                      epochs=1, batch_size=BATCH, limit_train=128, limit_test=64, threads=1)
    cfg = cfg.validate()
    trainer = Trainer(cfg, mnist_small, tmp_path / "mf")
    trainer.run()
    assert trainer.calibrated and trainer.calibration_samples == 0
