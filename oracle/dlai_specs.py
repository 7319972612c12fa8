"""Specs of deeplearning.ai's course API ("Building your RNN step by step"): the family ``dlai``.

Four specs, one per pair of public functions: ``rnn_cell_forward`` /
``rnn_cell_backward``, ``rnn_forward`` / ``rnn_backward``,
``lstm_cell_forward`` / ``lstm_cell_backward`` and ``lstm_forward`` /
``lstm_backward`` (conventions: :mod:`impl.dlai`). Their reference
implementation is :mod:`impl.dlai`, their twins :mod:`oracle.twins.dlai`,
both made of the seed's layers and twins through transposes and gate
permutations.

The course's calls are adapted to the seed's by :func:`impl.dlai.positional`
(arrays positional, ``parameters`` a dict built from them, gradients a tuple
in the order of :attr:`LayerSpec.grads`), here for impl's functions and in
the worker process for a user's (recipe ``{"dlai": NAME}``,
:mod:`oracle.calls`). The predictions ``yt_pred``/``y_pred``/``y`` (and the
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
from oracle.contract import RESULT, GateLayout, InputContract
from oracle.metamorphic import sequence_matches_steps
from oracle.registry import register
from oracle.sources import InputSource, weight_matrix
from oracle.spec import Arrays, Evaluation, LayerSpec, Twin, run_backward, run_forward
from oracle.twins import dlai as twins

#: The family name of these specs (:attr:`oracle.spec.LayerSpec.family`).
FAMILY = "dlai"

#: Public names whose presence in a target means it is written for this course.
SIGNATURE_NAMES = ("rnn_cell_forward", "lstm_cell_forward")

#: Each output's layout (symbols of :data:`impl.dlai.LAYOUTS`).
OUTPUT_LAYOUTS: dict[str, tuple[str, ...]] = {
    "a_next": ("H", "N"), "c_next": ("H", "N"), "yt_pred": ("V", "N"),
    "a": ("H", "N", "T"), "c": ("H", "N", "T"), "y_pred": ("V", "N", "T"), "y": ("V", "N", "T"),
}


def course_inputs(source: InputSource, dtype: np.dtype, cell: str, arrays: tuple[str, ...]) -> Arrays:
    """The arrays ``arrays`` (``xt``, ``a_prev``, ...) then ``cell``'s parameters, in the course's layouts.

    Weight matrices ``(fan_out, fan_in)`` are scaled by their fan-in like the seed's
    (:func:`oracle.sources.weight_matrix`).
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


def loop_of_cells(cell: str, outputs: tuple[str, ...], step: LayerSpec, inputs: Arrays, upstream: Arrays) -> Evaluation:
    """A course sequence (``rnn_forward``/``lstm_forward`` and their backward) as a loop of ``step``, its cell.

    Parameters
    ----------
    cell
        ``"rnn"`` or ``"lstm"``.
    outputs
        The sequence spec's output names: ``("a", "y_pred")`` or ``("a", "y", "c")``.
    step
        The cell's spec, bound to the implementation under test.
    inputs
        ``x (n_x, m, T_x)``, ``a0 (n_a, m)`` and the cell's parameters.
    upstream
        ``{"a": da (n_a, m, T_x)}``.

    Returns
    -------
    Evaluation
        The outputs, stacked along axis 2, and the gradients of every input that has one.
    """
    lstm = cell == "lstm"
    x, a = inputs["x"], inputs["a0"]
    c = np.zeros_like(a)
    params = {name: inputs[name] for name in COURSE_PARAMETERS[cell]}
    per_step: dict[str, list[np.ndarray]] = {name: [] for name in step.outputs}
    caches = []
    for t in range(x.shape[2]):
        found, cache = run_forward(step, {"xt": x[:, :, t], "a_prev": a, **({"c_prev": c} if lstm else {}), **params})
        a, c = found["a_next"], found.get("c_next", c)
        for name, value in found.items():
            per_step[name].append(np.asarray(value))
        caches.append(cache)
    dx = np.zeros_like(x)
    carry_a, carry_c = np.zeros_like(inputs["a0"]), np.zeros_like(inputs["a0"])
    totals = {name: np.zeros_like(value) for name, value in params.items() if name in step.grads}
    for t in range(x.shape[2] - 1, -1, -1):
        grads = run_backward(step, {"a_next": upstream["a"][:, :, t] + carry_a,
                                    **({"c_next": carry_c} if lstm else {})}, caches[t])
        dx[:, :, t], carry_a, carry_c = grads["xt"], grads["a_prev"], grads.get("c_prev", carry_c)
        for name in totals:
            totals[name] = totals[name] + grads[name]
    sequence = dict(zip(step.outputs, ("a", "c", "y") if lstm else ("a", "y"), strict=True))
    stacked = {sequence[name]: np.stack(values, axis=2) for name, values in per_step.items()}
    named = {name: stacked["y" if name == "y_pred" else name] for name in outputs}
    return Evaluation(named, {"x": dx, "a0": carry_a, **totals})


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
