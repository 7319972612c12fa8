"""A user-defined layer variant audited by rnn-oracle: a leaky-tanh RNN with a learned leak per unit.

Math, for each step t (``⊙`` is elementwise, ``leak`` is ``(H,)`` in (0, 1))::

    u_t = tanh(x_t Wx + h_{t-1} Wh + b)
    h_t = (1 - leak) ⊙ h_{t-1} + leak ⊙ u_t

With ``leak = 1`` it is the vanilla RNN. This module is what a user writes:
a numpy forward/backward in the ``(out, cache)`` convention, a torch twin built
from differentiable tensor operations, and one :class:`oracle.LayerSpec`; it imports
from :mod:`oracle` alone (docs/how-to/variant-spec.md).
Audit it with::

    rnn-oracle audit --spec examples/leaky_rnn.py:SPECS
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from oracle import Arrays, InputSource, LayerSpec, TorchTwin


def leaky_rnn_forward(x, h0, Wx, Wh, b, leak):
    """Run the leaky-tanh RNN over a sequence.

    Parameters
    ----------
    x : ndarray, shape (N, T, D)
    h0 : ndarray, shape (N, H)
    Wx : ndarray, shape (D, H)
    Wh : ndarray, shape (H, H)
    b : ndarray, shape (H,)
    leak : ndarray, shape (H,)
        Per-unit mixing weight of the new candidate state.

    Returns
    -------
    h : ndarray, shape (N, T, H)
        Hidden states after each step, in the dtype of ``x``.
    cache : tuple
        What the backward pass needs.
    """
    n, t, _ = x.shape
    projected = x @ Wx + b  # all steps' input projections in one product
    states = np.empty((t + 1, n, h0.shape[1]), dtype=x.dtype)  # states[0] is h0
    candidates = np.empty((t, n, h0.shape[1]), dtype=x.dtype)
    states[0] = h0
    for step in range(t):
        candidates[step] = np.tanh(projected[:, step] + states[step] @ Wh)
        states[step + 1] = states[step] + leak * (candidates[step] - states[step])
    return states[1:].transpose(1, 0, 2).copy(), (x, Wx, Wh, leak, states, candidates)


def leaky_rnn_backward(dh, cache):
    """Gradients of the leaky-tanh RNN.

    Parameters
    ----------
    dh : ndarray, shape (N, T, H)
        Upstream gradient of every hidden state.
    cache : tuple
        From :func:`leaky_rnn_forward`.

    Returns
    -------
    dx, dh0, dWx, dWh, db, dleak
        Shaped like ``x``, ``h0``, ``Wx``, ``Wh``, ``b``, ``leak``.
    """
    x, Wx, Wh, leak, states, candidates = cache
    t = x.shape[1]
    dpre = np.empty_like(candidates)  # gradient of each step's tanh argument
    dleak = np.zeros_like(leak)
    carry = np.zeros_like(states[0])
    for step in reversed(range(t)):
        grad = dh[:, step] + carry
        dleak += np.sum(grad * (candidates[step] - states[step]), axis=0)
        dpre[step] = grad * leak * (1 - candidates[step] ** 2)
        carry = grad * (1 - leak) + dpre[step] @ Wh.T
    dpre_flat = dpre.transpose(1, 0, 2).reshape(-1, dpre.shape[2])  # (N*T, H), batch-major like x
    dx = (dpre_flat @ Wx.T).reshape(x.shape)
    dWx = x.reshape(-1, x.shape[2]).T @ dpre_flat
    dWh = np.einsum("tnh,tnk->hk", states[:-1], dpre)
    return dx, carry, dWx, dWh, dpre_flat.sum(axis=0), dleak


def leaky_rnn_twin_function(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same recurrence written step by step with torch operations; autograd differentiates it."""
    h = tensors["h0"]
    states = []
    for step in range(tensors["x"].shape[1]):
        candidate = torch.tanh(tensors["x"][:, step] @ tensors["Wx"] + h @ tensors["Wh"] + tensors["b"])
        h = (1 - tensors["leak"]) * h + tensors["leak"] * candidate
        states.append(h)
    return {"h": torch.stack(states, dim=1)}


def leaky_rnn_inputs(source: InputSource, dtype: np.dtype) -> Arrays:
    """``x (N, T, D)``, ``h0 (N, H)``, ``Wx (D, H)``, ``Wh (H, H)``, ``b (H,)``, ``leak (H,)`` in [0.05, 0.95]."""
    n, t, d, h = (source.dim(name) for name in ("N", "T", "D", "H"))
    return {
        "x": source.floats((n, t, d), dtype),
        "h0": source.floats((n, h), dtype),
        "Wx": source.floats((d, h), dtype),
        "Wh": source.floats((h, h), dtype),
        "b": source.floats((h,), dtype),
        "leak": source.floats((h,), dtype, 0.05, 0.95),
    }


GRADS = ("x", "h0", "Wx", "Wh", "b", "leak")

LEAKY_RNN = LayerSpec(
    name="leaky_rnn",
    make_inputs=leaky_rnn_inputs,
    forward=leaky_rnn_forward,
    backward=leaky_rnn_backward,
    outputs=("h",),
    grads=GRADS,
    twin=TorchTwin("leaky_rnn", leaky_rnn_twin_function, GRADS),
)

SPECS = [LEAKY_RNN]
