"""Operation-count models of learning algorithms: one module per algorithm.

Each rule's walk is an :class:`Algorithm` subclass decorated with :func:`register` in its own
package, ``pbitsim/rules/<name>/cost.py``, discovered on first use (see :mod:`pbitsim.rules`);
this package holds the registry, the shared parameters and the step helpers. A model returns, for an architecture, one
:class:`LayerCounts` per block plus one for the softmax head, each holding the
expected counts per training sample (or per inference) split by phase.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field

from ...config import DEFAULT_TILES
# the run options' defaults (defined once, with the options: pbitsim.options)
from ...options import (DEFAULT_BATCH, DEFAULT_ESTIMATOR, DEFAULT_GRAD_QUANT, DEFAULT_UPDATE,
                        UPDATES)
from ...network.archs import Arch, Block
from ...network.costs import Counts
from ...network.gradients import ESTIMATORS, Estimator, Quantizer, estimator, quantizer
from ...precision import FP32, Precision
from ...units import Units
from ...network.counts import PHASES
from ...network.tiles import DEFAULT_DENSITY, TileStats, tile_stats

__all__ = ["Algorithm", "LayerCounts", "ModelParams", "register", "get_algorithm", "weighted_step",
           "staged_step", "readout_step",
           "algorithm_names", "DEFAULT_BATCH", "DEFAULT_GRAD_QUANT", "DEFAULT_UPDATE", "UPDATES",
           "DEFAULT_ESTIMATOR", "ESTIMATORS"]



@dataclass(frozen=True)
class ModelParams:
    """What the counts depend on besides the network: the training choices ``pbitsim train``
    takes (the p-bit units, batch, BGBSFF's quantizer and update, sampled test passes,
    estimator) and the tile statistics (a density per block, or the statistics a run measured).

    A walk takes the tile count M of its tiled units from :attr:`units`; ``tiles`` is the
    keyword that builds them (``ModelParams(tiles=3)``: ``Units.pbit(3)``) and stays their M.
    """

    tiles: int = DEFAULT_TILES
    #: The tiled p-bit units the tiled rules run (M = ``tiles`` p-bits each, and their device;
    #: :mod:`pbitsim.units`); None: ``Units.pbit(tiles)``. A real-valued rule's walk ignores it.
    units: Units | None = None
    densities: tuple[float, ...] = (DEFAULT_DENSITY,)
    batch_size: int = DEFAULT_BATCH
    #: BGBSFF's error quantizer and the tiles' backward (:mod:`pbitsim.network.gradients`):
    #: objects; a name given is parsed once, here.
    grad_quant: Quantizer = DEFAULT_GRAD_QUANT
    update: str = DEFAULT_UPDATE
    eval_samples: int = 1
    estimator: Estimator = DEFAULT_ESTIMATOR
    stats: tuple[TileStats, ...] | None = None
    eval_stats: tuple[TileStats, ...] | None = None
    live: tuple[float, ...] | None = None
    #: Mono-Forward's greedy schedule: the epochs each layer trained (None: online, every
    #: layer every step).
    layer_epochs: tuple[int, ...] | None = None
    #: CaFo-DFA: epochs its blocks learn by direct feedback alignment before the predictors
    #: (None: the seeds' MNIST value).
    dfa_epochs: int | None = None
    #: Epochs of an online run (a rule with a stage before its online epochs, CaFo-DFA, weighs
    #: its step by them).
    epochs: int = 1
    #: The datapath (:mod:`pbitsim.precision`): fp32, or fixed-point widths.
    precision: Precision = FP32
    #: Training samples of the batch-norm calibration after training (forward passes in
    #: training mode at the final weights, in batches of ``batch_size``; 0: none), amortised
    #: over the run's ``run_samples`` training samples (all epochs):
    #: :func:`._steps.calibration_forward`.
    calibration_samples: int = 0
    run_samples: int | None = None

    def __post_init__(self):
        if self.units is None:
            object.__setattr__(self, "units", Units.pbit(self.tiles))
        elif not self.units.tiled:
            raise ValueError("ModelParams.units: the tiled rules' units are p-bit units")
        elif self.units.tiles != self.tiles:
            if self.tiles != DEFAULT_TILES:
                raise ValueError(f"ModelParams: tiles={self.tiles} but units of "
                                 f"{self.units.tiles} tiles")
            object.__setattr__(self, "tiles", self.units.tiles)
        object.__setattr__(self, "grad_quant", quantizer(self.grad_quant))
        object.__setattr__(self, "estimator", estimator(self.estimator))

    def density(self, block_index: int) -> float:
        """Activation density of block ``block_index``'s units (the last value repeats)."""
        return self.densities[min(block_index, len(self.densities) - 1)]

    def input_stats(self, arch: Arch, index: int) -> TileStats | None:
        """Tile-count statistics entering block ``index`` (``len(blocks)``: the head);
        None for the first block, whose input is the real-valued data. ``stats`` (measured:
        one per block after the first, then the head's) replaces the model."""
        if index == 0:
            return None
        if self.stats is not None:
            return self.stats[min(index - 1, len(self.stats) - 1)]
        prev = arch.blocks[index - 1]
        window = 1
        for layer in prev.post:
            window *= layer.window
        return tile_stats(self.units.tiles, self.density(index - 1), window)

    def live_fraction(self, block_index: int) -> float:
        """Fraction of training steps in which block ``block_index`` learns (a schedule's
        frozen blocks still run forward); 1 without a schedule."""
        if self.live is None:
            return 1.0
        return self.live[min(block_index, len(self.live) - 1)]


