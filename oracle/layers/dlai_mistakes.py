"""The known mistakes of deeplearning.ai's course API: error models of the ``dlai_*`` specs.

Each entry is an :class:`oracle.specs.mistakes.ErrorModel` (how a variant is
written and judged: :mod:`oracle.specs.mistakes`), attached to its spec with
:func:`oracle.specs.registry.attach_mistakes` below. The catalogue of the
seed's layers is :mod:`oracle.layers.cs231n_mistakes`.
"""

from __future__ import annotations

from oracle.specs.mistakes import ErrorModel
from oracle.specs.registry import attach_mistakes

#: Error models by spec name (``"dlai_lstm"``: ``lstm_forward`` / ``lstm_backward``, ...).
CATALOGUE: dict[str, tuple[ErrorModel, ...]] = {}

for _name, _models in CATALOGUE.items():
    attach_mistakes(_name, _models)
