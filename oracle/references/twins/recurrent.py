"""Twins of the recurrent layers: vanilla RNN, LSTM and GRU, one step and whole sequences.

Each twin runs the corresponding ``torch.nn`` module (``RNNCell``/``RNN``,
``LSTMCell``/``LSTM``, ``GRUCell``/``GRU``, batch first) on parameters built
from impl's tensors by differentiable operations (:mod:`oracle.references.gate_order`):

- ``Wx (D, G*H)`` -> ``weight_ih (G*H, D)``, ``Wh (H, G*H)`` -> ``weight_hh
  (G*H, H)``: transposed, gate blocks gathered into torch's order;
- ``b`` -> ``bias_ih`` (reordered); for the GRU ``bh`` -> ``bias_hh``
  (reordered), for the RNN and LSTM ``bias_hh`` is a constant zero.

Autograd therefore returns the gradients of ``Wx``, ``Wh``, ``b`` (and
``bh``) directly in impl's layout; ``b``'s is the gradient of ``bias_ih``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import torch
from torch import nn

from impl.cell_layouts import CELL_PARAMETERS, check_cell_type
from oracle.references.gate_order import bias_to_torch_tensor, weight_to_torch_tensor
from oracle.references.twins.core import TorchTwin
from oracle.references.twins.modules import call_module, meta_module

Tensors = Mapping[str, torch.Tensor]

_STEP_MODULES = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
_SEQUENCE_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def torch_cell_params(cell_type: str, params: Tensors) -> dict[str, torch.Tensor]:
    """impl's cell parameters as torch's, differentiably.

    Parameters
    ----------
    cell_type
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    params
        ``Wx (D, G*H)``, ``Wh (H, G*H)``, ``b (G*H,)`` and, for ``"gru"``,
        ``bh (G*H,)``, with ``G`` 1, 4 or 3 (other entries are ignored).

    Returns
    -------
    dict
        ``weight_ih (G*H, D)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)``,
        ``bias_hh (G*H,)``: new tensors in torch's layout and gate order, in
        the autograd graph of ``params``. ``bias_hh`` is a constant zero
        (outside the graph) for the RNN and the LSTM, which have one bias.
    """
    check_cell_type(cell_type)
    bias_ih = bias_to_torch_tensor(params["b"], cell_type)
    return {
        "weight_ih": weight_to_torch_tensor(params["Wx"], cell_type),
        "weight_hh": weight_to_torch_tensor(params["Wh"], cell_type),
        "bias_ih": bias_ih,
        # A fresh tensor either way: cuDNN may re-home each parameter into one flat buffer.
        "bias_hh": bias_to_torch_tensor(params["bh"], cell_type) if cell_type == "gru" else torch.zeros_like(bias_ih),
    }


def _sizes(params: Tensors) -> dict[str, int]:
    return {"input_size": params["weight_ih"].shape[1], "hidden_size": params["weight_hh"].shape[1]}


def torch_cell_module(cell_type: str, params: Mapping[str, np.ndarray], *, sequence: bool) -> nn.Module:
    """A ready ``torch.nn`` recurrent module whose own parameters hold impl's, mapped by :func:`torch_cell_params`.

    The twins never need this: they map impl's tensors inside the autograd
    graph and run a parameterless shell. Code that wants torch's module as a
    torch user runs it (the benchmark's baseline, the gate-order tests'
    reference cells) gets it here, loaded through the same maps.

    Parameters
    ----------
    cell_type
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    params
        impl's ``Wx (D, G*H)``, ``Wh (H, G*H)``, ``b (G*H,)`` and, for
        ``"gru"``, ``bh (G*H,)`` (numpy arrays, one float dtype; other
        entries are ignored). Copied, never modified.
    sequence
        ``False``: ``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell``;
        ``True``: ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``, one layer,
        ``batch_first=True``.

    Returns
    -------
    torch.nn.Module
        On the CPU in ``params``' dtype, with leaf parameters ``weight_ih
        (G*H, D)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)``, ``bias_hh
        (G*H,)`` in torch's layout and gate order (named with the suffix
        ``_l0`` for a sequence module); their ``.grad`` maps back to impl's
        layout with :func:`oracle.references.gate_order.weight_from_torch` and
        :func:`~oracle.references.gate_order.bias_from_torch`. For the RNN and the LSTM,
        which have one bias, ``bias_hh`` is a zero that does not require grad.
    """
    check_cell_type(cell_type)
    tensors = {name: torch.from_numpy(np.ascontiguousarray(params[name])) for name in CELL_PARAMETERS[cell_type]}
    with torch.no_grad():
        mapped = torch_cell_params(cell_type, tensors)
    factory = _SEQUENCE_MODULES[cell_type] if sequence else _STEP_MODULES[cell_type]
    options: dict[str, object] = {"batch_first": True} if sequence else {}
    # Built on the meta device and then given storage: torch's random initialisation, overwritten below, would
    # otherwise draw from the global torch RNG.
    module = meta_module(factory, mapped["weight_ih"].dtype, **_sizes(mapped), **options).to_empty(device="cpu")
    suffix = "_l0" if sequence else ""
    with torch.no_grad():
        for name, value in mapped.items():
            module.get_parameter(name + suffix).copy_(value)
    if cell_type != "gru":
        module.get_parameter("bias_hh" + suffix).requires_grad_(False)
    return module


def cell_step(cell_type: str, params: Tensors, x: torch.Tensor, h: torch.Tensor,
              c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One step of ``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell`` on ``params``.

    Parameters
    ----------
    cell_type
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    params
        torch's parameters, as :func:`torch_cell_params` returns them.
    x
        ``(N, D)`` input.
    h, c
        ``(N, H)`` previous hidden state and, for the LSTM only, cell state.

    Returns
    -------
    (torch.Tensor, torch.Tensor or None)
        ``next_h (N, H)`` and, for the LSTM, ``next_c (N, H)`` (else None).
    """
    check_cell_type(cell_type)
    cell = meta_module(_STEP_MODULES[cell_type], params["weight_ih"].dtype, **_sizes(params))
    if cell_type == "lstm":
        return cast(tuple[torch.Tensor, torch.Tensor], call_module(cell, params, x, (h, c)))
    return cast(torch.Tensor, call_module(cell, params, x, h)), None


