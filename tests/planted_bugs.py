"""Realistic bugs planted into otherwise correct layer specs.

Each :class:`PlantedBug` turns a registered spec into a broken copy with
``dataclasses.replace``; ``test_planted_bugs.py`` proves the generic checks
catch every one, and the audit tests reuse them as deliberately broken layers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import impl
from oracle.judge.sampling import sampling_check
from oracle.layers import get_spec
from oracle.specs.spec import LayerSpec
from tests import recurrent_bugs


@dataclass(frozen=True)
class PlantedBug:
    """A named way to break one registered layer, and the check that must notice."""

    name: str
    layer: str
    plant: Callable[[LayerSpec], LayerSpec]
    caught_by: str

    def broken_spec(self) -> LayerSpec:
        return self.plant(get_spec(self.layer))


def swap_blocks(array: np.ndarray, first: int, second: int, blocks: int) -> np.ndarray:
    """Swap gate blocks ``first`` and ``second`` of the last axis split into ``blocks`` equal parts."""
    parts = np.split(array, blocks, axis=-1)
    parts[first], parts[second] = parts[second], parts[first]
    return np.concatenate(parts, axis=-1)


def gate_order_swapped(first: int, second: int, blocks: int, weight_names: tuple[str, ...]):
    """The layer computes its gates in another order: weights read, and gradients written, swapped.

    For recurrent layers, whose gradients are named like all their inputs, in order.
    """

    def plant(spec: LayerSpec) -> LayerSpec:
        def swap_inputs(args: tuple[np.ndarray, ...], order: tuple[str, ...]) -> list[np.ndarray]:
            return [swap_blocks(array, first, second, blocks) if name in weight_names else array
                    for name, array in zip(order, args, strict=True)]

        def forward(*args):
            return spec.forward(*swap_inputs(args, spec.grads))

        def backward(*args):
            grads = spec.backward(*args)
            return tuple(swap_inputs(grads, spec.grads))

        return dataclasses.replace(spec, forward=forward, backward=backward)

    return plant


def grad_transformed(grad: str, transform: Callable[[np.ndarray], np.ndarray]):
    """One gradient is dropped, scaled or otherwise transformed on its way out."""

    def plant(spec: LayerSpec) -> LayerSpec:
        index = spec.grads.index(grad)

        def alter(grads):
            grads = list(grads)
            grads[index] = transform(grads[index])
            return tuple(grads)

        if spec.is_loss:
            def forward(*args):
                loss, *grads = spec.forward(*args)
                return (loss, *alter(grads))
            return dataclasses.replace(spec, forward=forward)

        def backward(*args):
            grads = spec.backward(*args)
            return alter(grads if isinstance(grads, tuple) else (grads,))

        return dataclasses.replace(spec, backward=backward)

    return plant


def promoted_to_float64(spec: LayerSpec) -> LayerSpec:
    """Outputs and gradients come back as float64 whatever the input dtype (the seed's defect)."""

    def forward(*args):
        *outputs, cache = spec.forward(*args)
        dtypes = [out.dtype for out in outputs]
        return (*(np.asarray(out, dtype=np.float64) for out in outputs), (cache, dtypes))

    def backward(*args):
        *upstream, (cache, dtypes) = args
        grads = spec.backward(*(u.astype(dtype) for u, dtype in zip(upstream, dtypes, strict=True)), cache)
        return tuple(np.asarray(grad, dtype=np.float64) for grad in grads)

    return dataclasses.replace(spec, forward=forward, backward=backward)


def mask_altered(transform: Callable[[np.ndarray], np.ndarray]):
    """The softmax loss sees a different mask from the one it was given."""

    def plant(spec: LayerSpec) -> LayerSpec:
        return dataclasses.replace(spec, forward=lambda x, y, mask: spec.forward(x, y, transform(mask)))

    return plant


def loss_divided_by_mask_count(spec: LayerSpec) -> LayerSpec:
    """Loss and gradient averaged over unmasked steps instead of divided by N."""

    def forward(x, y, mask):
        loss, dx = spec.forward(x, y, mask)
        scale = x.dtype.type(x.shape[0] / max(int(np.count_nonzero(mask)), 1))
        return loss * scale, dx * scale

    return dataclasses.replace(spec, forward=forward)


def mutates_upstream_cell_gradient(spec: LayerSpec) -> LayerSpec:
    """``lstm_step_backward`` accumulates into the caller's ``dnext_c`` (the seed's defect)."""

    def backward(dnext_h, dnext_c, cache):
        grads = spec.backward(dnext_h, dnext_c.copy(), cache)
        dnext_c += dnext_h
        return grads

    return dataclasses.replace(spec, backward=backward)


def buffered_embedding_backward(spec: LayerSpec) -> LayerSpec:
    """``dW[x] += dout`` with fancy indexing: repeated words keep only one contribution."""

    def forward(x, W):
        out, _ = spec.forward(x, W)
        return out, (x, W)

    def backward(dout, cache):
        x, W = cache
        dW = np.zeros_like(W)
        dW[x] += dout
        return dW

    return dataclasses.replace(spec, forward=forward, backward=backward)


def transposed_recurrent_weight(spec: LayerSpec) -> LayerSpec:
    """The hidden-to-hidden product uses ``Wh.T`` (invisible when H is 1)."""

    def forward(x, h0, Wx, Wh, b):
        return spec.forward(x, h0, Wx, Wh.T.copy(), b)

    def backward(dh, cache):
        dx, dh0, dWx, dWh, db = spec.backward(dh, cache)
        return dx, dh0, dWx, dWh.T.copy(), db

    return dataclasses.replace(spec, forward=forward, backward=backward)


class StartTokenInColumnZero(impl.CaptioningRNN):
    """A model whose greedy ``sample`` returns ``<START>`` in column 0 and drops the last sampled word."""

    def sample(self, features, max_length=30):
        words = super().sample(features, max_length)
        start = np.full((words.shape[0], 1), self.word_to_idx["<START>"], dtype=words.dtype)
        return np.concatenate([start, words[:, :-1]], axis=1)


def sample_starts_with_the_start_token(spec: LayerSpec) -> LayerSpec:
    """The captioning spec's sampling check run on :class:`StartTokenInColumnZero`."""
    assert spec.gates is not None
    return dataclasses.replace(spec, extra_checks=(sampling_check(spec.gates.cell, StartTokenInColumnZero),))


PLANTED_BUGS = (
    PlantedBug("lstm gates f and o swapped", "lstm", gate_order_swapped(1, 2, 4, ("Wx", "Wh", "b")),
               "check_matches_twin"),
    PlantedBug("lstm_step gates i and g swapped", "lstm_step", gate_order_swapped(0, 3, 4, ("Wx", "Wh", "b")),
               "check_matches_twin"),
    PlantedBug("gru gates z and r swapped", "gru", gate_order_swapped(0, 1, 3, ("Wx", "Wh", "b", "bh")),
               "check_matches_twin"),
    PlantedBug("rnn dh0 dropped", "rnn", grad_transformed("h0", np.zeros_like), "check_matches_twin"),
    PlantedBug("lstm dWh scaled by 1.001", "lstm", grad_transformed("Wh", lambda g: g * g.dtype.type(1.001)),
               "check_matches_twin"),
    PlantedBug("affine db dropped", "affine", grad_transformed("b", np.zeros_like), "check_matches_twin"),
    PlantedBug("captioning_lstm dW_embed dropped", "captioning_lstm", grad_transformed("W_embed", np.zeros_like),
               "check_matches_twin"),
    PlantedBug("lstm promotes float32 to float64", "lstm", promoted_to_float64, "check_dtypes_and_shapes"),
    PlantedBug("softmax loss ignores the mask", "temporal_softmax_loss",
               mask_altered(np.ones_like), "check_matches_twin"),
    PlantedBug("softmax loss mask shifted by one step", "temporal_softmax_loss",
               mask_altered(lambda mask: np.roll(mask, 1, axis=1)), "check_matches_twin"),
    PlantedBug("softmax loss divided by the mask count", "temporal_softmax_loss", loss_divided_by_mask_count,
               "check_matches_twin"),
    PlantedBug("lstm_step_backward mutates dnext_c", "lstm_step", mutates_upstream_cell_gradient,
               "check_no_mutation_and_determinism"),
    PlantedBug("buffered dW[x] += dout embedding backward", "word_embedding", buffered_embedding_backward,
               "check_matches_twin"),
    PlantedBug("rnn uses Wh transposed", "rnn", transposed_recurrent_weight, "check_matches_twin"),
    PlantedBug("captioning_lstm sample puts <START> in column 0", "captioning_lstm",
               sample_starts_with_the_start_token, "check_extra_checks"),
    PlantedBug("rnn rows start from the batch's mean h0", "rnn", recurrent_bugs.rows_coupled, "check_metamorphic"),
    PlantedBug("gru sequence adds the bias twice, its step once", "gru", recurrent_bugs.sequence_unlike_its_step,
               "check_extra_checks"),
    PlantedBug("lstm output changes from call to call", "lstm", recurrent_bugs.nondeterministic, "check_metamorphic"),
    PlantedBug("softmax loss ignores the mask (metamorphic)", "temporal_softmax_loss", mask_altered(np.ones_like),
               "check_metamorphic"),
    PlantedBug("affine backward adds a constant to dw", "affine", grad_transformed("w", lambda g: g + 1e-3),
               "check_metamorphic"),
)
