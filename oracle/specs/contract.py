"""What a layer promises about bad input, zero sizes and its gate blocks: facts its spec carries.

The generic input-contract tests (``tests/test_input_contract.py``) read a
spec's :class:`InputContract` and break one argument at a time: a wrong
dtype, a wrong number of dimensions, an axis that no longer agrees with the
axes that share its symbol, an index out of range, plus the spec's own
:class:`ErrorInput` cases. The zero-size tests read :attr:`LayerSpec.zero_size`;
failure reports that name gates read :class:`GateLayout`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from impl.cell_layouts import GATE_ORDER, gate_columns, gate_count

Arrays = dict[str, np.ndarray]

#: ``layout(inputs) -> {input name: one symbol per axis}``. Axes that share a symbol must have the same
#: size; a symbol held by a single axis is free (any size is valid). A symbol ``"H+D"`` is the sum of
#: two sizes (deeplearning.ai's gate weights act on ``[a_prev; xt]``); ``"1"`` is held by the axes of
#: size one (its ``(n_a, 1)`` biases).
Layout = Callable[[Arrays], Mapping[str, tuple[str, ...]]]


@dataclass(frozen=True)
class ErrorInput:
    """One bad call a layer must reject: the inputs, the exception and the words its message must contain."""

    inputs: Arrays
    error: type[Exception]
    keywords: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class InputContract:
    """How a layer's arguments relate and how its error messages spell them.

    Attributes
    ----------
    layout
        See :data:`Layout`; must name every input of ``make_inputs``.
    layout_text
        Argument name (inputs and upstream-gradient parameters) -> the layout
        its messages print, e.g. ``"(D, 4H)"``.
    index_bounds
        Index input name -> ``bound(inputs)``, the exclusive upper bound of
        its values (e.g. the vocabulary size).
    variable_ndim
        Inputs whose number of dimensions is not fixed (affine's ``x``: any
        ``(N, d_1, ..., d_k)``): the generic wrong-ndim breakages skip them,
        so ``error_inputs`` should say which ndims are wrong.
    error_inputs
        ``error_inputs(valid inputs) -> ErrorInput``s specific to the layer,
        beyond what the generic breakages cover.
    outputs
        Output name -> one symbol per axis, in the symbols of ``layout``
        (``{"h": ("N", "T", "H")}``); the upstream gradients share them.
        Failure reports read the time axis ``"T"`` from here
        (:mod:`oracle.judge.localize`), the metamorphic checks the batch axis ``"N"``.
    """

    layout: Layout
    layout_text: Mapping[str, str]
    index_bounds: Mapping[str, Callable[[Arrays], int]] = field(default_factory=dict)
    variable_ndim: frozenset[str] = frozenset()
    error_inputs: Callable[[Arrays], Iterable[ErrorInput]] | None = None
    outputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


#: :attr:`LayerSpec.zero_size` value: a zero-size dimension gives a defined result (that of the zero-padded
#: case). Any other value is the start of the ``ValueError`` message that the dimension must raise.
RESULT = "result"


@dataclass(frozen=True)
class GateLayout:
    """Which columns of which parameters belong to which gate of a recurrent cell.

    Attributes
    ----------
    cell
        ``"rnn"``, ``"lstm"`` or ``"gru"`` (:mod:`impl.cell_layouts`).
    parameters
        The inputs laid out in gate blocks along their last axis
        (``("Wx", "Wh", "b")``, plus ``"bh"`` for the GRU).
    owners
        Instead, for a cell with one parameter per gate (deeplearning.ai's
        ``Wf``, ``bf``, ... ``Wo``, ``bo``): parameter -> the gate that owns
        all of it.
    """

    cell: str
    parameters: tuple[str, ...] = ()
    owners: Mapping[str, str] = field(default_factory=dict)

    @property
    def gates(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.owners.values())) if self.owners else GATE_ORDER[self.cell]

    def blocks(self, inputs: Mapping[str, np.ndarray]) -> dict[str, dict[str, slice]]:
        """Parameter -> gate -> the slice of its last axis that the gate owns, for these inputs' sizes."""
        if self.owners:
            return {name: {gate: slice(None)} for name, gate in self.owners.items()}
        return {name: gate_columns(self.cell, np.shape(inputs[name])[-1] // gate_count(self.cell))
                for name in self.parameters}
