"""The learning rules, one package each: ``pbitsim/rules/<pkg>/``.

A rule's package holds everything that is the rule's own:

* ``__init__.py`` -- its descriptor, ``RULE = Rule(...)`` (:class:`pbitsim.rulebook.Rule`):
  name, label, family, default network, schedules, learning rate, p-bit form, ...; the one
  place its name is written (and its p-bit form's: ``pbit=PbitForm(name='bsmf', ...)``, a
  name the same walk and training step run on tiled p-bit units, :mod:`pbitsim.units`);
* ``cost.py`` -- its estimator walk (torch-free): a class registered with
  :func:`pbitsim.estimator.algorithms.register` whose ``training_step`` and
  ``inference_step`` walk one step of a batch in :mod:`pbitsim.network.costs` terms, in the order the
  training step runs;
* ``train.py`` -- its training step (torch): a class registered with
  :func:`pbitsim.training.algorithms.register` (model, optimizers, ``train_step``, ``predict``).

Both registrations take the rule's name and facts from the package's descriptor. Adding a rule
is adding a package here; ``tests/consistency`` then holds its two halves to each other.
The registry of the descriptors is :mod:`pbitsim.rulebook` (low in the house: everything
reads the rules' facts there); this package's names are its, for old imports.
"""

from __future__ import annotations


def __getattr__(name: str):
    """``pbitsim.rules.RULES`` etc.: the rule book's names (:mod:`pbitsim.rulebook`)."""
    from .. import rulebook
    if name in rulebook.__all__:
        return getattr(rulebook, name)
    raise AttributeError(f"module 'pbitsim.rules' has no attribute {name!r}")
