"""The training steps' shared base: :class:`Algorithm` and its hooks, the registry.

Each rule's training step lives in its own package, ``pbitsim/rules/<name>/train.py`` (beside
its estimator walk, ``cost.py``), registered here with :func:`register` and built by
:func:`make_algorithm`. Every algorithm trains the network of an architecture
(:class:`~pbitsim.training.models.Net` built from a built-in name or a user TOML file, as
``pbitsim estimate --arch`` reads them) where its rule applies
(:func:`pbitsim.network.arch_rules.arch_rule`). CwC-family blocks follow a freezing schedule
(:mod:`pbitsim.schedules`); the head trains throughout.
"""

from __future__ import annotations

import importlib

from ..rulebook import RULE_MODULES, RULE_SPECS, RULES
from ..network.arch_rules import resolve_arch
from ..schedules import default_schedule, freeze_ends
from ..units import REAL

__all__ = ["ALGOS", "Algorithm", "register", "default_lr", "make_algorithm", "freeze_ends"]

# the optimizers and the counted loss of the training steps: pbitsim.training.helpers

ALGOS = RULES  # --algo names, in listing order (one package each in pbitsim.rules)
HEAD_LR = 1e-4  # Adam for the softmax head (the reference uses SGD 0.01 over 50 epochs)
VAL_KEY = 2**31 - 2  # seed key of greedy MF's validation passes (p-bit draws)
FF_ALPHA = 20.0  # FF: gain on the positive-minus-negative goodness gap (mean squares)


class Algorithm:
    """Base: a model, its optimizers, one training step, prediction, and state for checkpoints.

    A rule's step (``pbitsim/rules/<pkg>/train.py``) sets ``model`` and ``optims`` and
    implements :meth:`train_step` and :meth:`predict`. The trainer calls nothing else by
    name: every hook below is declared here with the default a rule without it gets, and a
    rule overrides what it needs (the estimator's walks declare the hooks they share by the
    same names: :class:`pbitsim.estimator.algorithms.Algorithm`).

    ========================  =============================================================
    hook                      default: what a rule overrides it for
    ========================  =============================================================
    ``validation``            False: True takes a seeded held-out split (greedy early stopping)
    ``takes_rows``            False: True passes ``rows=`` and calls :meth:`bind_images`
    ``refreshes_norms``       True: False keeps the training's batch-norm statistics
    ``ends``                  None: the CwC family's freezing schedule (block ends, fractions)
    :meth:`run_epochs`        ``--epochs``: a staged rule's stages one after another
    :meth:`epoch_name`        ``epoch 2/5``: a staged rule names its stage
    :meth:`skip_epoch`        False: a greedy stage that stopped early skips its epochs
    :meth:`end_epoch`         {}: per-epoch bookkeeping, added to the epoch's history record
    :meth:`layer_epochs`      None: the epochs each greedy stage trained
    :meth:`dfa_epochs`        None: the epochs of a block stage before the predictors
    :meth:`extra_index_layers`  []: index layers outside ``model`` (projections, predictors)
    :meth:`layer_density`     []: each p-bit block's measured activation density
    ========================  =============================================================
    """

    name = ""
    default_lr = 0.01  # Adam rate of the layers unless --lr is given
    #: The descriptor of the rule the step runs: the class's, set by :func:`register` from
    #: the rule package's ``RULE``; an instance's, the descriptor of the name it was made for
    #: (the rule's or its p-bit form's, ``mf`` or ``bsmf``).
    rule = None
    #: The units the step's network is made of (:class:`pbitsim.units.Units`: real-valued,
    #: or tiled p-bit units with their tile count and device): the configuration's.
    units = REAL
    predictors: tuple[str, ...] = ()
    #: True: ``train_step`` also takes ``rows=`` (the batch's data set rows) and the trainer
    #: calls :meth:`bind_images` once (a rule that caches per-image values, such as CaFo's
    #: frozen blocks: :mod:`pbitsim.training.frozen`).
    takes_rows = False
    #: True: the trainer holds out a seeded split of the training rows and passes it to
    #: :meth:`end_epoch` in batches (greedy early stopping).
    validation = False
    #: The optimizers (their states are checkpointed and checked against the weights).
    optims: list = ()
    #: The CwC family's freezing schedule: each block's end as a fraction of the run (the
    #: estimate weighs each block's learning by it); None: every block learns throughout.
    ends = None

    #: After training, recompute the running batch-norm statistics at the final weights
    #: (:mod:`pbitsim.training.calibration`); False where the rule's test pass depends on the
    #: statistics its training used as they are (CaFo: batch norms in evaluation mode).
    refreshes_norms = True

    @property
    def tiled(self) -> bool:
        """Its units are tiled p-bit units (:attr:`units`)."""
        return self.units.tiled

    @property
    def tiles(self) -> int | None:
        """Tiles per unit of tiled p-bit units; None for real-valued units."""
        return self.units.tiles

    def calibration_forward(self, x, seed_key) -> None:
        """One calibration pass over ``x``: every block forward in training mode (batch
        statistics, running statistics updated), no head, no loss (called without grad)."""
        self.model.blocks(x, seed_key, upto=len(self.model.linears) - 1)

    def bind_images(self, images, train_rows, held_out_rows) -> None:
        """Called once by the trainer when ``takes_rows``: ``images(rows)`` gives the input
        tensor of data set rows; the run reads ``train_rows`` and ``held_out_rows``."""

    def __init__(self, cfg, input_shape, classes):
        self.cfg, self.input_shape, self.classes = cfg, tuple(input_shape), classes
        spec = RULE_SPECS.get(cfg.algo)
        if spec is not None:  # the name it runs: the rule, or its p-bit form
            self.rule, self.name, self.default_lr = spec, spec.name, spec.default_lr
        self.units = cfg.units
        self.lr = cfg.lr if cfg.lr is not None else self.default_lr
        self.schedule = cfg.schedule or default_schedule(self.name)
        self.net = resolve_arch(self.name, cfg.arch, input_shape, classes, cfg.dataset,
                                self.schedule)
        self.arch = self.net.name

    def train_step(self, x, y, seed_key, frac: float) -> tuple[float, int]:
        """One step on batch ``(x, y)`` (``seed_key``: its p-bit draws; ``frac``: the run's
        progress in 0..1): the batch's mean loss and its correct training predictions."""
        raise NotImplementedError

    def predict(self, x, seed_key) -> dict:
        """Each predictor's (:attr:`predictors`) class predictions for ``x``."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(),
                "optims": [o.state_dict() for o in self.optims]}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for o, s in zip(self.optims, state["optims"]):
            o.load_state_dict(s)

    def layer_density(self) -> list[float]:
        """Each p-bit block's measured activation density (empty for real-valued units)."""
        return []

    def extra_index_layers(self) -> list:
        """Index layers outside ``self.model`` whose input statistics the counts file
        records (MF's projections, CaFo's predictors, SFF's goodness convs)."""
        return []

    def skip_epoch(self, epoch: int) -> bool:
        """Whether loop epoch ``epoch`` (0-based) is skipped: a greedy stage stopped early."""
        return False

    def end_epoch(self, epoch: int, batches) -> dict:
        """Called after loop epoch ``epoch`` with the held-out split in ``batches`` (an
        iterator of ``(x, y)``; empty without :attr:`validation`); what it returns is added
        to the epoch's history record."""
        return {}

    def layer_epochs(self) -> list[int] | None:
        """The epochs each greedy stage trained (the estimate's ``layer_epochs``); None
        for a rule without stages or an online schedule."""
        return None

    def dfa_epochs(self) -> int | None:
        """Epochs of a block stage before the predictors (CaFo-DFA); None: none. The walk's
        :meth:`pbitsim.estimator.algorithms.Algorithm.dfa_epochs` is its estimate."""
        return None

    def run_epochs(self) -> int:
        """Epochs of the trainer's loop: ``--epochs``, or (a staged rule) its stages one after
        another (the walk's :meth:`pbitsim.estimator.algorithms.Algorithm.run_epochs`)."""
        return self.cfg.epochs

    def epoch_name(self, epoch: int, total: int) -> str:
        """How progress names loop epoch ``epoch`` (0-based) of ``total``: ``epoch 2/5``, or a
        staged rule's stage (``predictor 2/3, epoch 1/1``)."""
        return f"epoch {epoch + 1}/{total}"


