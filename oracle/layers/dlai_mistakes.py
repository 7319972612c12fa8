"""The known mistakes of deeplearning.ai's course API: error models of the ``dlai_*`` specs.

Each entry is an :class:`oracle.specs.mistakes.ErrorModel` (how a variant is
written and judged: :mod:`oracle.specs.mistakes`), attached to its spec with
:func:`oracle.specs.registry.attach_mistakes` below. The catalogue of the
seed's layers is :mod:`oracle.layers.cs231n_mistakes`, a model to follow: one
switchable reference per spec, the sequences looping over their cell's spec
(``step="dlai_lstm_cell"``) with :func:`oracle.specs.spec.run_forward` and
:func:`oracle.specs.spec.run_backward`, as :func:`oracle.judge.metamorphic.loop_of_cells`
does, so that the judge can run them on the target's own cell functions.
"""

from __future__ import annotations

from oracle.specs.mistakes import ErrorModel
from oracle.specs.registry import attach_mistakes

#: Error models by spec name (``"dlai_lstm"``: ``lstm_forward`` / ``lstm_backward``, ...).
CATALOGUE: dict[str, tuple[ErrorModel, ...]] = {}

for _name, _models in CATALOGUE.items():
    attach_mistakes(_name, _models)
