"""Long short-term memory (LSTM) layer.

Layout and math
---------------
``Wx`` (D, 4H), ``Wh`` (H, 4H) and ``b`` (4H,) hold four gate blocks of width
H along their last axis, in the order **i, f, o, g** (input, forget, output,
candidate), as in the seed notebook. For inputs ``x_t`` (N, D)::

    a_t = x_t Wx + h_{t-1} Wh + b = [a_i, a_f, a_o, a_g]      (N, 4H)
    i = sigma(a_i), f = sigma(a_f), o = sigma(a_o), g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward, with ``dh_t`` and ``dc_t`` the total gradients reaching ``h_t`` and
``c_t``::

    dc_t    += dh_t * o * (1 - tanh(c_t)^2)
    da_i = dc_t * g * i (1 - i)          da_f = dc_t * c_{t-1} * f (1 - f)
    da_o = dh_t * tanh(c_t) * o (1 - o)  da_g = dc_t * i * (1 - g^2)
    dc_{t-1} = dc_t * f,   dh_{t-1} += da_t Wh^T,   dx_t = da_t Wx^T
    dWx = sum_t x_t^T da_t,  dWh = sum_t h_{t-1}^T da_t,  db = sum_{t,n} da_t

``lstm_forward``/``lstm_backward`` follow the seed (initial cell state 0, no
``dc0``); ``lstm_forward_with_c0``/``lstm_backward_with_c0`` take a given
``c0`` and also return its gradient. Both pairs run the same kernel.

Implementation of the sequence kernel
-------------------------------------
The step functions are direct transcriptions of the equations. The sequence
kernel is organised for speed, because numpy pays per call and per
non-contiguous row, while BLAS is fast only on large products:

- **Feature-major states.** Inside the loop every state and gate is kept
  transposed, ``(features, N)``, so each gate block is a contiguous slab and
  every elementwise operation runs over one contiguous range (a gate block
  of an ``(N, 4H)`` array would be N strided rows).
- **One product per step.** Each step's rows ``[h_{t-1}, x_t, 1]`` sit in
  one ``(T, N, H + D + 1)`` buffer and the gate pre-activations come from a
  single product with the stacked weights ``[Wh; Wx; b]`` (the ones column
  carries the bias).
- **Internal gate order g, f, i, o with the sigmoid gates negated.** The
  stacked weights are reordered once per call so that the sigmoid gates are
  contiguous, ``[f, i]`` pairs with ``[c_{t-1}, g]`` (so ``f c_{t-1}`` and
  ``i g`` are one multiplication), and ``g, f, i`` form one block in the
  backward pass. The sigmoid gates' weights are negated (exactly) so that
  ``sigma(a) = 1 / (1 + exp(z))`` with ``z = -a`` straight from the product;
  the backward pass works with ``dL/dz = -dL/da`` for those gates and flips
  the sign back when it reorders the weight gradients.
- **Gradients of the weights outside the step loop.** Per step, the backward
  pass only computes ``da_t Wh^T`` and elementwise work; it writes the
  pre-activation gradients of a chunk of steps (about
  :data:`impl.rnn.CHUNK_ROWS` ``(step, n)`` rows) into one ``(4H, steps, N)``
  buffer (the chunked loop of :mod:`impl._chunks`, shared with the RNN and
  the GRU), and each finished chunk adds its share
  of ``dWx``, ``dWh`` and ``db`` with a single product against the
  ``(steps * N, H + D + 1)`` rows of the cache, and fills its slice of ``dx``
  with one more. Chunks rather than the whole sequence keep that buffer,
  and hence the peak memory, small (below ``torch.nn.LSTM``'s in both
  dtypes).

Every buffer has the caller's float dtype; no float64 temporary is used for
float32 work.
NaN and Inf are not checked for: they propagate as IEEE 754 says, and each
public function runs its body under ``with ieee_quiet():``, numpy's
floating-point warnings off (the package's NaN/Inf policy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impl._checks import check_ndim, check_shape, check_upstream, common_float_dtype, ieee_quiet
from impl._chunks import MatmulSum, backward_chunks, receive_upstream
from impl._stacking import time_major_rows, unstack_gate_gradient
from impl.rnn import _check_cache, _check_cell_params, _read_only

__all__ = [
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "lstm_forward_with_c0",
    "lstm_backward_with_c0",
]

#: Internal gate k of the sequence kernel is user gate ``_USER_GATE[k]``
#: (user order i=0, f=1, o=2, g=3; internal order g, f, i, o) ...
_USER_GATE = (3, 1, 0, 2)
#: ... and its weights are multiplied by ``_GATE_SIGN[k]`` (negated sigmoid gates).
_GATE_SIGN = (1, -1, -1, -1)
#: Both, as the ``(user gate, sign)`` of each internal block.
_BLOCKS = tuple(zip(_USER_GATE, _GATE_SIGN, strict=True))


def _sigmoid_inplace(a: np.ndarray) -> None:
    """Overwrite ``a`` with ``sigma(a) = 1 / (1 + exp(-a))`` in its own dtype.

    ``exp(-a)`` overflows to ``inf`` for very negative ``a``, which correctly
    gives 0; the overflow warning is silenced for that reason.
    """
    with np.errstate(over="ignore"):
        np.negative(a, out=a)
        np.exp(a, out=a)
        a += 1
        np.reciprocal(a, out=a)


# --------------------------------------------------------------------------- single step


@dataclass(frozen=True, eq=False)
class _LSTMStepCache:
    """What :func:`lstm_step_backward` needs."""

    x: np.ndarray  # (N, D), the caller's array
    prev_h: np.ndarray  # (N, H), the caller's array
    prev_c: np.ndarray  # (N, H), the caller's array
    Wx: np.ndarray  # (D, 4H), the caller's array
    Wh: np.ndarray  # (H, 4H), the caller's array
    gates: np.ndarray  # (N, 4H): i, f, o, g after their nonlinearities (private)
    tanh_c: np.ndarray  # (N, H): tanh(next_c) (private)

    def __repr__(self) -> str:
        n, d = self.x.shape
        return f"<lstm_step cache N={n} D={d} H={self.tanh_c.shape[1]} {self.x.dtype}>"


def lstm_step_forward(
    x: np.ndarray,
    prev_h: np.ndarray,
    prev_c: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, _LSTMStepCache]:
    """One time step of an LSTM.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, D), float32 or float64
        Inputs of this step.
    prev_h : numpy.ndarray, shape (N, H), same dtype
        Previous hidden state.
    prev_c : numpy.ndarray, shape (N, H), same dtype
        Previous cell state.
    Wx : numpy.ndarray, shape (D, 4H), same dtype
        Input-to-hidden weights, gate blocks i, f, o, g.
    Wh : numpy.ndarray, shape (H, 4H), same dtype
        Hidden-to-hidden weights, gate blocks i, f, o, g.
    b : numpy.ndarray, shape (4H,), same dtype
        Biases, gate blocks i, f, o, g.

    Returns
    -------
    next_h : numpy.ndarray, shape (N, H), dtype of ``x``
        Next hidden state.
    next_c : numpy.ndarray, shape (N, H), dtype of ``x``
        Next cell state.
    cache : object
        Opaque value for :func:`lstm_step_backward`. It references ``x``,
        ``prev_h``, ``prev_c``, ``Wx`` and ``Wh``, which must not be modified
        before the backward pass (the returned states may be).

    Raises
    ------
    TypeError
        If an argument is not a float32/float64 ndarray or the dtypes differ.
    ValueError
        If a number of dimensions is wrong or the shapes disagree.
    """
    with ieee_quiet():
        common_float_dtype(x=x, prev_h=prev_h, prev_c=prev_c, Wx=Wx, Wh=Wh, b=b)
        _, h = _check_cell_params(x, "(N, D)", "prev_h", prev_h, Wx, Wh, {"b": b}, gates=4)
        check_ndim("prev_c", prev_c, 2, "(N, H)")
        check_shape("prev_c", prev_c, prev_h.shape, "(N, H)")

        gates = x @ Wx
        gates += prev_h @ Wh
        gates += b
        _sigmoid_inplace(gates[:, : 3 * h])
        np.tanh(gates[:, 3 * h :], out=gates[:, 3 * h :])
        i, f, o, g = (gates[:, k * h : (k + 1) * h] for k in range(4))

        next_c = f * prev_c
        next_c += i * g
        tanh_c = np.tanh(next_c)
        next_h = o * tanh_c
        _read_only(gates, tanh_c)
        return next_h, next_c, _LSTMStepCache(x, prev_h, prev_c, Wx, Wh, gates, tanh_c)


def lstm_step_backward(
    dnext_h: np.ndarray, dnext_c: np.ndarray, cache: _LSTMStepCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`lstm_step_forward`.

    Parameters
    ----------
    dnext_h : numpy.ndarray, shape (N, H), dtype of the forward pass
        Gradient of the loss with respect to ``next_h``. Not modified.
    dnext_c : numpy.ndarray, shape (N, H), dtype of the forward pass
        Gradient of the loss with respect to ``next_c``. Not modified (the
        seed notebook accumulated into it in place).
    cache : object
        The cache returned by :func:`lstm_step_forward`; it can be used for
        any number of backward passes.

    Returns
    -------
    dx : numpy.ndarray, shape (N, D)
    dprev_h : numpy.ndarray, shape (N, H)
    dprev_c : numpy.ndarray, shape (N, H)
    dWx : numpy.ndarray, shape (D, 4H)
    dWh : numpy.ndarray, shape (H, 4H)
    db : numpy.ndarray, shape (4H,)
        Gradients with respect to each input of the forward pass, all in the
        forward pass's dtype; gate blocks in the order i, f, o, g.

    Raises
    ------
    TypeError
        If ``cache`` is not an :func:`lstm_step_forward` cache, or an upstream
        gradient is not an ndarray of the forward pass's dtype.
    ValueError
        If an upstream gradient does not have the shape ``(N, H)``.
    """
    with ieee_quiet():
        _check_cache(cache, _LSTMStepCache, "lstm_step_backward", "lstm_step_forward")
        dtype, shape = cache.tanh_c.dtype, cache.tanh_c.shape
        check_upstream("dnext_h", dnext_h, dtype, shape, "(N, H)")
        check_upstream("dnext_c", dnext_c, dtype, shape, "(N, H)")

        h = shape[1]
        i, f, o, g = (cache.gates[:, k * h : (k + 1) * h] for k in range(4))
        tanh_c = cache.tanh_c

        # Total gradient reaching next_c: its own upstream plus the path through
        # next_h = o * tanh(next_c). A fresh array: dnext_c is never written.
        dc = np.multiply(tanh_c, tanh_c)
        np.subtract(1, dc, out=dc)
        dc *= o
        dc *= dnext_h
        dc += dnext_c

        da = np.empty((shape[0], 4 * h), dtype)
        da_i, da_f, da_o, da_g = (da[:, k * h : (k + 1) * h] for k in range(4))
        # sigma'(a) = s (1 - s) and tanh'(a) = 1 - g^2, from the stored activations.
        np.subtract(1, i, out=da_i)
        da_i *= i
        da_i *= g
        da_i *= dc
        np.subtract(1, f, out=da_f)
        da_f *= f
        da_f *= cache.prev_c
        da_f *= dc
        np.subtract(1, o, out=da_o)
        da_o *= o
        da_o *= tanh_c
        da_o *= dnext_h
        np.multiply(g, g, out=da_g)
        np.subtract(1, da_g, out=da_g)
        da_g *= i
        da_g *= dc

        dprev_c = dc * f
        dx = da @ cache.Wx.T
        dprev_h = da @ cache.Wh.T
        dWx = cache.x.T @ da
        dWh = cache.prev_h.T @ da
        db = da.sum(axis=0)
        return dx, dprev_h, dprev_c, dWx, dWh, db