@dataclass
class LayerCounts:
    """Expected counts of one block (or the head), by phase."""

    name: str
    description: str
    phases: dict[str, Counts] = field(default_factory=lambda: {p: Counts() for p in PHASES})

    def total(self) -> Counts:
        return Counts.total(self.phases.values())

    def scaled(self, factor: float) -> "LayerCounts":
        return LayerCounts(self.name, self.description,
                           {p: c.scaled(factor) for p, c in self.phases.items()})

    def __add__(self, other: "LayerCounts") -> "LayerCounts":
        return LayerCounts(self.name, self.description,
                           {p: self.phases[p] + other.phases[p] for p in self.phases})


def weighted_step(parts) -> list[LayerCounts]:
    """A run's mean step from its parts: ``(weight, step)`` pairs (e.g. a greedy stage's step
    and the epochs it trained), each step a list of rows, row by row weighted by
    ``weight / sum(weights)``. The steps are taken one at a time (``parts`` may be lazy)."""
    parts = list(parts)
    total = sum(w for w, _ in parts)
    out = None
    for w, step in parts:
        rows = [r.scaled(w / total) for r in step]
        out = rows if out is None else [a + r for a, r in zip(out, rows)]
    return out



def staged_step(arch: Arch, stage: int | None, label: str, forward, learn) -> list[LayerCounts]:
    """One step over a batch of greedy stage ``stage`` (None: online, every block learns): a
    row per block, described as the block and ``label``.

    The blocks up to the stage run ``forward(block, learns)`` (a Counts; ``learns``: the block
    is the stage, or online), the blocks above do not run; the learning block then adds
    ``learn(block)``, a mapping phase -> Counts, merged in its order.
    """
    rows = []
    for block in arch.blocks:
        row = LayerCounts(block.name, block.describe() + label)
        learns = stage is None or block.index == stage
        if stage is None or block.index <= stage:
            row.phases["forward"].merge(forward(block, learns))
        if learns:
            for phase, c in learn(block).items():
                row.phases[phase].merge(c)
        rows.append(row)
    return rows


def readout_step(arch: Arch, label: str, forward, readout) -> list[LayerCounts]:
    """One inference pass of a rule that reads out per block: a row per block, described as
    the block and ``label``, whose forward phase merges ``forward(block)`` (Counts, in order)
    and, on the last block, ``readout(block)`` (the predictions combined, the argmax)."""
    rows = []
    last = len(arch.blocks) - 1
    for block in arch.blocks:
        row = LayerCounts(block.name, block.describe() + label)
        fwd = row.phases["forward"]
        for c in forward(block):
            fwd.merge(c)
        if block.index == last:
            for c in readout(block):
                fwd.merge(c)
        rows.append(row)
    return rows


