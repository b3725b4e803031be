"""Layer-freezing schedules of the forward-forward block trainers (pure Python: no torch).

A schedule says, for each block, the fraction of the training budget after which it stops
learning (frozen: it still runs forward, its parameters stay). The softmax head is never
frozen: it trains on after the last block freezes. The trainer freezes block ``i`` at the
first step whose fraction of the budget done is ``>= ends[i]``; an end of 1.0 never freezes.
The energy estimator imports the same definitions to model frozen blocks.

* ``staggered``: the CwC-FF reference's "Acc" windows scaled so the last block trains to the
  end of the budget and earlier blocks freeze proportionally earlier (F-MNIST: 0.43, 0.65,
  0.83, 1.0); on a net without 4 blocks, ends spread evenly (block i of n: (i + 1) / n).
* ``reference``: the reference's windows in whole epochs (block i trains in epochs
  ``[0, end_i)``), so a run of ``--epochs 50`` follows the reference's schedule; a block whose
  end lies beyond the budget trains throughout. Needs a 4-block net.
* ``none``: every block trains throughout.
"""

from __future__ import annotations

__all__ = ["SCHEDULES", "DEFAULT_SCHEDULE", "REFERENCE_ENDS", "freeze_ends", "check_schedule",
           "MF_SCHEDULES", "MF_FAMILY", "MF_PATIENCE", "MF_VALIDATION", "SFF_FAMILY",
           "SFF_SCHEDULES", "default_schedule", "check_algo_schedule"]

SCHEDULES = ("staggered", "reference", "none")
DEFAULT_SCHEDULE = "staggered"

#: Mono-Forward's schedules: ``greedy`` (the seeds' runs: one layer at a time, each up to the
#: epoch cap with early stopping on a held-out split, the frozen layers below recomputed on
#: every batch) and ``online`` (every layer's local loss on every batch).
MF_SCHEDULES = ("greedy", "online")
#: The Mono-Forward rules: real-valued and on tiled p-bit units.
MF_FAMILY = ("mf", "bsmf")
#: Scalable FF (real-valued and on tiled p-bit units): every block learns on every minibatch,
#: its only schedule.
SFF_FAMILY = ("sff", "bssff")
SFF_SCHEDULES = ("online",)
#: Early-stopping patience of greedy MF per data set (the seeds' ``configs/mf/*.yaml``) and the
#: minimum improvement of the validation local loss that resets it.
MF_PATIENCE = {"mnist": 5, "fashion-mnist": 10, "cifar10": 4}
MF_MIN_DELTA = 1e-4
#: Fraction of the training images greedy MF holds out for early stopping (a seeded split).
MF_VALIDATION = 0.1


def default_schedule(algo: str) -> str:
    """The schedule ``pbitsim train`` uses when none is given: greedy for MF (as the seeds ran
    it), the staggered freezing of the CwC family otherwise."""
    if algo in SFF_FAMILY:
        return "online"
    return "greedy" if algo in MF_FAMILY else DEFAULT_SCHEDULE


def check_algo_schedule(algo: str, schedule: str) -> None:
    """``ValueError`` (one line) when ``algo`` has no schedule named ``schedule``."""
    if algo in MF_FAMILY:
        if schedule not in MF_SCHEDULES:
            raise ValueError(f"--schedule {schedule}: {algo} has the schedules "
                             f"{', '.join(MF_SCHEDULES)}")
    elif algo in SFF_FAMILY:
        if schedule not in SFF_SCHEDULES:
            raise ValueError(f"--schedule {schedule}: {algo} trains every block on every "
                             f"minibatch (schedule {', '.join(SFF_SCHEDULES)})")
    elif schedule not in SCHEDULES:
        raise ValueError(f"unknown --schedule {schedule!r} for {algo}; choose one of "
                         f"{', '.join(SCHEDULES)} (greedy and online are mf's, online sff's)")

#: The CwC-FF reference's "Acc" windows: block i trains in epochs [0, end_i) (its classifier
#: to the end of the run, 50 epochs for F-MNIST and CIFAR-10), per data set.
REFERENCE_ENDS = {"mnist": (2, 3, 4, 5), "fashion-mnist": (10, 15, 19, 23),
                  "cifar10": (11, 16, 21, 25)}


def check_schedule(schedule: str, dataset: str, blocks: int) -> None:
    """``ValueError`` (one line) where ``schedule`` cannot apply to a net of ``blocks`` blocks."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if schedule == "reference":
        if dataset not in REFERENCE_ENDS:
            raise ValueError(f"--schedule reference: the CwC-FF reference has no windows for "
                             f"{dataset!r} (it has {', '.join(REFERENCE_ENDS)})")
        n = len(REFERENCE_ENDS[dataset])
        if blocks != n:
            raise ValueError(f"--schedule reference needs a net of {n} blocks (the CwC-FF "
                             f"reference's), this one has {blocks}; use staggered or none")


def freeze_ends(dataset: str, schedule: str, blocks: int = 4,
                epochs: int = 1) -> tuple[float, ...]:
    """Fraction of the training budget after which each of ``blocks`` blocks freezes.

    Parameters
    ----------
    dataset : str
        The data set (``reference`` and 4-block ``staggered`` use its windows).
    schedule : str
        ``staggered``, ``reference`` or ``none``.
    blocks : int
        Trained blocks of the net (the head excluded).
    epochs : int
        The run's epochs (``reference`` counts its windows in whole epochs).

    Returns
    -------
    tuple of float
        One end per block in ``(0, 1]``; 1.0 means the block trains throughout.
    """
    check_schedule(schedule, dataset, blocks)
    if schedule == "none":
        return (1.0,) * blocks
    if schedule == "reference":
        return tuple(min(1.0, e / epochs) for e in REFERENCE_ENDS[dataset])
    ends = REFERENCE_ENDS.get(dataset)
    if ends is None or len(ends) != blocks:
        return tuple((i + 1) / blocks for i in range(blocks))
    return tuple(e / ends[-1] for e in ends)
