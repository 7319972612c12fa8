"""Focused behavioural tests written to kill mutants that the generic suites let survive.

Each test states a property of impl that the registry-driven tests do not
reach, usually because Hypothesis draws sizes of at most 4: sequences long
enough to span several backward chunks, batches wider than a chunk, words
repeated more often than the embedding backward's round limit, vocabularies
past its radix-sort limit, the captioning model's greedy decoding, the
``verbose`` switch, the caches' ``repr``. References are independent of the
code under test: sequence layers against a Python loop of their step
functions (which are checked against the torch twins elsewhere), the
embedding backward against ``numpy.add.at``, sampling against a greedy
decoder written here.

Surviving mutants that no test can kill are listed with reasons in
``docs/surviving_mutants.md``.
"""

from __future__ import annotations

import dataclasses
import re
import tracemalloc
from functools import partial

import numpy as np
import pytest

import impl
from impl.rnn import _CHUNK_ROWS

DTYPES = [np.float64, np.float32]
#: Agreement of two float64 evaluations of the same math in different orders (long sequences included).
TIGHT = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- sequences vs loops of steps

GATES = {"rnn": 1, "lstm": 4, "lstm_with_c0": 4, "gru": 3}


def sequence_inputs(cell: str, n: int, t: int, d: int, h: int, dtype, seed: int = 0) -> dict[str, np.ndarray]:
    r = rng(seed)
    width = GATES[cell] * h
    inputs = {"x": r.standard_normal((n, t, d)), "h0": r.standard_normal((n, h)) * 0.5}
    if cell == "lstm_with_c0":
        inputs["c0"] = r.standard_normal((n, h)) * 0.5
    inputs["Wx"] = r.standard_normal((d, width)) * 0.4
    inputs["Wh"] = r.standard_normal((h, width)) * 0.4
    inputs["b"] = r.standard_normal(width) * 0.3
    if cell == "gru":
        inputs["bh"] = r.standard_normal(width) * 0.3
    return {name: value.astype(dtype) for name, value in inputs.items()}


def sequence_layer(cell: str):
    return {
        "rnn": (impl.rnn_forward, impl.rnn_backward),
        "lstm": (impl.lstm_forward, impl.lstm_backward),
        "lstm_with_c0": (impl.lstm_forward_with_c0, impl.lstm_backward_with_c0),
        "gru": (impl.gru_forward, impl.gru_backward),
    }[cell]


