"""Vanilla (Elman) recurrent layer with a tanh nonlinearity.

Math
----
For a minibatch of N sequences, inputs ``x_t`` of size D and hidden states of
size H::

    a_t = x_t Wx + h_{t-1} Wh + b          (N, H)
    h_t = tanh(a_t)

and, with ``dh_t`` the total gradient reaching ``h_t`` (the upstream gradient
of step t plus what step t+1 sends back)::

    da_t      = dh_t * (1 - h_t ** 2)
    dh_{t-1} += da_t Wh^T,   dx_t = da_t Wx^T
    dWx = sum_t x_t^T da_t,  dWh = sum_t h_{t-1}^T da_t,  db = sum_t sum_n da_t

Implementation notes
--------------------
Only ``h_{t-1} Wh`` and the ``tanh`` are inherently sequential. The sequence
functions therefore compute the input projection of every step as one matrix
product before the loop (with the bias folded in as an extra input column of
ones). The backward loop only runs ``da_t Wh^T`` and a few in-place
elementwise operations on preallocated buffers per step; it stores the
``da_t`` of a chunk of steps (about :data:`CHUNK_ROWS` ``(step, n)`` rows)
in one buffer, and each finished chunk adds its share of ``dWx``, ``db`` and
``dWh`` and fills its slice of ``dx`` with one product each. (Chunks rather
than the whole sequence keep that buffer, and the peak memory, small.) That
chunked loop is the one :mod:`impl.lstm` and :mod:`impl.gru` use too; it
lives in :mod:`impl._chunks`.
Time-major ``(T, N, ...)`` buffers make every per-step slice contiguous.

:data:`CHUNK_ROWS` (512, defined in :mod:`impl._chunks` and re-exported
here) is that chunk size, in rows, for the backward passes of this module,
:mod:`impl.lstm` and :mod:`impl.gru` alike: with N sequences of T steps a
chunk holds ``max(1, min(T, CHUNK_ROWS // max(N, 1)))`` steps, taken from
the last step backwards, so the chunk holding step 0 may be shorter. It is
public because the tests use it to build cases that cross chunk boundaries
(a sequence longer than one chunk, a short last chunk, a batch wider than a
chunk); the results do not depend on it beyond rounding.

Every array stays in the caller's float dtype (float32 or float64); no
float64 temporary is ever created for float32 work.
NaN and Inf are not checked for: they propagate as IEEE 754 says, and each
public function runs its body under ``with ieee_quiet():``, numpy's
floating-point warnings off (the package's NaN/Inf policy).

This module also holds the small argument checks shared by the LSTM and GRU
modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impl._checks import check_ndim, check_shape, check_upstream, common_float_dtype, ieee_quiet
from impl._chunks import CHUNK_ROWS as CHUNK_ROWS  # re-exported: tests and the oracle read it from here
from impl._chunks import MatmulSum, backward_chunks, receive_upstream
from impl._stacking import time_major_rows

__all__ = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]


# --------------------------------------------------------------------------- shared checks


def _check_cache(cache: object, cache_type: type, backward: str, forward: str) -> None:
    """Raise ``TypeError`` unless ``cache`` is the object ``forward`` returned."""
    if not isinstance(cache, cache_type):
        raise TypeError(
            f"argument 'cache' of {backward} must be the cache returned by {forward}, "
            f"got {type(cache).__name__}"
        )


def _check_cell_params(
    x: np.ndarray,
    x_layout: str,
    state_name: str,
    state: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    biases: dict[str, np.ndarray],
    gates: int,
) -> tuple[int, int]:
    """Check the shapes shared by every recurrent cell; return ``(D, H)``.

    ``x`` has batch size first and features last (``(N, D)`` for a step,
    ``(N, T, D)`` for a sequence); ``state`` is the ``(N, H)`` initial or
    previous hidden state, which fixes ``H``; ``Wx`` must be ``(D, G*H)``,
    ``Wh`` ``(H, G*H)`` and every bias ``(G*H,)`` with ``G = gates``. Dtypes
    must have been checked already.
    """
    width = "H" if gates == 1 else f"{gates}H"
    check_ndim("x", x, x_layout.count(",") + 1, x_layout)
    check_ndim(state_name, state, 2, "(N, H)")
    check_ndim("Wx", Wx, 2, f"(D, {width})")
    check_ndim("Wh", Wh, 2, f"(H, {width})")
    for bias_name, bias in biases.items():
        check_ndim(bias_name, bias, 1, f"({width},)")
    n, d = x.shape[0], x.shape[-1]
    h = state.shape[1]
    check_shape(state_name, state, (n, h), "(N, H)")
    check_shape("Wx", Wx, (d, gates * h), f"(D, {width})")
    check_shape("Wh", Wh, (h, gates * h), f"(H, {width})")
    for bias_name, bias in biases.items():
        check_shape(bias_name, bias, (gates * h,), f"({width},)")
    return d, h


def _read_only(*arrays: np.ndarray) -> None:
    """Freeze arrays owned by a cache, so that nothing can modify them by accident."""
    for array in arrays:
        array.flags.writeable = False


# --------------------------------------------------------------------------- single step


@dataclass(frozen=True, eq=False)
class _RNNStepCache:
    """What :func:`rnn_step_backward` needs: the step's inputs and its output."""

    x: np.ndarray  # (N, D), the caller's array
    prev_h: np.ndarray  # (N, H), the caller's array
    Wx: np.ndarray  # (D, H), the caller's array
    Wh: np.ndarray  # (H, H), the caller's array
    next_h: np.ndarray  # (N, H), private copy (the caller may modify the returned one)

    def __repr__(self) -> str:
        return f"<rnn_step cache N={self.x.shape[0]} D={self.x.shape[1]} H={self.Wh.shape[0]} {self.x.dtype}>"


