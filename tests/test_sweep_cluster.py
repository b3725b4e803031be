"""``pbitsim sweep --scheduler``: the points as tasks of a Dask cluster (one local cluster of two
worker processes for the module).

A cluster sweep equals the same grid with ``--jobs 1``, a second run skips the finished points,
a worker killed mid-point loses nothing (the point resumes from its checkpoint and ends as if
never interrupted), a stop checkpoints the running points and cancels the queued ones, and a
data set missing on the workers fails its points, not the sweep.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from click.testing import CliRunner  # noqa: E402

import pbitsim  # noqa: E402
from pbitsim.cli.main import cli  # noqa: E402
from pbitsim.sweep import SweepConfig, SweepRun  # noqa: E402
from cluster_hold import HOLD_ENV  # noqa: E402

# the smallest useful grid: a CwC-FF point (no p-bit kernels) and a BSFF M=1 point, on the
# small ConvNet
BUDGET = ("--arch", "cwc-mnist", "--limit-train", "64", "--limit-test", "32", "--batch-size",
          "32", "--no-plots")
GRID = ("--algo", "cwc,bsff", "--tiles", "1")


@pytest.fixture(scope="module")
def tiny(mnist_dir):
    """The budget and the (synthetic) MNIST folder."""
    return ("--data-dir", mnist_dir, *BUDGET)


@pytest.fixture(scope="module")
def hold_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hold")


@pytest.fixture(scope="module")
def scheduler(hold_dir):
    """The address of a local cluster of 2 single-slot worker processes importing this
    checkout, with the hold of ``cluster_hold.py`` preloaded and its folder in their
    environment."""
    from distributed import LocalCluster
    saved = {k: os.environ.get(k) for k in (HOLD_ENV, "PYTHONPATH")}
    os.environ[HOLD_ENV] = str(hold_dir)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(pbitsim.__file__).parents[1]), saved["PYTHONPATH"]]))
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=0,
                           preload=[str(Path(__file__).with_name("cluster_hold.py"))])
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sweep(*args):
    return CliRunner().invoke(cli, ["sweep", *map(str, args)], catch_exceptions=False)


def numbers(out: Path) -> list[dict]:
    """Each point's accuracy, energies, density and its exact training counts."""
    doc = json.loads((out / "sweep.json").read_text())
    keep = ("algo", "device", "tiles", "seed", "accuracy", "energy_train_pj_per_sample",
            "energy_inference_pj", "activation_density")
    return [{**{k: r[k] for k in keep}, "counts": json.loads(
        (out / r["run"] / "results.json").read_text())["train_counts_by_op"]}
        for r in doc["runs"]]


@pytest.fixture(scope="module")
def both(scheduler, tmp_path_factory, tiny):
    """The grid trained with ``--jobs 1`` and on the cluster."""
    serial, cluster = tmp_path_factory.mktemp("serial"), tmp_path_factory.mktemp("cluster")
    one = sweep(*GRID, *tiny, "--out", serial)
    assert one.exit_code == 0, one.output
    two = sweep(*GRID, *tiny, "--out", cluster, "--scheduler", scheduler)
    assert two.exit_code == 0, two.output
    return serial, cluster, two


def test_cluster_equals_jobs_1(both):
    serial, cluster, result = both
    assert numbers(serial) == numbers(cluster)
    assert [r["algo"] for r in numbers(cluster)] == ["cwc", "bsff"]
    assert "done 2/2" in result.stderr and "test accuracy" in result.stdout
    doc = json.loads((cluster / "sweep.json").read_text())
    assert doc["points_done"] == doc["points_total"] == 2
    assert not list((cluster / "runs").glob(".stop-*"))  # the stop file is the client's


def test_second_run_skips_finished_points(both, scheduler, tiny):
    _, cluster, _ = both
    stamps = {p: p.stat().st_mtime_ns for p in cluster.glob("runs/*/results.json")}
    assert len(stamps) == 2
    rows = json.loads((cluster / "sweep.json").read_text())["rows"]
    again = sweep(*GRID, *tiny, "--out", cluster, "--scheduler", scheduler)
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert json.loads((cluster / "sweep.json").read_text())["rows"] == rows
    # finished points are read back here, not sent anywhere: no scheduler is even contacted
    offline = sweep(*GRID, *tiny, "--out", cluster, "--scheduler", "tcp://127.0.0.1:9")
    assert offline.exit_code == 0, offline.output
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def _cfg(mnist_dir, **grid):
    return SweepConfig(grid={"algo": ("cwc",), **grid}, epochs=2, batch_size=32,
                       limit_train=64, limit_test=32, data_dir=mnist_dir, arch="cwc-mnist")


