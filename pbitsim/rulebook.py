"""The rule book: every learning rule's descriptor, declared once in its own package.

Each rule package ``pbitsim/rules/<pkg>/__init__.py`` declares one ``RULE = Rule(...)``: its
``--algo`` name, the label tables print, its family (which decides the architecture rules and
schedules it shares with its relatives), the network ``pbitsim train`` and ``pbitsim
estimate`` use for it when no ``--arch`` is given, its schedules, its default learning rate,
its p-bit form (:class:`PbitForm`: the name, such as ``bsmf``, under which it runs on tiled
p-bit units), and whether it has a fixed-point form. Everything else reads them here: the
CLI's choices and help, the architecture checks (:mod:`pbitsim.network.arch_rules`), the schedules
(:mod:`pbitsim.schedules`), the estimate's default list and baseline, the sweep and the
consistency tests' parameter lists. The rule's cost walk (``cost.py``) and training step
(``train.py``) take their name from it when they register.

This module sits low in the house (pure Python: no torch, no numpy); it finds the rule
packages by listing ``pbitsim/rules/`` and imports only their ``__init__`` (the descriptor),
never their cost walks or training steps, which import the estimator and the trainer.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Rule", "PbitForm", "FAMILIES", "NETS", "ALL_SCHEDULES", "RULES", "RULE_MODULES", "RULE_SPECS",
           "TILED_FORMS", "family", "forms_of_module", "recorded_algo", "resolve_algo", "rule",
           "rule_of_module"]

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

#: Each family's schedules, the default first (:mod:`pbitsim.schedules` defines what they do
#: and takes their names from here).
_SCHEDULES = {"bp": ("staggered", "reference", "none"),
              "ff": ("staggered", "reference", "none"),
              "cwc": ("staggered", "reference", "none"),
              "mf": ("greedy", "online"),
              "cafo": ("greedy", "online"),
              "sff": ("online",)}
#: Every schedule name of some rule, in that order (the CLIs' ``--schedule`` choices).
ALL_SCHEDULES = tuple(dict.fromkeys(n for names in _SCHEDULES.values() for n in names))


@dataclass(frozen=True)
class PbitForm:
    """A real-valued rule's form on tiled p-bit units, under a name of its own (``bsmf`` is
    ``mf`` on p-bit units): declared in the rule's descriptor (``Rule(pbit=PbitForm(...))``).

    The name is an ``--algo`` value of its own and what results, checkpoints and counts files
    record; the rule's one cost walk and one training step run it, given tiled p-bit units
    (:class:`pbitsim.units.Units`). Facts not given here are the rule's.

    Parameters
    ----------
    name, label, title, order
        As :class:`Rule`'s, for the p-bit form.
    default_lr, lr_note
        Its learning rate and the help's note of it; None: the rule's.
    estimate_default
        In ``pbitsim estimate``'s default list.
    by_tiles
        ``--algo RULE --tiles M`` runs this form (:func:`resolve_algo`). False for CwC-FF:
        BSFF is priced beside it (``--algo cwc,bsff --tiles M``), so ``cwc`` stays real-valued
        whatever the tile count.
    sampled_eval
        As :class:`Rule`'s, for the p-bit form.
    """

    name: str
    label: str
    title: str
    order: int
    default_lr: float | None = None
    lr_note: str | None = None
    estimate_default: bool = False
    by_tiles: bool = True
    sampled_eval: bool = False


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
        Its hidden units are tiled p-bit units (``--tiles M``, default 7): a rule that has no
        real-valued form (BGBSFF), or (set by the rule book) a p-bit form.
    pbit : PbitForm or None
        Its form on tiled p-bit units, for a real-valued rule that has one. The rule book
        lists the form as a descriptor of its own (:data:`RULE_SPECS`: ``tiled``, ``base``
        the rule's name).
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
    sampled_eval : bool
        Its test pass can average sampled passes per image (``--eval-samples K``): a sampled
        p-bit network whose readout sums logits and goodnesses over passes.
    quantized_errors : bool
        Its local errors are quantized words (BGBSFF): ``--grad-quant`` chooses the quantizer
        and ``--update`` the weight update; ``--grad-bits`` does not apply.
    base : str or None
        Set by the rule book on a p-bit form's descriptor: the rule (package) that runs it.
    """

    name: str
    label: str
    title: str
    order: int
    family: str
    net: str = "cfse"
    tiled: bool = False
    pbit: PbitForm | None = None
    fixed_point: bool = True
    dfa_blocks: bool = False
    default_lr: float = 0.01
    lr_note: str = ""
    estimate_default: bool = False
    baseline_rank: int | None = None
    sampled_eval: bool = False
    quantized_errors: bool = False
    base: str | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"rule {self.name}: family {self.family!r} is not one of "
                             f"{', '.join(FAMILIES)}")
        if self.net not in NETS:
            raise ValueError(f"rule {self.name}: net {self.net!r} is not one of {', '.join(NETS)}")
        if self.tiled and self.pbit is not None:
            raise ValueError(f"rule {self.name}: a tiled rule has no p-bit form of its own")

    @property
    def tiled_form(self) -> str | None:
        """The rule ``--algo NAME --tiles M`` runs: the p-bit form's name where the tile
        count selects it (:attr:`PbitForm.by_tiles`), else None."""
        return self.pbit.name if self.pbit is not None and self.pbit.by_tiles else None

    @property
    def package_rule(self) -> str:
        """The rule whose package (walk and training step) runs this name: ``base`` for a
        p-bit form, else the rule itself."""
        return self.base or self.name

    def pbit_spec(self) -> "Rule":
        """The descriptor of the p-bit form (:attr:`pbit`), a rule of its own name."""
        f = self.pbit
        return dataclasses.replace(
            self, name=f.name, label=f.label, title=f.title, order=f.order, tiled=True,
            pbit=None, base=self.name, estimate_default=f.estimate_default, baseline_rank=None,
            sampled_eval=f.sampled_eval, quantized_errors=False,
            default_lr=self.default_lr if f.default_lr is None else f.default_lr,
            lr_note=self.lr_note if f.lr_note is None else f.lr_note)

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
            if not isinstance(spec, Rule) or spec.base is not None:
                raise ImportError(f"{module} declares no RULE = Rule(...)")
            found.append((spec.order, spec.name, spec, module))
            if spec.pbit is not None:  # its p-bit form: a name of its own, the same package
                form = spec.pbit_spec()
                found.append((form.order, form.name, form, module))
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
_PACKAGES = {module: RULE_SPECS[name] for name, module in RULE_MODULES.items()
             if RULE_SPECS[name].base is None}


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


def forms_of_module(module: str) -> tuple[Rule, ...]:
    """The descriptors a rule package's walk or training step runs, given one of its modules
    (``pbitsim.rules.mf.train``): the rule's and its p-bit form's (``mf``, ``bsmf``); empty
    for a module outside a rule package."""
    spec = rule_of_module(module)
    if spec is None:
        return ()
    return (spec, RULE_SPECS[spec.pbit.name]) if spec.pbit is not None else (spec,)


def family(name: str) -> tuple[str, ...]:
    """The rules of family ``name`` (:data:`pbitsim.rulebook.FAMILIES`), in order."""
    return tuple(n for n, s in RULE_SPECS.items() if s.family == name)


#: ``--algo NAME --tiles M``: a local rule given a tile count runs its hidden units as tiled
#: p-bit units (index-and-accumulate on tile counts, mean-field backward, devices as for BSFF):
#: its p-bit form (:class:`PbitForm`, where ``by_tiles``). Without ``--tiles`` the rule is
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
