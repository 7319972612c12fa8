"""float32 work stays float32: no float64 buffer of any size in a float32 forward or backward pass.

Peak memory as tracemalloc sees it (numpy's allocations included) of each pass
in float32 must be about half that of the same pass in float64. A float64
buffer of 4% of the peak would show as +2%; the ratios allow 0.52 (sequences)
and 0.53 (single layers).
"""

from __future__ import annotations

import tracemalloc
from functools import partial

import numpy as np
import pytest

import impl
from impl.cell_layouts import CELL_TYPES, cell_parameter_shapes
from tests.impl_cases import RECURRENT_LAYERS, SEQUENCE_LAYERS, recurrent_inputs, rng


def peak_bytes(call) -> int:
    """Peak bytes numpy (and Python) allocated during ``call()``, as tracemalloc sees them."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _memory_cases():
    # Each regime makes a different internal buffer large: wide batch, wide input, wide state, long sequence.
    for layer in SEQUENCE_LAYERS:
        for n, t, d, h in [(1500, 3, 4, 6), (2, 3, 2500, 6), (2, 3, 4, 200), (2, 1500, 4, 6)]:
            yield pytest.param(layer, (n, t, d, h), id=f"{layer}-N{n}-T{t}-D{d}-H{h}")


@pytest.mark.mutation_killer
@pytest.mark.parametrize("layer, sizes", list(_memory_cases()))
def test_float32_sequences_use_half_the_memory_of_float64(layer, sizes):
    """No float64 buffer of any size in float32 work: the forward and the backward pass each peak at
    half the float64 peak (a float64 buffer of 4% of the peak would show as +2%)."""
    forward, backward = RECURRENT_LAYERS[layer].forward, RECURRENT_LAYERS[layer].backward
    n, t, d, h = sizes
    peaks = {}
    for dtype in (np.float32, np.float64):
        inputs = recurrent_inputs(layer, dtype, n=n, t=t, d=d, h=h)
        dh = np.ones((n, t, h), dtype)
        peaks[dtype, "forward"] = peak_bytes(partial(forward, *inputs.values()))
        cache = forward(*inputs.values())[1]
        peaks[dtype, "backward"] = peak_bytes(partial(backward, dh, cache))
    for stage in ("forward", "backward"):
        ratio = peaks[np.float32, stage] / peaks[np.float64, stage]
        assert ratio < 0.52, f"{layer} {stage}: float32 peak is {ratio:.3f} of the float64 peak"


def _layer_call(layer: str, dtype):
    """A forward+backward call of ``layer`` on inputs built beforehand (so only the layer's own memory counts)."""
    r = rng(0)
    n, t, d, m, v = 300, 20, 40, 50, 60
    cell_shapes = {cell: list(cell_parameter_shapes(cell, d, m).values()) for cell in CELL_TYPES}
    f = {shape: r.standard_normal(shape).astype(dtype)
         for shape in [(n, m), (n, 4, d // 4), (d, m), (m,), (n, t, m), (n, t, d), (v, d), (n, t, v), (n, d),
                       *(shape for shapes in cell_shapes.values() for shape in shapes)]}
    params = {cell: [f[shape] for shape in shapes] for cell, shapes in cell_shapes.items()}
    words, labels, mask = r.integers(0, v, (n, t)), r.integers(0, v, (n, t)), r.random((n, t)) < 0.5
    calls = {
        "affine": lambda: impl.affine_backward(f[n, m], impl.affine_forward(f[n, 4, d // 4], f[d, m], f[m,])[1]),
        "temporal_affine": lambda: impl.temporal_affine_backward(
            f[n, t, m], impl.temporal_affine_forward(f[n, t, d], f[d, m], f[m,])[1]),
        "word_embedding": lambda: impl.word_embedding_backward(
            f[n, t, d], impl.word_embedding_forward(words, f[v, d])[1]),
        "temporal_softmax_loss": lambda: impl.temporal_softmax_loss(f[n, t, v], labels, mask),
        "rnn_step": lambda: impl.rnn_step_backward(f[n, m], impl.rnn_step_forward(
            f[n, d], f[n, m], *params["rnn"])[1]),
        "lstm_step": lambda: impl.lstm_step_backward(f[n, m], f[n, m], impl.lstm_step_forward(
            f[n, d], f[n, m], f[n, m], *params["lstm"])[2]),
        "gru_step": lambda: impl.gru_step_backward(f[n, m], impl.gru_step_forward(
            f[n, d], f[n, m], *params["gru"])[1]),
    }
    return calls[layer]


@pytest.mark.mutation_killer
@pytest.mark.parametrize("layer", ["affine", "temporal_affine", "word_embedding", "temporal_softmax_loss", "rnn_step",
                                   "lstm_step", "gru_step"])
def test_float32_layers_use_half_the_memory_of_float64(layer):
    peaks = {dtype: peak_bytes(_layer_call(layer, dtype)) for dtype in (np.float32, np.float64)}
    ratio = peaks[np.float32] / peaks[np.float64]
    assert ratio < 0.53, f"{layer}: float32 peak is {ratio:.3f} of the float64 peak"
