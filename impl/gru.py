"""Gated recurrent unit (GRU) layer, with PyTorch's placement of the reset gate.

Layout and math
---------------
``Wx`` (D, 3H), ``Wh`` (H, 3H), ``b`` (3H,) (input-side bias) and ``bh``
(3H,) (hidden-side bias) hold three gate blocks of width H along their last
axis, in the order **z, r, n** (update, reset, candidate). For inputs ``x_t``
(N, D) and the previous state ``h = h_{t-1}``::

    z = sigma(x Wx_z + b_z + h Wh_z + bh_z)
    r = sigma(x Wx_r + b_r + h Wh_r + bh_r)
    n = tanh(x Wx_n + b_n + r * (h Wh_n + bh_n))
    h_t = (1 - z) * n + z * h

The reset gate multiplies the hidden-side product *including* its bias
``bh_n``, which is why the two biases are not interchangeable (this is
``torch.nn.GRU``'s convention; its gate order is r, z, n).

Backward, with ``dh_t`` the total gradient reaching ``h_t`` and
``ah_n = h Wh_n + bh_n``::

    da_z = dh_t * (h - n) * z (1 - z)
    da_n = dh_t * (1 - z) * (1 - n^2)
    da_r = da_n * ah_n * r (1 - r)
    input side:  dax = [da_z, da_r, da_n]       -> dWx, db, dx
    hidden side: dah = [da_z, da_r, da_n * r]   -> dWh, dbh
    dh_{t-1} = dh_t * z + dah Wh^T

Implementation of the sequence kernel
-------------------------------------
As for the LSTM (see :mod:`impl.lstm`): states and gates are kept
feature-major, ``(features, N)``, so that every elementwise operation runs
over contiguous memory; the input side of every step (bias included) is
computed before the loop in one call; each step runs one product with
``[Wh; bh]``; the sigmoid gates' weights are negated once so that
``sigma(a) = 1 / (1 + exp(z))`` with ``z = -a`` comes straight out of the
products; and the backward loop (the chunked loop of :mod:`impl._chunks`)
stores the pre-activation gradients of a chunk of steps in one
``(4H, steps, N)`` buffer, rows ``[n (input side), z, r,
n (hidden side)]``, whose first 3H rows are the input-side gradient and last
3H rows the hidden-side gradient, so that each finished chunk adds its share
of ``dWx``/``db`` and of ``dWh``/``dbh`` and fills its slice of ``dx`` with one
product each.

Dtypes and non-finite values are handled as in :mod:`impl.lstm`: every buffer
has the caller's float dtype (no float64 temporary for float32 work), and
each public function runs its body under ``with ieee_quiet():`` (the
package's NaN/Inf policy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impl._checks import check_upstream, common_float_dtype, ieee_quiet
from impl._chunks import MatmulSum, backward_chunks, receive_upstream
from impl._stacking import time_major_rows, unstack_gate_gradient
from impl.lstm import _sigmoid_inplace
from impl.rnn import _check_cache, _check_cell_params, _read_only

__all__ = ["gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward"]

#: User gate order along the 3H axis.
_Z, _R, _N = 0, 1, 2
#: Input-side internal blocks (n, z, r) and hidden-side internal blocks
#: (z, r, n), as user gates, with the sign applied to their weights (the
#: sigmoid gates are negated).
_X_GATES = ((_N, 1), (_Z, -1), (_R, -1))
_H_GATES = ((_Z, -1), (_R, -1), (_N, 1))


# --------------------------------------------------------------------------- single step


@dataclass(frozen=True, eq=False)
class _GRUStepCache:
    """What :func:`gru_step_backward` needs."""

    x: np.ndarray  # (N, D), the caller's array
    prev_h: np.ndarray  # (N, H), the caller's array
    Wx: np.ndarray  # (D, 3H), the caller's array
    Wh: np.ndarray  # (H, 3H), the caller's array
    gates: np.ndarray  # (N, 3H): z, r, n after their nonlinearities (private)
    ah_n: np.ndarray  # (N, H): prev_h @ Wh_n + bh_n (private)

    def __repr__(self) -> str:
        n, d = self.x.shape
        return f"<gru_step cache N={n} D={d} H={self.ah_n.shape[1]} {self.x.dtype}>"


def gru_step_forward(
    x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, bh: np.ndarray
) -> tuple[np.ndarray, _GRUStepCache]:
    """One time step of a GRU (gates z, r, n; see the module docstring).

    Parameters
    ----------
    x : numpy.ndarray, shape (N, D), float32 or float64
        Inputs of this step.
    prev_h : numpy.ndarray, shape (N, H), same dtype
        Previous hidden state.
    Wx : numpy.ndarray, shape (D, 3H), same dtype
        Input-to-hidden weights, gate blocks z, r, n.
    Wh : numpy.ndarray, shape (H, 3H), same dtype
        Hidden-to-hidden weights, gate blocks z, r, n.
    b : numpy.ndarray, shape (3H,), same dtype
        Input-side biases, gate blocks z, r, n.
    bh : numpy.ndarray, shape (3H,), same dtype
        Hidden-side biases, gate blocks z, r, n (``bh_n`` is scaled by the
        reset gate).

    Returns
    -------
    next_h : numpy.ndarray, shape (N, H), dtype of ``x``
        Next hidden state.
    cache : object
        Opaque value for :func:`gru_step_backward`. It references ``x``,
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
        common_float_dtype(x=x, prev_h=prev_h, Wx=Wx, Wh=Wh, b=b, bh=bh)
        _, h = _check_cell_params(x, "(N, D)", "prev_h", prev_h, Wx, Wh, {"b": b, "bh": bh}, gates=3)

        gates = x @ Wx
        gates += b
        ah = prev_h @ Wh
        ah += bh
        zr, n = gates[:, : 2 * h], gates[:, 2 * h :]
        zr += ah[:, : 2 * h]
        _sigmoid_inplace(zr)
        z, r = gates[:, :h], gates[:, h : 2 * h]
        ah_n = ah[:, 2 * h :].copy()
        n += r * ah_n
        np.tanh(n, out=n)
        # (1 - z) * n + z * h, written with one multiplication.
        next_h = prev_h - n
        next_h *= z
        next_h += n
        _read_only(gates, ah_n)
        return next_h, _GRUStepCache(x, prev_h, Wx, Wh, gates, ah_n)


