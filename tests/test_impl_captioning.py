"""impl.captioning: ``CaptioningRNN``'s greedy sampling and its construction (defaults, vocabulary, initialisation).

Sampling is checked against a greedy decoder written out here with the step
functions; construction against the seed's defaults and initialisation scales.
"""

from __future__ import annotations

import numpy as np
import pytest

import impl
from impl.cell_layouts import CELL_PARAMETERS, CELL_TYPES, captioning_parameter_shapes
from oracle.specs.tolerances import TOLERANCES
from tests.impl_cases import DTYPES, RECURRENT_LAYERS, dtype_id, rng, vocabulary


def reference_sample(model: impl.CaptioningRNN, features: np.ndarray, max_length: int) -> tuple[np.ndarray, float]:
    """Greedy decoding written out with the step functions, in float64 on the model's values.

    Returns the captions and the smallest gap between the two best scores
    of any step: where it is far above float32 rounding, every correct
    float32 evaluation picks the same words, whatever its evaluation order.
    """
    p = {name: value.astype(np.float64) for name, value in model.params.items()}
    h = features.astype(np.float64) @ p["W_proj"] + p["b_proj"]
    c = np.zeros_like(h)
    word = np.full(features.shape[0], model.word_to_idx["<START>"])
    step = RECURRENT_LAYERS[f"{model.cell_type}_step"].forward
    weights = [p[name] for name in CELL_PARAMETERS[model.cell_type]]
    captions, gap = [], np.inf
    for _ in range(max_length):
        x = p["W_embed"][word]
        if model.cell_type == "lstm":
            h, c, _ = step(x, h, c, *weights)
        else:
            h, _ = step(x, h, *weights)
        scores = h @ p["W_vocab"] + p["b_vocab"]
        top_two = np.sort(scores, axis=1)[:, -2:]
        gap = min(gap, float(np.min(top_two[:, 1] - top_two[:, 0])))
        word = np.argmax(scores, axis=1)
        captions.append(word)
    return np.stack(captions, axis=1), gap


# --------------------------------------------------------------------------- greedy sampling


@pytest.mark.mutation_killer
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("n, max_length, start", [(1, 1, 1), (1, 6, 1), (5, 7, 1), (4, 3, 150)])
def test_sample_is_greedy_decoding(cell, n, max_length, start, dtype):
    vocab = 160 if start >= 128 else 9  # a <START> index above 127 overflowed the seed's int8 tokens
    model = impl.CaptioningRNN(vocabulary(vocab, start=start), input_dim=4, wordvec_dim=3, hidden_dim=6,
                               cell_type=cell, dtype=dtype, seed=3)
    r = rng(n)
    # Larger random weights than the initialisation, so the decoded words differ across steps and rows.
    model.params = {name: (r.standard_normal(value.shape) * 1.5).astype(dtype) for name, value in model.params.items()}
    features = r.standard_normal((n, 4)).astype(dtype)
    captions = model.sample(features, max_length)
    assert captions.shape == (n, max_length) and captions.dtype == np.int64
    expected, gap = reference_sample(model, features, max_length)
    assert gap > 1e-3, "a near-tie: float32 rounding could pick either word"
    np.testing.assert_array_equal(captions, expected)


@pytest.mark.mutation_killer
def test_reference_sample_case_is_not_trivial():
    """The decoded words of the sampling test vary across rows and steps (else argmax mutants survive)."""
    model = impl.CaptioningRNN(vocabulary(9), input_dim=4, wordvec_dim=3, hidden_dim=6, cell_type="rnn",
                               dtype=np.float64, seed=3)
    r = rng(5)
    model.params = {name: r.standard_normal(value.shape) * 1.5 for name, value in model.params.items()}
    captions = model.sample(r.standard_normal((5, 4)), 7)
    assert len(np.unique(captions)) > 2 and len({tuple(row) for row in captions}) > 1


@pytest.mark.mutation_killer
@pytest.mark.parametrize("cell", CELL_TYPES)
def test_sample_of_an_empty_batch(cell):
    model = impl.CaptioningRNN(vocabulary(5), input_dim=4, wordvec_dim=3, hidden_dim=2, cell_type=cell, seed=0)
    captions = model.sample(np.zeros((0, 4), np.float32), 3)
    assert captions.shape == (0, 3) and captions.dtype == np.int64


@pytest.mark.mutation_killer
def test_sample_default_length_is_30():
    model = impl.CaptioningRNN(vocabulary(5), input_dim=2, wordvec_dim=2, hidden_dim=2, seed=0)
    assert model.sample(np.ones((3, 2), np.float32)).shape == (3, 30)