class Algorithm:
    """Base of the algorithm models.

    A model walks one training step (and one inference pass) over a batch of
    ``params.batch_size`` samples, calling the functions of :mod:`pbitsim.network.costs` in the order
    and with the shapes the trainer's network calls them, so that the estimate and a measured
    step describe the same computation. :meth:`training` and :meth:`inference` divide by the
    batch: the counts per sample.

    The estimate calls nothing else by name: the hooks a walk may override are declared here
    with their defaults (:meth:`assumptions`, :meth:`run_epochs`, :meth:`stage_step` and
    :attr:`stage_noun`, :meth:`dfa_epochs`, :meth:`model_params`, :meth:`check`); the
    training step's base (:class:`pbitsim.training.algorithms.Algorithm`) declares its side's
    under the same names (``dfa_epochs``: the estimate's value here, the run's there).
    """

    name: str = ""
    title: str = ""
    order: int = 100          # position in listings
    fixed_point: bool = True  # its walk prices a fixed-point datapath (--weight-bits)

    #: Its units are tiled p-bit units (``params.units``, M each; walked as a p-bit net), not
    #: real-valued ReLU units: the descriptor's ``tiled`` (:mod:`pbitsim.units`).
    tiled = False
    #: The rule's descriptor (:class:`pbitsim.rulebook.Rule`), set by :func:`register`
    #: from its package; None for a walk registered outside a rule package.
    rule = None

    def __init__(self, rule=None) -> None:
        """The walk of descriptor ``rule`` (a rule or its p-bit form, one instance each);
        None: the class's own declarations (a walk outside a rule package)."""
        if rule is not None:
            self.rule = rule
            self.name, self.title, self.order = rule.name, rule.title, rule.order
            self.tiled, self.fixed_point = rule.tiled, rule.fixed_point

    def training_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        """Counts of one training step over ``params.batch_size`` samples, per block and head."""
        raise NotImplementedError

    def inference_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        """Counts of inferring a batch of ``params.batch_size`` samples."""
        raise NotImplementedError

    def training(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        """Expected counts per training sample, one entry per block and the head."""
        return [r.scaled(1.0 / params.batch_size) for r in self.training_step(arch, params)]

    def inference(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        """Expected counts per inference (one test sample), at the evaluation statistics."""
        if params.eval_stats is not None:
            params = dataclasses.replace(params, stats=params.eval_stats)
        return [r.scaled(1.0 / params.batch_size) for r in self.inference_step(arch, params)]

    def check(self, arch: Arch) -> None:
        """Raise ``ValueError`` (one line naming the layer and the rule) if the rule cannot
        run on ``arch``: the trainer's rules (:func:`pbitsim.network.arch_rules.arch_rule`), one
        definition; a tiled form is checked as a p-bit net."""
        from ...network.arch_rules import arch_rule
        rule = arch_rule(self.name, arch)
        if rule is not None:
            raise ValueError(rule)

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        """One-line statements printed under the estimate."""
        return []

    #: What a greedy stage trains (the schedules table's rows): MF's layers, CaFo's predictors.
    stage_noun: str = "layer"

    def stage_step(self, arch: Arch, params: ModelParams,
                   stage: int | None) -> list[LayerCounts] | None:
        """A staged rule (greedy MF, CaFo): one step over a batch of greedy stage ``stage``,
        or of the online schedule (``None``), or of the block stage (``DFA_STAGE``); None for
        a rule without stages (the estimate then shows no schedules table)."""
        return None

    def dfa_epochs(self, params: ModelParams) -> int:
        """Epochs of a block stage before the predictors (CaFo-DFA's); 0: none."""
        return 0

    def run_epochs(self, params: ModelParams, epochs: int) -> int:
        """Epochs of a run of ``epochs``: ``epochs``, or (a staged rule: greedy MF, CaFo) its
        stages one after another."""
        return epochs

    def model_params(self, arch: Arch) -> int:
        """Parameters the rule's model holds on ``arch``, trained or frozen (what its torch
        model and auxiliary modules hold): the blocks with their batch-norm affines (and the
        pre-activation batch norm of a p-bit or ``pre_norm`` net) and the softmax head."""
        from ._steps import block_params as _block_params
        pre = self.tiled or arch.pre_norm
        head = arch.head.params if arch.head is not None else 0
        return sum(_block_params(b, pre_norm=pre) for b in arch.blocks) + head


def block_params(block: Block) -> int:
    """Trainable parameters of a block: the linear layer and batch-norm affines."""
    return block.linear.params + sum(l.affine_params for l in block.post)


_REGISTRY: dict[str, Algorithm] = {}
_DISCOVERED = False


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Class decorator: make an algorithm model available by its rule's name.

    A walk in a rule package (``pbitsim/rules/<pkg>/cost.py``) is registered once per name
    the package's descriptor (``RULE``) declares: the rule's, real-valued, and its p-bit
    form's (``mf`` and ``bsmf``), each instance taking its name, title, order, units and
    fixed-point form from that descriptor; a class outside a rule package (a test's)
    declares them itself.
    """
    from ...rulebook import forms_of_module
    forms = forms_of_module(cls.__module__)
    for spec in forms:
        _REGISTRY[spec.name] = cls(spec)
    if not forms:
        if not cls.name:
            raise ValueError(f"{cls.__name__} has no name")
        _REGISTRY[cls.name] = cls()
    return cls


def _discover() -> None:
    """Import every rule's estimator walk (``pbitsim/rules/<name>/cost.py``)."""
    global _DISCOVERED
    if not _DISCOVERED:
        from ...rulebook import RULE_MODULES
        for module in RULE_MODULES.values():
            importlib.import_module(f"{module}.cost")
        _DISCOVERED = True


def algorithm_names() -> list[str]:
    """Registered algorithm names, in listing order."""
    _discover()
    return sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].order, n))


def get_algorithm(name: str) -> Algorithm:
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r} (known: "
                         f"{', '.join(algorithm_names())})") from None
