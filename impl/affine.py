"""Fully connected (affine) layers: one for flat features, one applied at every time step.

Both layers flatten their input to a 2-D matrix with a reshape (a view when the
input is contiguous) so that each pass is a single matrix product, which BLAS
runs far faster than a Python loop or a batched product over small blocks.
"""

from __future__ import annotations

import math

import numpy as np

from impl._checks import check_ndim, check_shape, check_upstream, common_float_dtype, ieee_quiet

__all__ = ["affine_forward", "affine_backward", "temporal_affine_forward", "temporal_affine_backward"]


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Forward pass of a fully connected layer, ``out = x.reshape(N, D) @ w + b``.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, d_1, ..., d_k), k >= 1, float32 or float64
        A minibatch of N examples; each is flattened to a vector of length
        ``D = d_1 * ... * d_k``.
    w : numpy.ndarray, shape (D, M), same dtype as ``x``
        Weights.
    b : numpy.ndarray, shape (M,), same dtype as ``x``
        Biases.

    Returns
    -------
    out : numpy.ndarray, shape (N, M), dtype of ``x``
        Layer output.
    cache : object
        Opaque value for :func:`affine_backward`. It references ``x`` and
        ``w``, so they must not be modified before the backward pass.

    Raises
    ------
    TypeError
        If an argument is not a float32/float64 ndarray or the dtypes differ.
    ValueError
        If ``x`` has fewer than 2 dimensions or the shapes disagree.
    """
    with ieee_quiet():
        dtype = common_float_dtype(x=x, w=w, b=b)
        if x.ndim < 2:
            raise ValueError(
                f"argument 'x' must have at least 2 dimensions (N, d_1, ..., d_k), got shape {x.shape}"
            )
        check_ndim("w", w, 2, "(D, M)")
        n = x.shape[0]
        # math.prod rather than reshape(N, -1): -1 cannot be inferred when N == 0.
        d = math.prod(x.shape[1:])
        m = w.shape[1]
        check_shape("w", w, (d, m), "(D, M)")
        check_shape("b", b, (m,), "(M,)")

        x2d = x.reshape(n, d)
        out = x2d @ w
        # The product is a fresh array, so adding the bias in place saves a temporary.
        out += b
        cache = (x2d, w, x.shape, dtype)
        return out, cache


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a fully connected layer.

    Parameters
    ----------
    dout : numpy.ndarray, shape (N, M), dtype of the forward pass
        Upstream gradient of the loss with respect to ``out``.
    cache : object
        The cache returned by :func:`affine_forward`.

    Returns
    -------
    dx : numpy.ndarray, shape (N, d_1, ..., d_k), same dtype
        Gradient with respect to ``x``, shaped like ``x``.
    dw : numpy.ndarray, shape (D, M), same dtype
        Gradient with respect to ``w``.
    db : numpy.ndarray, shape (M,), same dtype
        Gradient with respect to ``b``.

    Raises
    ------
    TypeError
        If ``dout`` is not an ndarray of the forward pass's dtype.
    ValueError
        If ``dout`` is not shaped (N, M).
    """
    with ieee_quiet():
        x2d, w, x_shape, dtype = cache
        check_upstream("dout", dout, dtype, (x2d.shape[0], w.shape[1]), "(N, M)")

        dx = (dout @ w.T).reshape(x_shape)
        dw = x2d.T @ dout
        db = dout.sum(axis=0)
        return dx, dw, db


def temporal_affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Affine layer applied at every time step, ``out[n, t] = x[n, t] @ w + b``.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, T, D), float32 or float64
        N sequences of T vectors of dimension D.
    w : numpy.ndarray, shape (D, M), same dtype as ``x``
        Weights.
    b : numpy.ndarray, shape (M,), same dtype as ``x``
        Biases.

    Returns
    -------
    out : numpy.ndarray, shape (N, T, M), dtype of ``x``
        Layer output.
    cache : object
        Opaque value for :func:`temporal_affine_backward`. It references ``x``
        and ``w``, so they must not be modified before the backward pass.

    Raises
    ------
    TypeError
        If an argument is not a float32/float64 ndarray or the dtypes differ.
    ValueError
        If the numbers of dimensions or the shapes disagree.
    """
    with ieee_quiet():
        dtype = common_float_dtype(x=x, w=w, b=b)
        check_ndim("x", x, 3, "(N, T, D)")
        check_ndim("w", w, 2, "(D, M)")
        n, t, d = x.shape
        m = w.shape[1]
        check_shape("w", w, (d, m), "(D, M)")
        check_shape("b", b, (m,), "(M,)")

        # One (N*T, D) @ (D, M) product: a 3-D @ 2-D matmul would loop over N
        # small products instead.
        x2d = x.reshape(n * t, d)
        out = x2d @ w
        out += b
        cache = (x2d, w, (n, t), dtype)
        return out.reshape(n, t, m), cache


def temporal_affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`temporal_affine_forward`.

    Parameters
    ----------
    dout : numpy.ndarray, shape (N, T, M), dtype of the forward pass
        Upstream gradient of the loss with respect to ``out``.
    cache : object
        The cache returned by :func:`temporal_affine_forward`.

    Returns
    -------
    dx : numpy.ndarray, shape (N, T, D), same dtype
        Gradient with respect to ``x``.
    dw : numpy.ndarray, shape (D, M), same dtype
        Gradient with respect to ``w``.
    db : numpy.ndarray, shape (M,), same dtype
        Gradient with respect to ``b``.

    Raises
    ------
    TypeError
        If ``dout`` is not an ndarray of the forward pass's dtype.
    ValueError
        If ``dout`` is not shaped (N, T, M).
    """
    with ieee_quiet():
        x2d, w, (n, t), dtype = cache
        d, m = w.shape
        check_upstream("dout", dout, dtype, (n, t, m), "(N, T, M)")

        dout2d = dout.reshape(n * t, m)
        dx = (dout2d @ w.T).reshape(n, t, d)
        dw = x2d.T @ dout2d
        db = dout2d.sum(axis=0)
        return dx, dw, db
