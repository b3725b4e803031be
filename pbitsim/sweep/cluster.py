"""Sweep points as the tasks of a Dask cluster (``pbitsim sweep --scheduler``).

Dask's ``distributed`` scheduler is an optional extra (``pip install 'pbitsim[cluster]'``);
nothing here imports it before a cluster is asked for, and :func:`require_dask` turns its
absence into one line.

* ``local:N`` starts a :class:`distributed.LocalCluster` of N worker processes with one task
  slot each (a point's torch/numba threads are its own ``--threads``); ``tcp://HOST:PORT``
  (or ``tls://``, ``ws://``, ``wss://``) connects to a running ``dask scheduler``.
* Each point is one task, :func:`run_point`, run in a worker process. It takes the lock of
  the point's folder ``OUT/runs/<key>`` (not the sweep's ``OUT`` lock, which the client holds
  for the whole sweep), trains there (resuming its checkpoint, or reading its results back)
  and returns the results document. ``OUT`` must be the same shared folder, at the same path,
  on the client and every worker.
* Progress: the task sends the trainer's reporter calls as Dask events (batched, a few per
  second), which the client replays on the point's progress bar; the client counts points
  done / running / queued.
* Faults: a worker that dies mid-point has its task rescheduled by Dask; the new attempt waits
  for the dead process's folder lock (:data:`~pbitsim.config.POINT_LOCK_WAIT_S` at most) and
  resumes from the point's last checkpoint. A point that fails on its worker (its data set
  missing there, a worker lost too often) is reported and the sweep goes on. A stop (Ctrl-C)
  cancels the queued tasks and writes a stop file in ``OUT/runs`` that the running ones see at
  their next step: they save a checkpoint and return.
* A worker process trains one point at a time (a lock), since torch's thread count is a
  process setting: start remote workers with ``--nthreads 1`` and as many ``--nworkers`` as
  points should run at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import threading
import time
import uuid
from pathlib import Path

from .. import runfiles
from ..config import POINT_LOCK_WAIT_S, SCHEDULER_CONNECT_TIMEOUT_S
from .grid import SweepError
from .points import RUNS, point_folder, train_point

__all__ = ["INSTALL_HINT", "require_dask", "parse_scheduler", "run_on_cluster", "run_point"]

INSTALL_HINT = "pip install 'pbitsim[cluster]'"
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss)://[^\s/]+:\d{1,5}$")
_MAX_LOCAL_WORKERS = 1024
#: Dask's nannies start workers with glibc's MALLOC_TRIM_THRESHOLD_ set (to hand memory back),
#: which also turns off glibc's adaptive mmap threshold: torch's large tensors are then mapped
#: and unmapped at every step, and a training step took 1.75x as long (measured, one point of
#: BSFF M=7 on 500 MNIST images). pbitsim's local clusters leave it unset; see the README for
#: remote workers.
_MALLOC_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
_FLUSH_S = 0.25  # progress events at most this often per point (besides epoch boundaries)


def require_dask() -> None:
    """``SweepError`` (one line saying what to install) unless Dask's distributed is there."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise SweepError("--scheduler needs Dask's distributed scheduler, which is not "
                         f"installed: {INSTALL_HINT}") from None


def parse_scheduler(text: str) -> "tuple[str, int | str]":
    """``("local", N)`` for ``local:N``, ``("address", text)`` for ``tcp://HOST:PORT``;
    ``SweepError`` (one line) for anything else."""
    text = text.strip()
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not n.isdigit() or not 1 <= int(n) <= _MAX_LOCAL_WORKERS:
            raise SweepError(f"--scheduler local:N needs N in 1..{_MAX_LOCAL_WORKERS} worker "
                             f"processes, got {text!r}")
        return "local", int(n)
    if not _ADDRESS.match(text) or not 0 < int(text.rsplit(":", 1)[1]) < 65536:
        raise SweepError(f"--scheduler must be local:N or a scheduler address such as "
                         f"tcp://HOST:8786, got {text!r}")
    return "address", text


