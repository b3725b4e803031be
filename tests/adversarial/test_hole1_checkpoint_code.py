"""Hole 1: a crafted checkpoint must not run code, on ``train --resume`` nor in a sweep."""

from __future__ import annotations

import os

import pytest

from adv_helpers import SMALL, invoke, one_error_line

torch = pytest.importorskip("torch")


class _Payload:
    """Pickles as a call of ``os.system(command)``: loading it with pickle runs the command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _plant(folder, marker):
    folder.mkdir(parents=True)
    state = {"format": "pbitsim-train-checkpoint", "version": 5,
             "payload": _Payload(f"touch {marker}")}
    torch.save(state, folder / "checkpoint.pt")


def test_train_resume_does_not_run_a_crafted_checkpoint(mnist_dir, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "pwned"
    _plant(out, marker)
    r = invoke("train", *SMALL, "--data-dir", mnist_dir, "--out", out, "--resume")
    one_error_line(r, "checkpoint")
    assert not marker.exists(), "the checkpoint's command ran"


def test_sweep_does_not_run_a_crafted_point_checkpoint(tmp_path):
    marker = tmp_path / "pwned"
    _plant(tmp_path / "out" / "runs" / "ideal-m1-s0", marker)
    r = invoke("sweep", "--tiles", "1", "--limit-train", "64", "--limit-test", "32",
               "--batch-size", "32", "--out", tmp_path / "out", "--no-plots")
    one_error_line(r, "ideal-m1-s0", "--recompute")
    assert not marker.exists(), "the checkpoint's command ran"


def test_an_older_checkpoint_version_is_one_line(mnist_dir, tmp_path):
    """Checkpoints of an older pbitsim (other network modules) are refused with one line."""
    from pbitsim import runfiles
    out = tmp_path / "run"
    args = ("train", *SMALL, "--data-dir", mnist_dir, "--out", out)
    assert invoke(*args).exit_code == 0
    state = runfiles.load_checkpoint(out)
    state["version"] = 4
    torch.save(state, out / "checkpoint.pt")
    one_error_line(invoke(*args, "--resume"), "version 4")
