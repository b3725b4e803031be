"""The learning rules, one package each: ``pbitsim/rules/<pkg>/``.

A rule's package holds everything that is the rule's own:

* ``__init__.py`` -- its descriptor, ``RULE = Rule(...)`` (:mod:`pbitsim.rules.descriptor`):
  name, label, family, default network, schedules, learning rate, p-bit form, ...; the one
  place its name is written;
* ``cost.py`` -- its estimator walk (torch-free): a class registered with
  :func:`pbitsim.energy_models.algorithms.register` whose ``training_step`` and
  ``inference_step`` walk one step of a batch in :mod:`pbitsim.costs` terms, in the order the
  training step runs;
* ``train.py`` -- its training step (torch): a class registered with
  :func:`pbitsim.training.algorithms.register` (model, optimizers, ``train_step``, ``predict``).

Both registrations take the rule's name and facts from the package's descriptor. Adding a rule
is adding a package here; ``tests/consistency`` then holds its two halves to each other.
This module imports neither torch nor numba: :data:`RULES` lists the packages by ``order``.
"""

from __future__ import annotations

import importlib
import pkgutil

from .descriptor import Rule

__all__ = ["RULES", "RULE_MODULES", "RULE_SPECS", "Rule", "TILED_FORMS", "family",
           "recorded_algo", "resolve_algo", "rule", "rule_of_module"]


def _rules() -> tuple[dict[str, Rule], dict[str, str]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg and not info.name.startswith("_"):
            module = f"{__name__}.{info.name}"
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
    """The rules of family ``name`` (:data:`pbitsim.rules.descriptor.FAMILIES`), in order."""
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