def _connect(spec: str):
    """A client (and the local cluster it owns, or None) for ``spec``."""
    from distributed import Client, LocalCluster
    kind, value = parse_scheduler(spec)
    if kind == "local":
        # Ctrl-C in a terminal reaches every process of the group: the workers ignore it (they
        # inherit the disposition) and stop through the sweep's stop file instead, after
        # saving their points' checkpoints.
        import signal
        import dask
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with dask.config.set({_MALLOC_TRIM: None}):
                cluster = LocalCluster(n_workers=value, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit=0,
                                       silence_logs=logging.ERROR)
        finally:
            signal.signal(signal.SIGINT, previous)
        return Client(cluster, set_as_default=False), cluster
    try:
        client = Client(value, timeout=SCHEDULER_CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise SweepError(f"cannot reach the Dask scheduler at {value} within "
                         f"{SCHEDULER_CONNECT_TIMEOUT_S} s ({type(e).__name__}); start one "
                         "with `dask scheduler` and check the address") from None
    return client, None


def run_on_cluster(run, points) -> "dict | None":
    """Train ``points`` of the :class:`~pbitsim.sweep.SweepRun` ``run`` on its scheduler;
    their results by point (failed points left out, in ``run.failed``), None if stopped."""
    require_dask()
    client, cluster = _connect(run.scheduler)
    try:
        return _Client(run, client).run(points)
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


class _Client:
    """The client side of a cluster sweep: submit, replay progress, collect, stop."""

    def __init__(self, run, client):
        self.run_, self.client = run, client
        self.id = uuid.uuid4().hex[:12]
        self.topic = f"pbitsim-sweep-{self.id}"
        self.stop_path = run.out.resolve() / RUNS / f".stop-{self.id}"
        self.events: queue.Queue = queue.Queue()

    def run(self, points):
        run = self.run_
        runfiles.make_out_folder(self.stop_path.parent)
        self.client.subscribe_topic(self.topic, lambda event: self.events.put(event[1]))
        out = str(run.out.resolve())
        by_key = {p.key: p for p in points}
        pending = {self.client.submit(run_point, run.cfg, p, out, self.topic,
                                      str(self.stop_path), key=f"pbitsim-{self.id}-{p.key}",
                                      pure=False): p for p in points}
        results, started, reporters = {}, set(), {}
        stopping, state = False, None
        try:
            while pending:
                self._replay(by_key, started, reporters)
                for fut in [f for f in pending if f.done()]:
                    point = pending.pop(fut)
                    self._replay(by_key, started, reporters)
                    rep = reporters.pop(point, None)
                    if rep is not None:
                        rep.close()
                    self._collect(fut, point, results)
                if run.stop_requested and not stopping:
                    stopping = True
                    runfiles.write_text(self.stop_path, "stop\n")
                    queued = [f for f, p in pending.items() if p.key not in started]
                    self.client.cancel(queued)
                    for f in queued:
                        pending.pop(f)
                running = sum(1 for p in pending.values() if p.key in started)
                now = (len(results) + len(run.failed), running, len(pending) - running)
                if now != state:
                    state = now
                    run.state(*now)
                if pending:
                    time.sleep(0.2)
        finally:
            for rep in reporters.values():
                if rep is not None:
                    rep.close()
            with contextlib.suppress(OSError):
                self.stop_path.unlink()
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(self.topic)
        return None if stopping else results

    def _replay(self, by_key, started, reporters) -> None:
        while True:
            try:
                kind, key, payload = self.events.get_nowait()
            except queue.Empty:
                return
            point = by_key.get(key)
            if point is None:
                continue
            if kind == "start":
                started.add(key)
            elif kind == "calls":
                for name, args in payload:
                    self.run_.forward(reporters, point, name, args)

    def _collect(self, fut, point, results) -> None:
        run = self.run_
        if fut.status == "cancelled":
            return
        if fut.status == "error":
            exc = fut.exception()
            name = type(exc).__name__
            if name == "KilledWorker":
                message = ("its worker died while training it, too often (Dask's "
                           "distributed.scheduler.allowed-failures); its checkpoint is kept")
            else:
                text = str(exc).strip().splitlines()
                message = f"{name}: {text[0][:300] if text else ''}"
            self._fail(point, message)
            return
        res = fut.result()
        if res["status"] == "done":
            results[point] = res["results"]
            run.on_done(point, res["results"])
        elif res["status"] == "failed":
            self._fail(point, res["error"])

    def _fail(self, point, message: str) -> None:
        self.run_.failed[point] = message
        self.run_.on_failed(point, message)


# ------------------------------------------------------------------------------ worker side
_ONE_POINT = threading.Lock()  # torch's thread count is per process: one point at a time


def run_point(cfg, point, out: str, topic: str, stop_path: str) -> dict:
    """The task of one point (in a Dask worker process).

    Returns ``{"status": "done", "results": ...}``, ``{"status": "stopped"}`` (the sweep was
    stopped: a checkpoint is saved) or ``{"status": "failed", "error": line}`` (a bad input
    where the point runs: its data set missing on the worker, an unusable checkpoint).
    """
    from distributed import get_worker
    worker = get_worker()
    with _ONE_POINT:
        if os.path.exists(stop_path):
            return {"status": "stopped"}
        reporter = _EventReporter(worker, topic, point.key, stop_path)
        try:
            with _point_lock(point_folder(out, point)):
                reporter.send("start", worker.address)
                res = train_point(cfg, point, Path(out), reporter, on_trainer=reporter.watch)
        except ValueError as e:  # DatasetError, TrainingError, RunFileError: one line each
            return {"status": "failed", "error": f"on worker {worker.address}: {e}"}
        finally:
            reporter.flush()
    return {"status": "done", "results": res} if res is not None else {"status": "stopped"}


@contextlib.contextmanager
def _point_lock(folder: Path):
    """The point folder's lock, waiting for a lost attempt's process to let it go."""
    deadline = time.monotonic() + POINT_LOCK_WAIT_S
    stack = contextlib.ExitStack()
    while True:
        try:
            stack.enter_context(runfiles.out_lock(folder))
            break
        except runfiles.OutFolderBusy:
            if time.monotonic() > deadline:
                raise runfiles.RunFileError(
                    f"{folder} is still locked by another process after {POINT_LOCK_WAIT_S} s "
                    "(an earlier attempt at this point still running?)") from None
            time.sleep(1.0)
    with stack:
        yield


class _EventReporter:
    """The trainer's reporter in a worker: its calls go to the client as Dask events (a batch
    every few tenths of a second); every call checks the sweep's stop file."""

    def __init__(self, worker, topic: str, key: str, stop_path: str):
        self.worker, self.topic, self.key, self.stop_path = worker, topic, key, stop_path
        self.calls: list = []
        self.sent = time.monotonic()
        self.trainer = None

    def send(self, kind: str, payload) -> None:
        self.worker.log_event(self.topic, [kind, self.key, payload])

    def flush(self) -> None:
        if self.calls:
            self.send("calls", self.calls)
            self.calls = []
        self.sent = time.monotonic()

    def watch(self, trainer) -> None:
        self.trainer = trainer

    def _call(self, name: str, *args) -> None:
        if self.trainer is not None and os.path.exists(self.stop_path):
            self.trainer.stop_requested = True
        self.calls.append([name, list(args)])
        if name not in ("step", "eval_step") or time.monotonic() - self.sent > _FLUSH_S:
            self.flush()

    def start_epoch(self, epoch, epochs, steps, done, name=None):
        self._call("start_epoch", epoch, epochs, steps, done, name)

    def step(self, loss, acc, samples_per_s):
        self._call("step", loss, acc, samples_per_s)

    def end_epoch(self, record):
        self._call("end_epoch", record)

    def start_eval(self, batches):
        self._call("start_eval", batches)

    def eval_step(self):
        self._call("eval_step")