def run_sequence(cell_type: str, params: Tensors, x: torch.Tensor, h0: torch.Tensor,
                 c0: torch.Tensor | None = None) -> torch.Tensor:
    """``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (one layer, batch first) over a whole sequence on ``params``.

    Parameters
    ----------
    cell_type
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    params
        torch's parameters, as :func:`torch_cell_params` returns them.
    x
        ``(N, T, D)`` inputs.
    h0, c0
        ``(N, H)`` initial hidden state and, for the LSTM, initial cell state
        (``None``: zero).

    Returns
    -------
    torch.Tensor
        ``h (N, T, H)``: the hidden states after each step (not ``h0``).
    """
    check_cell_type(cell_type)
    module = meta_module(_SEQUENCE_MODULES[cell_type], params["weight_ih"].dtype, batch_first=True, **_sizes(params))
    layer_params = {f"{name}_l0": value for name, value in params.items()}
    first = h0.unsqueeze(0)  # (num_layers=1, N, H)
    state: torch.Tensor | tuple[torch.Tensor, torch.Tensor] = first
    if cell_type == "lstm":
        state = (first, torch.zeros_like(first) if c0 is None else c0.unsqueeze(0))
    h, _ = cast(tuple[torch.Tensor, object], call_module(module, layer_params, x, state))
    return h


def rnn_step_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """One tanh RNN step through ``nn.RNNCell``.

    Inputs ``x (N, D)``, ``prev_h (N, H)``, ``Wx (D, H)``, ``Wh (H, H)``,
    ``b (H,)``; output ``next_h (N, H) = tanh(x Wx + prev_h Wh + b)``.
    """
    next_h, _ = cell_step("rnn", torch_cell_params("rnn", tensors), tensors["x"], tensors["prev_h"])
    return {"next_h": next_h}


