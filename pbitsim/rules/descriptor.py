"""A learning rule's facts, declared once: :class:`Rule` (pure Python, no torch, no numpy).

Each rule package ``pbitsim/rules/<pkg>/__init__.py`` declares one ``RULE = Rule(...)``: its
``--algo`` name, the label tables print, its family (which decides the architecture rules and
schedules it shares with its relatives), the network ``pbitsim train`` and ``pbitsim
estimate`` use for it when no ``--arch`` is given, its schedules, its default learning rate,
its p-bit form, and whether it has a fixed-point form. Everything else reads these facts: the
CLI's choices and help, the architecture checks (:mod:`pbitsim.arch_rules`), the schedules
(:mod:`pbitsim.schedules`), the estimate's default list and baseline, the sweep's
applicability and the consistency tests' parameter lists. The rule's cost walk (``cost.py``)
and training step (``train.py``) take their name from it when they register.

Adding a rule is adding a package: its descriptor, its torch-free cost walk and its training
step (see ``CONTRIBUTING.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Rule", "FAMILIES", "NETS"]

#: The rule families. A family shares the architecture rule and the schedules of its members:
#: ``bp`` end-to-end gradients; ``ff`` Hinton's FF (label in the input, all-dense nets);
#: ``cwc`` CwC-FF's channel groups (and its freezing schedules); ``mf`` Mono-Forward's
#: projections (MLPs); ``cafo`` Cascaded Forward's per-block predictors; ``sff`` Scalable FF's
#: goodness convs.
FAMILIES = ("bp", "ff", "cwc", "mf", "cafo", "sff")
#: The default networks, by kind (:data:`pbitsim.energy_models.archs.DEFAULT_NETS` maps each
#: to its built-in net per input shape).
NETS = ("cfse", "ff-mlp", "mf-mlp", "cafo-cnn", "sff-cnn")

#: Each family's schedules, the default first (:mod:`pbitsim.schedules` defines them).
_SCHEDULES = {"bp": ("staggered", "reference", "none"),
              "ff": ("staggered", "reference", "none"),
              "cwc": ("staggered", "reference", "none"),
              "mf": ("greedy", "online"),
              "cafo": ("greedy", "online"),
              "sff": ("online",)}


@dataclass(frozen=True)
class Rule:
    """One learning rule's declaration (``RULE`` in its package's ``__init__.py``).

    Parameters
    ----------
    name : str
        The ``--algo`` name; written once, here.
    label : str
        Short label of tables and plots (``CwC-FF``, ``BSFF``); ``M=7`` is appended for tiled
        rules.
    title : str
        One line: what the rule is (listings, per-layer tables).
    order : int
        Place in listings.
    family : str
        One of :data:`FAMILIES`.
    net : str
        The default network kind (one of :data:`NETS`): the net ``pbitsim train --algo NAME``
        trains and ``pbitsim estimate --algo NAME`` prices without ``--arch``.
    tiled : bool
        Its hidden units are tiled p-bit units (``--tiles M``, default 7).
    tiled_form : str or None
        The rule ``--algo NAME --tiles M`` runs (its p-bit form), for a real-valued rule that
        has one.
    fixed_point : bool
        Its walk and training step have a fixed-point datapath (``--weight-bits``).
    dfa_blocks : bool
        Its blocks learn by direct feedback alignment before its predictors (``--dfa-epochs``).
    default_lr : float
        The layers' learning rate without ``--lr``.
    lr_note : str
        What the help says of the rate where it is not simply ``default_lr`` (per data set).
    estimate_default : bool
        In ``pbitsim estimate``'s default list.
    baseline_rank : int or None
        A real-valued forward-forward rule the others are compared with (``vs CwC-FF``): lower
        ranks are preferred when several are present.
    """

    name: str
    label: str
    title: str
    order: int
    family: str
    net: str = "cfse"
    tiled: bool = False
    tiled_form: str | None = None
    fixed_point: bool = True
    dfa_blocks: bool = False
    default_lr: float = 0.01
    lr_note: str = ""
    estimate_default: bool = False
    baseline_rank: int | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"rule {self.name}: family {self.family!r} is not one of "
                             f"{', '.join(FAMILIES)}")
        if self.net not in NETS:
            raise ValueError(f"rule {self.name}: net {self.net!r} is not one of {', '.join(NETS)}")
        if self.tiled and self.tiled_form is not None:
            raise ValueError(f"rule {self.name}: a tiled rule has no tiled form of its own")

    @property
    def schedules(self) -> tuple[str, ...]:
        """The ``--schedule`` values of this rule; the first is its default."""
        return _SCHEDULES[self.family]

    @property
    def default_schedule(self) -> str:
        return self.schedules[0]

    def display(self, tiles: int | None = None) -> str:
        """The label of a table row: ``BSFF M=7`` for a tiled rule given its tile count."""
        return f"{self.label} M={tiles}" if self.tiled and tiles is not None else self.label

    def lr_help(self) -> str:
        """The default rate as the help shows it."""
        return self.lr_note or f"{self.default_lr:g}"