def rnn_step_forward(
    x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, _RNNStepCache]:
    """One time step of a tanh RNN: ``next_h = tanh(x @ Wx + prev_h @ Wh + b)``.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, D), float32 or float64
        Inputs of this step.
    prev_h : numpy.ndarray, shape (N, H), same dtype
        Hidden state of the previous step.
    Wx : numpy.ndarray, shape (D, H), same dtype
        Input-to-hidden weights.
    Wh : numpy.ndarray, shape (H, H), same dtype
        Hidden-to-hidden weights.
    b : numpy.ndarray, shape (H,), same dtype
        Biases.

    Returns
    -------
    next_h : numpy.ndarray, shape (N, H), dtype of ``x``
        Next hidden state.
    cache : object
        Opaque value for :func:`rnn_step_backward`. It references ``x``,
        ``prev_h``, ``Wx`` and ``Wh``, which must not be modified before the
        backward pass.

    Raises
    ------
    TypeError
        If an argument is not a float32/float64 ndarray or the dtypes differ.
    ValueError
        If a number of dimensions is wrong or the shapes disagree.
    """
    with ieee_quiet():
        common_float_dtype(x=x, prev_h=prev_h, Wx=Wx, Wh=Wh, b=b)
        _check_cell_params(x, "(N, D)", "prev_h", prev_h, Wx, Wh, {"b": b}, gates=1)

        next_h = x @ Wx
        next_h += prev_h @ Wh
        next_h += b
        np.tanh(next_h, out=next_h)
        kept = next_h.copy()
        _read_only(kept)
        return next_h, _RNNStepCache(x, prev_h, Wx, Wh, kept)