# --------------------------------------------------------------------------- whole sequence


@dataclass(frozen=True, eq=False)
class _LSTMCache:
    """What the sequence backward pass needs, all privately owned and read-only.

    Attributes
    ----------
    rows : (T, N, H + D + 1)
        ``[h_{t-1}, x_t, 1]`` for every step: the right operand of each
        step's product and of the weight-gradient product.
    states : (T, 6H, N)
        Feature-major, per step: ``c_{t-1}, g, f, i, o, tanh(c_t)``.
    w_stack : (H + D + 1, 4H)
        ``[Wh; Wx; b]`` with the gate columns in the internal order g, f, i,
        o and the sigmoid gates negated (a private copy).
    """

    rows: np.ndarray
    states: np.ndarray
    w_stack: np.ndarray

    @property
    def hidden_size(self) -> int:
        return self.w_stack.shape[1] // 4

    def __repr__(self) -> str:
        t, n, k = self.rows.shape
        h = self.hidden_size
        return f"<lstm cache N={n} T={t} D={k - h - 1} H={h} {self.rows.dtype}>"


def _stack_weights(Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, h: int, d: int) -> np.ndarray:
    """``[Wh; Wx; b]`` (H + D + 1, 4H), gate columns reordered to g, f, i, o, sigmoid gates negated.

    Built from contiguous row segments (no transposing copies, which numpy
    does slowly); the forward product uses its transpose as a view.
    """
    w = np.empty((h + d + 1, 4 * h), Wx.dtype)
    for k, (gate, sign) in enumerate(_BLOCKS):
        cols, src = slice(k * h, (k + 1) * h), slice(gate * h, (gate + 1) * h)
        scale = Wx.dtype.type(sign)  # multiplying by +-1 is exact
        np.multiply(Wh[:, src], scale, out=w[:h, cols])
        np.multiply(Wx[:, src], scale, out=w[h : h + d, cols])
        np.multiply(b[src], scale, out=w[h + d, cols])
    return w


