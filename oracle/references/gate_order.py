"""Gate layouts of impl's recurrent cells and of PyTorch's, and the maps between them.

impl (the seed's convention) stores the gates of a cell side by side along the
*last* axis of ``Wx (D, G*H)``, ``Wh (H, G*H)`` and along the only axis of
``b (G*H,)``; PyTorch stores them along the *first* axis of ``weight_ih
(G*H, D)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)`` and ``bias_hh
(G*H,)``. Each gate is one contiguous block of ``H`` entries, and the blocks
come in different orders:

======  ==================  ==================
cell    impl order          torch order
======  ==================  ==================
rnn     ``h``               ``h``
lstm    ``i, f, o, g``      ``i, f, g, o``
gru     ``z, r, n``         ``r, z, n``
======  ==================  ==================

with the gate equations (``a_k`` the pre-activation of gate ``k``)::

    LSTM:  i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
           c' = f * c + i * g;  h' = o * tanh(c')
    GRU:   z = sigmoid(x Wx_z + b_z + h Wh_z + bh_z)
           r = sigmoid(x Wx_r + b_r + h Wh_r + bh_r)
           n = tanh(x Wx_n + b_n + r * (h Wh_n + bh_n))
           h' = (1 - z) * n + z * h

impl's GRU ``b`` is torch's ``bias_ih`` and its ``bh`` torch's ``bias_hh``
(both reordered); impl's LSTM and vanilla RNN have one bias ``b``, which the
twins put whole into ``bias_ih`` while ``bias_hh`` is held at zero.

impl's orders are :data:`impl.cell_layouts.GATE_ORDER` (the one module that
owns impl's layouts); torch's are :data:`TORCH_GATE_ORDER`. The permutations
between them are defined once, here (:data:`IMPL_TO_TORCH`), and applied two
ways:

- to numpy arrays (:func:`weight_to_torch`, :func:`bias_to_torch` and their
  inverses), for tests and for anything that maps values outside autograd;
- to tensors (:func:`weight_to_torch_tensor`, :func:`bias_to_torch_tensor`),
  with differentiable ``index_select`` and transpose, so the twins build
  torch's parameters *inside* the autograd graph and get gradients directly
  in impl's layout, with no inverse map.

Every function returns a new array or tensor (never a view of its argument)
and never modifies its argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from impl.cell_layouts import CELL_TYPES, GATE_ORDER, check_cell_type

#: PyTorch's gate blocks along the ``G*H`` axis, by cell type (impl's are :data:`impl.cell_layouts.GATE_ORDER`).
TORCH_GATE_ORDER: dict[str, tuple[str, ...]] = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}

#: impl's LSTM gate blocks along the 4H axis.
LSTM_IMPL_ORDER: tuple[str, ...] = GATE_ORDER["lstm"]
#: PyTorch's LSTM gate blocks along the 4H axis.
LSTM_TORCH_ORDER: tuple[str, ...] = TORCH_GATE_ORDER["lstm"]
#: impl's GRU gate blocks along the 3H axis.
GRU_IMPL_ORDER: tuple[str, ...] = GATE_ORDER["gru"]
#: PyTorch's GRU gate blocks along the 3H axis.
GRU_TORCH_ORDER: tuple[str, ...] = TORCH_GATE_ORDER["gru"]
#: The vanilla RNN has one block, identical in both libraries.
RNN_ORDER: tuple[str, ...] = GATE_ORDER["rnn"]

#: ``(impl order, torch order)`` by cell type.
GATE_ORDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    cell_type: (GATE_ORDER[cell_type], TORCH_GATE_ORDER[cell_type]) for cell_type in CELL_TYPES
}


def gate_permutation(source_order: Sequence[str], target_order: Sequence[str]) -> tuple[int, ...]:
    """Block permutation taking the ``source_order`` layout to ``target_order``.

    Parameters
    ----------
    source_order, target_order
        The gate names, one per block, in the order the blocks are stored;
        both must hold the same distinct names.

    Returns
    -------
    tuple of int
        ``perm`` with ``target block k = source block perm[k]``.

    Raises
    ------
    ValueError
        If the two orders do not name the same distinct gates.
    """
    source, target = tuple(source_order), tuple(target_order)
    if len(set(source)) != len(source) or sorted(source) != sorted(target):
        raise ValueError(f"gate orders {source} and {target} must name the same distinct gates")
    return tuple(source.index(gate) for gate in target)


def invert_permutation(perm: Sequence[int]) -> tuple[int, ...]:
    """The inverse block permutation: ``inverse[perm[k]] == k``."""
    if sorted(perm) != list(range(len(perm))):
        raise ValueError(f"{tuple(perm)} is not a permutation of 0..{len(perm) - 1}")
    inverse = [0] * len(perm)
    for k, p in enumerate(perm):
        inverse[p] = k
    return tuple(inverse)


#: ``torch block k = impl block LSTM_IMPL_TO_TORCH[k]``: ``(0, 1, 3, 2)``.
LSTM_IMPL_TO_TORCH: tuple[int, ...] = gate_permutation(LSTM_IMPL_ORDER, LSTM_TORCH_ORDER)
#: ``impl block k = torch block LSTM_TORCH_TO_IMPL[k]``.
LSTM_TORCH_TO_IMPL: tuple[int, ...] = gate_permutation(LSTM_TORCH_ORDER, LSTM_IMPL_ORDER)
#: ``torch block k = impl block GRU_IMPL_TO_TORCH[k]``: ``(1, 0, 2)``.
GRU_IMPL_TO_TORCH: tuple[int, ...] = gate_permutation(GRU_IMPL_ORDER, GRU_TORCH_ORDER)
#: ``impl block k = torch block GRU_TORCH_TO_IMPL[k]``.
GRU_TORCH_TO_IMPL: tuple[int, ...] = gate_permutation(GRU_TORCH_ORDER, GRU_IMPL_ORDER)

#: ``torch block k = impl block IMPL_TO_TORCH[cell_type][k]``, by cell type: the one source of the maps.
IMPL_TO_TORCH: dict[str, tuple[int, ...]] = {
    cell_type: gate_permutation(*orders) for cell_type, orders in GATE_ORDERS.items()
}


def block_index(perm: Sequence[int], shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Element index along ``axis`` that puts block ``perm[k]`` of an array of ``shape`` at block ``k``.

    Parameters
    ----------
    perm
        Block permutation, ``len(perm)`` blocks of equal length ``H``.
    shape
        Shape of the array to permute.
    axis
        The gate axis (negative values count from the end).

    Returns
    -------
    numpy.ndarray
        ``(len(perm) * H,)`` int64 indices for ``np.take`` / ``Tensor.index_select``.

    Raises
    ------
    ValueError
        If the axis length is not a multiple of ``len(perm)``.
    """
    blocks = len(perm)
    length = shape[axis]
    if length % blocks:
        raise ValueError(
            f"axis {axis} of an array of shape {tuple(shape)} has length {length}, "
            f"not a multiple of {blocks} gate blocks"
        )
    size = length // blocks
    if not length:
        return np.arange(0, dtype=np.int64)
    return np.concatenate([np.arange(p * size, (p + 1) * size, dtype=np.int64) for p in perm])


