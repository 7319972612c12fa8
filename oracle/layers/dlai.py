"""Specs of deeplearning.ai's course API ("Building your RNN step by step"): the family ``dlai``.

Four specs, one per pair of public functions: ``rnn_cell_forward`` /
``rnn_cell_backward``, ``rnn_forward`` / ``rnn_backward``,
``lstm_cell_forward`` / ``lstm_cell_backward`` and ``lstm_forward`` /
``lstm_backward`` (conventions: :mod:`impl.dlai`). Their reference
implementation is :mod:`impl.dlai`, their twins :mod:`oracle.references.twins.dlai`,
both made of the seed's layers and twins through transposes and gate
permutations.

The course's calls are adapted to the seed's by :func:`impl.dlai.positional`
(arrays positional, ``parameters`` a dict built from them, gradients a tuple
in the order of :attr:`LayerSpec.grads`), here for impl's functions and in
the worker process for a user's (recipe ``{"dlai": NAME}``,
:mod:`oracle.specs.calls`). The predictions ``yt_pred``/``y_pred``/``y`` (and the
LSTM's cell states ``c`` of ``lstm_forward``) are judged in the forward pass
only: the backward functions take no upstream gradient for them
(:attr:`LayerSpec.forward_only`). So the backward passes are judged as the
exact gradient of ``sum(da * a)`` (plus ``sum(dc_next * c_next)`` for the
LSTM cell) over the hidden states they belong to.

The course's arrays are float64 (its templates allocate results with
``np.zeros``), so the audit checks these functions in float64 only;
:mod:`impl.dlai` itself also keeps float32 as float32, as the generic suites
check. Batch columns are axis 1 (``N`` in the contracts), so the batch-split
relation splits columns; a sequence is checked against the loop of the same
target's cell functions (``[loop of steps]``); the LSTM's gradients are
localised by gate through the parameter that owns each gate (``Wf``, ``bf``:
gate ``f``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from impl import dlai
from impl.dlai import COURSE_PARAMETERS, GRADIENTS, LAYOUTS, layout_text, positional
from oracle.judge.metamorphic import loop_of_cells, sequence_matches_steps
from oracle.references.twins import dlai as twins
from oracle.specs.contract import RESULT, GateLayout, InputContract
from oracle.specs.registry import register
from oracle.specs.sources import InputSource, weight_matrix
from oracle.specs.spec import Arrays, LayerSpec, Twin

#: The family name of these specs (:attr:`oracle.specs.spec.LayerSpec.family`).
FAMILY = "dlai"

#: Each output's layout (symbols of :data:`impl.dlai.LAYOUTS`).
OUTPUT_LAYOUTS: dict[str, tuple[str, ...]] = {
    "a_next": ("H", "N"), "c_next": ("H", "N"), "yt_pred": ("V", "N"),
    "a": ("H", "N", "T"), "c": ("H", "N", "T"), "y_pred": ("V", "N", "T"), "y": ("V", "N", "T"),
}


def course_inputs(source: InputSource, dtype: np.dtype, cell: str, arrays: tuple[str, ...]) -> Arrays:
    """The arrays ``arrays`` (``xt``, ``a_prev``, ...) then ``cell``'s parameters, in the course's layouts.

    Weight matrices ``(fan_out, fan_in)`` are scaled by their fan-in like the seed's
    (:func:`oracle.specs.sources.weight_matrix`).
    """
    sizes = {"N": source.dim("N"), "D": source.dim("D"), "H": source.dim("H"), "V": source.dim("V"), "1": 1}
    if "x" in arrays:
        sizes["T"] = source.dim("T")
    sizes["H+D"] = sizes["H"] + sizes["D"]
    inputs = {}
    for name in (*arrays, *COURSE_PARAMETERS[cell]):
        shape = tuple(sizes[symbol] for symbol in LAYOUTS[name])
        inputs[name] = (weight_matrix(source, shape, dtype, fan_in_axis=1) if name.startswith("W")
                        else source.floats(shape, dtype))
    return inputs


def course_function(name: str, function: Any) -> Any:
    """A target's ``name`` called the seed's way (:func:`impl.dlai.positional`), in its worker when it runs in one."""
    adapted = getattr(function, "adapted", None)
    return adapted(FAMILY) if adapted is not None else positional(name, function)


def bind_course(spec: LayerSpec, found: dict[str, Any]) -> LayerSpec:
    """``spec`` with its forward and backward taken from ``found`` (by public name) and adapted."""
    forward, backward = spec.public_names
    return dataclasses.replace(spec, forward=course_function(forward, found[forward]),
                               backward=course_function(backward, found[backward]))


def course_spec(cell: str, forward: str, backward: str, outputs: tuple[str, ...], twin: Twin,
                step: LayerSpec | None = None) -> LayerSpec:
    """The spec of one pair of the course's functions (see the module docstring).

    ``outputs``: the forward's results before the cache, the first (the hidden state) and, for the LSTM
    cell, the cell state differentiated; ``step``: the cell's spec, for a sequence.
    """
    arrays = tuple(key[1:] for key in GRADIENTS[backward] if key[1:] not in COURSE_PARAMETERS[cell])
    upstream = ("a_next", "c_next") if cell == "lstm" and step is None else outputs[:1]
    dims = ("N", "D", "H", *(("T",) if step is not None else ()))
    zero_size = {dim: RESULT for dim in dims}
    if step is not None:
        zero_size["T"] = "argument 'x' has T_x = 0"
    text = {name: layout_text(name) for name in (*arrays, *COURSE_PARAMETERS[cell])}
    text.update({name: layout_text(name) for name in ("da", "da_next", "dc_next")})
    extra = (sequence_matches_steps(step, cell, functools.partial(loop_of_cells, cell, outputs)),) if step else ()
    owners = {f"{kind}{gate}": gate for gate in "fico" for kind in "Wb"} if cell == "lstm" else {}
    return register(LayerSpec(
        name=f"dlai_{forward.removesuffix('_forward')}",
        make_inputs=functools.partial(course_inputs, cell=cell, arrays=arrays),
        forward=positional(forward, getattr(dlai, forward)), backward=positional(backward, getattr(dlai, backward)),
        outputs=outputs, grads=tuple(key[1:] for key in GRADIENTS[backward]), twin=twin,
        forward_only=tuple(name for name in outputs if name not in upstream),
        contract=InputContract(layout=lambda inputs: {name: LAYOUTS[name] for name in inputs}, layout_text=text,
                               outputs={name: OUTPUT_LAYOUTS[name] for name in outputs}),
        zero_size=zero_size, gates=GateLayout(cell, owners=owners) if owners else None,
        public_names=(forward, backward), extra_checks=extra, binder=bind_course, family=FAMILY,
        dtypes=("float64",),
    ))


RNN_CELL = course_spec("rnn", "rnn_cell_forward", "rnn_cell_backward", ("a_next", "yt_pred"), twins.rnn_cell)
RNN = course_spec("rnn", "rnn_forward", "rnn_backward", ("a", "y_pred"), twins.rnn, step=RNN_CELL)
LSTM_CELL = course_spec("lstm", "lstm_cell_forward", "lstm_cell_backward", ("a_next", "c_next", "yt_pred"),
                        twins.lstm_cell)
LSTM = course_spec("lstm", "lstm_forward", "lstm_backward", ("a", "y", "c"), twins.lstm, step=LSTM_CELL)