def _wait_for(path: Path, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)
    return path.read_text()


def _in_thread(run):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("results", run.run()))
    thread.start()
    return thread, box


def test_killed_worker_loses_no_point(scheduler, hold_dir, tmp_path, mnist_dir):
    cfg = _cfg(mnist_dir, seed=(3,))
    (point,) = cfg.points()
    (hold_dir / f"hold-{point.key}").write_text("")
    run = SweepRun(cfg, tmp_path / "cluster", scheduler=scheduler)
    thread, box = _in_thread(run)
    try:
        pid = int(_wait_for(hold_dir / f"held-{point.key}"))  # epoch 1 checkpointed
        assert (tmp_path / "cluster" / "runs" / point.key / "checkpoint.pt").is_file()
        os.kill(pid, signal.SIGKILL)  # the worker dies mid-point
    finally:
        (hold_dir / f"hold-{point.key}").unlink()
        thread.join(timeout=300)
    assert not thread.is_alive() and not run.failed
    results = box["results"][point]
    assert [h["epoch"] for h in results["history"]] == [1, 2]
    # resumed from the checkpoint, it ends as the same point trained without interruption
    plain = SweepRun(cfg, tmp_path / "serial").run()[point]
    for k in ("accuracy", "train_counts_by_op", "test_accuracy"):
        assert results[k] == plain[k]
    assert [h["loss"] for h in results["history"]] == [h["loss"] for h in plain["history"]]


def test_stop_checkpoints_running_points_and_cancels_queued(scheduler, hold_dir, tmp_path,
                                                            mnist_dir):
    cfg = _cfg(mnist_dir, seed=(5, 6, 7))
    held, queued = cfg.points()[:2], cfg.points()[2]
    for p in held:
        (hold_dir / f"hold-{p.key}").write_text("")
    states = []
    run = SweepRun(cfg, tmp_path, scheduler=scheduler, on_state=lambda *s: states.append(s))
    thread, box = _in_thread(run)
    try:
        for p in held:  # both workers busy: the third point waits in the queue
            _wait_for(hold_dir / f"held-{p.key}")
        run.stop()
    finally:
        for p in held:
            (hold_dir / f"hold-{p.key}").unlink()
        thread.join(timeout=300)
    assert not thread.is_alive() and box["results"] is None
    assert (0, 2, 1) in states  # done, running, queued
    assert not (tmp_path / "runs" / queued.key).exists()
    for p in held:  # stopped in epoch 2, after a step: checkpointed there, not finished
        folder = tmp_path / "runs" / p.key
        assert (folder / "checkpoint.pt").is_file() and not (folder / "results.json").exists()
    import torch
    state = torch.load(tmp_path / "runs" / held[0].key / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 1)
    again = SweepRun(cfg, tmp_path, scheduler=scheduler).run()
    assert list(again) == cfg.points()
    assert all(len(r["history"]) == 2 for r in again.values())


def test_missing_dataset_fails_its_points_not_the_sweep(scheduler, tmp_path, mnist_dir):
    # the workers see MNIST in --data-dir, but no Fashion-MNIST there
    data = tmp_path / "data"
    data.mkdir()
    (data / "mnist").symlink_to(mnist_dir)
    r = sweep("--algo", "cwc", "--dataset", "mnist,fashion-mnist", *BUDGET, "--data-dir", data,
              "--out", tmp_path / "out", "--scheduler", scheduler)
    assert r.exit_code == 1, r.output
    assert "failed fashion-mnist-cwc-s0: on worker tcp://" in r.stderr
    assert "no Fashion-MNIST data found" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("Error: 1 of 2 configuration(s) failed")
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [(x["dataset"], x["algo"]) for x in doc["runs"]] == [("mnist", "cwc")]
    assert doc["points_done"] == 1 and doc["points_total"] == 2


def test_unreachable_scheduler_is_one_line_before_work(tmp_path, monkeypatch, tiny):
    import socket
    import pbitsim.sweep.cluster as sc
    monkeypatch.setattr(sc, "SCHEDULER_CONNECT_TIMEOUT_S", 1)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = sweep("--algo", "cwc", *tiny, "--out", tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}")
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot reach the Dask scheduler")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "sweep.json").exists()
