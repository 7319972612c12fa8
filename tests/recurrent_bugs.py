"""Bugs of recurrent layers that only size, localization or metamorphic checks reveal, planted into impl's specs.

Each function turns a registered spec into a broken copy (``dataclasses.replace``),
like :mod:`tests.planted_bugs`; the backward passes are written as loops of
impl's own step functions, so every other part of the layer stays right.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from impl.cell_layouts import CELL_PARAMETERS, gate_columns
from oracle.judge.metamorphic import forward_steps
from oracle.layers import get_spec
from oracle.specs.spec import LayerSpec


def _step_backward_loop(spec: LayerSpec, cut: int | None = None, carry: bool = True) -> LayerSpec:
    """``spec`` (``rnn`` or ``lstm``, no ``c0``) with a backward pass written as a loop of its step functions.

    ``cut``: the gradient flowing back through the hidden (and cell) state is
    dropped at every ``cut``-th step boundary (truncated backpropagation through
    time, the textbook "detach every k steps"). ``carry=False``: it is never
    passed back at all (``dprev_h`` discarded).
    """
    cell = spec.gates.cell if spec.gates is not None else ""
    step = get_spec(f"{cell}_step")
    lstm = cell == "lstm"

    def forward(x, h0, *weights):
        out, caches = forward_steps(step, cell, x, h0, None, list(weights))
        return out, (x, h0, weights, caches)

    def backward(dh, cache):
        x, h0, weights, caches = cache
        dx = np.zeros_like(x)
        totals = [np.zeros_like(w) for w in weights]
        carry_h, carry_c = np.zeros_like(h0), np.zeros_like(h0)
        for t in range(x.shape[1] - 1, -1, -1):
            if not carry or (cut is not None and (t + 1) % cut == 0):
                carry_h, carry_c = np.zeros_like(h0), np.zeros_like(h0)
            if lstm:
                dx[:, t], carry_h, carry_c, *dw = step.backward(dh[:, t] + carry_h, carry_c, caches[t])
            else:
                dx[:, t], carry_h, *dw = step.backward(dh[:, t] + carry_h, caches[t])
            for total, part in zip(totals, dw, strict=True):
                total += part
        return (dx, carry_h, *totals)

    return dataclasses.replace(spec, forward=forward, backward=backward, extra_checks=())


def truncated_bptt(spec: LayerSpec, steps: int = 8) -> LayerSpec:
    """Backpropagation through time cut every ``steps`` steps: right whenever ``T <= steps`` (the default sizes)."""
    return _step_backward_loop(spec, cut=steps)


def dropped_recurrent_gradient(spec: LayerSpec) -> LayerSpec:
    """The gradient flowing into ``h_{t-1}`` is dropped: each step sees only its own ``dh[:, t]``."""
    return _step_backward_loop(spec, carry=False)


def weight_gradient_gates_swapped(spec: LayerSpec, first: str = "o", second: str = "g") -> LayerSpec:
    """The forward pass is right; the backward writes gate blocks ``first`` and ``second`` of dWx, dWh, db swapped."""
    assert spec.gates is not None
    cell = spec.gates.cell

    def backward(*args):
        grads = list(spec.backward(*args))
        for index, name in enumerate(spec.grads):
            if name in CELL_PARAMETERS[cell]:
                columns = gate_columns(cell, grads[index].shape[-1] // len(gate_columns(cell, 1)))
                swapped = grads[index].copy()
                swapped[..., columns[first]] = grads[index][..., columns[second]]
                swapped[..., columns[second]] = grads[index][..., columns[first]]
                grads[index] = swapped
        return tuple(grads)

    return dataclasses.replace(spec, backward=backward)


def rows_coupled(spec: LayerSpec) -> LayerSpec:
    """Each row starts from the batch's mean initial state (right only when N = 1, or all rows share h0)."""

    def forward(x, h0, *rest):
        return spec.forward(x, np.broadcast_to(h0.mean(axis=0), h0.shape).copy(), *rest)

    def backward(dh, cache):
        dx, dh0, *rest = spec.backward(dh, cache)
        return (dx, np.broadcast_to(dh0.mean(axis=0), dh0.shape).copy(), *rest)

    return dataclasses.replace(spec, forward=forward, backward=backward)


def sequence_unlike_its_step(spec: LayerSpec) -> LayerSpec:
    """The sequence forward adds the bias twice, its step function (bound for the loop check) once."""
    bias = spec.grads.index("b") - 1  # position of b among the arguments after x

    def forward(x, *rest):
        rest = list(rest)
        rest[bias] = 2 * rest[bias]
        return spec.forward(x, *rest)

    return dataclasses.replace(spec, forward=forward)


def nondeterministic(spec: LayerSpec) -> LayerSpec:
    """The forward output picks up a tiny random term on every call."""
    rng = np.random.default_rng(0)

    def forward(*args):
        out, cache = spec.forward(*args)
        return out + 1e-3 * rng.standard_normal(out.shape).astype(out.dtype), cache

    return dataclasses.replace(spec, forward=forward)
