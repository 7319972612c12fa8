"""impl.embedding: the word-embedding backward's fast paths against ``numpy.add.at``, and its cache.

The backward sums the upstream rows of each word in rounds of at most 64
repeats, copies words that occur once through a buffer, and sorts words by a
16-bit radix key when the vocabulary allows. These tests cross each of those
limits; the reference is ``numpy.add.at``, which shares no code with impl.
"""

from __future__ import annotations

import numpy as np
import pytest

import impl
from tests.impl_cases import DTYPES, dtype_id, rng


def add_at_reference(x: np.ndarray, dout: np.ndarray, vocab_size: int) -> np.ndarray:
    """``dW (V, D)``: every upstream row of ``dout (N, T, D)`` added to the row of its word ``x (N, T)``."""
    dW = np.zeros((vocab_size, dout.shape[-1]), dtype=dout.dtype)
    np.add.at(dW, x.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dW


def embedding_case(x: np.ndarray, vocab_size: int, dim: int, dtype, seed: int = 0) -> np.ndarray:
    """Run forward and backward on words ``x``; check both exactly (gather, ``add.at``) and return ``dW``."""
    r = rng(seed)
    W = r.standard_normal((vocab_size, dim)).astype(dtype)
    out, cache = impl.word_embedding_forward(x, W)
    np.testing.assert_array_equal(out, W[x])
    dout = r.standard_normal(out.shape).astype(dtype)
    dW = impl.word_embedding_backward(dout, cache)
    assert dW.dtype == dtype and dW.shape == W.shape
    np.testing.assert_array_equal(dW, add_at_reference(x, dout, vocab_size))
    return dW


@pytest.mark.mutation_killer
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
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


@pytest.mark.mutation_killer
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_embedding_backward_many_single_words_pass_the_copy_buffer(dtype):
    # dim 1: the single-occurrence buffer holds 256 KiB / itemsize rows; use more distinct words than that.
    vocab = 2 * (256 * 1024 // np.dtype(dtype).itemsize) + 11
    used = 7 * ((vocab - 3) // 7)
    x = rng(3).permutation(vocab)[:used].reshape(7, -1)
    embedding_case(x, vocab, 1, dtype)


@pytest.mark.mutation_killer
@pytest.mark.parametrize("vocab", [(1 << 16) + 5, (1 << 16), (1 << 16) - 1])
def test_embedding_backward_vocabulary_around_the_radix_limit(vocab):
    x = np.array([[vocab - 1, 0, vocab - 1, 5, vocab - 2, 5, vocab - 1]])
    dW = embedding_case(x, vocab, 2, np.float64)
    assert np.count_nonzero(np.abs(dW).sum(axis=1)) == 4


@pytest.mark.mutation_killer
def test_embedding_backward_past_the_radix_limit_keeps_words_apart():
    """Words 65536 apart share their low 16 bits; above the radix limit they must still be summed apart."""
    vocab = (1 << 16) + 10
    x = np.array([[3, 3 + (1 << 16), 3, 3 + (1 << 16), 7, 7 + (1 << 16)]])
    embedding_case(x, vocab, 2, np.float64)


@pytest.mark.mutation_killer
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