def _lstm_kernel_forward(
    x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, _LSTMCache]:
    """The sequence forward pass on validated arguments (``c0=None`` means zeros)."""
    dtype = x.dtype
    n, t, d = x.shape
    h = h0.shape[1]

    w_stack = _stack_weights(Wx, Wh, b, h, d)
    w_stack_t = w_stack.T  # a view; BLAS reads it as a transposed operand
    rows = time_major_rows(x, h)  # (T, N, H + D + 1); h_{t-1} goes in front
    if t:
        rows[0, :, :h] = h0
    states = np.empty((t, 6 * h, n), dtype)
    out = np.empty((n, t, h), dtype)

    # Rows of one step's slab of `states`: c_{t-1}, g, f, i, o, tanh(c_t). The
    # product fills g, f, i, o (pre-activations); [c_{t-1}, g] times [f, i]
    # gives both terms of c_t in one multiplication.
    c_prev, cg_rows, g_rows, fi_rows = slice(0, h), slice(0, 2 * h), slice(h, 2 * h), slice(2 * h, 4 * h)
    pre_rows, sig_rows, o_rows, tc_rows = slice(h, 5 * h), slice(2 * h, 5 * h), slice(4 * h, 5 * h), slice(5 * h, 6 * h)
    products = np.empty((2 * h, n), dtype)  # [f * c_{t-1}; i * g]
    c_last = np.empty((h, n), dtype)  # c_{T-1}: needed only to get tanh(c_{T-1})
    h_next = np.empty((h, n), dtype)

    if t:
        if c0 is None:
            states[0, c_prev] = 0
        else:
            states[0, c_prev] = c0.T
    # exp(z) overflowing to inf gives the exact sigmoid limit 0 (warnings are off).
    for step in range(t):
        slab = states[step]
        np.matmul(w_stack_t, rows[step].T, out=slab[pre_rows])
        sig = slab[sig_rows]
        np.exp(sig, out=sig)
        sig += 1
        np.reciprocal(sig, out=sig)
        np.tanh(slab[g_rows], out=slab[g_rows])
        np.multiply(slab[cg_rows], slab[fi_rows], out=products)
        c_next = states[step + 1, c_prev] if step + 1 < t else c_last
        np.add(products[:h], products[h:], out=c_next)
        np.tanh(c_next, out=slab[tc_rows])
        # h_t is computed feature-major, then transposed by a plain copy:
        # numpy copies a transposed view several times faster than it
        # runs a ufunc with a transposed output.
        np.multiply(slab[o_rows], slab[tc_rows], out=h_next)
        np.copyto(out[:, step], h_next.T)
        if step + 1 < t:
            rows[step + 1, :, :h] = out[:, step]

    cache = _LSTMCache(rows, states, w_stack)
    _read_only(cache.rows, cache.states, cache.w_stack)
    return out, cache