def loop_of_steps(cell: str, inputs: dict[str, np.ndarray], dh: np.ndarray):
    """Forward and backward of a whole sequence as a Python loop of the step functions."""
    x, h = inputs["x"], inputs["h0"]
    n, t, _ = x.shape
    weights = [inputs["Wx"], inputs["Wh"], inputs["b"]] + ([inputs["bh"]] if cell == "gru" else [])
    c = inputs.get("c0", np.zeros_like(h)) if cell.startswith("lstm") else None
    hs, caches = [], []
    for step in range(t):
        if cell == "rnn":
            h, cache = impl.rnn_step_forward(x[:, step], h, *weights)
        elif cell == "gru":
            h, cache = impl.gru_step_forward(x[:, step], h, *weights)
        else:
            h, c, cache = impl.lstm_step_forward(x[:, step], h, c, *weights)
        hs.append(h)
        caches.append(cache)
    out = np.stack(hs, axis=1) if t else np.zeros((n, 0, h.shape[1]), x.dtype)

    dx = np.zeros_like(x)
    grads = [np.zeros_like(w) for w in weights]
    carry_h = np.zeros_like(inputs["h0"])
    carry_c = np.zeros_like(inputs["h0"])
    for step in range(t - 1, -1, -1):
        upstream = dh[:, step] + carry_h
        if cell == "rnn":
            dx_t, carry_h, *dw = impl.rnn_step_backward(upstream, caches[step])
        elif cell == "gru":
            dx_t, carry_h, *dw = impl.gru_step_backward(upstream, caches[step])
        else:
            dx_t, carry_h, carry_c, *dw = impl.lstm_step_backward(upstream, carry_c, caches[step])
        dx[:, step] = dx_t
        for total, part in zip(grads, dw, strict=True):
            total += part
    result = [dx, carry_h] + ([carry_c] if cell == "lstm_with_c0" else []) + grads
    return out, tuple(result)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("n, t", [
    (1, _CHUNK_ROWS + 37),           # one sequence spanning two backward chunks
    (3, 2 * (_CHUNK_ROWS // 3) + 1),  # chunks of several steps, the last one short
    (_CHUNK_ROWS + 5, 3),            # a batch wider than a chunk: one step per chunk
    (2, 1),
])
def test_long_sequences_equal_a_loop_of_steps(cell, n, t, dtype):
    d, h = 3, 2
    inputs = sequence_inputs(cell, n, t, d, h, dtype, seed=n + t)
    forward, backward = sequence_layer(cell)
    dh = rng(1).standard_normal((n, t, h)).astype(dtype)
    out, cache = forward(*inputs.values())
    grads = backward(dh, cache)
    expected_out, expected_grads = loop_of_steps(cell, inputs, dh)
    np.testing.assert_allclose(out, expected_out, **TIGHT[dtype])
    assert out.dtype == dtype
    assert len(grads) == len(expected_grads)
    names = ["dx", "dh0", "dc0", "dWx", "dWh", "db"] if cell == "lstm_with_c0" else ["dx", "dh0", "dWx", "dWh", "db"]
    names += ["dbh"] if cell == "gru" else []
    for name, got, want in zip(names, grads, expected_grads, strict=True):
        assert got.dtype == dtype and got.shape == want.shape, name
        scale = max(1.0, float(np.abs(want).max(initial=0)))
        np.testing.assert_allclose(got, want, rtol=TIGHT[dtype]["rtol"], atol=TIGHT[dtype]["atol"] * scale,
                                   err_msg=f"{cell} {name}")


@pytest.mark.parametrize("cell", list(GATES))
def test_sequence_of_length_one_equals_one_step(cell):
    inputs = sequence_inputs(cell, 4, 1, 3, 2, np.float64, seed=7)
    forward, backward = sequence_layer(cell)
    dh = rng(2).standard_normal((4, 1, 2))
    out, cache = forward(*inputs.values())
    grads = backward(dh, cache)
    expected_out, expected_grads = loop_of_steps(cell, inputs, dh)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12, atol=1e-14)
    for got, want in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- word embedding backward


def add_at_reference(x: np.ndarray, dout: np.ndarray, vocab_size: int) -> np.ndarray:
    dW = np.zeros((vocab_size, dout.shape[-1]), dtype=dout.dtype)
    np.add.at(dW, x.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dW


def embedding_case(x: np.ndarray, vocab_size: int, dim: int, dtype, seed: int = 0):
    r = rng(seed)
    W = r.standard_normal((vocab_size, dim)).astype(dtype)
    out, cache = impl.word_embedding_forward(x, W)
    np.testing.assert_array_equal(out, W[x])
    dout = r.standard_normal(out.shape).astype(dtype)
    dW = impl.word_embedding_backward(dout, cache)
    assert dW.dtype == dtype and dW.shape == W.shape
    np.testing.assert_array_equal(dW, add_at_reference(x, dout, vocab_size))
    return dW


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("counts", [
    [65],                 # one word just past the round limit: summed on its own
    [64],                 # exactly at the limit: summed in rounds
    [200, 3, 1, 64, 65],  # heavy, light and single words together
    [2, 2, 2, 1],
    list(range(1, 70)),   # every repeat count up to past the limit
])
def test_embedding_backward_sums_repeats_in_order(counts, dtype):
    words = np.concatenate([np.full(count, word) for word, count in enumerate(counts)])
    x = rng(len(counts)).permutation(words).reshape(1, -1)
    embedding_case(x, len(counts) + 2, 3, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_embedding_backward_many_single_words_pass_the_copy_buffer(dtype):
    # dim 1: the single-occurrence buffer holds 256 KiB / itemsize rows; use more distinct words than that.
    vocab = 2 * (256 * 1024 // np.dtype(dtype).itemsize) + 11
    used = 7 * ((vocab - 3) // 7)
    x = rng(3).permutation(vocab)[:used].reshape(7, -1)
    embedding_case(x, vocab, 1, dtype)


@pytest.mark.parametrize("vocab", [(1 << 16) + 5, (1 << 16), (1 << 16) - 1])
def test_embedding_backward_vocabulary_around_the_radix_limit(vocab):
    x = np.array([[vocab - 1, 0, vocab - 1, 5, vocab - 2, 5, vocab - 1]])
    dW = embedding_case(x, vocab, 2, np.float64)
    assert np.count_nonzero(np.abs(dW).sum(axis=1)) == 4


# --------------------------------------------------------------------------- softmax loss


def softmax_case(seed: int = 0, n: int = 3, t: int = 4, v: int = 5):
    r = rng(seed)
    x = r.standard_normal((n, t, v))
    y = r.integers(0, v, (n, t))
    mask = r.random((n, t)) < 0.6
    return x, y, mask


def test_softmax_loss_is_quiet_by_default(capsys):
    impl.temporal_softmax_loss(*softmax_case())
    assert capsys.readouterr().out == ""


def test_softmax_loss_verbose_prints_the_shapes(capsys):
    x, y, mask = softmax_case()
    quiet = impl.temporal_softmax_loss(x, y, mask)
    loud = impl.temporal_softmax_loss(x, y, mask, verbose=True)
    assert quiet[0] == loud[0]
    np.testing.assert_array_equal(quiet[1], loud[1])
    printed = capsys.readouterr().out
    assert str(x.shape) in printed and "dx" in printed
    assert str((int(mask.sum()), x.shape[2])) in printed  # the scores of the kept steps


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_softmax_loss_ignores_the_callers_underflow_setting(dtype):
    """exp of a logit 1e4 below the maximum underflows to 0 by design, even under errstate(under='raise')."""
    x, y, mask = softmax_case(1)
    x = (x * 1e4).astype(dtype)
    with np.errstate(under="raise"):
        loss, dx = impl.temporal_softmax_loss(x, y, mask)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))


# --------------------------------------------------------------------------- captioning: greedy sampling


def vocabulary(size: int, start: int = 1, null: int = 0) -> dict[str, int]:
    words = [f"w{i}" for i in range(size)]
    words[null], words[start] = "<NULL>", "<START>"
    return {word: index for index, word in enumerate(words)}


def reference_sample(model: impl.CaptioningRNN, features: np.ndarray, max_length: int) -> np.ndarray:
    """Greedy decoding written out with the step functions."""
    p = model.params
    h = features @ p["W_proj"] + p["b_proj"]
    c = np.zeros_like(h)
    word = np.full(features.shape[0], model._start)
    weights = [p["Wx"], p["Wh"], p["b"]] + ([p["bh"]] if model.cell_type == "gru" else [])
    captions = []
    for _ in range(max_length):
        x = p["W_embed"][word]
        if model.cell_type == "rnn":
            h, _ = impl.rnn_step_forward(x, h, *weights)
        elif model.cell_type == "lstm":
            h, c, _ = impl.lstm_step_forward(x, h, c, *weights)
        else:
            h, _ = impl.gru_step_forward(x, h, *weights)
        word = np.argmax(h @ p["W_vocab"] + p["b_vocab"], axis=1)
        captions.append(word)
    return np.stack(captions, axis=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
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
    np.testing.assert_array_equal(captions, reference_sample(model, features, max_length))


def test_reference_sample_case_is_not_trivial():
    """The decoded words of the sampling test vary across rows and steps (else argmax mutants survive)."""
    model = impl.CaptioningRNN(vocabulary(9), input_dim=4, wordvec_dim=3, hidden_dim=6, cell_type="rnn",
                               dtype=np.float64, seed=3)
    r = rng(5)
    model.params = {name: r.standard_normal(value.shape) * 1.5 for name, value in model.params.items()}
    captions = model.sample(r.standard_normal((5, 4)), 7)
    assert len(np.unique(captions)) > 2 and len({tuple(row) for row in captions}) > 1


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sample_of_an_empty_batch(cell):
    model = impl.CaptioningRNN(vocabulary(5), input_dim=4, wordvec_dim=3, hidden_dim=2, cell_type=cell, seed=0)
    captions = model.sample(np.zeros((0, 4), np.float32), 3)
    assert captions.shape == (0, 3) and captions.dtype == np.int64


# --------------------------------------------------------------------------- caches


def test_caches_describe_their_sizes_and_dtype():
    r = rng(0)
    n, t, d, h = 2, 3, 4, 5
    x, xt = r.standard_normal((n, d)).astype(np.float32), r.standard_normal((n, t, d))
    state = r.standard_normal((n, h))
    cases = [
        (impl.rnn_step_forward(x, state.astype(np.float32), *(r.standard_normal(s).astype(np.float32)
                                                               for s in [(d, h), (h, h), (h,)]))[-1],
         "<rnn_step cache N=2 D=4 H=5 float32>"),
        (impl.rnn_forward(xt, state, r.standard_normal((d, h)), r.standard_normal((h, h)), r.standard_normal(h))[-1],
         "<rnn cache N=2 T=3 D=4 H=5 float64>"),
        (impl.lstm_step_forward(xt[:, 0], state, state, r.standard_normal((d, 4 * h)), r.standard_normal((h, 4 * h)),
                                r.standard_normal(4 * h))[-1], "<lstm_step cache N=2 D=4 H=5 float64>"),
        (impl.lstm_forward(xt, state, r.standard_normal((d, 4 * h)), r.standard_normal((h, 4 * h)),
                           r.standard_normal(4 * h))[-1], "<lstm cache N=2 T=3 D=4 H=5 float64>"),
        (impl.gru_step_forward(xt[:, 0], state, r.standard_normal((d, 3 * h)), r.standard_normal((h, 3 * h)),
                               r.standard_normal(3 * h), r.standard_normal(3 * h))[-1],
         "<gru_step cache N=2 D=4 H=5 float64>"),
        (impl.gru_forward(xt, state, r.standard_normal((d, 3 * h)), r.standard_normal((h, 3 * h)),
                          r.standard_normal(3 * h), r.standard_normal(3 * h))[-1],
         "<gru cache N=2 T=3 D=4 H=5 float64>"),
    ]
    for cache, expected in cases:
        assert repr(cache) == expected


@pytest.mark.parametrize("backward, forward_name", [
    (impl.rnn_step_backward, "rnn_step_forward"), (impl.rnn_backward, "rnn_forward"),
    (impl.lstm_step_backward, "lstm_step_forward"), (impl.lstm_backward, "lstm_forward"),
    (impl.lstm_backward_with_c0, "lstm_forward_with_c0"), (impl.gru_step_backward, "gru_step_forward"),
    (impl.gru_backward, "gru_forward"),
])
def test_backward_rejects_a_foreign_cache(backward, forward_name):
    """A cache from another layer (or anything else) is a TypeError naming the forward pass it needs."""
    foreign = impl.affine_forward(np.ones((1, 2)), np.ones((2, 3)), np.ones(3))[1]
    upstream = [np.ones((1, 1, 1))] * (len(__import__("inspect").signature(backward).parameters) - 1)
    for cache in (foreign, None, object()):
        with pytest.raises(TypeError) as info:
            backward(*upstream, cache)
        message = str(info.value)
        assert message.startswith(f"argument 'cache' of {backward.__name__} must be the cache returned by "
                                  f"{forward_name}, got "), message
        assert message.endswith(type(cache).__name__)


# --------------------------------------------------------------------------- messages without computed detail


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


def test_sample_default_length_is_30():
    model = impl.CaptioningRNN(vocabulary(5), input_dim=2, wordvec_dim=2, hidden_dim=2, seed=0)
    assert model.sample(np.ones((3, 2), np.float32)).shape == (3, 30)


# --------------------------------------------------------------------------- float32 work stays float32


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
    for cell in GATES:
        for n, t, d, h in [(1500, 3, 4, 6), (2, 3, 2500, 6), (2, 3, 4, 200), (2, 1500, 4, 6)]:
            yield pytest.param(cell, (n, t, d, h), id=f"{cell}-N{n}-T{t}-D{d}-H{h}")


@pytest.mark.parametrize("cell, sizes", list(_memory_cases()))
def test_float32_sequences_use_half_the_memory_of_float64(cell, sizes):
    """No float64 buffer of any size in float32 work: the forward and the backward pass each peak at
    half the float64 peak (a float64 buffer of 4% of the peak would show as +2%)."""
    forward, backward = sequence_layer(cell)
    n, t, d, h = sizes
    ratios = {}
    peaks = {}
    for dtype in (np.float32, np.float64):
        inputs = sequence_inputs(cell, n, t, d, h, dtype)
        dh = np.ones((n, t, h), dtype)
        peaks[dtype, "forward"] = peak_bytes(partial(forward, *inputs.values()))
        cache = forward(*inputs.values())[1]
        peaks[dtype, "backward"] = peak_bytes(partial(backward, dh, cache))
    for stage in ("forward", "backward"):
        ratios[stage] = peaks[np.float32, stage] / peaks[np.float64, stage]
        assert ratios[stage] < 0.52, f"{cell} {stage}: float32 peak is {ratios[stage]:.3f} of the float64 peak"


def _layer_call(layer: str, dtype):
    """A forward+backward call of ``layer`` on inputs built beforehand (so only the layer's own memory counts)."""
    r = rng(0)
    n, t, d, m, v = 300, 20, 40, 50, 60
    f = {shape: r.standard_normal(shape).astype(dtype)
         for shape in [(n, m), (n, 4, d // 4), (d, m), (m,), (n, t, m), (n, t, d), (v, d), (n, t, v), (n, d),
                       (m, m), (d, 4 * m), (m, 4 * m), (4 * m,), (d, 3 * m), (m, 3 * m), (3 * m,)]}
    words, labels, mask = r.integers(0, v, (n, t)), r.integers(0, v, (n, t)), r.random((n, t)) < 0.5
    calls = {
        "affine": lambda: impl.affine_backward(f[n, m], impl.affine_forward(f[n, 4, d // 4], f[d, m], f[m,])[1]),
        "temporal_affine": lambda: impl.temporal_affine_backward(
            f[n, t, m], impl.temporal_affine_forward(f[n, t, d], f[d, m], f[m,])[1]),
        "word_embedding": lambda: impl.word_embedding_backward(
            f[n, t, d], impl.word_embedding_forward(words, f[v, d])[1]),
        "temporal_softmax_loss": lambda: impl.temporal_softmax_loss(f[n, t, v], labels, mask),
        "rnn_step": lambda: impl.rnn_step_backward(f[n, m], impl.rnn_step_forward(
            f[n, d], f[n, m], f[d, m], f[m, m], f[m,])[1]),
        "lstm_step": lambda: impl.lstm_step_backward(f[n, m], f[n, m], impl.lstm_step_forward(
            f[n, d], f[n, m], f[n, m], f[d, 4 * m], f[m, 4 * m], f[4 * m,])[2]),
        "gru_step": lambda: impl.gru_step_backward(f[n, m], impl.gru_step_forward(
            f[n, d], f[n, m], f[d, 3 * m], f[m, 3 * m], f[3 * m,], f[3 * m,])[1]),
    }
    return calls[layer]


@pytest.mark.parametrize("layer", ["affine", "temporal_affine", "word_embedding", "temporal_softmax_loss", "rnn_step",
                                   "lstm_step", "gru_step"])
def test_float32_layers_use_half_the_memory_of_float64(layer):
    peaks = {dtype: peak_bytes(_layer_call(layer, dtype)) for dtype in (np.float32, np.float64)}
    ratio = peaks[np.float32] / peaks[np.float64]
    assert ratio < 0.53, f"{layer}: float32 peak is {ratio:.3f} of the float64 peak"


# --------------------------------------------------------------------------- captioning model construction


def test_model_defaults_follow_the_seed():
    """input_dim 512, wordvec_dim 128, hidden_dim 128, a vanilla RNN, float32."""
    model = impl.CaptioningRNN(vocabulary(7), seed=0)
    assert model.cell_type == "rnn" and model.dtype == np.dtype(np.float32)
    shapes = {name: value.shape for name, value in model.params.items()}
    assert shapes == {"W_embed": (7, 128), "W_proj": (512, 128), "b_proj": (128,), "Wx": (128, 128),
                      "Wh": (128, 128), "b": (128,), "W_vocab": (128, 7), "b_vocab": (7,)}
    assert all(value.dtype == np.float32 for value in model.params.values())


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float64])
def test_model_records_its_vocabulary_and_dtype(dtype):
    vocab = {"<NULL>": 2, "<START>": 0, "<END>": 3, "cat": 1}
    model = impl.CaptioningRNN(vocab, input_dim=3, wordvec_dim=2, hidden_dim=2, dtype=dtype, seed=0)
    assert model.dtype == np.dtype(dtype)
    assert model.word_to_idx == vocab and model.word_to_idx is not vocab
    assert model.idx_to_word == {2: "<NULL>", 0: "<START>", 3: "<END>", 1: "cat"}
    assert (model._null, model._start, model._end) == (2, 0, 3)


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


@pytest.mark.parametrize("name", ["input_dim", "wordvec_dim", "hidden_dim"])
@pytest.mark.parametrize("value, type_name", [(2.5, "float"), ("4", "str"), (None, "NoneType"), ([3], "list")])
def test_model_dimension_type_errors_name_the_type(name, value, type_name):
    with pytest.raises(TypeError) as info:
        impl.CaptioningRNN(vocabulary(5), **{name: value})
    assert str(info.value) == f"argument '{name}' must be an integer, got {type_name}"


@pytest.mark.parametrize("word_to_idx, type_name", [([("<NULL>", 0)], "list"), (None, "NoneType"), ("<NULL>", "str")])
def test_vocabulary_type_error_names_the_type(word_to_idx, type_name):
    with pytest.raises(TypeError) as info:
        impl.CaptioningRNN(word_to_idx)
    assert str(info.value) == f"argument 'word_to_idx' must be a mapping, got {type_name}"


def _model_for_params(cell):
    model = impl.CaptioningRNN(vocabulary(6), input_dim=4, wordvec_dim=3, hidden_dim=2, cell_type=cell,
                               dtype=np.float64, seed=0)
    return model, np.ones((2, 4)), np.array([[1, 3, 4], [1, 5, 0]])


#: The layout each CaptioningRNN message spells for its arguments and parameters.
MODEL_LAYOUTS = {"features": "(N, D)", "captions": "(N, T+1)", "W_proj": "(D, H)", "b_proj": "(H,)",
                 "W_embed": "(V, W)", "W_vocab": "(H, V)", "b_vocab": "(V,)"}
GATE_LAYOUTS = {"rnn": {"Wx": "(W, 1H)", "Wh": "(H, 1H)", "b": "(1H,)"},
                "lstm": {"Wx": "(W, 4H)", "Wh": "(H, 4H)", "b": "(4H,)"},
                "gru": {"Wx": "(W, 3H)", "Wh": "(H, 3H)", "b": "(3H,)", "bh": "(3H,)"}}


#: Symbolic axes of the parameters (gate multiples of H spelled H): a grown axis may be reported on any
#: parameter sharing its symbol, since the model reads D and H from W_proj and W from W_embed.
PARAM_AXES = {"W_embed": "VW", "W_proj": "DH", "b_proj": "H", "Wx": "WH", "Wh": "HH", "b": "H", "bh": "H",
              "W_vocab": "HV", "b_vocab": "V"}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_model_parameter_shape_errors_name_parameter_shape_and_layout(cell):
    """Every parameter grown along any axis, or given an extra axis, is rejected before any arithmetic, for
    loss and for sample, by a message naming a parameter that disagrees, its shape and its layout."""
    layouts = {**MODEL_LAYOUTS, **GATE_LAYOUTS[cell]}
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


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
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


# --------------------------------------------------------------------------- caches own their data


def test_embedding_cache_keeps_its_own_indices():
    """The caller may reuse x after the forward pass: the backward pass uses the indices as they were."""
    r = rng(4)
    x = r.integers(0, 5, (3, 4))  # int64, so validation returns it without a copy
    W = r.standard_normal((5, 2))
    dout = r.standard_normal((3, 4, 2))
    expected = impl.word_embedding_backward(dout, impl.word_embedding_forward(x, W)[1])
    cache = impl.word_embedding_forward(x, W)[1]
    x[...] = 0
    np.testing.assert_array_equal(impl.word_embedding_backward(dout, cache), expected)


def test_embedding_backward_past_the_radix_limit_keeps_words_apart():
    """Words 65536 apart share their low 16 bits; above the radix limit they must still be summed apart."""
    vocab = (1 << 16) + 10
    x = np.array([[3, 3 + (1 << 16), 3, 3 + (1 << 16), 7, 7 + (1 << 16)]])
    embedding_case(x, vocab, 2, np.float64)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "lstm_with_c0", "gru"])
def test_sequence_caches_are_read_only(cell):
    """A sequence cache holds private, read-only arrays: nothing (the caller included) can change them."""
    forward, _ = sequence_layer(cell)
    cache = forward(*sequence_inputs(cell, 2, 3, 2, 2, np.float64).values())[1]
    arrays = [getattr(cache, field.name) for field in dataclasses.fields(cache)]
    arrays = [value for value in arrays if isinstance(value, np.ndarray)]
    assert arrays
    for value in arrays:
        assert not value.flags.writeable
        with pytest.raises(ValueError):
            value[...] = 0


def test_step_caches_freeze_their_private_arrays():
    """A step cache references the caller's arrays and owns the rest (activations): those are read-only."""
    r = rng(6)
    x, h, c = r.standard_normal((2, 3)), r.standard_normal((2, 2)), r.standard_normal((2, 2))
    weights = {"rnn": [r.standard_normal((3, 2)), r.standard_normal((2, 2)), r.standard_normal(2)],
               "lstm": [r.standard_normal((3, 8)), r.standard_normal((2, 8)), r.standard_normal(8)],
               "gru": [r.standard_normal((3, 6)), r.standard_normal((2, 6)), r.standard_normal(6),
                       r.standard_normal(6)]}
    calls = {"rnn": (impl.rnn_step_forward, [x, h, *weights["rnn"]]),
             "lstm": (impl.lstm_step_forward, [x, h, c, *weights["lstm"]]),
             "gru": (impl.gru_step_forward, [x, h, *weights["gru"]])}
    for cell, (forward, arguments) in calls.items():
        results = forward(*arguments)
        cache, returned = results[-1], results[:-1]
        fields = {field.name: getattr(cache, field.name) for field in dataclasses.fields(cache)}
        private = {name: value for name, value in fields.items() if isinstance(value, np.ndarray)
                   and not any(value is given for given in arguments)}
        assert private, cell
        for name, value in private.items():
            assert not value.flags.writeable, f"{cell} step cache leaves its {name} writable"
            assert not any(np.shares_memory(value, out) for out in returned), f"{cell}: {name} is a returned array"
