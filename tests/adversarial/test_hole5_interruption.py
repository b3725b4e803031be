"""Hole 5: no work lost to signals, a full disk or a second run into the same folder.

SIGTERM is Ctrl-C (checkpoint, exit 130, and ``--resume`` ends bit-identical to an uninterrupted
run); a second Ctrl-C is no traceback; a failed checkpoint write keeps the previous checkpoint
and says so; a second run into a locked output folder is refused in one line.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from adv_helpers import invoke, one_error_line, pbitsim_cmd, run_pbitsim, subprocess_env

from pbitsim import runfiles

torch = pytest.importorskip("torch")

# 3 steps per epoch, 3 epochs: a signal after the first checkpoint lands in epoch 2 (the small
# ConvNet: a third of the default CFSE net's work)
LONGER = ("--algo", "cwc", "--arch", "cwc-mnist", "--limit-train", "96", "--limit-test", "32",
          "--batch-size", "32", "--epochs", "3")


def _start(*args):
    return subprocess.Popen(pbitsim_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=subprocess_env())


def _wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert path.exists(), f"{path} never appeared"


def _final_state(out):
    state = runfiles.load_checkpoint(out)
    results = json.loads((out / "results.json").read_text())
    counts = json.loads((out / "counts.json").read_text())
    return state, results, counts


def test_sigterm_mid_epoch_then_resume_is_bit_identical(mnist_dir, tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    whole = run_pbitsim("train", *LONGER, "--data-dir", mnist_dir, "--out", ref)
    assert whole.returncode == 0, whole.stderr
    # hole 8 on the way: the summary is on stdout, one progress line per epoch on stderr
    assert "test accuracy" in whole.stdout and "test accuracy" not in whole.stderr
    assert [l.split(":")[0] for l in whole.stderr.splitlines() if ": loss" in l] == [
        "epoch 1/3", "epoch 2/3", "epoch 3/3"]

    proc = _start("train", *LONGER, "--data-dir", mnist_dir, "--out", cut)
    _wait_for(cut / "checkpoint.pt", proc)  # epoch 1 done: the signal lands in epoch 2
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Stopping: finishing the current step" in err and "Traceback" not in err
    assert "checkpoint saved" in err and not (cut / "results.json").exists()
    state = runfiles.load_checkpoint(cut)
    assert (state["epoch"], state["step"]) != (3, 0), "the run was not interrupted"

    resumed = run_pbitsim("train", *LONGER, "--data-dir", mnist_dir, "--out", cut, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    (s1, r1, c1), (s2, r2, c2) = _final_state(ref), _final_state(cut)
    assert r1["test_accuracy"] == r2["test_accuracy"]
    assert [h["loss"] for h in r1["history"]] == [h["loss"] for h in r2["history"]]
    assert c1["counts"] == c2["counts"] and c1["inference_counts"] == c2["inference_counts"]
    model1, model2 = s1["algo"]["model"], s2["algo"]["model"]
    assert model1.keys() == model2.keys()
    assert all(torch.equal(model1[k], model2[k]) for k in model1)


def test_second_ctrl_c_is_no_traceback(mnist_dir, tmp_path):
    out = tmp_path / "run"
    proc = _start("train", *LONGER, "--data-dir", mnist_dir, "--out", out)
    _wait_for(out / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err
    assert runfiles.load_checkpoint(out)["format"] == runfiles.CHECKPOINT_FORMAT


def test_second_run_into_the_same_out_is_refused(mnist_dir, tmp_path):
    out = tmp_path / "run"
    first = _start("train", *LONGER, "--data-dir", mnist_dir, "--out", out)
    try:
        _wait_for(out / "checkpoint.pt", first)
        second = invoke("train", *LONGER, "--data-dir", mnist_dir, "--out", out, "--resume")
        one_error_line(second, "in use by another pbitsim run", f"pid {first.pid}")
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 130
    with runfiles.out_lock(out):  # the lock went with the process
        pass


_HOLD = """
import sys, time
from pbitsim import runfiles
with runfiles.out_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_sweep_into_a_locked_out_is_refused(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        one_error_line(invoke("sweep", "--estimate-only", "--out", tmp_path), "in use")
        one_error_line(invoke("sweep", "--tiles", "1", "--limit-train", "64", "--out", tmp_path),
                       "in use")
        assert not (tmp_path / "sweep.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_full_disk_keeps_the_previous_checkpoint(mnist_dir, tmp_path, monkeypatch):
    from pbitsim.datasets import load_dataset
    from pbitsim.training import TrainConfig, Trainer, TrainingError

    writes = []

    def write_all(fh, data, real=runfiles._write_all):
        writes.append(len(data))
        if len(writes) == 2:  # the second checkpoint: the disk is full
            raise OSError(28, "No space left on device")
        real(fh, data)
    monkeypatch.setattr(runfiles, "_write_all", write_all)
    cfg = TrainConfig(algo="cwc", limit_train=64, limit_test=32, batch_size=32, epochs=3)
    trainer = Trainer(cfg, load_dataset("mnist", mnist_dir), tmp_path / "run")
    with pytest.raises(TrainingError, match=r"No space left on device; the previous "
                                            r"checkpoint \(epoch 2, step 0\) is kept"):
        trainer.run()
    assert runfiles.load_checkpoint(tmp_path / "run")["epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        runfiles.LOCK, runfiles.CHECKPOINT]
