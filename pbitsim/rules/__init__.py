"""The learning rules, one small package each: ``pbitsim/rules/<name>/``.

A rule's package holds everything that is the rule's own:

* ``cost.py`` -- its estimator walk (torch-free): a class registered with
  :func:`pbitsim.energy_models.algorithms.register` whose ``training_step`` and
  ``inference_step`` walk one step of a batch in :mod:`pbitsim.costs` terms, in the order the
  training step runs;
* ``train.py`` -- its training step (torch): a class registered with
  :func:`pbitsim.training.algorithms.register` (model, optimizers, ``train_step``, ``predict``);
* ``__init__.py`` -- a line of description, ``ORDER`` (its place in listings) and, where the
  ``--algo`` name is not a Python name (``cafo-rand``), ``NAME``.

Adding a rule is adding a package here (and, where it needs one, its architecture rule in
:mod:`pbitsim.arch_rules`); ``tests/consistency`` then holds its two halves to each other.
This module imports neither torch nor numba: :data:`RULES` lists the packages by ``ORDER``.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["RULES", "RULE_MODULES", "TILED_FORMS", "recorded_algo", "resolve_algo"]


def _rules() -> dict[str, str]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg and not info.name.startswith("_"):
            pkg = importlib.import_module(f"{__name__}.{info.name}")
            found.append((getattr(pkg, "ORDER", 100), getattr(pkg, "NAME", info.name),
                          f"{__name__}.{info.name}"))
    return {name: module for _, name, module in sorted(found)}


#: The package of each rule: ``--algo`` name -> module path (``pbitsim.rules.cafo_rand``).
RULE_MODULES = _rules()
#: The rule names (``--algo``), in listing order.
RULES = tuple(RULE_MODULES)


#: ``--algo NAME --tiles M``: a local rule given a tile count runs its hidden units as tiled
#: p-bit units (index-and-accumulate on tile counts, mean-field backward, devices as for BSFF):
#: the rule registered under this name, one implementation with the real-valued form (a
#: subclass setting ``tiled``). Without ``--tiles`` the rule is real-valued. The tiled forms
#: are also names of their own (:data:`pbitsim.arch_rules.TILED_RULES`).
TILED_FORMS = {"mf": "bsmf", "sff": "bssff", "cafo-rand": "bscafo-rand",
               "cafo-dfa": "bscafo-dfa"}
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
