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

import math

from .rulebook import RULE_SPECS, family as _family

__all__ = ["SCHEDULES", "DEFAULT_SCHEDULE", "REFERENCE_ENDS", "freeze_ends", "check_schedule",
           "MF_SCHEDULES", "MF_FAMILY", "MF_PATIENCE", "MF_VALIDATION", "SFF_FAMILY",
           "SFF_SCHEDULES", "default_schedule", "check_algo_schedule", "CAFO_FAMILY",
           "CAFO_PATIENCE", "CAFO_DFA_EPOCHS", "CAFO_DFA_RULES", "GREEDY_FAMILY", "DFA_STAGE",
           "dfa_epochs", "greedy_stopping", "held_out_loss", "record_held_out"]

SCHEDULES = RULE_SPECS["cwc"].schedules  # the CwC family's (pbitsim.rulebook): staggered, ...
DEFAULT_SCHEDULE = SCHEDULES[0]

#: Mono-Forward's schedules: ``greedy`` (the seeds' runs: one layer at a time, each up to the
#: epoch cap with early stopping on a held-out split, the frozen layers below recomputed on
#: every batch) and ``online`` (every layer's local loss on every batch).
MF_SCHEDULES = RULE_SPECS["mf"].schedules
#: The Mono-Forward rules: real-valued and on tiled p-bit units.
MF_FAMILY = _family("mf")
#: Scalable FF (real-valued and on tiled p-bit units): every block learns on every minibatch,
#: its only schedule.
SFF_FAMILY = _family("sff")
SFF_SCHEDULES = RULE_SPECS["sff"].schedules
#: Early-stopping patience of greedy MF per data set (the seeds' ``configs/mf/*.yaml``) and the
#: minimum improvement of the validation local loss that resets it.
MF_PATIENCE = {"mnist": 5, "fashion-mnist": 10, "cifar10": 4}
MF_MIN_DELTA = 1e-4


def greedy_stopping(stages: int) -> dict:
    """The early-stopping state of a greedy run of ``stages`` stages (MF's layers, CaFo's
    predictors): per stage its best held-out loss, epochs without improvement, whether it ended,
    and epochs trained. Plain lists: a checkpoint stores it as it is."""
    return {"best": [math.inf] * stages, "bad": [0] * stages, "done": [False] * stages,
            "epochs": [0] * stages}


def record_held_out(stop: dict, stage: int, loss: float, patience: int) -> None:
    """One epoch's held-out loss of greedy stage ``stage``: an improvement by more than
    ``MF_MIN_DELTA`` resets the count, ``patience`` epochs without one end the stage."""
    if loss < stop["best"][stage] - MF_MIN_DELTA:
        stop["best"][stage], stop["bad"][stage] = loss, 0
    else:
        stop["bad"][stage] += 1
        if stop["bad"][stage] >= patience:
            stop["done"][stage] = True


def held_out_loss(loss_of, batches) -> float:
    """Mean of ``loss_of(x, y, offset)`` (a batch's mean loss; ``offset`` the samples before it)
    over the held-out ``batches``, weighted by batch size."""
    total, n = 0.0, 0
    for x, y in batches:
        total += float(loss_of(x, y, n)) * len(y)
        n += len(y)
    return total / max(n, 1)
#: Fraction of the training images greedy MF holds out for early stopping (a seeded split).
MF_VALIDATION = 0.1

#: The Cascaded-Forward rules: random frozen blocks (Rand-CE) and blocks learned by direct
#: feedback alignment first (DFA-CE); one linear predictor per block, CE loss. Their schedules
#: are MF's (``greedy``: one predictor at a time, as the seeds ran them; ``online``: every
#: predictor on every batch), with the same held-out split and minimum improvement. Each
#: real-valued and on tiled p-bit units (``bscafo-*``, what ``--tiles M`` selects).
CAFO_FAMILY = _family("cafo")
#: The CaFo rules whose blocks learn by direct feedback alignment first (``--dfa-epochs``).
CAFO_DFA_RULES = tuple(n for n, s in RULE_SPECS.items() if s.dfa_blocks)
#: Early-stopping patience of a greedy CaFo predictor stage (the seeds' ``configs/cafo``:
#: ``early_stopping_patience: 10`` on every data set).
CAFO_PATIENCE = 10
#: Epochs the CaFo-DFA blocks learn by direct feedback alignment before the predictors (the
#: seeds' ``block_training_epochs`` per data set).
CAFO_DFA_EPOCHS = {"mnist": 5, "fashion-mnist": 15, "cifar10": 250, "cifar100": 200}
#: The stage of a CaFo-DFA run in which the blocks learn (before its predictor stages).
DFA_STAGE = "dfa"
#: The rules with the greedy / online schedules.
GREEDY_FAMILY = MF_FAMILY + CAFO_FAMILY


def dfa_epochs(algo: str, dataset: str | None, given: int | None = None) -> int:
    """Epochs of CaFo-DFA's block stage (a rule of :data:`CAFO_DFA_RULES`): ``given``, else the
    seeds' value for ``dataset`` (MNIST's for a data set they did not run); 0 for every other
    rule."""
    if algo not in CAFO_DFA_RULES:
        return 0
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 0:
            raise ValueError(f"--dfa-epochs must be an integer >= 0, got {given!r}")
        return given
    return CAFO_DFA_EPOCHS.get(dataset, CAFO_DFA_EPOCHS["mnist"])


def default_schedule(algo: str) -> str:
    """The schedule ``pbitsim train`` uses when none is given: the first of the rule's
    (:attr:`pbitsim.rulebook.Rule.schedules`): greedy for MF and CaFo (as the seeds
    ran them), online for SFF (every block every minibatch), the staggered freezing of the
    CwC family otherwise."""
    spec = RULE_SPECS.get(algo)
    return spec.default_schedule if spec is not None else DEFAULT_SCHEDULE


def check_algo_schedule(algo: str, schedule: str) -> None:
    """``ValueError`` (one line) when ``algo`` has no schedule named ``schedule``."""
    if algo in GREEDY_FAMILY:
        if schedule not in MF_SCHEDULES:
            raise ValueError(f"--schedule {schedule}: {algo} has the schedules "
                             f"{', '.join(MF_SCHEDULES)}")
    elif algo in SFF_FAMILY:
        if schedule not in SFF_SCHEDULES:
            raise ValueError(f"--schedule {schedule}: {algo} trains every block on every "
                             f"minibatch (schedule {', '.join(SFF_SCHEDULES)})")
    elif schedule not in SCHEDULES:
        raise ValueError(f"unknown --schedule {schedule!r} for {algo}; choose one of "
                         f"{', '.join(SCHEDULES)} (greedy and online are mf's and cafo's, "
                         "online sff's)")

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
