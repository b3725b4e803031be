"""Helpers shared by the training tests."""


class StopAfter:
    """A reporter that asks the trainer to stop after ``n`` steps (``trainer`` set by the test)."""

    def __init__(self, n):
        self.n, self.trainer = n, None

    def start_epoch(self, *a):
        pass

    def step(self, *a):
        self.n -= 1
        if self.n == 0:
            self.trainer.stop_requested = True

    def end_epoch(self, record):
        pass

    def start_eval(self, batches):
        pass

    def eval_step(self):
        pass


def cached_vs_recomputed(make, monkeypatch):
    """Run ``make("cached")`` with the frozen-layer cache and ``make("plain")`` without it
    (:data:`pbitsim.config.FROZEN_CACHE_MAX_BYTES` 0); assert equal counts (results and
    counts.json), losses and held-out losses to 1e-4 and accuracies to 2 points; return both
    trainers."""
    import json

    import pytest

    cached = make("cached")
    res_cached = cached.run()
    assert cached.algo.frozen.values is not None  # the last stage ran from the cache
    monkeypatch.setattr("pbitsim.config.FROZEN_CACHE_MAX_BYTES", 0)
    plain = make("plain")
    res_plain = plain.run()
    assert plain.algo.frozen.values is None
    assert res_cached["train_counts_by_op"] == res_plain["train_counts_by_op"]
    assert json.loads((cached.out / "counts.json").read_text())["counts"] == \
        json.loads((plain.out / "counts.json").read_text())["counts"]
    assert len(res_cached["history"]) == len(res_plain["history"])
    for a, b in zip(res_cached["history"], res_plain["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        if "val_loss" in a:
            assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    assert res_cached["accuracy"] == pytest.approx(res_plain["accuracy"], abs=0.02)
    return cached, plain


def stop_and_resume(make, stop_after):
    """An uninterrupted run ``make("full")`` and a run ``make("split")`` stopped after
    ``stop_after`` steps (a checkpoint), then resumed; returns ``(full, res_full, second, res)``."""
    full = make("full")
    res_full = full.run()
    first = make("split")
    stopper = StopAfter(stop_after)
    first.reporter, stopper.trainer = stopper, first
    assert first.run() is None  # stopped, checkpoint written
    second = make("split")
    return full, res_full, second, second.run(resume=True)


def assert_same_run(full, res_full, second, res, parts):
    """Bit-identical runs: the state of every module ``parts`` names on the algorithm, the
    early-stopping state where there is one, accuracies, training counts and every history
    record but its wall times."""
    import torch

    for part in parts:
        theirs = getattr(second.algo, part).state_dict()
        for k, v in getattr(full.algo, part).state_dict().items():
            assert torch.equal(v, theirs[k]), (part, k)
    assert getattr(second.algo, "stop", None) == getattr(full.algo, "stop", None)
    assert res["test_accuracy"] == res_full["test_accuracy"]
    assert res["train_counts_by_op"] == res_full["train_counts_by_op"]

    def strip(history):
        return [{k: v for k, v in h.items() if "wall" not in k and "per_s" not in k}
                for h in history]
    assert strip(res["history"]) == strip(res_full["history"])
