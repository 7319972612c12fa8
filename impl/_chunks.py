"""The chunked backward loop shared by the sequence kernels of :mod:`impl.rnn`, :mod:`impl.lstm` and :mod:`impl.gru`.

A sequence backward pass has to walk the steps backwards one at a time (the
gradient reaching ``h_{t-1}`` needs the one reaching ``h_t``), but the weight
gradients and ``dx`` need not be computed step by step: they are sums of
products over all steps. Each kernel therefore stores the pre-activation
gradients of a *chunk* of steps in one buffer and, once the chunk is done,
adds its share of the weight gradients and fills its slice of ``dx`` with
one large product each, which BLAS runs far faster than many small ones.
Chunks rather than the whole sequence keep that buffer, and so the peak
memory, small.

What is the same for the three cells lives here: the chunk size
(:data:`CHUNK_ROWS`), the order of the chunks and the buffer they share
(:func:`backward_chunks`, :class:`Chunk`), the sum of the chunks' products
(:class:`MatmulSum`) and the gradient arriving from above at each step
(:func:`receive_upstream`). What each cell computes per step stays in its
own module. Every buffer has the dtype it is given; nothing here allocates
a float64 temporary for float32 work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["CHUNK_ROWS", "Chunk", "MatmulSum", "backward_chunks", "receive_upstream"]

#: The sequence backward passes keep the pre-activation gradients of at most this many (step,
#: sequence) rows at a time (at least one step): enough for efficient weight-gradient products,
#: while keeping that buffer, and the peak memory, small. With N sequences of T steps a chunk
#: holds ``max(1, min(T, CHUNK_ROWS // max(N, 1)))`` steps. Public (as :data:`impl.rnn.CHUNK_ROWS`)
#: so that tests can build sequences that cross chunk boundaries.
CHUNK_ROWS = 512


@dataclass(frozen=True, eq=False)
class Chunk:
    """Steps ``start .. stop - 1`` of a backward pass and their slice of the shared gradient buffer.

    Attributes
    ----------
    start, stop : int
        The chunk's steps, ``0 <= start < stop <= T``.
    grads : numpy.ndarray, shape (steps, N, W) or (W, steps, N)
        A contiguous view of the buffer, for the per-step gradients of width
        ``W`` (``W = H`` for the RNN, ``4H`` for the LSTM and the GRU): step-major
        or, with ``feature_major``, feature-major. The next chunk overwrites it.
    feature_major : bool
        Which of the two layouts ``grads`` has.
    """

    start: int
    stop: int
    grads: np.ndarray
    feature_major: bool

    @property
    def steps(self) -> int:
        """The number of steps in the chunk (the chunk holding step 0 may be shorter than the others)."""
        return self.stop - self.start

    def backwards(self) -> range:
        """The chunk's steps, last first: the order the recurrence needs."""
        return range(self.stop - 1, self.start - 1, -1)

    def at(self, step: int) -> np.ndarray:
        """The gradient block of one step: a view, ``(N, W)`` step-major or ``(W, N)`` feature-major."""
        local = step - self.start
        return self.grads[:, local] if self.feature_major else self.grads[local]

    def matrix(self) -> np.ndarray:
        """``grads`` as one matrix (a view): ``(steps * N, W)`` step-major, ``(W, steps * N)`` feature-major."""
        if self.feature_major:
            width, steps, n = self.grads.shape
            return self.grads.reshape(width, steps * n)
        steps, n, width = self.grads.shape
        return self.grads.reshape(steps * n, width)

    def rows(self, time_major: np.ndarray) -> np.ndarray:
        """The chunk's rows of a ``(T, N, K)`` time-major array as one ``(steps * N, K)`` matrix.

        A view when ``time_major`` is contiguous, as every cache array is.
        """
        n, k = time_major.shape[1], time_major.shape[2]
        return time_major[self.start : self.stop].reshape(self.steps * n, k)

    def scatter_rows(self, dest: np.ndarray, rows: np.ndarray) -> None:
        """Write ``rows``, the chunk's ``(steps * N, D)`` time-major rows, into its steps of ``dest`` (N, T, D)."""
        n, d = dest.shape[0], dest.shape[2]
        dest[:, self.start : self.stop] = rows.reshape(self.steps, n, d).transpose(1, 0, 2)


def backward_chunks(t: int, n: int, width: int, dtype: np.dtype, *, feature_major: bool) -> Iterator[Chunk]:
    """The chunks of a backward pass over T steps of N sequences, last chunk first.

    Parameters
    ----------
    t, n : int
        Sequence length T and batch size N (either may be 0: then no chunk).
    width : int
        Width ``W`` of one step's gradient block per sequence.
    dtype : numpy.dtype
        dtype of the buffer (the forward pass's).
    feature_major : bool
        Lay each chunk's ``grads`` out as ``(W, steps, N)`` rather than
        ``(steps, N, W)``.

    Yields
    ------
    Chunk
        Chunks of ``max(1, min(T, CHUNK_ROWS // max(N, 1)))`` steps from the
        end backwards (the last one yielded, holding step 0, may be shorter).
        All share one buffer of ``W * N`` times that many elements, allocated
        once: a chunk's ``grads`` are valid until the next chunk is taken.
    """
    chunk = max(1, min(t, CHUNK_ROWS // max(n, 1)))
    buffer = np.empty(width * chunk * n, dtype)
    for stop in range(t, 0, -chunk):
        start = max(0, stop - chunk)
        steps = stop - start
        flat = buffer[: width * steps * n]
        shape = (width, steps, n) if feature_major else (steps, n, width)
        yield Chunk(start, stop, flat.reshape(shape), feature_major)


def receive_upstream(carry: np.ndarray, upstream: np.ndarray, *, last_step: bool) -> None:
    """Add the upstream gradient of a step's hidden state to what the following step sent back.

    ``carry`` holds what step ``t + 1`` sent back to ``h_t``; at the last step
    nothing comes back, so ``carry`` is overwritten with ``upstream`` instead
    (a copy rather than ``0 + upstream``, which would turn ``-0.0`` into ``0.0``).
    ``upstream`` is the step's slice of ``dh`` in ``carry``'s layout (a
    transposed view for the feature-major kernels).
    """
    if last_step:
        np.copyto(carry, upstream)
    else:
        carry += upstream


class MatmulSum:
    """The sum of the products ``a @ b`` of the chunks of a backward pass.

    The first product is written straight into :attr:`total`; later ones go
    through one scratch buffer, allocated only when a second chunk exists, so
    a single-chunk pass needs no extra memory. With no chunk at all (``T == 0``
    or ``N == 0``) the total stays zero.

    Parameters
    ----------
    shape : tuple of int
        Shape of every product and of the total.
    dtype : numpy.dtype
        dtype of the total and of the scratch buffer.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.total = np.zeros(shape, dtype)
        self._scratch: np.ndarray | None = None
        self._empty = True

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        """Add ``a @ b`` to :attr:`total`."""
        if self._empty:
            np.matmul(a, b, out=self.total)
            self._empty = False
            return
        if self._scratch is None:
            self._scratch = np.empty_like(self.total)
        np.matmul(a, b, out=self._scratch)
        self.total += self._scratch
