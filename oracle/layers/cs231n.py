"""Specs of the seed's layers, the GRU and LSTM-with-c0 variants, and the captioning model.

Each spec is one declaration: its numpy forward/backward from :mod:`impl`, its
torch twin from :mod:`oracle.references.twins`, the names of its outputs and gradients,
how to draw its inputs from an :class:`~oracle.specs.sources.InputSource`, its
input contract, what a zero size does, its gate layout, the seed's public
names it binds to and any checks of its own. Sizes default to ``[1, 4]`` so
every dimension is sometimes 1.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

import impl
from impl.cell_layouts import (
    CAPTIONING_PARAMETERS,
    CELL_PARAMETERS,
    CELL_TYPES,
    captioning_parameter_shapes,
    cell_parameter_layouts,
    cell_parameter_shapes,
)
from oracle.judge.metamorphic import sequence_matches_steps
from oracle.judge.sampling import sampling_check
from oracle.references import twins
from oracle.specs import calls
from oracle.specs.calls import COURSE_CELLS
from oracle.specs.contract import RESULT, ErrorInput, GateLayout, InputContract
from oracle.specs.registry import register
from oracle.specs.sources import InputSource, weight_matrix
from oracle.specs.spec import Arrays, LayerSpec, Twin


def recurrent_inputs(
    source: InputSource, dtype: np.dtype, cell: str, *, sequence: bool, state: tuple[str, ...]
) -> Arrays:
    """Inputs of a recurrent layer: ``x``, the initial states, ``Wx``, ``Wh``, ``b`` (and ``bh`` for a GRU).

    ``x`` is ``(N, T, D)`` when ``sequence`` else ``(N, D)``; each name in
    ``state`` is an ``(N, H)`` array.
    """
    n, d, h = source.dim("N"), source.dim("D"), source.dim("H")
    x_shape = (n, source.dim("T"), d) if sequence else (n, d)
    inputs = {"x": source.floats(x_shape, dtype)}
    inputs.update({name: source.floats((n, h), dtype) for name in state})
    inputs.update({name: weight_matrix(source, shape, dtype) if len(shape) == 2 else source.floats(shape, dtype)
                   for name, shape in cell_parameter_shapes(cell, d, h).items()})
    return inputs


def affine_inputs(source: InputSource, dtype: np.dtype) -> Arrays:
    """``x`` of shape ``(N, d_1, ..., d_k)`` with ``k`` in 1..3, ``w`` ``(D, M)``, ``b`` ``(M,)``."""
    feature_shape = tuple(source.dim(f"d{axis}", 1, 3) for axis in range(source.dim("k", 1, 3)))
    m = source.dim("M")
    return {
        "x": source.floats((source.dim("N"), *feature_shape), dtype),
        "w": weight_matrix(source, (math.prod(feature_shape), m), dtype),
        "b": source.floats((m,), dtype),
    }


def temporal_affine_inputs(source: InputSource, dtype: np.dtype) -> Arrays:
    """``x`` ``(N, T, D)``, ``w`` ``(D, M)``, ``b`` ``(M,)``."""
    d, m = source.dim("D"), source.dim("M")
    return {
        "x": source.floats((source.dim("N"), source.dim("T"), d), dtype),
        "w": weight_matrix(source, (d, m), dtype),
        "b": source.floats((m,), dtype),
    }


def embedding_inputs(source: InputSource, dtype: np.dtype) -> Arrays:
    """Indices ``x`` ``(N, T)`` into ``W`` ``(V, D)``, repeats likely."""
    v = source.dim("V", 1, 6)
    return {
        "x": source.indices((source.dim("N"), source.dim("T")), v),
        "W": source.floats((v, source.dim("D")), dtype),
    }


def softmax_loss_inputs(source: InputSource, dtype: np.dtype) -> Arrays:
    """Scores ``x`` ``(N, T, V)``, labels ``y`` ``(N, T)``, boolean ``mask`` ``(N, T)``."""
    n, t, v = source.dim("N"), source.dim("T"), source.dim("V", 1, 5)
    return {
        "x": source.floats((n, t, v), dtype, -3.0, 3.0),
        "y": source.indices((n, t), v),
        "mask": source.mask((n, t)),
    }


def captioning_inputs(source: InputSource, dtype: np.dtype, cell: str) -> Arrays:
    """Features, ``<NULL>``-padded captions, the ``<NULL>`` index and every parameter."""
    n, t, d, w, h = (source.dim(name) for name in ("N", "T", "D", "W", "H"))
    v = source.dim("V", 3, 6)
    null = source.dim("null", 0, v - 1)
    captions = source.indices((n, t + 1), v)
    captions[:, 1:][~source.mask((n, t))] = null
    shapes = captioning_parameter_shapes(cell, input_dim=d, wordvec_dim=w, hidden_dim=h, vocab_size=v)
    # W_embed's rows are looked up, not summed: only the matrices that multiply an input are scaled.
    params = {name: weight_matrix(source, shape, dtype) if len(shape) == 2 and name != "W_embed"
              else source.floats(shape, dtype) for name, shape in shapes.items()}
    return {"features": source.floats((n, d), dtype), "captions": captions, "null": np.array(null), **params}


def captioning_loss(cell: str, model_class: Any = impl.CaptioningRNN) -> Any:
    """``forward(features, captions, null, *params) -> (loss, *grads)`` of a ``model_class`` model.

    ``model_class`` is a class (impl's, seeded, by default), or a stand-in for one in a worker process
    (:class:`oracle.targets.boundary.RemoteModel`), whose own ``loss_function`` runs the same recipe there.
    """
    if hasattr(model_class, "loss_function"):
        return model_class.loss_function(cell)
    return calls.captioning_loss(cell, model_class, seeded=model_class is impl.CaptioningRNN)


#: impl's sequence layer of each cell type, as the model runs it: ``forward(words, h0, *cell parameters)``.
SEQUENCE_FORWARD: dict[str, Callable[..., tuple]] = {"rnn": impl.rnn_forward, "lstm": impl.lstm_forward,
                                                     "gru": impl.gru_forward}


def captioning_loss_alone(cell: str) -> Any:
    """``forward(features, captions, null, *params) -> (loss,)``: impl's model loss without its backward pass.

    The same calls of impl's layers, in the same order, as ``impl.CaptioningRNN.loss`` makes before its backward
    pass, so the loss is bit for bit the model's (``tests/test_reference_differences.py``); a call takes 0.3 to
    0.44 times the whole model's (LSTM, RNN; measured on the default cases), which its finite differences repeat
    (the spec's :attr:`~oracle.specs.spec.LayerSpec.reference_forward`).
    """
    names = CAPTIONING_PARAMETERS[cell]

    def forward(features: np.ndarray, captions: np.ndarray, null: np.ndarray, *values: np.ndarray) -> tuple:
        params = dict(zip(names, values, strict=True))
        h0, _ = impl.affine_forward(features, params["W_proj"], params["b_proj"])
        words, _ = impl.word_embedding_forward(captions[:, :-1], params["W_embed"])
        hidden, _ = SEQUENCE_FORWARD[cell](words, h0, *(params[name] for name in CELL_PARAMETERS[cell]))
        scores, _ = impl.temporal_affine_forward(hidden, params["W_vocab"], params["b_vocab"])
        loss, _ = impl.temporal_softmax_loss(scores, captions[:, 1:], captions[:, 1:] != int(null))
        return (loss,)

    return forward


def build_captioning_model(cell: str, null: int, params: Arrays, model_class: type = impl.CaptioningRNN) -> Any:
    """A ``model_class`` model (the seed's constructor) whose parameters are exactly ``params`` (impl's is seeded)."""
    return calls.build_captioning_model(cell, null, params, model_class, seeded=model_class is impl.CaptioningRNN)


def recurrent_contract(cell: str, *, sequence: bool, state: tuple[str, ...],
                       outputs: tuple[str, ...]) -> InputContract:
    """The input contract of a recurrent layer: ``x``, the states and the cell's parameters.

    The gate width ``G*H`` of ``Wx``, ``Wh`` and ``b`` is tied to ``H`` (``G``
    is fixed by the cell), so its axis shares the symbol ``"H"``.
    """
    layout: dict[str, tuple[str, ...]] = {"x": ("N", "T", "D") if sequence else ("N", "D")}
    layout.update({name: ("N", "H") for name in state})
    layout.update({"Wx": ("D", "H"), "Wh": ("H", "H"), "b": ("H",), "bh": ("H",)})
    text = {"x": "(N, T, D)" if sequence else "(N, D)", **{name: "(N, H)" for name in state},
            **cell_parameter_layouts(cell)}
    text.update({"dh": "(N, T, H)"} if sequence else {"dnext_h": "(N, H)", "dnext_c": "(N, H)"})
    names = ("x", *state, *CELL_PARAMETERS[cell])
    return InputContract(layout=lambda inputs: {name: layout[name] for name in names}, layout_text=text,
                         outputs=dict.fromkeys(outputs, ("N", "T", "H") if sequence else ("N", "H")))


def recurrent_spec(name: str, cell: str, *, sequence: bool, state: tuple[str, ...], outputs: tuple[str, ...],
                   twin: Twin, step: LayerSpec | None = None, requirement: str = "") -> LayerSpec:
    """A recurrent layer of impl whose forward/backward are ``impl.<name>_forward`` / ``impl.<name>_backward``.

    Its gradients are those of ``x``, every state and every cell parameter;
    the seed's names of the functions are the spec's (``lstm_with_c0``:
    ``lstm_forward_with_c0``). A sequence layer given its cell's ``step``
    spec is checked against the loop of that step (:mod:`oracle.judge.metamorphic`).
    ``requirement``: see :attr:`oracle.specs.spec.LayerSpec.requirement`.
    """
    forward_name, backward_name = ((f"{name}_forward", f"{name}_backward") if name != "lstm_with_c0"
                                   else ("lstm_forward_with_c0", "lstm_backward_with_c0"))
    dims = ("N", "T", "D", "H") if sequence else ("N", "D", "H")
    return register(LayerSpec(
        name=name,
        make_inputs=lambda source, dtype: recurrent_inputs(source, dtype, cell, sequence=sequence, state=state),
        forward=getattr(impl, forward_name), backward=getattr(impl, backward_name), outputs=outputs,
        grads=("x", *state, *CELL_PARAMETERS[cell]), twin=twin,
        contract=recurrent_contract(cell, sequence=sequence, state=state, outputs=outputs),
        zero_size=dict.fromkeys(dims, RESULT), gates=GateLayout(cell, CELL_PARAMETERS[cell]),
        public_names=(forward_name, backward_name),
        extra_checks=(sequence_matches_steps(step, cell),) if step is not None else (), requirement=requirement,
    ))


def affine_error_inputs(inputs: Arrays) -> list[ErrorInput]:
    """``x`` with fewer than the two dimensions ``(N, d_1, ...)`` that its variable layout needs."""
    flat = inputs["x"].reshape(-1)
    return [ErrorInput({**inputs, "x": bad}, ValueError, ("'x'", str(bad.shape), "(N, d_1, ..., d_k)"),
                       f"x of shape {bad.shape}") for bad in (flat, flat[:1].reshape(()))]


def bind_captioning_model(spec: LayerSpec, found: dict[str, Any], cell: str) -> LayerSpec:
    """``spec`` (a ``cell`` captioning model) auditing ``found["CaptioningRNN"]``'s loss and greedy sampling."""
    model = found["CaptioningRNN"]
    return dataclasses.replace(spec, forward=captioning_loss(cell, model), extra_checks=(sampling_check(cell, model),))


AFFINE = register(LayerSpec(
    name="affine", make_inputs=affine_inputs, forward=impl.affine_forward, backward=impl.affine_backward,
    outputs=("out",), grads=("x", "w", "b"), twin=twins.affine,
    # x is (N, d_1, ..., d_k) with D = d_1 * ... * d_k: every feature axis feeds D.
    contract=InputContract(
        layout=lambda inputs: {"x": ("N",) + ("D",) * (inputs["x"].ndim - 1), "w": ("D", "M"), "b": ("M",)},
        layout_text={"x": "(N, d_1, ..., d_k)", "w": "(D, M)", "b": "(M,)", "dout": "(N, M)"},
        variable_ndim=frozenset({"x"}), error_inputs=affine_error_inputs, outputs={"out": ("N", "M")}),
    zero_size=dict.fromkeys(("N", "M"), RESULT), public_names=("affine_forward", "affine_backward"),
))

TEMPORAL_AFFINE = register(LayerSpec(
    name="temporal_affine", make_inputs=temporal_affine_inputs, forward=impl.temporal_affine_forward,
    backward=impl.temporal_affine_backward, outputs=("out",), grads=("x", "w", "b"), twin=twins.temporal_affine,
    contract=InputContract(
        layout=lambda inputs: {"x": ("N", "T", "D"), "w": ("D", "M"), "b": ("M",)},
        layout_text={"x": "(N, T, D)", "w": "(D, M)", "b": "(M,)", "dout": "(N, T, M)"},
        outputs={"out": ("N", "T", "M")}),
    zero_size=dict.fromkeys(("N", "T", "D", "M"), RESULT),
    public_names=("temporal_affine_forward", "temporal_affine_backward"),
))

WORD_EMBEDDING = register(LayerSpec(
    name="word_embedding", make_inputs=embedding_inputs, forward=impl.word_embedding_forward,
    backward=impl.word_embedding_backward, outputs=("out",), grads=("W",), twin=twins.word_embedding,
    contract=InputContract(
        layout=lambda inputs: {"x": ("N", "T"), "W": ("V", "D")},
        layout_text={"x": "(N, T)", "W": "(V, D)", "dout": "(N, T, D)"},
        index_bounds={"x": lambda inputs: inputs["W"].shape[0]}, outputs={"out": ("N", "T", "D")}),
    zero_size=dict.fromkeys(("N", "T", "D"), RESULT),
    public_names=("word_embedding_forward", "word_embedding_backward"),
))

SIGMOID = register(LayerSpec(
    name="sigmoid",
    make_inputs=lambda source, dtype: {"x": source.floats((source.dim("N"), source.dim("D")), dtype, -40.0, 40.0)},
    forward=lambda x: (impl.sigmoid(x), None),
    backward=lambda dout, cache: (),
    outputs=("out",), grads=(), twin=twins.sigmoid,
    zero_size=dict.fromkeys(("N", "D"), RESULT), public_names=("sigmoid",),
    binder=lambda spec, found: dataclasses.replace(spec, forward=lambda x: (found["sigmoid"](x), None)),
))

RNN_STEP = recurrent_spec("rnn_step", "rnn", sequence=False, state=("prev_h",), outputs=("next_h",),
                          twin=twins.rnn_step)
RNN = recurrent_spec("rnn", "rnn", sequence=True, state=("h0",), outputs=("h",), twin=twins.rnn, step=RNN_STEP)
LSTM_STEP = recurrent_spec("lstm_step", "lstm", sequence=False, state=("prev_h", "prev_c"),
                           outputs=("next_h", "next_c"), twin=twins.lstm_step)
LSTM = recurrent_spec("lstm", "lstm", sequence=True, state=("h0",), outputs=("h",), twin=twins.lstm,
                      step=LSTM_STEP)
# Outside the course's API: the LSTM with a given cell state and the GRU (--require lstm_c0,gru).
LSTM_WITH_C0 = recurrent_spec("lstm_with_c0", "lstm", sequence=True, state=("h0", "c0"), outputs=("h",),
                              twin=twins.lstm_with_c0, step=LSTM_STEP, requirement="lstm_c0")
GRU_STEP = recurrent_spec("gru_step", "gru", sequence=False, state=("prev_h",), outputs=("next_h",),
                          twin=twins.gru_step, requirement="gru")
GRU = recurrent_spec("gru", "gru", sequence=True, state=("h0",), outputs=("h",), twin=twins.gru, step=GRU_STEP,
                     requirement="gru")

TEMPORAL_SOFTMAX_LOSS = register(LayerSpec(
    name="temporal_softmax_loss", make_inputs=softmax_loss_inputs, forward=impl.temporal_softmax_loss,
    outputs=("loss",), grads=("x",), twin=twins.temporal_softmax_loss,
    # V is free: the labels only have to lie below it.
    contract=InputContract(
        layout=lambda inputs: {"x": ("N", "T", "V"), "y": ("N", "T"), "mask": ("N", "T")},
        layout_text={"x": "(N, T, V)", "y": "(N, T)", "mask": "(N, T)"},
        index_bounds={"y": lambda inputs: inputs["x"].shape[2]}),
    zero_size={"N": "argument 'x' has N = 0", "T": RESULT}, public_names=("temporal_softmax_loss",),
))

CAPTIONING = {
    cell: register(LayerSpec(
        name=f"captioning_{cell}",
        make_inputs=functools.partial(captioning_inputs, cell=cell),
        forward=captioning_loss(cell), reference_forward=captioning_loss_alone(cell),
        outputs=("loss",), grads=CAPTIONING_PARAMETERS[cell], twin=twins.captioning_twin(cell),
        zero_size={"N": "argument 'features' has N = 0", "T": "argument 'captions' has shape",
                   # The model's dimensions must be >= 1 (the spec builds a model from the parameter shapes).
                   "D": "argument 'input_dim' must be >= 1, got 0", "W": "argument 'wordvec_dim' must be >= 1, got 0",
                   "H": "argument 'hidden_dim' must be >= 1, got 0"},
        gates=GateLayout(cell, CELL_PARAMETERS[cell]), public_names=("CaptioningRNN",),
        extra_checks=(sampling_check(cell),), binder=functools.partial(bind_captioning_model, cell=cell),
        requirement="" if cell in COURSE_CELLS else cell,
    ))
    for cell in CELL_TYPES
}
