"""Holes 2 and 7: a sweep reuses a point only when its recorded configuration is the one asked
for, refuses forged or corrupt points in one line, and ``--jobs`` never changes a result."""

from __future__ import annotations

import json

import pytest

from adv_helpers import invoke, one_error_line

# the smallest trained sweep: one or two tiny BSFF points on the small ConvNet
TINY = ("--arch", "cwc-mnist", "--limit-train", "64", "--limit-test", "32", "--batch-size", "32",
        "--no-plots")
POINT = "runs/ideal-m1-s0"


def _sweep(mnist_dir, out, *extra):
    return invoke("sweep", "--tiles", "1", "--data-dir", mnist_dir, *TINY, "--out", out, *extra)


def test_stale_point_is_refused_then_recomputed(mnist_dir, tmp_path):
    first = _sweep(mnist_dir, tmp_path, "--epochs", "1")
    assert first.exit_code == 0, first.output
    # hole 8: the table on stdout, progress (a line per epoch: not a terminal) on stderr
    assert "test accuracy" in first.stdout and "epoch 1/1" not in first.stdout
    assert "ideal-m1-s0 epoch 1/1: loss" in first.stderr
    # the same folder asked for 2 epochs: the 1-epoch point is not reported as a 2-epoch one
    stale = _sweep(mnist_dir, tmp_path, "--epochs", "2")
    one_error_line(stale, "epochs=1", "epochs=2", "--recompute")
    again = _sweep(mnist_dir, tmp_path, "--epochs", "2", "--recompute")
    assert again.exit_code == 0, again.output
    res = json.loads((tmp_path / POINT / "results.json").read_text())
    assert res["epochs"] == 2 and len(res["history"]) == 2
    assert json.loads((tmp_path / "sweep.json").read_text())["config"]["epochs"] == 2
    # a forged accuracy in an otherwise genuine results.json is refused
    res["accuracy"] = 0.999
    (tmp_path / POINT / "results.json").write_text(json.dumps(res))
    one_error_line(_sweep(mnist_dir, tmp_path, "--epochs", "2"), "disagrees", "--recompute")


@pytest.mark.parametrize("content, needle", [
    ('{"accuracy": 0.999}', "not a pbitsim training results document"),
    ('{"format": "pbitsim-train-results", "version": 1, "accuracy": 7}', "invalid"),
    ("{not json", "not JSON"),
    ("[" * 100_000, "nested too deeply"),
], ids=["forged", "bad-accuracy", "not-json", "deep"])
def test_forged_or_corrupt_point_is_one_line(tmp_path, content, needle):
    folder = tmp_path / POINT
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(content)
    r = invoke("sweep", "--tiles", "1", *TINY, "--out", tmp_path)
    one_error_line(r, "ideal-m1-s0", needle, "--recompute")
    assert not (tmp_path / "sweep.json").exists()


def test_point_of_another_thread_count_is_refused(mnist_dir, tmp_path):
    assert _sweep(mnist_dir, tmp_path).exit_code == 0
    r = _sweep(mnist_dir, tmp_path, "--threads", "2")
    one_error_line(r, "threads=1", "threads=2")


def _numbers(out):
    doc = json.loads((out / "sweep.json").read_text())
    keep = ("device", "tiles", "seed", "accuracy", "energy_train_pj_per_sample",
            "energy_inference_pj", "activation_density")
    return [{k: r[k] for k in keep} for r in doc["runs"]]


def test_jobs_do_not_change_results(mnist_dir, tmp_path):
    args = ("sweep", "--tiles", "1,2", "--data-dir", mnist_dir, *TINY)
    one = invoke(*args, "--jobs", "1", "--out", tmp_path / "one")
    assert one.exit_code == 0, one.output
    two = invoke(*args, "--jobs", "2", "--out", tmp_path / "two")
    assert two.exit_code == 0, two.output
    assert _numbers(tmp_path / "one") == _numbers(tmp_path / "two")
    # the thread count is part of every point's recorded configuration
    for out in ("one", "two"):
        for point in ("ideal-m1-s0", "ideal-m2-s0"):
            res = json.loads((tmp_path / out / "runs" / point / "results.json").read_text())
            assert res["config"]["threads"] == 1 and res["threads"] == 1


def test_corrupt_counts_of_a_finished_point_is_refused_then_recomputed(mnist_dir, tmp_path):
    assert _sweep(mnist_dir, tmp_path).exit_code == 0
    (tmp_path / POINT / "counts.json").write_text('{"format": "pbitsim-counts"}')
    one_error_line(_sweep(mnist_dir, tmp_path), "counts.json", "--recompute")
    again = _sweep(mnist_dir, tmp_path, "--recompute")
    assert again.exit_code == 0, again.output
