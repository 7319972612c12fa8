"""Stacked operands of the sequence kernels of :mod:`impl.rnn`, :mod:`impl.lstm` and :mod:`impl.gru`.

The kernels fold a step's bias into its product by giving every input row a
trailing column of ones, and the LSTM and GRU kernels reorder (and sign) the
gate blocks of their weights once per call so that the gates they treat
alike are contiguous. This module builds those rows and undoes the
reordering for the weight gradients; which order and which signs each cell
uses stay in its own module, and so does the stacking of its weights (whose
layout each kernel chooses for its own products).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

import numpy as np

__all__ = ["time_major_rows", "unstack_gate_gradient"]


def time_major_rows(x: np.ndarray, lead: int) -> np.ndarray:
    """The rows ``[?, x_t, 1]`` of every step, time-major, for products that carry a bias.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, T, D), float32 or float64
        Input sequences.
    lead : int
        Number of columns ``L`` left in front of ``x_t`` for the caller to fill
        (the LSTM kernel's ``h_{t-1}``); 0 for none.

    Returns
    -------
    rows : numpy.ndarray, shape (T, N, L + D + 1), dtype of ``x``
        ``rows[t, n] = [?, x[n, t], 1]``, a new contiguous array; the first
        ``L`` columns are uninitialised.
    """
    n, t, d = x.shape
    rows = np.empty((t, n, lead + d + 1), x.dtype)
    rows[:, :, lead : lead + d] = x.transpose(1, 0, 2)
    rows[:, :, lead + d] = 1
    return rows


def unstack_gate_gradient(
    dstack_t: np.ndarray, blocks: Sequence[tuple[int, int]], h: int, widths: Sequence[int]
) -> tuple[np.ndarray, ...]:
    """Split the gradient of a stacked, gate-reordered weight matrix into the user's layout.

    The stacked matrix, transposed, is ``[W_1 | ... | W_m | bias]``: ``G``
    internal gate blocks of ``H`` rows each, over the columns of the weight
    matrices ``W_j`` and a last column for the bias. Internal block ``k``
    holds the user's gate ``blocks[k][0]`` multiplied by ``blocks[k][1]``
    (+1 or -1), so its gradient is moved back to that gate's columns and
    multiplied by the same sign (exactly, whatever the dtype).

    Parameters
    ----------
    dstack_t : numpy.ndarray, shape (G*H, K), float32 or float64
        The gradient of the transposed stacked matrix, ``K = sum(widths) + 1``.
    blocks : sequence of (int, int), length G
        ``(user gate, sign)`` of each internal block.
    h : int
        Hidden size ``H``.
    widths : sequence of int
        Rows ``D_j`` of each weight matrix ``W_j`` (as the user holds it).

    Returns
    -------
    tuple of numpy.ndarray
        ``dW_1 (D_1, G*H), ..., dW_m (D_m, G*H), dbias (G*H,)``, new arrays of
        the dtype of ``dstack_t``, gate blocks in the user's order.
    """
    dtype = dstack_t.dtype
    width = len(blocks) * h
    bounds = list(accumulate(widths, initial=0))
    weights = [np.empty((rows_in, width), dtype) for rows_in in widths]
    dbias = np.empty(width, dtype)
    for k, (gate, sign) in enumerate(blocks):
        rows, cols = slice(k * h, (k + 1) * h), slice(gate * h, (gate + 1) * h)
        scale = dtype.type(sign)  # multiplying by +-1 is exact
        for dW, low, high in zip(weights, bounds[:-1], bounds[1:], strict=True):
            np.multiply(dstack_t[rows, low:high].T, scale, out=dW[:, cols])
        np.multiply(dstack_t[rows, bounds[-1]], scale, out=dbias[cols])
    return (*weights, dbias)