def gru_step_backward(
    dnext_h: np.ndarray, cache: _GRUStepCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`gru_step_forward`.

    Parameters
    ----------
    dnext_h : numpy.ndarray, shape (N, H), dtype of the forward pass
        Gradient of the loss with respect to ``next_h``. Not modified.
    cache : object
        The cache returned by :func:`gru_step_forward`; reusable.

    Returns
    -------
    dx : numpy.ndarray, shape (N, D)
    dprev_h : numpy.ndarray, shape (N, H)
    dWx : numpy.ndarray, shape (D, 3H)
    dWh : numpy.ndarray, shape (H, 3H)
    db : numpy.ndarray, shape (3H,)
    dbh : numpy.ndarray, shape (3H,)
        Gradients with respect to each input of the forward pass, all in its
        dtype; gate blocks z, r, n.

    Raises
    ------
    TypeError
        If ``cache`` is not a :func:`gru_step_forward` cache, or ``dnext_h``
        is not an ndarray of the forward pass's dtype.
    ValueError
        If ``dnext_h`` does not have the shape ``(N, H)``.
    """
    with ieee_quiet():
        _check_cache(cache, _GRUStepCache, "gru_step_backward", "gru_step_forward")
        dtype, shape = cache.ah_n.dtype, cache.ah_n.shape
        check_upstream("dnext_h", dnext_h, dtype, shape, "(N, H)")

        h = shape[1]
        z, r, n = (cache.gates[:, k * h : (k + 1) * h] for k in range(3))
        dax = np.empty((shape[0], 3 * h), dtype)
        da_z, da_r, da_n = (dax[:, k * h : (k + 1) * h] for k in range(3))

        np.subtract(cache.prev_h, n, out=da_z)
        da_z *= dnext_h
        np.subtract(1, z, out=da_n)  # reused below as z (1 - z)
        da_z *= da_n
        da_z *= z
        da_n *= dnext_h
        tanh_grad = np.multiply(n, n)
        np.subtract(1, tanh_grad, out=tanh_grad)
        da_n *= tanh_grad
        np.subtract(1, r, out=da_r)
        da_r *= r
        da_r *= cache.ah_n
        da_r *= da_n

        dah = dax.copy()
        dah[:, 2 * h :] *= r
        dx = dax @ cache.Wx.T
        dprev_h = dah @ cache.Wh.T
        dprev_h += dnext_h * z
        dWx = cache.x.T @ dax
        dWh = cache.prev_h.T @ dah
        db = dax.sum(axis=0)
        dbh = dah.sum(axis=0)
        return dx, dprev_h, dWx, dWh, db, dbh


# --------------------------------------------------------------------------- whole sequence


@dataclass(frozen=True, eq=False)
class _GRUCache:
    """What :func:`gru_backward` needs, all privately owned and read-only.

    Attributes
    ----------
    x_rows : (T, N, D + 1)
        ``[x_t, 1]`` for every step.
    h_rows : (T, N, H + 1)
        ``[h_{t-1}, 1]`` for every step.
    states : (T, 5H, N)
        Feature-major, per step: ``h_{t-1}, z, r, n, ah_n``.
    wx_stack_t : (3H, D + 1)
        ``[Wx; b]^T``, internal blocks n, z, r, sigmoid gates negated.
    wh_stack_t : (3H, H + 1)
        ``[Wh; bh]^T``, internal blocks z, r, n, sigmoid gates negated.
    wh_internal : (H, 3H)
        Contiguous transpose of ``wh_stack_t[:, :H]``.
    """

    x_rows: np.ndarray
    h_rows: np.ndarray
    states: np.ndarray
    wx_stack_t: np.ndarray
    wh_stack_t: np.ndarray
    wh_internal: np.ndarray

    def __repr__(self) -> str:
        t, n, d1 = self.x_rows.shape
        return f"<gru cache N={n} T={t} D={d1 - 1} H={self.wh_internal.shape[0]} {self.x_rows.dtype}>"


def _stack(W: np.ndarray, bias: np.ndarray, blocks: tuple[tuple[int, int], ...], h: int) -> np.ndarray:
    """``[W; bias]^T`` with its gate blocks reordered to ``blocks`` and signed."""
    rows_in = W.shape[0]
    out = np.empty((3 * h, rows_in + 1), W.dtype)
    for k, (gate, sign) in enumerate(blocks):
        rows, cols = slice(k * h, (k + 1) * h), slice(gate * h, (gate + 1) * h)
        scale = W.dtype.type(sign)  # multiplying by +-1 is exact
        np.multiply(W[:, cols].T, scale, out=out[rows, :rows_in])
        np.multiply(bias[cols], scale, out=out[rows, rows_in])
    return out


def gru_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, bh: np.ndarray
) -> tuple[np.ndarray, _GRUCache]:
    """Run a GRU over whole sequences (gates z, r, n; see the module docstring).

    Parameters
    ----------
    x : numpy.ndarray, shape (N, T, D), float32 or float64
        Input sequences.
    h0 : numpy.ndarray, shape (N, H), same dtype
        Initial hidden state.
    Wx : numpy.ndarray, shape (D, 3H), same dtype
        Input-to-hidden weights, gate blocks z, r, n.
    Wh : numpy.ndarray, shape (H, 3H), same dtype
        Hidden-to-hidden weights, gate blocks z, r, n.
    b : numpy.ndarray, shape (3H,), same dtype
        Input-side biases.
    bh : numpy.ndarray, shape (3H,), same dtype
        Hidden-side biases.

    Returns
    -------
    h : numpy.ndarray, shape (N, T, H), dtype of ``x``
        Hidden states of every step (``h0`` excluded); ``(N, 0, H)`` when
        ``T == 0``.
    cache : object
        Opaque value for :func:`gru_backward`. It holds private, read-only
        copies of everything the backward pass needs, so the arguments (and
        ``h``) may be modified afterwards.

    Raises
    ------
    TypeError
        If an argument is not a float32/float64 ndarray or the dtypes differ.
    ValueError
        If a number of dimensions is wrong or the shapes disagree.
    """
    with ieee_quiet():
        dtype = common_float_dtype(x=x, h0=h0, Wx=Wx, Wh=Wh, b=b, bh=bh)
        d, h = _check_cell_params(x, "(N, T, D)", "h0", h0, Wx, Wh, {"b": b, "bh": bh}, gates=3)
        n, t = x.shape[0], x.shape[1]

        wx_stack_t = _stack(Wx, b, _X_GATES, h)
        wh_stack_t = _stack(Wh, bh, _H_GATES, h)
        x_rows = time_major_rows(x, 0)
        h_rows = np.empty((t, n, h + 1), dtype)
        h_rows[:, :, h] = 1
        if t:
            h_rows[0, :, :h] = h0
        # Input side of every step, feature-major: ax[step] = wx_stack_t @ [x_t, 1]^T.
        ax = np.matmul(wx_stack_t, x_rows.transpose(0, 2, 1))
        states = np.empty((t, 5 * h, n), dtype)
        out = np.empty((n, t, h), dtype)

        h_prev, zr_rows, z_rows, r_rows = slice(0, h), slice(h, 3 * h), slice(h, 2 * h), slice(2 * h, 3 * h)
        n_rows, ahn_rows = slice(3 * h, 4 * h), slice(4 * h, 5 * h)
        ah = np.empty((3 * h, n), dtype)
        scratch = np.empty((h, n), dtype)
        if t:
            states[0, h_prev] = h0.T
        # exp(z) overflowing to inf gives the exact sigmoid limit 0 (warnings are off).
        for step in range(t):
            slab, ax_t = states[step], ax[step]
            np.matmul(wh_stack_t, h_rows[step].T, out=ah)
            np.copyto(slab[ahn_rows], ah[2 * h :])
            zr = slab[zr_rows]
            np.add(ax_t[h:], ah[: 2 * h], out=zr)
            np.exp(zr, out=zr)
            zr += 1
            np.reciprocal(zr, out=zr)
            n_gate = slab[n_rows]
            np.multiply(slab[r_rows], slab[ahn_rows], out=n_gate)
            n_gate += ax_t[:h]
            np.tanh(n_gate, out=n_gate)
            # h_t = n + z * (h_{t-1} - n)
            np.subtract(slab[h_prev], n_gate, out=scratch)
            scratch *= slab[z_rows]
            h_next = states[step + 1, h_prev] if step + 1 < t else out[:, step].T
            np.add(n_gate, scratch, out=h_next)
            if step + 1 < t:
                np.copyto(out[:, step].T, h_next)
                h_rows[step + 1, :, :h] = out[:, step]

        cache = _GRUCache(x_rows, h_rows, states, wx_stack_t, wh_stack_t, np.ascontiguousarray(wh_stack_t[:, :h].T))
        _read_only(cache.x_rows, cache.h_rows, cache.states, cache.wx_stack_t, cache.wh_stack_t, cache.wh_internal)
        return out, cache


def gru_backward(
    dh: np.ndarray, cache: _GRUCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`gru_forward` over whole sequences.

    Parameters
    ----------
    dh : numpy.ndarray, shape (N, T, H), dtype of the forward pass
        Upstream gradients of every hidden state. Not modified.
    cache : object
        The cache returned by :func:`gru_forward`; reusable.

    Returns
    -------
    dx : numpy.ndarray, shape (N, T, D)
    dh0 : numpy.ndarray, shape (N, H)
    dWx : numpy.ndarray, shape (D, 3H)
    dWh : numpy.ndarray, shape (H, 3H)
    db : numpy.ndarray, shape (3H,)
    dbh : numpy.ndarray, shape (3H,)
        Gradients with respect to each input of the forward pass, all in its
        dtype; gate blocks z, r, n. With ``T == 0`` (or ``N == 0``) the
        parameter gradients are zeros.

    Raises
    ------
    TypeError
        If ``cache`` is not a :func:`gru_forward` cache, or ``dh`` is not an
        ndarray of the forward pass's dtype.
    ValueError
        If ``dh`` does not have the shape of the forward output ``h``.
    """
    with ieee_quiet():
        _check_cache(cache, _GRUCache, "gru_backward", "gru_forward")
        t, n, d1 = cache.x_rows.shape
        h = cache.wh_internal.shape[0]
        d = d1 - 1
        dtype = cache.x_rows.dtype
        check_upstream("dh", dh, dtype, (n, t, h), "(N, T, H)")

        states = cache.states
        dx = np.empty((n, t, d), dtype)
        dwx_stack_t = MatmulSum((3 * h, d1), dtype)
        dwh_stack_t = MatmulSum((3 * h, h + 1), dtype)
        carry = np.empty((h, n), dtype)  # total gradient reaching h_t
        sig_grad = np.empty((2 * h, n), dtype)
        scratch = np.empty((h, n), dtype)

        # Rows of one step's slab of `states`: h_{t-1}, z, r, n, ah_n.
        h_prev, zr_rows, z_rows, r_rows = slice(0, h), slice(h, 3 * h), slice(h, 2 * h), slice(2 * h, 3 * h)
        n_rows, ahn_rows = slice(3 * h, 4 * h), slice(4 * h, 5 * h)
        # Rows of a step's (4H, N) gradient block: input-side n, z, r, hidden-side n.
        dxn_rows, dz_rows, dr_rows, dhn_rows = slice(0, h), slice(h, 2 * h), slice(2 * h, 3 * h), slice(3 * h, 4 * h)
        for chunk in backward_chunks(t, n, 4 * h, dtype, feature_major=True):
            for step in chunk.backwards():
                slab, dstep = states[step], chunk.at(step)  # dstep: this step's (4H, N) gradient block
                z, n_gate = slab[z_rows], slab[n_rows]
                # carry already holds what step t+1 sends back, except at the last step.
                receive_upstream(carry, dh[:, step].T, last_step=step == t - 1)
                # dz/da of the negated sigmoid gates is s (s - 1).
                zr = slab[zr_rows]
                np.subtract(zr, 1, out=sig_grad)
                sig_grad *= zr
                # z gate: dh * (h_{t-1} - n) * z (z - 1)
                np.subtract(slab[h_prev], n_gate, out=scratch)
                scratch *= carry
                np.multiply(scratch, sig_grad[:h], out=dstep[dz_rows])
                # candidate: da_n = dh * (1 - z) * (1 - n^2)
                da_n = dstep[dxn_rows]
                np.multiply(n_gate, n_gate, out=scratch)
                np.subtract(1, scratch, out=scratch)
                scratch *= carry
                np.subtract(1, z, out=da_n)
                da_n *= scratch
                # reset gate: da_n * ah_n * r (r - 1); hidden-side candidate: da_n * r
                np.multiply(da_n, slab[ahn_rows], out=scratch)
                np.multiply(scratch, sig_grad[h:], out=dstep[dr_rows])
                np.multiply(da_n, slab[r_rows], out=dstep[dhn_rows])
                # What h_{t-1} receives from this step (for step 0: dL/dh0).
                np.multiply(carry, z, out=scratch)
                np.matmul(cache.wh_internal, dstep[h:], out=carry)
                carry += scratch
            dz = chunk.matrix()  # (4H, steps * N): input side dz[:3H], hidden side dz[H:]
            dwx_stack_t.add(dz[: 3 * h], chunk.rows(cache.x_rows))
            dwh_stack_t.add(dz[h:], chunk.rows(cache.h_rows))
            chunk.scatter_rows(dx, dz[: 3 * h].T @ cache.wx_stack_t[:, :d])

        dh0 = carry.T.copy() if t else np.zeros((n, h), dtype)
        # The inverse of _stack for the gradients, in the user's z, r, n layout.
        dWx, db = unstack_gate_gradient(dwx_stack_t.total, _X_GATES, h, (d,))
        dWh, dbh = unstack_gate_gradient(dwh_stack_t.total, _H_GATES, h, (h,))
        return dx, dh0, dWx, dWh, db, dbh
