"""The sweep's execution stage: the points not finished are trained one after the other,
``jobs`` at a time in spawned processes, or as tasks of a Dask cluster
(:mod:`pbitsim.sweep.cluster`); finished points are read back, never retrained."""

from __future__ import annotations

from pathlib import Path

from .. import runfiles
from .grid import Point, StalePoint, SweepConfig, SweepError
from .cluster import run_on_cluster
from .points import clear_point, point_status, train_point

__all__ = ["SweepRun"]


class SweepRun:
    """Trains a sweep's points into ``out``: one at a time, ``jobs`` at once in processes, or
    as the tasks of a Dask cluster.

    Parameters
    ----------
    cfg, out
        The sweep and its output folder (locked while the sweep runs).
    jobs
        Points trained at once (spawned processes). Results do not depend on it.
    recompute
        Retrain points whose files were made with another configuration (or are unreadable)
        instead of refusing them.
    reporter_for
        ``reporter_for(point)`` gives the trainer's reporter of a point, with a ``close()``
        called when the point ends (in this process, also for parallel and cluster points).
    on_done
        ``on_done(point, results)`` after each finished point, in the order they finish.
    on_state
        ``on_state(done, running, queued)`` whenever those counts change.
    on_failed
        ``on_failed(point, message)`` when a cluster point fails (its data set missing on the
        worker, its worker lost too often): the sweep goes on with the others, and
        :attr:`failed` holds the messages.
    scheduler
        None (local), ``local:N`` (a local Dask cluster of N worker processes) or the address
        of a running Dask scheduler (``tcp://HOST:PORT``); see :mod:`pbitsim.sweep.cluster`.

    :meth:`stop` (from a signal handler) makes the running points checkpoint after their
    current step; the points not started are not started (cancelled on a cluster).
    """

    def __init__(self, cfg: SweepConfig, out, jobs: int = 1, recompute: bool = False,
                 reporter_for=None, on_done=None, on_state=None, on_failed=None,
                 scheduler: str | None = None):
        if jobs < 1:
            raise SweepError(f"--jobs must be >= 1, got {jobs}")
        self.cfg, self.out, self.jobs, self.recompute = cfg, Path(out), jobs, recompute
        self.scheduler = scheduler
        self.reporter_for = reporter_for or (lambda point: None)
        self.on_done = on_done or (lambda point, results: None)
        self.on_state = on_state or (lambda done, running, queued: None)
        self.on_failed = on_failed or (lambda point, message: None)
        self.failed: dict[Point, str] = {}
        self.already_done = 0  # points read back before anything trained
        self.stop_requested = False
        self._trainer = None
        self._stop_event = None
        self._stop_hooks: list = []

    def stop(self) -> None:
        """Stop after the running points' current steps (they save checkpoints)."""
        self.stop_requested = True
        if self._trainer is not None:
            self._trainer.stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()
        for hook in self._stop_hooks:
            hook()

    def check(self) -> dict:
        """Every point's status, before anything trains (see :func:`point_status`)."""
        status = {}
        for point in self.cfg.points():
            try:
                status[point] = point_status(self.cfg, point, self.out)
            except StalePoint:
                if not self.recompute:
                    raise
                clear_point(self.out, point)
                status[point] = ("new", None)
        return status

    def run(self) -> "dict[Point, dict] | None":
        """Results of the finished points in grid order (all of them unless some failed on a
        cluster: :attr:`failed`); None if stopped (checkpoints saved).

        A cluster is connected to (or started) after the points are checked and before any
        trains: a scheduler that cannot be reached is a :class:`SweepError`.
        """
        from ..training import TrainingError
        with runfiles.out_lock(self.out):
            status = self.check()
            points = self.cfg.points()
            finished = {p: res for p, (state, res) in status.items() if state == "done"}
            for point, res in finished.items():  # read back, never sent to be trained
                self.on_done(point, res)
            todo = [p for p in points if p not in finished]
            self.already_done = len(finished)
            try:
                if not todo:
                    results = {}
                elif self.scheduler is not None:
                    results = run_on_cluster(self, todo)
                else:
                    results = (self._parallel if self.jobs > 1 else self._serial)(todo)
            except runfiles.RunFileError as e:
                raise SweepError(str(e)) from None
            except TrainingError as e:
                raise SweepError(str(e)) from None
        if results is None:
            return None
        results.update(finished)
        return {p: results[p] for p in points if p in results}

    def state(self, done: int, running: int, queued: int) -> None:
        """Report the points done (counting those read back), running and queued."""
        self.on_state(done + self.already_done, running, queued)

    def _finished(self, point, results, done: dict) -> None:
        done[point] = results
        self.on_done(point, results)

    def _serial(self, points):
        results = {}
        for i, point in enumerate(points):
            if self.stop_requested:
                return None
            self.state(len(results), 1, len(points) - i - 1)
            reporter = self.reporter_for(point)
            try:
                res = train_point(self.cfg, point, self.out, reporter,
                                  on_trainer=self._set_trainer)
            finally:
                self._trainer = None
                if reporter is not None:
                    reporter.close()
            if res is None:
                return None
            self._finished(point, res, results)
        self.state(len(results), 0, 0)
        return results

    def _set_trainer(self, trainer) -> None:
        self._trainer = trainer
        if self.stop_requested:
            trainer.stop_requested = True

    def _parallel(self, points):
        import multiprocessing as mp
        import queue as queue_mod
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = mp.get_context("spawn")
        messages, self._stop_event = ctx.Queue(), ctx.Event()
        if self.stop_requested:
            self._stop_event.set()
        results, reporters = {}, {}
        try:
            with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx,
                                     initializer=_worker_init,
                                     initargs=(messages, self._stop_event)) as pool:
                pending = {pool.submit(_worker_run, self.cfg, p, self.out) for p in points}
                while pending:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    self._drain(messages, reporters, queue_mod)
                    for fut in done:
                        if fut.cancelled():
                            continue
                        point, res = fut.result()
                        self._drain(messages, reporters, queue_mod)
                        rep = reporters.pop(point, None)
                        if rep is not None:
                            rep.close()
                        if res is not None:
                            self._finished(point, res, results)
                    running = min(len(reporters), len(pending))
                    self.state(len(results), running, len(pending) - running)
                    if self._stop_event.is_set():
                        for fut in pending:
                            fut.cancel()
        finally:
            for rep in reporters.values():
                if rep is not None:
                    rep.close()
        return None if self._stop_event.is_set() else results

    def _drain(self, messages, reporters, queue_mod) -> None:
        while True:
            try:
                point, name, args = messages.get_nowait()
            except queue_mod.Empty:
                return
            self.forward(reporters, point, name, args)

    def forward(self, reporters: dict, point: Point, name: str, args) -> None:
        """Replay a reporter call made where ``point`` trains on its reporter here."""
        if point not in reporters:
            reporters[point] = self.reporter_for(point)
        if reporters[point] is not None:
            getattr(reporters[point], name)(*args)


# Worker side of a parallel sweep (a spawned process): progress goes back through a queue, and
# a shared event (set by the parent on Ctrl-C or SIGTERM) stops the running trainer at its
# next step.
_WORKER: dict = {}


def _worker_init(queue, stop_event) -> None:
    import signal
    _WORKER.update(queue=queue, stop=stop_event)
    for s in (signal.SIGINT, signal.SIGTERM):  # a terminal's Ctrl-C reaches every worker
        signal.signal(s, lambda signum, frame: stop_event.set())


class _QueueReporter:
    """Forwards the trainer's progress calls to the parent; checks for a stop at every step."""

    def __init__(self, point):
        self.point = point

    def __getattr__(self, name):
        def forward(*args):
            if _WORKER["stop"].is_set() and "trainer" in _WORKER:
                _WORKER["trainer"].stop_requested = True
            _WORKER["queue"].put((self.point, name, args))
        return forward


def _worker_run(cfg, point, out):
    if _WORKER["stop"].is_set():
        return point, None
    try:
        res = train_point(cfg, point, out, _QueueReporter(point),
                          on_trainer=lambda t: _WORKER.__setitem__("trainer", t))
    finally:
        _WORKER.pop("trainer", None)
    return point, res
