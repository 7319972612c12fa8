"""A JAX port with forward functions only: its step is a jax.custom_vjp whose backward has a planted bug
(its gradient of b is off by one). Audited with --autograd."""

import jax
import jax.numpy as jnp


@jax.custom_vjp
def step(x, prev_h, Wx, Wh, b):
    return jnp.tanh(x @ Wx + prev_h @ Wh + b)


def step_forward(x, prev_h, Wx, Wh, b):
    next_h = step(x, prev_h, Wx, Wh, b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def step_backward(cache, dnext_h):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0) + 1


step.defvjp(step_forward, step_backward)


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    return step(x, prev_h, Wx, Wh, b), None
