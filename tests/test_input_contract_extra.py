"""Input-contract checks that ``tests/test_input_contract.py`` does not make yet: exact messages and layouts.

Written to kill mutants of impl's validation that the generic contract tests
let survive: a backward pass given a foreign cache, messages whose whole text
is the contract, the type named in a type error, and the symbolic layout each
``CaptioningRNN`` message spells for every argument and parameter (the
generic tests check that a message names the argument and its shape).
To be merged into ``tests/test_input_contract.py`` by its owner.
"""

from __future__ import annotations

import inspect
import re
from functools import partial

import numpy as np
import pytest

import impl
from impl.cell_layouts import CELL_TYPES, gate_count
from tests.impl_cases import RECURRENT_LAYERS, vocabulary


@pytest.mark.mutation_killer
@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_backward_rejects_a_foreign_cache(layer):
    """A cache from another layer (or anything else) is a TypeError naming the forward pass it needs."""
    spec = RECURRENT_LAYERS[layer]
    backward = spec.backward
    foreign = impl.affine_forward(np.ones((1, 2)), np.ones((2, 3)), np.ones(3))[1]
    upstream = [np.ones((1, 1, 1))] * (len(inspect.signature(backward).parameters) - 1)
    for cache in (foreign, None, object()):
        with pytest.raises(TypeError) as info:
            backward(*upstream, cache)
        message = str(info.value)
        assert message.startswith(f"argument 'cache' of {spec.backward_name} must be the cache returned by "
                                  f"{spec.forward_name}, got "), message
        assert message.endswith(type(cache).__name__)


# --------------------------------------------------------------------------- messages without computed detail


@pytest.mark.mutation_killer
def test_plain_error_messages_in_full():
    """Errors whose message is fixed text: the whole message is the contract."""
    vocab = {"<NULL>": 0, "<START>": 1, "w": 2}
    cases = [
        (lambda: impl.CaptioningRNN({"a": 0, "<START>": 1}),
         "argument 'word_to_idx' has no '<NULL>' entry; the loss needs it to mask padding"),
        (lambda: impl.CaptioningRNN({"<NULL>": 0, "a": 0}),
         "argument 'word_to_idx' maps several words to the same index"),
        (lambda: impl.CaptioningRNN({"<NULL>": 0, "a": 1}, input_dim=2, wordvec_dim=2, hidden_dim=2).sample(
            np.ones((1, 2), np.float32)),
         "the vocabulary has no '<START>' entry, so sample() has no first word to feed"),
        (lambda: impl.CaptioningRNN(vocab, input_dim=2, wordvec_dim=2, hidden_dim=2).loss(
            np.ones((0, 2), np.float32), np.ones((0, 3), np.int64)),
         "argument 'features' has N = 0 rows; the loss is a mean over the batch and needs N >= 1"),
        (lambda: impl.temporal_softmax_loss(np.ones((0, 2, 3)), np.ones((0, 2), np.int64), np.ones((0, 2), bool)),
         "argument 'x' has N = 0 sequences; the loss is a mean over the batch and needs N >= 1"),
        (lambda: impl.CaptioningRNN(vocab, input_dim=2, wordvec_dim=2, hidden_dim=2).loss(
            np.ones((2, 2), np.float32), np.ones((2, 1), np.int64)),
         "argument 'captions' has shape (2, 1); it needs T+1 >= 2 columns (an input word and the word to predict)"),
    ]
    for call, expected in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == expected


# --------------------------------------------------------------------------- CaptioningRNN: types named


@pytest.mark.mutation_killer
@pytest.mark.parametrize("name", ["input_dim", "wordvec_dim", "hidden_dim"])
@pytest.mark.parametrize("value, type_name", [(2.5, "float"), ("4", "str"), (None, "NoneType"), ([3], "list")])
def test_model_dimension_type_errors_name_the_type(name, value, type_name):
    with pytest.raises(TypeError) as info:
        impl.CaptioningRNN(vocabulary(5), **{name: value})
    assert str(info.value) == f"argument '{name}' must be an integer, got {type_name}"