def _lstm_kernel_backward(
    dh: np.ndarray, cache: _LSTMCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sequence backward pass; ``dh`` validated. Returns ``dx, dh0, dc0, dWx, dWh, db``.

    Steps are processed backwards in chunks of a few steps. Each step's
    ``dL/dz`` block is assembled in a contiguous ``(4H, N)`` scratch (fast
    elementwise operations), feeds ``Wh dL/dz_t`` and is then copied into the
    chunk's gate-major ``(4H, steps, N)`` buffer, which two products turn
    into the chunk's contribution to the weight gradients and its slice of
    ``dx`` once the chunk is done.
    """
    rows, states, w_stack = cache.rows, cache.states, cache.w_stack
    t, n, k = rows.shape
    h = cache.hidden_size
    d = k - h - 1
    wh_internal = w_stack[:h]  # (H, 4H), contiguous
    wx_internal_t = w_stack[h : h + d].T  # (4H, D) view
    dtype = rows.dtype

    dx = np.empty((n, t, d), dtype)
    dw_stack_t = MatmulSum((4 * h, k), dtype)
    carry_h = np.empty((h, n), dtype)  # total gradient reaching h_t
    dc = np.empty((h, n), dtype)  # total gradient reaching c_t
    carry_c = np.zeros((h, n), dtype)  # dc_t * f: what c_{t-1} receives
    factors = np.empty((4 * h, n), dtype)  # dz / dc for g, f, i; dz / dh for o
    factors_gfi = factors[: 3 * h].reshape(3, h, n)
    scratch = np.empty((h, n), dtype)
    dz_step = np.empty((4 * h, n), dtype)
    dz_step_gfi = dz_step[: 3 * h].reshape(3, h, n)

    # Rows of one step's slab of `states`: c_{t-1}, g, f, i, o, tanh(c_t).
    cg_rows, g_rows, f_rows, i_rows = slice(0, 2 * h), slice(h, 2 * h), slice(2 * h, 3 * h), slice(3 * h, 4 * h)
    o_rows, tc_rows, sig_rows = slice(4 * h, 5 * h), slice(5 * h, 6 * h), slice(2 * h, 5 * h)
    for chunk in backward_chunks(t, n, 4 * h, dtype, feature_major=True):
        for step in chunk.backwards():
            slab = states[step]
            # carry_h already holds Wh dL/dz_{t+1}, except at the last step.
            receive_upstream(carry_h, dh[:, step].T, last_step=step == t - 1)
            # dz/da for the negated sigmoid gates is -s(1 - s) = s(s - 1).
            sig = slab[sig_rows]
            np.subtract(sig, 1, out=factors[h:])
            factors[h:] *= sig
            factors[h : 3 * h] *= slab[cg_rows]  # f-gate times c_{t-1}, i-gate times g
            factors[3 * h :] *= slab[tc_rows]
            np.multiply(factors[3 * h :], carry_h, out=dz_step[3 * h :])
            # dc_t = carry_c + dh_t * o * (1 - tanh(c_t)^2)
            np.multiply(slab[tc_rows], slab[tc_rows], out=scratch)
            np.subtract(1, scratch, out=scratch)
            scratch *= slab[o_rows]
            np.multiply(scratch, carry_h, out=dc)
            dc += carry_c
            # g gate: i * (1 - g^2)
            g_factor = factors[:h]
            np.multiply(slab[g_rows], slab[g_rows], out=g_factor)
            np.subtract(1, g_factor, out=g_factor)
            g_factor *= slab[i_rows]
            np.multiply(factors_gfi, dc, out=dz_step_gfi)
            np.multiply(dc, slab[f_rows], out=carry_c)
            # What h_{t-1} receives from this step (for step 0: dL/dh0).
            np.matmul(wh_internal, dz_step, out=carry_h)
            np.copyto(chunk.at(step), dz_step)
        dz = chunk.matrix()  # (4H, steps * N)
        dw_stack_t.add(dz, chunk.rows(rows))
        chunk.scatter_rows(dx, dz.T @ wx_internal_t)

    dh0 = carry_h.T.copy() if t else np.zeros((n, h), dtype)
    dc0 = carry_c.T.copy()
    # The stack is [Wh; Wx; b], in the user's i, f, o, g layout again.
    dWh, dWx, db = unstack_gate_gradient(dw_stack_t.total, _BLOCKS, h, (h, d))
    return dx, dh0, dc0, dWx, dWh, db


def _check_sequence_args(
    x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> None:
    arrays = {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b}
    if c0 is not None:
        arrays["c0"] = c0
    common_float_dtype(**arrays)
    _check_cell_params(x, "(N, T, D)", "h0", h0, Wx, Wh, {"b": b}, gates=4)
    if c0 is not None:
        check_ndim("c0", c0, 2, "(N, H)")
        check_shape("c0", c0, h0.shape, "(N, H)")


def _check_sequence_upstream(dh: np.ndarray, cache: _LSTMCache, backward: str, forward: str) -> None:
    _check_cache(cache, _LSTMCache, backward, forward)
    t, n, _ = cache.rows.shape
    check_upstream("dh", dh, cache.rows.dtype, (n, t, cache.hidden_size), "(N, T, H)")


def lstm_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, _LSTMCache]:
    """Run an LSTM over whole sequences, starting from a zero cell state.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, T, D), float32 or float64
        Input sequences.
    h0 : numpy.ndarray, shape (N, H), same dtype
        Initial hidden state (the initial cell state is zero).
    Wx : numpy.ndarray, shape (D, 4H), same dtype
        Input-to-hidden weights, gate blocks i, f, o, g.
    Wh : numpy.ndarray, shape (H, 4H), same dtype
        Hidden-to-hidden weights, gate blocks i, f, o, g.
    b : numpy.ndarray, shape (4H,), same dtype
        Biases, gate blocks i, f, o, g.

    Returns
    -------
    h : numpy.ndarray, shape (N, T, H), dtype of ``x``
        Hidden states of every step (``h0`` excluded); ``(N, 0, H)`` when
        ``T == 0``. The cell states are internal and not returned.
    cache : object
        Opaque value for :func:`lstm_backward` (or
        :func:`lstm_backward_with_c0`). It holds private, read-only copies of
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
        _check_sequence_args(x, h0, None, Wx, Wh, b)
        return _lstm_kernel_forward(x, h0, None, Wx, Wh, b)