def lstm_step_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """One LSTM step through ``nn.LSTMCell``.

    Inputs ``x (N, D)``, ``prev_h (N, H)``, ``prev_c (N, H)``, ``Wx (D, 4H)``,
    ``Wh (H, 4H)``, ``b (4H,)`` with gates i, f, o, g; outputs ``next_h``,
    ``next_c`` (N, H).
    """
    next_h, next_c = cell_step("lstm", torch_cell_params("lstm", tensors), tensors["x"], tensors["prev_h"],
                               tensors["prev_c"])
    assert next_c is not None  # an LSTM step always returns its cell state
    return {"next_h": next_h, "next_c": next_c}


def gru_step_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """One GRU step through ``nn.GRUCell``.

    Inputs ``x (N, D)``, ``prev_h (N, H)``, ``Wx (D, 3H)``, ``Wh (H, 3H)``,
    ``b (3H,)``, ``bh (3H,)`` with gates z, r, n (see
    :mod:`oracle.references.gate_order`); output ``next_h (N, H)``.
    """
    next_h, _ = cell_step("gru", torch_cell_params("gru", tensors), tensors["x"], tensors["prev_h"])
    return {"next_h": next_h}


def rnn_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """A tanh RNN over a sequence through ``nn.RNN``.

    Inputs ``x (N, T, D)``, ``h0 (N, H)``, ``Wx (D, H)``, ``Wh (H, H)``,
    ``b (H,)``; output ``h (N, T, H)``.
    """
    return {"h": run_sequence("rnn", torch_cell_params("rnn", tensors), tensors["x"], tensors["h0"])}


def lstm_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """An LSTM over a sequence through ``nn.LSTM`` with ``c0 = 0``.

    Inputs ``x (N, T, D)``, ``h0 (N, H)``, ``Wx (D, 4H)``, ``Wh (H, 4H)``,
    ``b (4H,)``; output ``h (N, T, H)``.
    """
    return {"h": run_sequence("lstm", torch_cell_params("lstm", tensors), tensors["x"], tensors["h0"])}


def lstm_with_c0_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """An LSTM over a sequence with a given initial cell state: inputs ``x, h0, c0, Wx, Wh, b``; output ``h``."""
    return {"h": run_sequence("lstm", torch_cell_params("lstm", tensors), tensors["x"], tensors["h0"],
                              tensors["c0"])}


def gru_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """A GRU over a sequence through ``nn.GRU``.

    Inputs ``x (N, T, D)``, ``h0 (N, H)``, ``Wx (D, 3H)``, ``Wh (H, 3H)``,
    ``b (3H,)``, ``bh (3H,)``; output ``h (N, T, H)``.
    """
    return {"h": run_sequence("gru", torch_cell_params("gru", tensors), tensors["x"], tensors["h0"])}


#: Twin of ``rnn_step_forward``/``rnn_step_backward``: gradients of all five inputs.
rnn_step = TorchTwin("rnn_step", rnn_step_function)
#: Twin of ``rnn_forward``/``rnn_backward``: gradients of all five inputs.
rnn = TorchTwin("rnn", rnn_function)
#: Twin of ``lstm_step_forward``/``lstm_step_backward``: gradients of all six inputs.
lstm_step = TorchTwin("lstm_step", lstm_step_function)
#: Twin of ``lstm_forward``/``lstm_backward`` (``c0 = 0``): gradients of all five inputs.
lstm = TorchTwin("lstm", lstm_function)
#: Twin of the LSTM with a given ``c0``: gradients of all six inputs.
lstm_with_c0 = TorchTwin("lstm_with_c0", lstm_with_c0_function)
#: Twin of ``gru_step_forward``/``gru_step_backward``: gradients of all six inputs.
gru_step = TorchTwin("gru_step", gru_step_function)
#: Twin of ``gru_forward``/``gru_backward``: gradients of all six inputs.
gru = TorchTwin("gru", gru_function)