@pytest.mark.mutation_killer
@pytest.mark.parametrize("word_to_idx, type_name", [([("<NULL>", 0)], "list"), (None, "NoneType"), ("<NULL>", "str")])
def test_vocabulary_type_error_names_the_type(word_to_idx, type_name):
    with pytest.raises(TypeError) as info:
        impl.CaptioningRNN(word_to_idx)
    assert str(info.value) == f"argument 'word_to_idx' must be a mapping, got {type_name}"


# --------------------------------------------------------------------------- CaptioningRNN: layouts spelled


def _model_for_params(cell):
    model = impl.CaptioningRNN(vocabulary(6), input_dim=4, wordvec_dim=3, hidden_dim=2, cell_type=cell,
                               dtype=np.float64, seed=0)
    return model, np.ones((2, 4)), np.array([[1, 3, 4], [1, 5, 0]])


#: The layout each CaptioningRNN message spells for its arguments and parameters.
MODEL_LAYOUTS = {"features": "(N, D)", "captions": "(N, T+1)", "W_proj": "(D, H)", "b_proj": "(H,)",
                 "W_embed": "(V, W)", "W_vocab": "(H, V)", "b_vocab": "(V,)"}


def gate_layouts(cell: str) -> dict[str, str]:
    """The layouts the model's messages spell for the cell's parameters: the gate count written out (``1H`` too)."""
    width = f"{gate_count(cell)}H"
    layouts = {"Wx": f"(W, {width})", "Wh": f"(H, {width})", "b": f"({width},)"}
    return {**layouts, "bh": f"({width},)"} if cell == "gru" else layouts


#: Symbolic axes of the parameters (gate multiples of H spelled H): a grown axis may be reported on any
#: parameter sharing its symbol, since the model reads D and H from W_proj and W from W_embed.
PARAM_AXES = {"W_embed": "VW", "W_proj": "DH", "b_proj": "H", "Wx": "WH", "Wh": "HH", "b": "H", "bh": "H",
              "W_vocab": "HV", "b_vocab": "V"}


@pytest.mark.mutation_killer
@pytest.mark.parametrize("cell", CELL_TYPES)
def test_model_parameter_shape_errors_name_parameter_shape_and_layout(cell):
    """Every parameter grown along any axis, or given an extra axis, is rejected before any arithmetic, for
    loss and for sample, by a message naming a parameter that disagrees, its shape and its layout."""
    layouts = {**MODEL_LAYOUTS, **gate_layouts(cell)}
    names = list(_model_for_params(cell)[0].params)
    for name in names:
        original = _model_for_params(cell)[0].params[name]
        variants = [(original[None], {name})]
        for axis, symbol in enumerate(PARAM_AXES[name]):
            grown = np.concatenate([original, np.take(original, [-1], axis=axis)], axis=axis)
            suspects = {other for other in names if symbol in PARAM_AXES[other]}
            variants.append((grown, suspects | {"features"} if symbol == "D" else suspects))
        for bad, suspects in variants:
            for method in ("loss", "sample"):
                model, features, captions = _model_for_params(cell)
                model.params[name] = bad
                call = partial(model.loss, features, captions)
                if method == "sample":
                    call = partial(model.sample, features, 2)
                with pytest.raises(ValueError) as info:
                    call()
                message = str(info.value)
                named = re.match(r"argument '(?:params\[\"(\w+)\"\]|(features))' ", message)
                assert named, (name, message)
                suspect = named.group(1) or named.group(2)
                assert suspect in suspects, (name, message)
                shown = features if suspect == "features" else model.params[suspect]
                assert str(shown.shape) in message and f" {layouts[suspect]}" in message, message


@pytest.mark.mutation_killer
@pytest.mark.parametrize("cell", CELL_TYPES)
def test_model_feature_and_caption_errors_spell_the_layout(cell):
    model, features, captions = _model_for_params(cell)
    for bad in (features[:, :3], features[0], features[None]):
        with pytest.raises(ValueError) as info:
            model.loss(bad, captions)
        assert str(info.value).startswith("argument 'features' ") and " (N, D)" in str(info.value)
    for bad in (captions[None], captions[0], captions[:1]):
        with pytest.raises(ValueError) as info:
            model.loss(features, bad)
        assert str(info.value).startswith("argument 'captions' ") and " (N, T+1)" in str(info.value)
