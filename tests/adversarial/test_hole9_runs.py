"""Hole 9 (issue #22, section 3): checkpoints, run folders and standard output.

A checkpoint that loads safely but does not fit the run is one line (eight tracebacks and two
silent mis-resumes before); an old raw-pickle checkpoint is one line without torch's advice to
load it unsafely; a folder holding another run's results is not overwritten without
``--overwrite``; a closed or full standard output is one line, and files written stay.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import warnings

import pytest

from adv_helpers import SMALL, invoke, one_error_line, pbitsim_cmd, subprocess_env

torch = pytest.importorskip("torch")

TWO = (*SMALL, "--epochs", "2")


_DATA: dict = {}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, mnist_dir):
    """A finished two-epoch cwc run (trained once for the module) on the session's data."""
    _DATA["dir"] = mnist_dir
    out = tmp_path_factory.mktemp("finished") / "run"
    r = invoke("train", *TWO, "--data-dir", mnist_dir, "--out", out)
    assert r.exit_code == 0, r.output
    return out


def _copy(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def _resume(out):
    return invoke("train", *TWO, "--data-dir", _DATA["dir"], "--out", out, "--resume")


def _edit(state):
    model = state["algo"]["model"]
    return {
        "tensor shape": lambda: model.__setitem__("linears.0.weight", torch.zeros(3, 3)),
        "missing key": lambda: model.pop("linears.0.weight"),
        "negative step": lambda: state.__setitem__("step", -5),
        "step past the epoch": lambda: state.__setitem__("step", 10 ** 6),
        "negative count": lambda: state["counts"].__setitem__(next(iter(state["counts"])), -1),
        "counts a string": lambda: state.__setitem__("counts", "hello"),
        "algo a list": lambda: state.__setitem__("algo", [1, 2, 3]),
        "loss sum a string": lambda: state["partial"].__setitem__("loss_sum", "x"),
        "adam state shape": lambda: state["algo"]["optims"][0]["state"][0].__setitem__(
            "exp_avg", torch.zeros(2)),
        "an epoch lost from the history": lambda: state.__setitem__("history",
                                                                    state["history"][:1]),
        "epoch past the run": lambda: state.__setitem__("epoch", 99),
        "history of another batch size": lambda: [r.__setitem__("samples", 32)
                                                  for r in state["history"]],
    }


@pytest.mark.parametrize("case", list(_edit({"algo": {"model": {}}})))
def test_inconsistent_checkpoint_is_one_line(finished, tmp_path, case):
    from pbitsim import runfiles
    out = _copy(finished, tmp_path)
    results = (out / "results.json").read_bytes()
    state = runfiles.load_checkpoint(out)
    _edit(state)[case]()
    torch.save(state, out / "checkpoint.pt")
    one_error_line(_resume(out), "checkpoint")
    assert (out / "results.json").read_bytes() == results, "the results were rewritten"


def test_consistent_finished_checkpoint_resumes(finished, tmp_path):
    """The control: the same run resumed unchanged reports what it reported."""
    out = _copy(finished, tmp_path)
    before = json.loads((out / "results.json").read_text())
    r = _resume(out)
    assert r.exit_code == 0, r.output
    after = json.loads((out / "results.json").read_text())
    assert after["energy"]["train_pj_per_sample"] == before["energy"]["train_pj_per_sample"]
    assert after["epochs"] == before["epochs"] == 2


def test_raw_pickle_checkpoint_is_one_line_without_unsafe_advice(finished, tmp_path):
    from pbitsim import runfiles
    out = _copy(finished, tmp_path)
    state = runfiles.load_checkpoint(out)
    with open(out / "checkpoint.pt", "wb") as fh:
        pickle.dump(state, fh)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = one_error_line(_resume(out), "checkpoint")
    assert "weights_only" not in line
    assert not caught, [str(w.message) for w in caught]


# ------------------------------------------------------------------------------ data loss
def test_another_runs_results_are_not_overwritten(finished, tmp_path, mnist_dir):
    out = _copy(finished, tmp_path)
    (out / "checkpoint.pt").unlink()
    kept = {n: (out / n).read_bytes() for n in ("results.json", "counts.json")}
    args = ("train", "--algo", "bp", "--limit-train", "64", "--limit-test", "32",
            "--batch-size", "32", "--data-dir", mnist_dir, "--out", out)
    one_error_line(invoke(*args), "results.json and counts.json", "--overwrite")
    assert {n: (out / n).read_bytes() for n in kept} == kept
    r = invoke(*args, "--overwrite")
    assert r.exit_code == 0, r.output
    assert json.loads((out / "results.json").read_text())["algo"] == "bp"


def test_resume_and_overwrite_together(finished, tmp_path, mnist_dir):
    out = _copy(finished, tmp_path)
    one_error_line(invoke("train", *TWO, "--data-dir", mnist_dir, "--out", out, "--resume",
                          "--overwrite"), "--resume", "--overwrite")


# -------------------------------------------------------------------------- standard output
def _with_stdout(args, stdout=None, close=False):
    return subprocess.run(pbitsim_cmd(*args), stdout=stdout or subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=300, env=subprocess_env(),
                          preexec_fn=(lambda: os.close(1)) if close else None)


def _one_stderr_line(r, *needles):
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args", [("estimate",), ("estimate", "--json", "-"),
                                  ("tables", "list")])
def test_full_stdout_is_one_line(args):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        _one_stderr_line(_with_stdout(args, full), "standard output", "No space left")


@pytest.mark.parametrize("args", [("estimate",), ("estimate", "--json", "-")])
def test_closed_stdout_is_one_line(args):
    _one_stderr_line(_with_stdout(args, close=True), "standard output is closed")


def test_train_to_a_full_stdout_keeps_its_results(mnist_dir, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    out = tmp_path / "run"
    with open("/dev/full", "w") as full:
        r = _with_stdout(("train", *SMALL, "--data-dir", mnist_dir, "--out", out), full)
    assert r.returncode == 2, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    assert errors == ["Error: cannot write to standard output: No space left on device"], \
        r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads((out / "results.json").read_text())["algo"] == "cwc"
    assert json.loads((out / "counts.json").read_text())["algo"] == "cwc"


def test_train_with_a_closed_stdout_starts_nothing(mnist_dir, tmp_path):
    out = tmp_path / "run"
    r = _with_stdout(("train", *SMALL, "--data-dir", mnist_dir, "--out", out), close=True)
    _one_stderr_line(r, "standard output is closed")
    assert not out.exists()
