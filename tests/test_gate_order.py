"""Gate layouts: impl's i,f,o,g (LSTM) and z,r,n (GRU) against torch's i,f,g,o and r,z,n.

Every twin of a gated cell relies on :mod:`oracle.references.gate_order`; a wrong block
order would make the reference itself wrong. These tests pin the maps down
independently of impl: the cells are written out here with the textbook
equations in impl's layout and compared with ``nn.LSTMCell`` / ``nn.GRUCell``
fed the mapped weights, in float64 (loaded by
:func:`oracle.references.twins.recurrent.torch_cell_module`, the one loader of impl's
weights into torch modules, through the twins' maps). The twins apply the maps
to tensors inside the autograd graph, so the tensor maps are pinned to the
numpy ones (values and gradients), and the twins' gradients, in impl's layout,
to finite differences (:func:`oracle.references.finite_diff.central_difference`) of the
textbook cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from impl.cell_layouts import CELL_TYPES, cell_parameter_shapes, gate_count
from oracle.layers import get_spec
from oracle.references import gate_order as go
from oracle.references.finite_diff import central_difference
from oracle.references.twins.recurrent import torch_cell_module
from oracle.specs.tolerances import TOLERANCES

N, D, H = 3, 4, 2
#: The step twins as the registry binds them (with their specs' gradient names).
LSTM_STEP_TWIN, GRU_STEP_TWIN = get_spec("lstm_step").twin, get_spec("gru_step").twin
#: One float64 cell step computed two ways (textbook numpy, torch's cell): a few ulps apart.
ONE_STEP = asdict(TOLERANCES["float64_one_step"])
#: Analytic gradients against finite differences.
FINITE_DIFFERENCE = asdict(TOLERANCES["finite_difference"])


# ----------------------------------------------------------------------------
# Textbook cells in impl's layout (written out here, independently of impl).
# ----------------------------------------------------------------------------

def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def textbook_lstm_step(x, h, c, Wx, Wh, b):
    """One LSTM step with the gate blocks i, f, o, g along the 4H axis."""
    a = x @ Wx + h @ Wh + b
    i, f, o, g = (a[:, k * H:(k + 1) * H] for k in range(4))
    next_c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    next_h = _sigmoid(o) * np.tanh(next_c)
    return next_h, next_c


def textbook_gru_step(x, h, Wx, Wh, b, bh):
    """One GRU step with the gate blocks z, r, n along the 3H axis; r gates ``h Wh_n + bh_n``."""
    ax, ah = x @ Wx + b, h @ Wh + bh
    z = _sigmoid(ax[:, :H] + ah[:, :H])
    r = _sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
    return (1.0 - z) * n + z * h


def _cell_inputs(rng: np.random.Generator, cell_type: str, states: int) -> tuple[np.ndarray, ...]:
    """``x (N, D)``, ``states`` arrays ``(N, H)``, then the cell's parameters in impl's layout, uniform in [-1, 1]."""
    arrays = [rng.uniform(-1, 1, (N, D))] + [rng.uniform(-1, 1, (N, H)) for _ in range(states)]
    return (*arrays, *(rng.uniform(-1, 1, shape) for shape in cell_parameter_shapes(cell_type, D, H).values()))


def _lstm_inputs(rng):
    return _cell_inputs(rng, "lstm", states=2)


def _gru_inputs(rng):
    return _cell_inputs(rng, "gru", states=1)


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64)


def torch_cell(cell_type: str, read_as: Sequence[str] | None = None, **params: np.ndarray) -> nn.Module:
    """torch's ``nn.LSTMCell`` / ``nn.GRUCell`` holding impl's ``params``, loaded by the twins' maps.

    ``read_as`` makes the mapping wrong on purpose: impl's gate blocks are
    read as if they came in that order (relabelled into impl's order before
    loading), which is what a map written for ``read_as`` would do.
    """
    if read_as is not None:
        impl_order = go.GATE_ORDERS[cell_type][0]
        params = {name: go.reorder_gates(value, read_as, impl_order, axis=-1) for name, value in params.items()}
    return torch_cell_module(cell_type, params, sequence=False)


def torch_lstm_cell(Wx, Wh, b, read_as=None) -> nn.Module:
    return torch_cell("lstm", read_as, Wx=Wx, Wh=Wh, b=b)


def torch_gru_cell(Wx, Wh, b, bh, read_as=None) -> nn.Module:
    return torch_cell("gru", read_as, Wx=Wx, Wh=Wh, b=b, bh=bh)


def _run_lstm_cell(cell, x, h, c):
    with torch.no_grad():
        next_h, next_c = cell(_t(x), (_t(h), _t(c)))
    return next_h.numpy(), next_c.numpy()


# ----------------------------------------------------------------------------
# The permutations themselves.
# ----------------------------------------------------------------------------

def test_constants_spell_out_the_layouts():
    assert go.LSTM_IMPL_ORDER == ("i", "f", "o", "g")
    assert go.LSTM_TORCH_ORDER == ("i", "f", "g", "o")
    assert go.GRU_IMPL_ORDER == ("z", "r", "n")
    assert go.GRU_TORCH_ORDER == ("r", "z", "n")
    assert go.LSTM_IMPL_TO_TORCH == (0, 1, 3, 2)
    assert go.GRU_IMPL_TO_TORCH == (1, 0, 2)


@pytest.mark.parametrize(("forward", "backward"), [
    (go.LSTM_IMPL_TO_TORCH, go.LSTM_TORCH_TO_IMPL),
    (go.GRU_IMPL_TO_TORCH, go.GRU_TORCH_TO_IMPL),
])
def test_impl_and_torch_permutations_are_inverse(forward, backward):
    assert tuple(forward[k] for k in backward) == tuple(range(len(forward)))
    assert tuple(backward[k] for k in forward) == tuple(range(len(forward)))
    assert go.invert_permutation(forward) == backward


@pytest.mark.parametrize("target", list(itertools.permutations("abcd")))
def test_gate_permutation_and_its_inverse_for_every_order(target):
    source = ("a", "b", "c", "d")
    perm = go.gate_permutation(source, target)
    assert tuple(source[p] for p in perm) == target
    assert go.gate_permutation(target, source) == go.invert_permutation(perm)


@given(h=st.integers(0, 4), lead=st.integers(1, 3), axis=st.sampled_from([0, 1, -1]),
       orders=st.sampled_from([(go.LSTM_IMPL_ORDER, go.LSTM_TORCH_ORDER), (go.GRU_IMPL_ORDER, go.GRU_TORCH_ORDER),
                               (("a", "b", "c"), ("b", "c", "a"))]),
       seed=st.integers(0, 2**32 - 1))
def test_to_and_from_torch_gates_round_trip(h, lead, axis, orders, seed):
    impl_order, torch_order = orders
    shape = [lead, lead + 1]
    shape[axis] = len(impl_order) * h
    array = np.random.default_rng(seed).uniform(-1, 1, shape)
    before = array.copy()
    there = go.to_torch_gates(array, impl_order, torch_order, axis=axis)
    back = go.from_torch_gates(there, impl_order, torch_order, axis=axis)
    np.testing.assert_array_equal(back, array)
    np.testing.assert_array_equal(array, before)  # argument untouched
    assert not np.shares_memory(there, array)


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_weight_and_bias_maps_round_trip(cell_type):
    gates = gate_count(cell_type)
    rng = np.random.default_rng(0)
    weight, bias = rng.uniform(-1, 1, (D, gates * H)), rng.uniform(-1, 1, gates * H)
    torch_weight = go.weight_to_torch(weight, cell_type)
    assert torch_weight.shape == (gates * H, D) and torch_weight.flags.c_contiguous
    np.testing.assert_array_equal(go.weight_from_torch(torch_weight, cell_type), weight)
    np.testing.assert_array_equal(go.bias_from_torch(go.bias_to_torch(bias, cell_type), cell_type), bias)
    assert go.weight_from_torch(torch_weight, cell_type).flags.c_contiguous


def test_bad_orders_and_lengths_raise():
    with pytest.raises(ValueError, match="same distinct gates"):
        go.gate_permutation(("i", "f", "o", "g"), ("i", "f", "g", "x"))
    with pytest.raises(ValueError, match="same distinct gates"):
        go.gate_permutation(("i", "i"), ("i", "i"))
    with pytest.raises(ValueError, match="not a multiple"):
        go.to_torch_gates(np.zeros(7), go.LSTM_IMPL_ORDER, go.LSTM_TORCH_ORDER, axis=0)
    with pytest.raises(ValueError, match="unknown cell type"):
        go.weight_to_torch(np.zeros((2, 4)), "transformer")
    with pytest.raises(ValueError, match="not a permutation"):
        go.invert_permutation((0, 0, 1))


def test_labelled_blocks_land_where_torch_reads_them():
    # Fill each impl block with its gate's code; after mapping, torch's rows must
    # read i, f, g, o (LSTM) and r, z, n (GRU) in H-row blocks.
    for impl_order, torch_order, cell_type in ((go.LSTM_IMPL_ORDER, go.LSTM_TORCH_ORDER, "lstm"),
                                               (go.GRU_IMPL_ORDER, go.GRU_TORCH_ORDER, "gru")):
        code = {gate: float(k + 1) for k, gate in enumerate(sorted(impl_order))}
        impl_weight = np.concatenate([np.full((D, H), code[gate]) for gate in impl_order], axis=1)
        impl_bias = np.concatenate([np.full(H, code[gate]) for gate in impl_order])
        torch_weight = go.weight_to_torch(impl_weight, cell_type)
        torch_bias = go.bias_to_torch(impl_bias, cell_type)
        for k, gate in enumerate(torch_order):
            assert np.all(torch_weight[k * H:(k + 1) * H] == code[gate]), (cell_type, gate)
            assert np.all(torch_bias[k * H:(k + 1) * H] == code[gate]), (cell_type, gate)


# ----------------------------------------------------------------------------
# The maps against the cells: textbook numpy vs torch's cells, float64.
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_mapped_lstm_cell_matches_textbook_lstm(seed):
    x, h, c, Wx, Wh, b = _lstm_inputs(np.random.default_rng(seed))
    expected_h, expected_c = textbook_lstm_step(x, h, c, Wx, Wh, b)
    actual_h, actual_c = _run_lstm_cell(torch_lstm_cell(Wx, Wh, b), x, h, c)
    np.testing.assert_allclose(actual_h, expected_h, **ONE_STEP)
    np.testing.assert_allclose(actual_c, expected_c, **ONE_STEP)


@pytest.mark.parametrize("seed", range(3))
def test_mapped_gru_cell_matches_textbook_gru_with_nonzero_bias_hh(seed):
    x, h, Wx, Wh, b, bh = _gru_inputs(np.random.default_rng(seed))
    assert np.abs(bh).min() > 0
    expected = textbook_gru_step(x, h, Wx, Wh, b, bh)
    with torch.no_grad():
        actual = torch_gru_cell(Wx, Wh, b, bh)(_t(x), _t(h)).numpy()
    np.testing.assert_allclose(actual, expected, **ONE_STEP)


def _max_gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)))


@pytest.mark.parametrize("wrong_order", [("i", "o", "f", "g"),   # f and o swapped
                                         ("i", "f", "g", "o"),   # torch's order taken for impl's (no reorder)
                                         ("f", "i", "o", "g")])  # i and f swapped
def test_wrong_lstm_mapping_is_detected(wrong_order):
    x, h, c, Wx, Wh, b = _lstm_inputs(np.random.default_rng(7))
    expected_h, expected_c = textbook_lstm_step(x, h, c, Wx, Wh, b)
    actual_h, actual_c = _run_lstm_cell(torch_lstm_cell(Wx, Wh, b, read_as=wrong_order), x, h, c)
    # The same comparison that passes under ONE_STEP for the right order fails by orders of magnitude.
    assert max(_max_gap(actual_h, expected_h), _max_gap(actual_c, expected_c)) > 1e-3
    assert not np.allclose(actual_h, expected_h, **ONE_STEP)


@pytest.mark.parametrize("wrong_order", [("r", "z", "n"), ("z", "n", "r")])
def test_wrong_gru_mapping_is_detected(wrong_order):
    x, h, Wx, Wh, b, bh = _gru_inputs(np.random.default_rng(7))
    expected = textbook_gru_step(x, h, Wx, Wh, b, bh)
    with torch.no_grad():
        actual = torch_gru_cell(Wx, Wh, b, bh, read_as=wrong_order)(_t(x), _t(h)).numpy()
    assert _max_gap(actual, expected) > 1e-3


def test_swapping_gru_biases_is_detected():
    # b and bh are not interchangeable: r multiplies only the hidden side of n.
    x, h, Wx, Wh, b, bh = _gru_inputs(np.random.default_rng(8))
    expected = textbook_gru_step(x, h, Wx, Wh, b, bh)
    with torch.no_grad():
        actual = torch_gru_cell(Wx, Wh, bh, b)(_t(x), _t(h)).numpy()
    assert _max_gap(actual, expected) > 1e-3


# ----------------------------------------------------------------------------
# Gradients mapped back: torch's .grad through the inverse maps vs finite
# differences of the textbook cells.
# ----------------------------------------------------------------------------

def test_lstm_gradients_mapped_back_match_finite_differences():
    rng = np.random.default_rng(11)
    x, h, c, Wx, Wh, b = _lstm_inputs(rng)
    up_h, up_c = rng.uniform(-1, 1, (N, H)), rng.uniform(-1, 1, (N, H))
    cell = torch_lstm_cell(Wx, Wh, b)
    next_h, next_c = cell(_t(x), (_t(h), _t(c)))
    torch.autograd.backward([next_h, next_c], [_t(up_h), _t(up_c)])

    def objective() -> float:
        nh, nc = textbook_lstm_step(x, h, c, Wx, Wh, b)
        return float(np.sum(up_h * nh) + np.sum(up_c * nc))

    mapped = {"Wx": go.weight_from_torch(cell.weight_ih.grad.numpy(), "lstm"),
              "Wh": go.weight_from_torch(cell.weight_hh.grad.numpy(), "lstm"),
              "b": go.bias_from_torch(cell.bias_ih.grad.numpy(), "lstm")}
    for name, param in (("Wx", Wx), ("Wh", Wh), ("b", b)):
        np.testing.assert_allclose(mapped[name], central_difference(objective, param), **FINITE_DIFFERENCE,
                                   err_msg=name)


def test_gru_gradients_mapped_back_match_finite_differences():
    rng = np.random.default_rng(12)
    x, h, Wx, Wh, b, bh = _gru_inputs(rng)
    up = rng.uniform(-1, 1, (N, H))
    cell = torch_gru_cell(Wx, Wh, b, bh)
    cell(_t(x), _t(h)).backward(_t(up))

    def objective() -> float:
        return float(np.sum(up * textbook_gru_step(x, h, Wx, Wh, b, bh)))

    mapped = {"Wx": go.weight_from_torch(cell.weight_ih.grad.numpy(), "gru"),
              "Wh": go.weight_from_torch(cell.weight_hh.grad.numpy(), "gru"),
              "b": go.bias_from_torch(cell.bias_ih.grad.numpy(), "gru"),
              "bh": go.bias_from_torch(cell.bias_hh.grad.numpy(), "gru")}
    for name, param in (("Wx", Wx), ("Wh", Wh), ("b", b), ("bh", bh)):
        np.testing.assert_allclose(mapped[name], central_difference(objective, param), **FINITE_DIFFERENCE,
                                   err_msg=name)


# ----------------------------------------------------------------------------
# The twins use the maps: their forward agrees with the textbook cells.
# ----------------------------------------------------------------------------

def test_lstm_step_twin_uses_impl_layout():
    x, h, c, Wx, Wh, b = _lstm_inputs(np.random.default_rng(21))
    expected_h, expected_c = textbook_lstm_step(x, h, c, Wx, Wh, b)
    result = LSTM_STEP_TWIN(dict(x=x, prev_h=h, prev_c=c, Wx=Wx, Wh=Wh, b=b),
                             {"next_h": np.ones((N, H)), "next_c": np.ones((N, H))})
    np.testing.assert_allclose(result.outputs["next_h"], expected_h, **ONE_STEP)
    np.testing.assert_allclose(result.outputs["next_c"], expected_c, **ONE_STEP)


def test_gru_step_twin_uses_impl_layout():
    x, h, Wx, Wh, b, bh = _gru_inputs(np.random.default_rng(22))
    result = GRU_STEP_TWIN(dict(x=x, prev_h=h, Wx=Wx, Wh=Wh, b=b, bh=bh), {"next_h": np.ones((N, H))})
    np.testing.assert_allclose(result.outputs["next_h"], textbook_gru_step(x, h, Wx, Wh, b, bh), **ONE_STEP)


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_loaded_sequence_module_runs_the_twins_function(cell_type):
    # The benchmark's baseline: nn.RNN / nn.LSTM / nn.GRU holding impl's weights, with leaf parameters whose
    # .grad maps back through the numpy inverse maps to the twin's gradients in impl's layout.
    rng = np.random.default_rng(23)
    t = 3
    x, h0 = rng.uniform(-1, 1, (N, t, D)), rng.uniform(-1, 1, (N, H))
    params = {name: rng.uniform(-1, 1, shape) for name, shape in cell_parameter_shapes(cell_type, D, H).items()}
    upstream = rng.uniform(-1, 1, (N, t, H))
    module = torch_cell_module(cell_type, params, sequence=True)
    state = _t(h0)[None]
    out, _ = module(_t(x), (state, torch.zeros_like(state)) if cell_type == "lstm" else state)
    out.backward(_t(upstream))
    expected = get_spec(cell_type).twin({"x": x, "h0": h0, **params}, {"h": upstream})
    np.testing.assert_allclose(out.detach().numpy(), expected.outputs["h"], **asdict(TOLERANCES["float64"]))
    grads = {"Wx": go.weight_from_torch(module.weight_ih_l0.grad.numpy(), cell_type),
             "Wh": go.weight_from_torch(module.weight_hh_l0.grad.numpy(), cell_type),
             "b": go.bias_from_torch(module.bias_ih_l0.grad.numpy(), cell_type)}
    if cell_type == "gru":
        grads["bh"] = go.bias_from_torch(module.bias_hh_l0.grad.numpy(), cell_type)
    else:  # one bias: torch's bias_hh is a constant zero
        assert not module.bias_hh_l0.requires_grad and not module.bias_hh_l0.detach().any()
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, expected.grads[name], **asdict(TOLERANCES["float64"]), err_msg=name)


# ----------------------------------------------------------------------------
# The tensor maps the twins use: equal to the numpy maps, and differentiable
# with the numpy inverse maps as their gradients.
# ----------------------------------------------------------------------------

def test_impl_to_torch_table_is_the_named_permutations():
    assert go.IMPL_TO_TORCH == {"rnn": (0,), "lstm": go.LSTM_IMPL_TO_TORCH, "gru": go.GRU_IMPL_TO_TORCH}


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_tensor_maps_equal_numpy_maps_and_leave_their_argument_alone(cell_type):
    rng = np.random.default_rng(1)
    width = gate_count(cell_type) * H
    weight, bias = rng.uniform(-1, 1, (D, width)), rng.uniform(-1, 1, width)
    weight_t, bias_t = _t(weight), _t(bias)
    torch_weight = go.weight_to_torch_tensor(weight_t, cell_type)
    torch_bias = go.bias_to_torch_tensor(bias_t, cell_type)
    np.testing.assert_array_equal(torch_weight.numpy(), go.weight_to_torch(weight, cell_type))
    np.testing.assert_array_equal(torch_bias.numpy(), go.bias_to_torch(bias, cell_type))
    assert torch_weight.is_contiguous() and torch_weight.shape == (width, D)
    # New tensors, not views: the argument is untouched and shares no storage with the result.
    assert torch_weight.untyped_storage().data_ptr() != weight_t.untyped_storage().data_ptr()
    assert torch_bias.untyped_storage().data_ptr() != bias_t.untyped_storage().data_ptr()
    np.testing.assert_array_equal(weight_t.numpy(), weight)
    np.testing.assert_array_equal(bias_t.numpy(), bias)


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_gradient_through_tensor_maps_is_the_numpy_inverse_map(cell_type):
    # d<G, map(W)>/dW = inverse_map(G): autograd replaces weight_from_torch / bias_from_torch.
    rng = np.random.default_rng(2)
    width = gate_count(cell_type) * H
    weight = _t(rng.uniform(-1, 1, (D, width))).requires_grad_(True)
    bias = _t(rng.uniform(-1, 1, width)).requires_grad_(True)
    upstream_weight, upstream_bias = rng.uniform(-1, 1, (width, D)), rng.uniform(-1, 1, width)
    objective = ((go.weight_to_torch_tensor(weight, cell_type) * _t(upstream_weight)).sum()
                 + (go.bias_to_torch_tensor(bias, cell_type) * _t(upstream_bias)).sum())
    grad_weight, grad_bias = torch.autograd.grad(objective, (weight, bias))
    np.testing.assert_array_equal(grad_weight.numpy(), go.weight_from_torch(upstream_weight, cell_type))
    np.testing.assert_array_equal(grad_bias.numpy(), go.bias_from_torch(upstream_bias, cell_type))


def test_labelled_blocks_land_where_torch_reads_them_in_the_tensor_maps():
    for torch_order, cell_type in ((go.LSTM_TORCH_ORDER, "lstm"), (go.GRU_TORCH_ORDER, "gru")):
        impl_order = go.GATE_ORDERS[cell_type][0]
        code = {gate: float(k + 1) for k, gate in enumerate(sorted(impl_order))}
        impl_weight = torch.cat([torch.full((D, H), code[gate]) for gate in impl_order], dim=1)
        impl_bias = torch.cat([torch.full((H,), code[gate]) for gate in impl_order])
        torch_weight = go.weight_to_torch_tensor(impl_weight, cell_type)
        torch_bias = go.bias_to_torch_tensor(impl_bias, cell_type)
        for k, gate in enumerate(torch_order):
            assert torch.all(torch_weight[k * H:(k + 1) * H] == code[gate]), (cell_type, gate)
            assert torch.all(torch_bias[k * H:(k + 1) * H] == code[gate]), (cell_type, gate)


def test_tensor_maps_reject_bad_lengths_and_cell_types():
    with pytest.raises(ValueError, match="not a multiple"):
        go.permute_blocks_tensor(torch.zeros(7), go.LSTM_IMPL_TO_TORCH, dim=0)
    with pytest.raises(ValueError, match="not a multiple"):
        go.weight_to_torch_tensor(torch.zeros((D, 7)), "lstm")
    with pytest.raises(ValueError, match="unknown cell type"):
        go.bias_to_torch_tensor(torch.zeros(4), "transformer")


def test_lstm_step_twin_gradients_in_impl_layout_match_finite_differences():
    rng = np.random.default_rng(13)
    x, h, c, Wx, Wh, b = _lstm_inputs(rng)
    up_h, up_c = rng.uniform(-1, 1, (N, H)), rng.uniform(-1, 1, (N, H))
    result = LSTM_STEP_TWIN(dict(x=x, prev_h=h, prev_c=c, Wx=Wx, Wh=Wh, b=b), {"next_h": up_h, "next_c": up_c})

    def objective() -> float:
        nh, nc = textbook_lstm_step(x, h, c, Wx, Wh, b)
        return float(np.sum(up_h * nh) + np.sum(up_c * nc))

    for name, param in (("x", x), ("prev_h", h), ("prev_c", c), ("Wx", Wx), ("Wh", Wh), ("b", b)):
        np.testing.assert_allclose(result.grads[name], central_difference(objective, param), **FINITE_DIFFERENCE,
                                   err_msg=name)


def test_gru_step_twin_gradients_in_impl_layout_match_finite_differences():
    rng = np.random.default_rng(14)
    x, h, Wx, Wh, b, bh = _gru_inputs(rng)
    up = rng.uniform(-1, 1, (N, H))
    result = GRU_STEP_TWIN(dict(x=x, prev_h=h, Wx=Wx, Wh=Wh, b=b, bh=bh), {"next_h": up})

    def objective() -> float:
        return float(np.sum(up * textbook_gru_step(x, h, Wx, Wh, b, bh)))

    for name, param in (("x", x), ("prev_h", h), ("Wx", Wx), ("Wh", Wh), ("b", b), ("bh", bh)):
        np.testing.assert_allclose(result.grads[name], central_difference(objective, param), **FINITE_DIFFERENCE,
                                   err_msg=name)
