"""A correct JAX port of the seed's rnn_step_forward/rnn_step_backward, with an explicit backward."""

import jax.numpy as jnp


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = jnp.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)
