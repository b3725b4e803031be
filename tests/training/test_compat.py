"""The networks built from an architecture train as the hard-coded ones they replaced.

Pinned values: a tiny run (64 real MNIST images, batch 32, 32 test images) recorded with pbitsim
before ``training.models.Net`` (commit 4d96b1b, hard-coded ``CwCNet``/``FFMLP``/``MLP``), on
``cwc-mnist`` (CwC-FF, BSFF and BGBSFF M=3, BP) and ``ff-mlp-4x2000`` (FF). The new code gives the same
initial weights (modules created in the same order), spikes, losses, accuracies and counts,
up to the float rounding of the CPU the test runs on (see the tolerances below).
"""

from __future__ import annotations

import pytest

from pbitsim.training import TrainConfig, Trainer

# (algo, training loss, test accuracy, counts). Only the p-bit draws are pinned among the counts:
# every other total follows the shared cost vocabulary (pbitsim.network.costs), which may be refined
# without changing the network (the 2-bit reads now include batch norm and pooling reading the
# counts at their width).
PINNED = [
    ("cwc", 10.28360366821289, {"avg": 0.0625, "sf": 0.21875}, {}),
    # BSFF / BGBSFF re-recorded (this machine, AVX2) when the p-bit sampler's stream changed to
    # 16-bit uniforms from hash32 (2026-12); with the earlier SplitMix64 draws they were
    # 10.60715913772583 {"avg": 0.125, "sf": 0.15625} and 10.649111270904541 {"avg": 0.125,
    # "sf": 0.0625}: other draws, the same distribution within 2**-17 per tile.
    ("bsff", 10.44067096710205, {"avg": 0.34375, "sf": 0.125},
     {"pbit_sample": 19568640}),
    ("bgbsff", 10.495473384857178, {"avg": 0.3125, "sf": 0.25}, {"pbit_sample": 19568640}),
    ("ff", 3.0817317962646484, {"goodness": 0.0}, {}),
    ("bp", 5.174814581871033, {"sf": 0.4375}, {}),
]


@pytest.mark.parametrize("algo, loss, acc, counts", PINNED)
def test_same_run_as_the_hard_coded_nets(real_mnist_small, tmp_path, algo, loss, acc, counts):
    arch = "ff-mlp-4x2000" if algo == "ff" else "cwc-mnist"
    # the index kernels: the reference backend, bit for bit the earlier code's sums
    cfg = TrainConfig(algo=algo, dataset="mnist", arch=arch, epochs=1, batch_size=32,
                      limit_train=64, limit_test=32, tiles=3, backend="index",
                      calibration_samples=0)  # the earlier code had no batch-norm calibration
    trainer = Trainer(cfg, real_mnist_small, tmp_path / algo)
    res = trainer.run()
    assert {k: trainer.counts[k] for k in counts} == counts
    if algo in ("bsff", "bgbsff"):
        # Equal to these values bit for bit when the Net replaced the hard-coded nets; since
        # then batch norm takes its batch statistics from the normalisation itself (one pass,
        # other float rounding of the folded scales), so a tiled unit near a threshold may
        # fire differently: the same run within rounding, not bit for bit.
        assert res["history"][0]["loss"] == pytest.approx(loss, rel=1e-3)
        for k, v in acc.items():
            assert abs(res["test_accuracy"][k] - v) <= 2 / 32, k
        return
    # Not bit for bit across machines: torch's float kernels (oneDNN/MKL/ATen) sum in an order
    # that depends on the CPU's instruction set. The losses here were recorded on another CPU
    # (AVX-512); on AVX2 and with vectorisation off (ATEN_CPU_CAPABILITY=default,
    # ONEDNN_MAX_CPU_ISA=SSE41) they differ by up to 1.2e-5 relative (bp: 5.1748772 and
    # 5.1748135 vs 5.1748146). 1e-4 is 8x that; another network, initialisation or data order
    # moves the loss by more than 1e-2. An accuracy may move by one test image where a logit
    # sits within rounding of a tie.
    assert res["history"][0]["loss"] == pytest.approx(loss, rel=1e-4)
    assert res["test_accuracy"].keys() == acc.keys()
    for k, v in acc.items():
        assert abs(res["test_accuracy"][k] - v) <= 1 / 32, k
