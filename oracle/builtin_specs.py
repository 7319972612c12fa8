"""Specs of the seed's layers, the GRU and LSTM-with-c0 variants, and the captioning model.

Each spec is one declaration: its numpy forward/backward from :mod:`impl`, its
torch twin from :mod:`oracle.twins`, the names of its outputs and gradients,
and how to draw its inputs from an :class:`~oracle.sources.InputSource`.
Sizes default to ``[1, 4]`` so every dimension is sometimes 1.
"""

from __future__ import annotations

import functools
import math

import numpy as np

import impl
from oracle import twins
from oracle.registry import register
from oracle.sources import InputSource
from oracle.spec import Arrays, LayerSpec
from oracle.twins import captioning_param_names

#: Hidden-size multiplier of each cell type: the width of Wx, Wh and b is ``GATES * H``.
GATES = {"rnn": 1, "lstm": 4, "gru": 3}

RECURRENT_GRADS = ("x", "h0", "Wx", "Wh", "b")


def recurrent_inputs(
    source: InputSource, dtype: np.dtype, cell: str, *, sequence: bool, state: tuple[str, ...]
) -> Arrays:
    """Inputs of a recurrent layer: ``x``, the initial states, ``Wx``, ``Wh``, ``b`` (and ``bh`` for a GRU).

    ``x`` is ``(N, T, D)`` when ``sequence`` else ``(N, D)``; each name in
    ``state`` is an ``(N, H)`` array.
    """
    n, d, h = source.dim("N"), source.dim("D"), source.dim("H")
    x_shape = (n, source.dim("T"), d) if sequence else (n, d)
    width = GATES[cell] * h
    inputs = {"x": source.floats(x_shape, dtype)}
    inputs.update({name: source.floats((n, h), dtype) for name in state})
    inputs["Wx"] = source.floats((d, width), dtype)
    inputs["Wh"] = source.floats((h, width), dtype)
    inputs["b"] = source.floats((width,), dtype)
    if cell == "gru":
        inputs["bh"] = source.floats((width,), dtype)
    return inputs


def affine_inputs(source: InputSource, dtype: np.dtype) -> Arrays:
    """``x`` of shape ``(N, d_1, ..., d_k)`` with ``k`` in 1..3, ``w`` ``(D, M)``, ``b`` ``(M,)``."""
    feature_shape = tuple(source.dim(f"d{axis}", 1, 3) for axis in range(source.dim("k", 1, 3)))
    m = source.dim("M")
    return {
        "x": source.floats((source.dim("N"), *feature_shape), dtype),
        "w": source.floats((math.prod(feature_shape), m), dtype),
        "b": source.floats((m,), dtype),
    }