def rnn_step_backward(
    dnext_h: np.ndarray, cache: _RNNStepCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`rnn_step_forward`.

    Parameters
    ----------
    dnext_h : numpy.ndarray, shape (N, H), dtype of the forward pass
        Gradient of the loss with respect to ``next_h``. Not modified.
    cache : object
        The cache returned by :func:`rnn_step_forward`; it can be used for
        any number of backward passes.

    Returns
    -------
    dx : numpy.ndarray, shape (N, D)
    dprev_h : numpy.ndarray, shape (N, H)
    dWx : numpy.ndarray, shape (D, H)
    dWh : numpy.ndarray, shape (H, H)
    db : numpy.ndarray, shape (H,)
        Gradients with respect to each input of the forward pass, all in the
        forward pass's dtype.

    Raises
    ------
    TypeError
        If ``cache`` is not an :func:`rnn_step_forward` cache, or ``dnext_h``
        is not an ndarray of the forward pass's dtype.
    ValueError
        If ``dnext_h`` does not have the shape of ``next_h``.
    """
    with ieee_quiet():
        _check_cache(cache, _RNNStepCache, "rnn_step_backward", "rnn_step_forward")
        check_upstream("dnext_h", dnext_h, cache.next_h.dtype, cache.next_h.shape, "(N, H)")

        # d tanh(a) / da = 1 - tanh(a)^2, written in terms of the stored output.
        da = np.multiply(cache.next_h, cache.next_h)
        np.subtract(1, da, out=da)
        da *= dnext_h
        dx = da @ cache.Wx.T
        dprev_h = da @ cache.Wh.T
        dWx = cache.x.T @ da
        dWh = cache.prev_h.T @ da
        db = da.sum(axis=0)
        return dx, dprev_h, dWx, dWh, db


# --------------------------------------------------------------------------- whole sequence


@dataclass(frozen=True, eq=False)
class _RNNCache:
    """What :func:`rnn_backward` needs, in time-major layout, all privately owned.

    ``x1`` holds ``[x_t, 1]`` for every step (the ones column carries the
    bias), ``hs`` holds ``h_0 .. h_T`` so that ``hs[:T]`` are the states each
    step read, and ``WxT``/``WhT`` are contiguous transposes for the
    backward products.
    """

    x1: np.ndarray  # (T, N, D + 1)
    hs: np.ndarray  # (T + 1, N, H)
    WxT: np.ndarray  # (H, D)
    WhT: np.ndarray  # (H, H)

    def __repr__(self) -> str:
        t, n, d1 = self.x1.shape
        return f"<rnn cache N={n} T={t} D={d1 - 1} H={self.WhT.shape[0]} {self.x1.dtype}>"


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, _RNNCache]:
    """Run a tanh RNN over whole sequences.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, T, D), float32 or float64
        Input sequences.
    h0 : numpy.ndarray, shape (N, H), same dtype
        Initial hidden state.
    Wx : numpy.ndarray, shape (D, H), same dtype
        Input-to-hidden weights.
    Wh : numpy.ndarray, shape (H, H), same dtype
        Hidden-to-hidden weights.
    b : numpy.ndarray, shape (H,), same dtype
        Biases.

    Returns
    -------
    h : numpy.ndarray, shape (N, T, H), dtype of ``x``
        Hidden states of every step (``h0`` excluded). ``T == 0`` gives an
        empty ``(N, 0, H)`` array.
    cache : object
        Opaque value for :func:`rnn_backward`. It holds private copies of
        everything the backward pass needs, so the arguments (and ``h``) may
        be modified afterwards.

    Raises
    ------
    TypeError
        If an argument is not a float32/float64 ndarray or the dtypes differ.
    ValueError
        If a number of dimensions is wrong or the shapes disagree.
    """
    with ieee_quiet():
        dtype = common_float_dtype(x=x, h0=h0, Wx=Wx, Wh=Wh, b=b)
        d, h = _check_cell_params(x, "(N, T, D)", "h0", h0, Wx, Wh, {"b": b}, gates=1)
        n, t = x.shape[0], x.shape[1]

        x1 = time_major_rows(x, 0)
        wx1 = np.empty((d + 1, h), dtype)
        wx1[:d] = Wx
        wx1[d] = b
        hs = np.empty((t + 1, n, h), dtype)
        hs[0] = h0
        # Input projection (bias included) of every step at once, written straight
        # into the state buffer where each step's pre-activation is assembled.
        np.matmul(x1.reshape(t * n, d + 1), wx1, out=hs[1:].reshape(t * n, h))
        wh = np.ascontiguousarray(Wh)
        recurrent = np.empty((n, h), dtype)
        for step in range(t):
            np.matmul(hs[step], wh, out=recurrent)
            state = hs[step + 1]
            state += recurrent
            np.tanh(state, out=state)

        out = hs[1:].transpose(1, 0, 2).copy()
        # Private copies (np.array always copies): the caller may modify Wx and Wh.
        cache = _RNNCache(x1, hs, np.array(Wx.T, order="C"), np.array(Wh.T, order="C"))
        _read_only(cache.x1, cache.hs, cache.WxT, cache.WhT)
        return out, cache


def rnn_backward(
    dh: np.ndarray, cache: _RNNCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`rnn_forward` over whole sequences.

    Parameters
    ----------
    dh : numpy.ndarray, shape (N, T, H), dtype of the forward pass
        Upstream gradients of every hidden state (from the loss at each step;
        the gradient flowing between steps is computed here). Not modified.
    cache : object
        The cache returned by :func:`rnn_forward`; it can be used for any
        number of backward passes.

    Returns
    -------
    dx : numpy.ndarray, shape (N, T, D)
    dh0 : numpy.ndarray, shape (N, H)
    dWx : numpy.ndarray, shape (D, H)
    dWh : numpy.ndarray, shape (H, H)
    db : numpy.ndarray, shape (H,)
        Gradients with respect to each input of the forward pass, all in the
        forward pass's dtype. With ``T == 0`` (or ``N == 0``) the parameter
        gradients are zeros.

    Raises
    ------
    TypeError
        If ``cache`` is not an :func:`rnn_forward` cache, or ``dh`` is not an
        ndarray of the forward pass's dtype.
    ValueError
        If ``dh`` does not have the shape of the forward output ``h``.
    """
    with ieee_quiet():
        _check_cache(cache, _RNNCache, "rnn_backward", "rnn_forward")
        t, n, d1 = cache.x1.shape
        d, h = d1 - 1, cache.WhT.shape[0]
        dtype = cache.x1.dtype
        check_upstream("dh", dh, dtype, (n, t, h), "(N, T, H)")

        hs = cache.hs
        dx = np.empty((n, t, d), dtype)
        dwx1 = MatmulSum((d1, h), dtype)
        dwh = MatmulSum((h, h), dtype)
        carry = np.empty((n, h), dtype)  # gradient reaching h_t: upstream + from step t+1 (da_{t+1} Wh^T)
        for chunk in backward_chunks(t, n, h, dtype, feature_major=False):
            da = chunk.grads  # (steps, N, H)
            # tanh'(a_t) = 1 - h_t^2 for the whole chunk at once (it does not depend
            # on the incoming gradient), then scaled by it step by step.
            outputs = hs[chunk.start + 1 : chunk.stop + 1]
            np.multiply(outputs, outputs, out=da)
            np.subtract(1, da, out=da)
            for step in chunk.backwards():
                receive_upstream(carry, dh[:, step], last_step=step == t - 1)
                da_t = chunk.at(step)
                da_t *= carry
                # What h_{t-1} receives from this step (for step 0: dL/dh0).
                np.matmul(da_t, cache.WhT, out=carry)
            da2 = chunk.matrix()
            # One product gives this chunk's share of dWx and, through the ones column, of db.
            dwx1.add(chunk.rows(cache.x1).T, da2)
            dwh.add(chunk.rows(hs).T, da2)
            chunk.scatter_rows(dx, da2 @ cache.WxT)

        dh0 = carry.copy() if t else np.zeros((n, h), dtype)
        dWx = dwx1.total[:d]
        db = dwx1.total[d].copy()
        dWh = dwh.total
        return dx, dh0, dWx, dWh, db
