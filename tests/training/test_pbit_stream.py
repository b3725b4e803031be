"""Run files record the uniforms a run's p-bits drew (``pbit_stream``): a checkpoint drawn with
other uniforms (an earlier pbitsim's, which recorded none) is refused in one line, not continued
on another random stream; runs without such p-bits resume as before."""

import pytest

from pbitsim import runfiles
from pbitsim.seeds import EARLIER_PBIT_UNIFORMS, PBIT_UNIFORMS
from pbitsim.training import Trainer, TrainConfig, TrainingError

from .train_helpers import StopAfter

ARCH = "cwc-mnist"


def _stopped(ds, folder, **kw):
    cfg = TrainConfig(**{"dataset": "mnist", "epochs": 1, "batch_size": 50, "limit_train": 200,
                         "limit_test": 50, "arch": ARCH, **kw})
    t = Trainer(cfg, ds, folder)
    stopper = StopAfter(2)
    t.reporter, stopper.trainer = stopper, t
    assert t.run() is None
    return cfg


def _as_earlier(folder):
    """Rewrite the checkpoint as pbitsim before 2026-12 wrote it: no ``pbit_stream``."""
    state = runfiles.load_checkpoint(folder)
    state["config"].pop("pbit_stream")
    runfiles.save_checkpoint(folder, state)
    return state


def test_an_earlier_p_bit_checkpoint_is_refused(mnist_small, tmp_path):
    kw = dict(algo="bsff", tiles=2)
    _stopped(mnist_small, tmp_path / "run", **kw)
    state = runfiles.load_checkpoint(tmp_path / "run")
    assert state["config"]["pbit_stream"] == PBIT_UNIFORMS
    _as_earlier(tmp_path / "run")
    cfg = TrainConfig(dataset="mnist", epochs=1, batch_size=50, limit_train=200, limit_test=50,
                      arch=ARCH, **kw)
    with pytest.raises(TrainingError, match=f"drawn with other p-bit uniforms "
                                            f"\\({EARLIER_PBIT_UNIFORMS}.*{PBIT_UNIFORMS}\\)"):
        Trainer(cfg, mnist_small, tmp_path / "run").run(resume=True)


@pytest.mark.parametrize("kw", [dict(algo="cwc"),
                                dict(algo="bsff", tiles=2, device="digital")])
def test_runs_without_those_p_bits_resume_an_earlier_checkpoint(mnist_small, tmp_path, kw):
    # real units draw no p-bits; a digital p-bit's generator is its own (unchanged)
    _stopped(mnist_small, tmp_path / "run", **kw)
    assert runfiles.load_checkpoint(tmp_path / "run")["config"]["pbit_stream"] is None
    _as_earlier(tmp_path / "run")
    cfg = TrainConfig(dataset="mnist", epochs=1, batch_size=50, limit_train=200, limit_test=50,
                      arch=ARCH, **kw)
    res = Trainer(cfg, mnist_small, tmp_path / "run").run(resume=True)
    assert res["config"]["pbit_stream"] is None and res["config"]["device"] == cfg.device