def permute_blocks(array: np.ndarray, perm: Sequence[int], axis: int) -> np.ndarray:
    """Split ``array`` along ``axis`` into ``len(perm)`` equal blocks and reorder them.

    Parameters
    ----------
    array
        Any array whose length along ``axis`` is ``len(perm) * H``.
    perm
        Block permutation: block ``k`` of the result is block ``perm[k]`` of
        ``array``.
    axis
        The gate axis (negative values count from the end).

    Returns
    -------
    numpy.ndarray
        A new array of the same shape and dtype.

    Raises
    ------
    ValueError
        If the axis length is not a multiple of ``len(perm)``.
    """
    array = np.asarray(array)
    return np.take(array, block_index(perm, array.shape, axis), axis=axis)


def permute_blocks_tensor(tensor: torch.Tensor, perm: Sequence[int], dim: int) -> torch.Tensor:
    """:func:`permute_blocks` for tensors, through ``index_select`` so autograd can differentiate it.

    The gradient of the result flows back to ``tensor`` through the inverse
    permutation, which is what lets the twins skip any inverse map.

    Parameters
    ----------
    tensor
        Any tensor whose length along ``dim`` is ``len(perm) * H``.
    perm
        Block permutation: block ``k`` of the result is block ``perm[k]`` of
        ``tensor``.
    dim
        The gate dimension (negative values count from the end).

    Returns
    -------
    torch.Tensor
        A new (not a view), contiguous tensor of the same shape, dtype and
        device.

    Raises
    ------
    ValueError
        If the length along ``dim`` is not a multiple of ``len(perm)``.
    """
    index = torch.from_numpy(block_index(perm, tuple(tensor.shape), dim)).to(tensor.device)
    return tensor.index_select(dim, index)


