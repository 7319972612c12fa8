"""Word embedding: a table lookup forward, a scatter-add of rows backward.

The backward pass must add the upstream rows of repeated words together. The
seed does this with ``numpy.add.at``, which handles one element at a time and
is an order of magnitude slower than the data movement requires. Here the
indices are sorted once (stably), so the occurrences of each word form a run,
and the runs are summed with whole-block numpy operations:

- round 0 copies the first occurrence of every distinct word;
- round ``k`` adds the ``k``-th repeat of every word that occurs more than
  ``k`` times, one gather and one in-place add per round;
- a word repeated more than ``_ROUNDS_LIMIT`` times is summed on its own, so
  the number of rounds (Python iterations) stays bounded whatever the data.

Every path adds a word's rows one after another in their original order (no
reassociation), which is the order ``numpy.add.at`` uses, so the two agree bit
for bit (up to the sign of a zero row).
"""

from __future__ import annotations

import numpy as np

from impl._checks import check_indices, check_ndim, check_upstream, common_float_dtype, ieee_quiet

__all__ = ["word_embedding_forward", "word_embedding_backward"]

#: A word seen more often than this is summed by itself rather than in rounds:
#: rounds cost one Python iteration each, a single word costs one per word.
_ROUNDS_LIMIT = 64

#: Size of the buffer through which single occurrences are copied (fits in L2).
_CHUNK_BYTES = 256 * 1024

#: numpy's stable argsort is a radix sort (far faster) for keys of <= 16 bits.
_RADIX_KEY_LIMIT = 1 << 16


def word_embedding_forward(x: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Look up the word vectors of a minibatch of index sequences.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, T), any integer dtype (not bool)
        Word indices; every entry must satisfy ``0 <= x[n, t] < V``.
    W : numpy.ndarray, shape (V, D), float32 or float64
        Word vectors, one row per vocabulary entry.

    Returns
    -------
    out : numpy.ndarray, shape (N, T, D), dtype of ``W``
        ``out[n, t] = W[x[n, t]]`` (a new array, never a view of ``W``).
    cache : object
        Opaque value for :func:`word_embedding_backward` (it holds a private
        copy of the indices, so ``x`` may be reused freely).

    Raises
    ------
    TypeError
        If ``W`` is not a float32/float64 ndarray, or ``x`` is not an ndarray
        of integers (floats and bools are rejected).
    ValueError
        If the numbers of dimensions are wrong, or an index is negative or
        ``>= V`` (negative indices are not wrapped around).
    """
    with ieee_quiet():
        common_float_dtype(W=W)
        check_ndim("W", W, 2, "(V, D)")
        vocab_size = W.shape[0]
        indices = check_indices("x", x, vocab_size)
        check_ndim("x", x, 2, "(N, T)")

        # The indices are validated, so "clip" never clips; it only skips the
        # bounds check that "raise" would repeat.
        out = np.take(W, indices, axis=0, mode="clip")
        # A private copy: the indices are tiny next to the vectors, and the
        # backward pass must not depend on the caller leaving x untouched.
        cache = (np.array(indices, dtype=np.intp, copy=True), W.shape, W.dtype)
        return out, cache


def word_embedding_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of the loss with respect to the word vectors.

    Indices are integers, so there is no gradient for ``x``; the gradient of
    ``W`` adds ``dout[n, t]`` into row ``x[n, t]``, summing repeats exactly.

    Parameters
    ----------
    dout : numpy.ndarray, shape (N, T, D), dtype of ``W``
        Upstream gradient of the loss with respect to ``out``.
    cache : object
        The cache returned by :func:`word_embedding_forward`.

    Returns
    -------
    dW : numpy.ndarray, shape (V, D), dtype of ``W``
        Rows of words absent from ``x`` are zero.

    Raises
    ------
    TypeError
        If ``dout`` is not an ndarray of the forward pass's dtype.
    ValueError
        If ``dout`` is not shaped (N, T, D).
    """
    with ieee_quiet():
        indices, (vocab_size, dim), dtype = cache
        check_upstream("dout", dout, dtype, (*indices.shape, dim), "(N, T, D)")

        dW = np.zeros((vocab_size, dim), dtype=dtype)
        if indices.size == 0 or dim == 0:
            return dW
        flat = indices.reshape(-1)
        rows = dout.reshape(flat.size, dim)

        key = flat.astype(np.uint16) if vocab_size <= _RADIX_KEY_LIMIT else flat
        # Stable, so each word's occurrences stay in their original order and the
        # sums below add them in that order.
        order = np.argsort(key, kind="stable")
        sorted_words = flat[order]
        run_start = np.empty(flat.size, dtype=bool)
        run_start[0] = True
        np.not_equal(sorted_words[1:], sorted_words[:-1], out=run_start[1:])
        starts = np.flatnonzero(run_start)
        counts = np.diff(starts, append=flat.size)
        words = sorted_words[starts]

        # Words seen once are a straight copy, in increasing row order of dW. It
        # goes through a small reused buffer that stays in cache, rather than a
        # temporary as large as the copied rows.
        once = counts == 1
        sources = order[starts[once]]
        targets = words[once]
        chunk = max(1, _CHUNK_BYTES // (dim * dW.itemsize))
        buffer = np.empty((min(chunk, sources.size), dim), dtype=dtype)
        for begin in range(0, sources.size, chunk):
            part = buffer[: min(chunk, sources.size - begin)]
            np.take(rows, sources[begin:begin + chunk], axis=0, out=part, mode="clip")
            dW[targets[begin:begin + chunk]] = part

        repeated = np.flatnonzero(~once)
        if repeated.size == 0:
            return dW
        heavy = repeated[counts[repeated] > _ROUNDS_LIMIT]
        light = repeated[counts[repeated] <= _ROUNDS_LIMIT]

        if light.size:
            # Most repeats first, so the words still active in round k are a
            # prefix and each round updates a contiguous slice in place.
            light = light[np.argsort(-counts[light], kind="stable")]
            light_counts = counts[light]
            first = starts[light]
            sums = np.take(rows, order[first], axis=0, mode="clip")
            # active[k - 1] = how many words occur more than k times.
            active = np.searchsorted(-light_counts, -np.arange(1, int(light_counts[0])), side="left")
            for k, n_active in enumerate(active, start=1):
                block = sums[:n_active]
                block += np.take(rows, order[first[:n_active] + k], axis=0, mode="clip")
            dW[words[light]] = sums

        for group in heavy:
            start = starts[group]
            # numpy reduces axis 0 of a C-ordered block row after row, the same
            # order as the rounds.
            run = np.take(rows, order[start:start + counts[group]], axis=0, mode="clip")
            dW[words[group]] = run.sum(axis=0)
        return dW