def lstm_backward(
    dh: np.ndarray, cache: _LSTMCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`lstm_forward` over whole sequences.

    Parameters
    ----------
    dh : numpy.ndarray, shape (N, T, H), dtype of the forward pass
        Upstream gradients of every hidden state (from the loss at each step;
        the gradients flowing between steps are computed here). Not modified.
    cache : object
        The cache returned by :func:`lstm_forward` (or
        :func:`lstm_forward_with_c0`); it can be used for any number of
        backward passes.

    Returns
    -------
    dx : numpy.ndarray, shape (N, T, D)
    dh0 : numpy.ndarray, shape (N, H)
    dWx : numpy.ndarray, shape (D, 4H)
    dWh : numpy.ndarray, shape (H, 4H)
    db : numpy.ndarray, shape (4H,)
        Gradients with respect to each input of the forward pass, all in the
        forward pass's dtype; gate blocks in the order i, f, o, g. With
        ``T == 0`` (or ``N == 0``) the parameter gradients are zeros.

    Raises
    ------
    TypeError
        If ``cache`` is not an LSTM sequence cache, or ``dh`` is not an
        ndarray of the forward pass's dtype.
    ValueError
        If ``dh`` does not have the shape of the forward output ``h``.
    """
    with ieee_quiet():
        _check_sequence_upstream(dh, cache, "lstm_backward", "lstm_forward")
        dx, dh0, _, dWx, dWh, db = _lstm_kernel_backward(dh, cache)
        return dx, dh0, dWx, dWh, db


def lstm_forward_with_c0(
    x: np.ndarray, h0: np.ndarray, c0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, _LSTMCache]:
    """Run an LSTM over whole sequences from a given initial cell state.

    Same as :func:`lstm_forward` except for ``c0``.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, T, D), float32 or float64
        Input sequences.
    h0 : numpy.ndarray, shape (N, H), same dtype
        Initial hidden state.
    c0 : numpy.ndarray, shape (N, H), same dtype
        Initial cell state.
    Wx : numpy.ndarray, shape (D, 4H), same dtype
        Input-to-hidden weights, gate blocks i, f, o, g.
    Wh : numpy.ndarray, shape (H, 4H), same dtype
        Hidden-to-hidden weights, gate blocks i, f, o, g.
    b : numpy.ndarray, shape (4H,), same dtype
        Biases, gate blocks i, f, o, g.

    Returns
    -------
    h : numpy.ndarray, shape (N, T, H), dtype of ``x``
        Hidden states of every step (``h0`` excluded).
    cache : object
        Opaque value for :func:`lstm_backward_with_c0`; private and
        read-only, like :func:`lstm_forward`'s.

    Raises
    ------
    TypeError
        If an argument is not a float32/float64 ndarray or the dtypes differ.
    ValueError
        If a number of dimensions is wrong or the shapes disagree.
    """
    with ieee_quiet():
        _check_sequence_args(x, h0, c0, Wx, Wh, b)
        return _lstm_kernel_forward(x, h0, c0, Wx, Wh, b)


def lstm_backward_with_c0(
    dh: np.ndarray, cache: _LSTMCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`lstm_forward_with_c0`, including the gradient of ``c0``.

    Parameters
    ----------
    dh : numpy.ndarray, shape (N, T, H), dtype of the forward pass
        Upstream gradients of every hidden state. Not modified.
    cache : object
        The cache returned by :func:`lstm_forward_with_c0` (or
        :func:`lstm_forward`, whose ``c0`` is zero); reusable.

    Returns
    -------
    dx : numpy.ndarray, shape (N, T, D)
    dh0 : numpy.ndarray, shape (N, H)
    dc0 : numpy.ndarray, shape (N, H)
    dWx : numpy.ndarray, shape (D, 4H)
    dWh : numpy.ndarray, shape (H, 4H)
    db : numpy.ndarray, shape (4H,)
        Gradients with respect to each input of the forward pass, in its
        dtype; gate blocks in the order i, f, o, g. ``T == 0`` gives zero
        ``dh0`` and ``dc0``.

    Raises
    ------
    TypeError
        If ``cache`` is not an LSTM sequence cache, or ``dh`` is not an
        ndarray of the forward pass's dtype.
    ValueError
        If ``dh`` does not have the shape of the forward output ``h``.
    """
    with ieee_quiet():
        _check_sequence_upstream(dh, cache, "lstm_backward_with_c0", "lstm_forward_with_c0")
        return _lstm_kernel_backward(dh, cache)