_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator of a rule's training step (``pbitsim/rules/<pkg>/train.py``): its name
    and default learning rate come from the package's descriptor (``RULE``); it runs the
    rule's name and its p-bit form's (``mf``, ``bsmf``), an instance taking the descriptor
    and the units of the name it is made for."""
    from ..rulebook import forms_of_module
    forms = forms_of_module(cls.__module__)
    if forms:
        cls.rule = forms[0]
        cls.name, cls.default_lr = forms[0].name, forms[0].default_lr
    for spec in forms or (cls,):
        _REGISTRY[spec.name] = cls
    return cls


def _discover(algo: str | None = None) -> None:
    """Import the training step of ``algo`` (registering it), or of every rule when None or
    unknown: a run loads its own rule's module, not the others'."""
    if algo in RULE_MODULES:
        importlib.import_module(f"{RULE_MODULES[algo]}.train")
        if algo in _REGISTRY:
            return
    for module in RULE_MODULES.values():
        importlib.import_module(f"{module}.train")


def default_lr(algo: str) -> float:
    """The layers' Adam rate of ``algo`` when no --lr is given (its descriptor's)."""
    return RULE_SPECS[algo].default_lr


def make_algorithm(cfg, input_shape, classes) -> Algorithm:
    """The algorithm named ``cfg.algo`` for data of ``input_shape`` with ``classes`` classes."""
    _discover(cfg.algo)
    if cfg.algo not in _REGISTRY:
        raise ValueError(f"unknown algorithm {cfg.algo!r}; choose one of {', '.join(ALGOS)}")
    algo = _REGISTRY[cfg.algo](cfg, input_shape, classes)
    prec = cfg.precision
    if prec.fixed:  # every product layer of the network on the fixed-point datapath
        from ..bridge.modules import set_precision
        set_precision(algo.model, prec)
    return algo
