"""The rule book: every learning rule's descriptor, declared once in its own package.

Each rule package ``pbitsim/rules/<pkg>/__init__.py`` declares one ``RULE = Rule(...)``: its
``--algo`` name, the label tables print, its family (which decides the architecture rules and
schedules it shares with its relatives), the network ``pbitsim train`` and ``pbitsim
estimate`` use for it when no ``--arch`` is given, its schedules, its default learning rate,
its p-bit form, and whether it has a fixed-point form. Everything else reads them here: the
CLI's choices and help, the architecture checks (:mod:`pbitsim.network.arch_rules`), the schedules
(:mod:`pbitsim.schedules`), the estimate's default list and baseline, the sweep and the
consistency tests' parameter lists. The rule's cost walk (``cost.py``) and training step
(``train.py``) take their name from it when they register.

This module sits low in the house (pure Python: no torch, no numpy); it finds the rule
packages by listing ``pbitsim/rules/`` and imports only their ``__init__`` (the descriptor),
never their cost walks or training steps, which import the estimator and the trainer.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Rule", "FAMILIES", "NETS", "RULES", "RULE_MODULES", "RULE_SPECS", "TILED_FORMS",
           "family", "recorded_algo", "resolve_algo", "rule", "rule_of_module"]

#: The folder of the rule packages.
RULES_DIR = Path(__file__).with_name("rules")


#: The rule families. A family shares the architecture rule and the schedules of its members:
#: ``bp`` end-to-end gradients; ``ff`` Hinton's FF (label in the input, all-dense nets);
#: ``cwc`` CwC-FF's channel groups (and its freezing schedules); ``mf`` Mono-Forward's
#: projections (MLPs); ``cafo`` Cascaded Forward's per-block predictors; ``sff`` Scalable FF's
#: goodness convs.
FAMILIES = ("bp", "ff", "cwc", "mf", "cafo", "sff")
#: The default networks, by kind (:data:`pbitsim.network.archs.DEFAULT_NETS` maps each
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


# ---------------------------------------------------------------- the registry
def _rules() -> tuple[dict[str, Rule], dict[str, str]]:
    found = []
    for info in pkgutil.iter_modules([str(RULES_DIR)]):
        if info.ispkg and not info.name.startswith("_"):
            module = f"pbitsim.rules.{info.name}"
            spec = getattr(importlib.import_module(module), "RULE", None)
            if not isinstance(spec, Rule):
                raise ImportError(f"{module} declares no RULE = Rule(...)")
            found.append((spec.order, spec.name, spec, module))
    found.sort(key=lambda f: (f[0], f[1]))
    specs = {name: spec for _, name, spec, _ in found}
    if len(specs) != len(found):
        raise ImportError("two rule packages declare the same name")
    return specs, {name: module for _, name, _, module in found}


#: Each rule's descriptor: ``--algo`` name -> :class:`Rule`, in listing order.
#: The package of each rule: ``--algo`` name -> module path (``pbitsim.rules.cafo_rand``).
RULE_SPECS, RULE_MODULES = _rules()
#: The rule names (``--algo``), in listing order.
RULES = tuple(RULE_SPECS)
_PACKAGES = {module: RULE_SPECS[name] for name, module in RULE_MODULES.items()}


def rule(name: str) -> Rule:
    """The descriptor of rule ``name``; ``ValueError`` (one line) for an unknown name."""
    try:
        return RULE_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r} (known: {', '.join(RULES)})") from None


def rule_of_module(module: str) -> Rule | None:
    """The descriptor of the rule package that holds ``module`` (``pbitsim.rules.ff.cost``),
    or None for a module outside a rule package."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        spec = _PACKAGES.get(".".join(parts[:n]))
        if spec is not None:
            return spec
    return None


def family(name: str) -> tuple[str, ...]:
    """The rules of family ``name`` (:data:`pbitsim.rulebook.FAMILIES`), in order."""
    return tuple(n for n, s in RULE_SPECS.items() if s.family == name)


#: ``--algo NAME --tiles M``: a local rule given a tile count runs its hidden units as tiled
#: p-bit units (index-and-accumulate on tile counts, mean-field backward, devices as for BSFF):
#: the rule its descriptor names as ``tiled_form``. Without ``--tiles`` the rule is
#: real-valued.
TILED_FORMS = {n: s.tiled_form for n, s in RULE_SPECS.items() if s.tiled_form is not None}
#: Rules whose tiled form had no name of its own in earlier versions: a run of ``--algo NAME
#: --tiles M`` recorded ``NAME`` with its tiles in its checkpoint and counts file.
_UNNAMED_TILED_FORMS = ("cafo-rand", "cafo-dfa")


def resolve_algo(algo: str, tiles) -> str:
    """The rule that ``--algo ALGO`` runs: its tiled form (:data:`TILED_FORMS`) when a tile
    count ``tiles`` is given (not None), else ``algo`` itself."""
    return TILED_FORMS.get(algo, algo) if tiles is not None else algo


def recorded_algo(algo: str, tiles) -> str:
    """The rule a checkpoint or counts file that records ``algo`` and ``tiles`` ran.

    ``algo`` itself, except for a tiled CaFo run of an earlier version, which recorded the
    real-valued name with its tiles (``cafo-dfa``, 7): it ran what the tiled form
    (``bscafo-dfa``) runs now, bit for bit. (A real-valued rule of other families may have
    recorded a tile count it did not use: those keep their name.)
    """
    if algo in _UNNAMED_TILED_FORMS and tiles is not None:
        return TILED_FORMS[algo]
    return algo
