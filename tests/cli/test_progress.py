"""Progress lines when the output is not a terminal: per epoch or stage, and at a fixed
interval within a long one."""

from __future__ import annotations

import io

from rich.console import Console

from pbitsim.cli.progress import LINE_INTERVAL_S, LineReporter


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_a_line_every_interval_within_an_epoch_and_one_per_epoch():
    out, clock = io.StringIO(), Clock()
    rep = LineReporter(Console(file=out, width=200), interval_s=LINE_INTERVAL_S, clock=clock)
    rep.start_epoch(0, 3, 100, 0, "predictor 1/3, epoch 1/1")
    for s in range(100):
        clock.t += 1.0  # 100 steps of 1 s: a line at 30, 60 and 90 s
        rep.step(0.5, 0.25, 128.0)
    rep.end_epoch({"loss": 0.5, "train_acc": 0.25, "samples_per_s": 128.0, "wall_s": 100.0})
    lines = out.getvalue().splitlines()
    assert [l.split(":")[0] for l in lines] == ["predictor 1/3, epoch 1/1"] * 4
    assert [l.split("step ")[1].split()[0] for l in lines[:3]] == ["30/100", "60/100", "90/100"]
    assert "100.0 s" in lines[3] and "step" not in lines[3]


def test_quiet_epochs_print_one_line_each():
    out, clock = io.StringIO(), Clock()
    rep = LineReporter(Console(file=out, width=200), clock=clock)
    for e in range(2):
        rep.start_epoch(e, 2, 10, 0)
        for _ in range(10):
            clock.t += 0.1
            rep.step(1.0, 0.5, 10.0)
        rep.end_epoch({"loss": 1.0, "train_acc": 0.5, "samples_per_s": 10.0, "wall_s": 1.0})
    assert [l.split(":")[0] for l in out.getvalue().splitlines()] == ["epoch 1/2", "epoch 2/2"]


def test_greedy_rules_name_their_stages():
    from pbitsim.training import TrainConfig
    from pbitsim.training.algorithms import make_algorithm
    cfg = TrainConfig(algo="cafo-dfa", dataset="mnist", epochs=2, dfa_epochs=1)
    cfg = cfg.validate()
    alg = make_algorithm(cfg, (1, 28, 28), 10)
    total = alg.run_epochs()
    assert total == 1 + 2 * 3
    assert [alg.epoch_name(e, total) for e in range(total)] == [
        "blocks (DFA), epoch 1/1", "predictor 1/3, epoch 1/2", "predictor 1/3, epoch 2/2",
        "predictor 2/3, epoch 1/2", "predictor 2/3, epoch 2/2", "predictor 3/3, epoch 1/2",
        "predictor 3/3, epoch 2/2"]
    cfg = TrainConfig(algo="mf", dataset="mnist", epochs=1)
    cfg = cfg.validate()
    alg = make_algorithm(cfg, (1, 28, 28), 10)
    assert [alg.epoch_name(e, 2) for e in range(2)] == ["layer 1/2, epoch 1/1",
                                                         "layer 2/2, epoch 1/1"]
    cfg = TrainConfig(algo="cwc", dataset="mnist", epochs=3)
    cfg = cfg.validate()
    assert make_algorithm(cfg, (1, 28, 28), 10).epoch_name(1, 3) == "epoch 2/3"
