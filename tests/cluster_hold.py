"""A Dask worker preload for ``tests/test_sweep_cluster.py`` (passed as the local cluster's
``preload``; it runs in every worker process, restarted ones included): a point whose
``hold-<key>`` file is in the folder ``$PBITSIM_SWEEP_TEST_HOLD`` pauses after the checkpoint
of an epoch that is not its last, writing its worker's process id to ``held-<key>``, until the
file goes (120 s at most). The production reporter knows nothing of it: its ``end_epoch`` is
wrapped here."""

from __future__ import annotations

import os
import time

HOLD_ENV = "PBITSIM_SWEEP_TEST_HOLD"


def hold(folder: str, key: str) -> None:
    """Pause while ``folder/hold-<key>`` exists, having written ``folder/held-<key>``."""
    from pbitsim import runfiles
    if not os.path.exists(os.path.join(folder, f"hold-{key}")):
        return
    runfiles.write_text(os.path.join(folder, f"held-{key}"), f"{os.getpid()}\n")
    deadline = time.monotonic() + 120
    while os.path.exists(os.path.join(folder, f"hold-{key}")) and time.monotonic() < deadline:
        time.sleep(0.1)


def dask_setup(worker) -> None:
    """Wrap the worker-side reporter's epoch calls with :func:`hold`."""
    from pbitsim.sweep.cluster import _EventReporter
    folder = os.environ[HOLD_ENV]
    start, end = _EventReporter.start_epoch, _EventReporter.end_epoch

    def start_epoch(self, epoch, epochs, *args, **kwargs):
        self.held_epochs = epochs
        start(self, epoch, epochs, *args, **kwargs)

    def end_epoch(self, record):
        end(self, record)  # the checkpoint is saved, the client told
        if record["epoch"] < self.held_epochs:
            hold(folder, self.key)

    _EventReporter.start_epoch, _EventReporter.end_epoch = start_epoch, end_epoch