# --------------------------------------------------------------------------- construction


@pytest.mark.mutation_killer
def test_model_defaults_follow_the_seed():
    """input_dim 512, wordvec_dim 128, hidden_dim 128, a vanilla RNN, float32."""
    model = impl.CaptioningRNN(vocabulary(7), seed=0)
    assert model.cell_type == "rnn" and model.dtype == np.dtype(np.float32)
    shapes = {name: value.shape for name, value in model.params.items()}
    assert shapes == captioning_parameter_shapes("rnn", input_dim=512, wordvec_dim=128, hidden_dim=128, vocab_size=7)
    assert all(value.dtype == np.float32 for value in model.params.values())


@pytest.mark.mutation_killer
@pytest.mark.parametrize("dtype", ["float32", "float64", np.float64])
def test_model_records_its_vocabulary_and_dtype(dtype):
    vocab = {"<NULL>": 2, "<START>": 0, "<END>": 3, "cat": 1}
    model = impl.CaptioningRNN(vocab, input_dim=3, wordvec_dim=2, hidden_dim=2, dtype=dtype, seed=0)
    assert model.dtype == np.dtype(dtype)
    assert model.word_to_idx == vocab and model.word_to_idx is not vocab
    assert model.idx_to_word == {2: "<NULL>", 0: "<START>", 3: "<END>", 1: "cat"}
    # The seed's model keeps the special words' indices in these attributes, and course code reads them.
    assert (model._null, model._start, model._end) == (2, 0, 3)


@pytest.mark.mutation_killer
def test_model_seed_makes_the_initialisation_reproducible():
    def params(seed, dtype=np.float64):
        return impl.CaptioningRNN(vocabulary(6), input_dim=5, wordvec_dim=4, hidden_dim=3, cell_type="lstm",
                                  dtype=dtype, seed=seed).params
    first, again, other = params(11), params(11), params(12)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert any(not np.array_equal(first[name], other[name]) for name in first)
    # float32 and float64 models from one seed hold the same values up to rounding
    for name, value in params(11, np.float32).items():
        np.testing.assert_array_equal(value, first[name].astype(np.float32))


@pytest.mark.mutation_killer
def test_model_initialisation_scales_follow_the_seed():
    """W_embed ~ N(0, 1) / 100, W_proj / sqrt(D), Wx / sqrt(W), Wh and W_vocab / sqrt(H), biases zero."""
    d, w, h, v = 400, 300, 200, 2000
    model = impl.CaptioningRNN(vocabulary(v), input_dim=d, wordvec_dim=w, hidden_dim=h, cell_type="gru",
                               dtype=np.float64, seed=0)
    expected = {"W_embed": 1 / 100, "W_proj": d ** -0.5, "Wx": w ** -0.5, "Wh": h ** -0.5, "W_vocab": h ** -0.5}
    for name, std in expected.items():
        value = model.params[name]
        # hundreds of thousands of draws: the sample std is within 0.5% of the scale
        assert abs(value.std() / std - 1) < 0.005, (name, value.std(), std)
        assert abs(value.mean()) < 0.01 * std
    for name in ("b_proj", "b", "bh", "b_vocab"):
        assert not model.params[name].any()


# --------------------------------------------------------------------------- the course's own check


@pytest.mark.parametrize("cell, feature_range, expected_loss", [
    ("rnn", (-1.5, 0.3), 9.83235591003),
    ("lstm", (-0.5, 1.7), 9.82445935443),
])
def test_the_course_notebook_captioning_check_runs_unchanged(cell, feature_range, expected_loss):
    """CS231n's published check: a vocabulary whose 'dog' maps to 3 with V = 3 (the model never reads it),
    every parameter a linspace, and the expected losses the notebook prints (to 11 decimals)."""
    n, d, w, h, t = 10, 20, 30, 40, 13
    word_to_idx = {"<NULL>": 0, "cat": 2, "dog": 3}
    model = impl.CaptioningRNN(word_to_idx, input_dim=d, wordvec_dim=w, hidden_dim=h, cell_type=cell,
                               dtype=np.float64)
    for name, value in model.params.items():
        model.params[name] = np.linspace(-1.4, 1.3, num=value.size).reshape(value.shape)
    features = np.linspace(*feature_range, num=n * d).reshape(n, d)
    captions = (np.arange(n * t) % len(word_to_idx)).reshape(n, t)
    loss, _ = model.loss(features, captions)
    row = TOLERANCES["float64"]  # the printed constants carry 11 decimals, well inside this row
    assert abs(loss - expected_loss) <= row.atol + row.rtol * expected_loss