def reorder_gates(array: np.ndarray, source_order: Sequence[str], target_order: Sequence[str], axis: int) -> np.ndarray:
    """Reorder the gate blocks of ``array`` along ``axis`` from ``source_order`` to ``target_order``."""
    return permute_blocks(array, gate_permutation(source_order, target_order), axis)


def to_torch_gates(array: np.ndarray, impl_order: Sequence[str], torch_order: Sequence[str], axis: int) -> np.ndarray:
    """Reorder gate blocks along ``axis`` from impl's order to torch's (no transpose).

    Inverse of :func:`from_torch_gates` with the same arguments.
    """
    return reorder_gates(array, impl_order, torch_order, axis)


def from_torch_gates(array: np.ndarray, impl_order: Sequence[str], torch_order: Sequence[str], axis: int) -> np.ndarray:
    """Reorder gate blocks along ``axis`` from torch's order to impl's (no transpose).

    Inverse of :func:`to_torch_gates` with the same arguments.
    """
    return reorder_gates(array, torch_order, impl_order, axis)


def _impl_to_torch(cell_type: str) -> tuple[int, ...]:
    check_cell_type(cell_type)
    return IMPL_TO_TORCH[cell_type]


def weight_to_torch(weight: np.ndarray, cell_type: str) -> np.ndarray:
    """impl's ``Wx (D, G*H)`` or ``Wh (H, G*H)`` to torch's ``weight_ih (G*H, D)`` / ``weight_hh (G*H, H)``.

    Reorders the gate blocks of the last axis into torch's order, then
    transposes. Returns a new C-contiguous array.
    """
    return np.ascontiguousarray(permute_blocks(weight, _impl_to_torch(cell_type), axis=-1).T)


def weight_from_torch(weight: np.ndarray, cell_type: str) -> np.ndarray:
    """torch's ``(G*H, D)`` weight (or its gradient) back to impl's ``(D, G*H)``; inverse of :func:`weight_to_torch`."""
    inverse = invert_permutation(_impl_to_torch(cell_type))
    return np.ascontiguousarray(permute_blocks(weight, inverse, axis=0).T)


def bias_to_torch(bias: np.ndarray, cell_type: str) -> np.ndarray:
    """impl's bias ``(G*H,)`` to torch's ``(G*H,)`` gate order."""
    return permute_blocks(bias, _impl_to_torch(cell_type), axis=0)


def bias_from_torch(bias: np.ndarray, cell_type: str) -> np.ndarray:
    """torch's bias ``(G*H,)`` (or its gradient) back to impl's gate order; inverse of :func:`bias_to_torch`."""
    return permute_blocks(bias, invert_permutation(_impl_to_torch(cell_type)), axis=0)


def weight_to_torch_tensor(weight: torch.Tensor, cell_type: str) -> torch.Tensor:
    """Differentiable :func:`weight_to_torch`: impl's ``(D, G*H)`` tensor to torch's ``(G*H, D)``.

    Gathers the gate columns into torch's order with ``index_select``, then
    transposes into a new contiguous tensor (not a view: cuDNN may re-home
    each RNN parameter into one flat buffer). Autograd carries the gradient of
    the result back to ``weight`` in impl's layout.
    """
    return permute_blocks_tensor(weight, _impl_to_torch(cell_type), dim=-1).T.contiguous()


def bias_to_torch_tensor(bias: torch.Tensor, cell_type: str) -> torch.Tensor:
    """Differentiable :func:`bias_to_torch`: impl's ``(G*H,)`` bias tensor in torch's gate order (a new tensor)."""
    return permute_blocks_tensor(bias, _impl_to_torch(cell_type), dim=0)
