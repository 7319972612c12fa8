"""The caches of impl's recurrent layers: their ``repr``, and arrays that nothing can change.

A sequence cache owns private, read-only arrays; a step cache references the
caller's arrays and owns the rest (its activations), read-only and never one
of the arrays it returned. (The embedding cache's indices:
``tests/test_impl_embedding.py``; a foreign cache passed to a backward pass:
the last section of ``tests/test_input_contract.py``.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.impl_cases import RECURRENT_LAYERS, SEQUENCE_LAYERS, STEP_LAYERS, recurrent_inputs


@pytest.mark.mutation_killer
@pytest.mark.parametrize("layer, dtype, expected", [
    ("rnn_step", np.float32, "<rnn_step cache N=2 D=4 H=5 float32>"),
    ("rnn", np.float64, "<rnn cache N=2 T=3 D=4 H=5 float64>"),
    ("lstm_step", np.float64, "<lstm_step cache N=2 D=4 H=5 float64>"),
    ("lstm", np.float64, "<lstm cache N=2 T=3 D=4 H=5 float64>"),
    ("gru_step", np.float64, "<gru_step cache N=2 D=4 H=5 float64>"),
    ("gru", np.float64, "<gru cache N=2 T=3 D=4 H=5 float64>"),
])
def test_caches_describe_their_sizes_and_dtype(layer, dtype, expected):
    inputs = recurrent_inputs(layer, dtype, n=2, t=3, d=4, h=5)
    cache = RECURRENT_LAYERS[layer].forward(*inputs.values())[-1]
    assert repr(cache) == expected


@pytest.mark.mutation_killer
@pytest.mark.parametrize("layer", SEQUENCE_LAYERS)
def test_sequence_caches_are_read_only(layer):
    """A sequence cache holds private, read-only arrays: nothing (the caller included) can change them."""
    cache = RECURRENT_LAYERS[layer].forward(*recurrent_inputs(layer, np.float64, n=2, t=3, d=2, h=2).values())[1]
    arrays = [getattr(cache, field.name) for field in dataclasses.fields(cache)]
    arrays = [value for value in arrays if isinstance(value, np.ndarray)]
    assert arrays
    for value in arrays:
        assert not value.flags.writeable
        with pytest.raises(ValueError):
            value[...] = 0


@pytest.mark.mutation_killer
@pytest.mark.parametrize("layer", STEP_LAYERS)
def test_step_caches_freeze_their_private_arrays(layer):
    """A step cache references the caller's arrays and owns the rest (activations): those are read-only."""
    arguments = list(recurrent_inputs(layer, np.float64, n=2, d=3, h=2, seed=6).values())
    results = RECURRENT_LAYERS[layer].forward(*arguments)
    cache, returned = results[-1], results[:-1]
    fields = {field.name: getattr(cache, field.name) for field in dataclasses.fields(cache)}
    private = {name: value for name, value in fields.items() if isinstance(value, np.ndarray)
               and not any(value is given for given in arguments)}
    assert private, layer
    for name, value in private.items():
        assert not value.flags.writeable, f"{layer} cache leaves its {name} writable"
        assert not any(np.shares_memory(value, out) for out in returned), f"{layer}: {name} is a returned array"