def temporal_affine_inputs(source: InputSource, dtype: np.dtype) -> Arrays:
    """``x`` ``(N, T, D)``, ``w`` ``(D, M)``, ``b`` ``(M,)``."""
    d, m = source.dim("D"), source.dim("M")
    return {
        "x": source.floats((source.dim("N"), source.dim("T"), d), dtype),
        "w": source.floats((d, m), dtype),
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


def vocabulary(size: int, null: int) -> dict[str, int]:
    """A ``word_to_idx`` of ``size >= 3`` words with ``<NULL>`` at ``null``, then ``<START>``, ``<END>``."""
    words = [f"w{index}" for index in range(size)]
    for offset, token in enumerate(("<NULL>", "<START>", "<END>")):
        words[(null + offset) % size] = token
    return {word: index for index, word in enumerate(words)}


def captioning_inputs(source: InputSource, dtype: np.dtype, cell: str) -> Arrays:
    """Features, ``<NULL>``-padded captions, the ``<NULL>`` index and every parameter."""
    n, t, d, w, h = (source.dim(name) for name in ("N", "T", "D", "W", "H"))
    v = source.dim("V", 3, 6)
    null = source.dim("null", 0, v - 1)
    captions = source.indices((n, t + 1), v)
    captions[:, 1:][~source.mask((n, t))] = null
    width = GATES[cell] * h
    shapes = {"W_proj": (d, h), "b_proj": (h,), "W_embed": (v, w), "Wx": (w, width), "Wh": (h, width),
              "b": (width,), "W_vocab": (h, v), "b_vocab": (v,), "bh": (width,)}
    params = {name: source.floats(shapes[name], dtype) for name in captioning_param_names(cell)}
    return {"features": source.floats((n, d), dtype), "captions": captions, "null": np.array(null), **params}


def captioning_loss(cell: str):
    """``forward(features, captions, null, *params) -> (loss, *grads)`` of a ``CaptioningRNN``."""
    names = captioning_param_names(cell)

    def forward(features: np.ndarray, captions: np.ndarray, null: np.ndarray, *params: np.ndarray):
        model = build_captioning_model(cell, int(null), dict(zip(names, params, strict=True)))
        loss, grads = model.loss(features, captions)
        return (loss, *(grads[name] for name in names))

    return forward


def build_captioning_model(cell: str, null: int, params: Arrays) -> impl.CaptioningRNN:
    """A ``CaptioningRNN`` whose parameters are exactly ``params``."""
    (input_dim, hidden_dim), (vocab_size, wordvec_dim) = params["W_proj"].shape, params["W_embed"].shape
    model = impl.CaptioningRNN(vocabulary(vocab_size, null), input_dim=input_dim, wordvec_dim=wordvec_dim,
                               hidden_dim=hidden_dim, cell_type=cell, dtype=params["W_proj"].dtype, seed=0)
    model.params = dict(params)
    return model


AFFINE = register(LayerSpec(
    name="affine", make_inputs=affine_inputs, forward=impl.affine_forward, backward=impl.affine_backward,
    outputs=("out",), grads=("x", "w", "b"), twin=twins.affine,
))

TEMPORAL_AFFINE = register(LayerSpec(
    name="temporal_affine", make_inputs=temporal_affine_inputs, forward=impl.temporal_affine_forward,
    backward=impl.temporal_affine_backward, outputs=("out",), grads=("x", "w", "b"), twin=twins.temporal_affine,
))

WORD_EMBEDDING = register(LayerSpec(
    name="word_embedding", make_inputs=embedding_inputs, forward=impl.word_embedding_forward,
    backward=impl.word_embedding_backward, outputs=("out",), grads=("W",), twin=twins.word_embedding,
))

SIGMOID = register(LayerSpec(
    name="sigmoid",
    make_inputs=lambda source, dtype: {"x": source.floats((source.dim("N"), source.dim("D")), dtype, -40.0, 40.0)},
    forward=lambda x: (impl.sigmoid(x), None),
    backward=lambda dout, cache: (),
    outputs=("out",), grads=(), twin=twins.sigmoid,
))

RNN_STEP = register(LayerSpec(
    name="rnn_step",
    make_inputs=lambda source, dtype: recurrent_inputs(source, dtype, "rnn", sequence=False, state=("prev_h",)),
    forward=impl.rnn_step_forward, backward=impl.rnn_step_backward,
    outputs=("next_h",), grads=("x", "prev_h", "Wx", "Wh", "b"), twin=twins.rnn_step,
))

RNN = register(LayerSpec(
    name="rnn",
    make_inputs=lambda source, dtype: recurrent_inputs(source, dtype, "rnn", sequence=True, state=("h0",)),
    forward=impl.rnn_forward, backward=impl.rnn_backward,
    outputs=("h",), grads=RECURRENT_GRADS, twin=twins.rnn,
))

LSTM_STEP = register(LayerSpec(
    name="lstm_step",
    make_inputs=lambda source, dtype: recurrent_inputs(source, dtype, "lstm", sequence=False,
                                                       state=("prev_h", "prev_c")),
    forward=impl.lstm_step_forward, backward=impl.lstm_step_backward,
    outputs=("next_h", "next_c"), grads=("x", "prev_h", "prev_c", "Wx", "Wh", "b"), twin=twins.lstm_step,
))

LSTM = register(LayerSpec(
    name="lstm",
    make_inputs=lambda source, dtype: recurrent_inputs(source, dtype, "lstm", sequence=True, state=("h0",)),
    forward=impl.lstm_forward, backward=impl.lstm_backward,
    outputs=("h",), grads=RECURRENT_GRADS, twin=twins.lstm,
))

LSTM_WITH_C0 = register(LayerSpec(
    name="lstm_with_c0",
    make_inputs=lambda source, dtype: recurrent_inputs(source, dtype, "lstm", sequence=True, state=("h0", "c0")),
    forward=impl.lstm_forward_with_c0, backward=impl.lstm_backward_with_c0,
    outputs=("h",), grads=("x", "h0", "c0", "Wx", "Wh", "b"), twin=twins.lstm_with_c0,
))

GRU_STEP = register(LayerSpec(
    name="gru_step",
    make_inputs=lambda source, dtype: recurrent_inputs(source, dtype, "gru", sequence=False, state=("prev_h",)),
    forward=impl.gru_step_forward, backward=impl.gru_step_backward,
    outputs=("next_h",), grads=("x", "prev_h", "Wx", "Wh", "b", "bh"), twin=twins.gru_step,
))

GRU = register(LayerSpec(
    name="gru",
    make_inputs=lambda source, dtype: recurrent_inputs(source, dtype, "gru", sequence=True, state=("h0",)),
    forward=impl.gru_forward, backward=impl.gru_backward,
    outputs=("h",), grads=(*RECURRENT_GRADS, "bh"), twin=twins.gru,
))

TEMPORAL_SOFTMAX_LOSS = register(LayerSpec(
    name="temporal_softmax_loss", make_inputs=softmax_loss_inputs, forward=impl.temporal_softmax_loss,
    outputs=("loss",), grads=("x",), twin=twins.temporal_softmax_loss,
))

CAPTIONING = {
    cell: register(LayerSpec(
        name=f"captioning_{cell}",
        make_inputs=functools.partial(captioning_inputs, cell=cell),
        forward=captioning_loss(cell),
        outputs=("loss",), grads=captioning_param_names(cell), twin=twins.captioning_twin(cell),
    ))
    for cell in GATES
}
