"""Inputs and independent references shared by the focused tests of impl.

The focused tests (``tests/test_impl_*.py`` and
the last section of ``tests/test_input_contract.py``) state properties of impl that the
registry-driven suites do not reach, usually because Hypothesis draws sizes
of at most 4: sequences long enough to span several backward chunks, batches
wider than a chunk, words repeated more often than the embedding backward's
round limit, the captioning model's greedy decoding, exact messages. Most were
written to kill mutants that the generic suites let survive and carry the
``mutation_killer`` marker; the survivors no test can kill are listed with
reasons in ``docs/surviving_mutants.md``.

Their references share no code with what they check: a sequence layer against
a Python loop of its step functions (which the generic suites check against
the torch twins), the embedding backward against ``numpy.add.at``, sampling
against a greedy decoder written out in the test. Parameter shapes come from
:mod:`impl.cell_layouts`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import impl
from impl.cell_layouts import cell_parameter_shapes
from oracle.judge import metamorphic
from oracle.judge.compare import Comparison
from oracle.layers import get_spec
from oracle.specs.spec import Arrays, Evaluation

DTYPES = [np.float64, np.float32]


def dtype_id(dtype: Any) -> str:
    """Test id of a dtype: ``"float64"``, ``"float32"``."""
    return np.dtype(dtype).name


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class RecurrentLayer:
    """One public recurrent layer of impl.

    Attributes
    ----------
    cell
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    sequence
        Whether ``x`` is ``(N, T, D)`` (else one step, ``(N, D)``).
    state
        Names of the ``(N, H)`` state inputs between ``x`` and the parameters.
    forward_name, backward_name
        impl's public names of its forward and backward pass.
    """

    cell: str
    sequence: bool
    state: tuple[str, ...]
    forward_name: str
    backward_name: str

    @property
    def forward(self) -> Callable[..., Any]:
        return getattr(impl, self.forward_name)

    @property
    def backward(self) -> Callable[..., Any]:
        return getattr(impl, self.backward_name)


def _layer(name: str, cell: str, state: tuple[str, ...]) -> RecurrentLayer:
    forward, backward = ((f"{name}_forward", f"{name}_backward") if name != "lstm_with_c0"
                         else ("lstm_forward_with_c0", "lstm_backward_with_c0"))
    return RecurrentLayer(cell, not name.endswith("_step"), state, forward, backward)


#: impl's recurrent layers by the registry's name.
RECURRENT_LAYERS: dict[str, RecurrentLayer] = {
    "rnn_step": _layer("rnn_step", "rnn", ("prev_h",)),
    "rnn": _layer("rnn", "rnn", ("h0",)),
    "lstm_step": _layer("lstm_step", "lstm", ("prev_h", "prev_c")),
    "lstm": _layer("lstm", "lstm", ("h0",)),
    "lstm_with_c0": _layer("lstm_with_c0", "lstm", ("h0", "c0")),
    "gru_step": _layer("gru_step", "gru", ("prev_h",)),
    "gru": _layer("gru", "gru", ("h0",)),
}
SEQUENCE_LAYERS = [name for name, layer in RECURRENT_LAYERS.items() if layer.sequence]
STEP_LAYERS = [name for name, layer in RECURRENT_LAYERS.items() if not layer.sequence]

#: Standard deviation of each drawn input: weights small enough that long sequences neither saturate nor blow up.
_SCALE = {"x": 1.0, "Wx": 0.4, "Wh": 0.4, "b": 0.3, "bh": 0.3}
_STATE_SCALE = 0.5


def recurrent_inputs(layer: str, dtype: Any, *, n: int, d: int, h: int, t: int | None = None,
                     seed: int = 0) -> Arrays:
    """Normal inputs of ``layer`` in the positional order of its forward pass.

    ``x (N, T, D)`` (``(N, D)`` for a step), the states ``(N, H)``, then the
    cell's parameters (:func:`impl.cell_layouts.cell_parameter_shapes`), all
    in ``dtype``; ``t`` is needed for a sequence layer only.
    """
    spec = RECURRENT_LAYERS[layer]
    r = rng(seed)
    inputs = {"x": r.standard_normal((n, t, d) if spec.sequence else (n, d)) * _SCALE["x"]}
    inputs.update({name: r.standard_normal((n, h)) * _STATE_SCALE for name in spec.state})
    inputs.update({name: r.standard_normal(shape) * _SCALE[name]
                   for name, shape in cell_parameter_shapes(spec.cell, d, h).items()})
    return {name: value.astype(dtype) for name, value in inputs.items()}


def loop_of_steps(layer: str, inputs: Arrays, dh: np.ndarray) -> Evaluation:
    """Forward and backward of sequence ``layer`` (one of :data:`SEQUENCE_LAYERS`) as a loop of impl's step functions.

    :func:`oracle.judge.metamorphic.loop_of_steps` with the cell's step spec; ``x`` is
    ``(N, T, D)``, ``dh`` ``(N, T, H)``. Returns output ``h`` and every gradient,
    in the dtype of the inputs.
    """
    cell = RECURRENT_LAYERS[layer].cell
    return metamorphic.loop_of_steps(get_spec(f"{cell}_step"), cell, inputs, dh)


def vocabulary(size: int, start: int = 1, null: int = 0) -> dict[str, int]:
    """Words ``w0 .. w<size-1>`` with ``<NULL>`` at ``null`` and ``<START>`` at ``start``."""
    words = [f"w{i}" for i in range(size)]
    words[null], words[start] = "<NULL>", "<START>"
    return {word: index for index, word in enumerate(words)}


def assert_all_passed(comparisons: list[Comparison]) -> None:
    """Fail with every failed comparison described (layer, quantity, dtype, shape, worst error, tolerance)."""
    failed = [comparison.describe() for comparison in comparisons if not comparison.passed]
    assert not failed, "\n".join(failed)
