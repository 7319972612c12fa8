"""Deliberately broken LSTM specs for ``rnn-oracle audit --spec tests.broken_specs:SPECS``.

Copies of the registered ``lstm`` spec (via :mod:`tests.planted_bugs`) under
new names, so they can be audited next to the built-in layers:

- ``lstm_dWx_scaled``: backward returns ``1.01 * dWx``; the forward is right,
  so impl disagrees with both torch and finite differences on ``grad Wx``
  only, while torch and finite differences agree.
- ``lstm_gates_swapped``: forward and backward both read the ``f`` and ``o``
  gate blocks swapped; backward is the true gradient of that wrong forward,
  so only the comparisons with the torch twin fail (``output h`` first).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from oracle.layers import get_spec
from tests.planted_bugs import gate_order_swapped, grad_transformed

SCALED = dataclasses.replace(
    grad_transformed("Wx", lambda grad: grad * grad.dtype.type(1.01))(get_spec("lstm")),
    name="lstm_dWx_scaled",
)

SWAPPED = dataclasses.replace(
    gate_order_swapped(1, 2, 4, ("Wx", "Wh", "b"))(get_spec("lstm")),
    name="lstm_gates_swapped",
)

SPECS = (SCALED, SWAPPED)

#: Not a LayerSpec: ``--spec tests.broken_specs:NOT_SPECS`` is bad usage.
NOT_SPECS = (np.zeros(3),)
