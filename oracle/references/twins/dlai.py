"""Twins of deeplearning.ai's course API (:mod:`impl.dlai`): the recurrent twins, transposed and regrouped.

Nothing of a cell is written again here. Each twin maps the course's
tensors onto the seed's layout with the same map impl uses
(:func:`impl.dlai.cell_parameters`, on tensors: ``Wf``, ``Wi``, ``Wc``,
``Wo`` split into their ``a_prev`` and ``xt`` columns and gathered into
``Wx``, ``Wh``, ``b``, all inside the autograd graph), runs the recurrent
twins of :mod:`oracle.references.twins.recurrent` (``nn.RNNCell``, ``nn.RNN``,
``nn.LSTMCell``) and transposes their results back. The LSTM over a sequence
is a loop of ``nn.LSTMCell``, because the course's ``lstm_forward`` returns
the cell state of every step, which ``nn.LSTM`` does not. The predictions
are ``torch.softmax(Wy a + by, dim=0)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from impl.dlai import cell_parameters
from oracle.references.twins.core import TorchTwin
from oracle.references.twins.recurrent import lstm_step_function, rnn_function, rnn_step_function

Tensors = Mapping[str, torch.Tensor]


def _join(blocks: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat(list(blocks), dim=-1)


def predictions(Wy: torch.Tensor, by: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``softmax(Wy a + by)`` over axis 0, for ``a (n_a, m)`` or every step of ``a (n_a, m, T_x)``."""
    logits = torch.tensordot(Wy, a, dims=([1], [0])) + (by if a.dim() == 2 else by[:, :, None])
    return torch.softmax(logits, dim=0)


def rnn_cell_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """``rnn_cell_forward``: ``a_next (n_a, m)`` and ``yt_pred (n_y, m)`` through ``nn.RNNCell``."""
    seed = {"x": tensors["xt"].T, "prev_h": tensors["a_prev"].T, **cell_parameters("rnn", tensors, _join)}
    a_next = rnn_step_function(seed)["next_h"].T
    return {"a_next": a_next, "yt_pred": predictions(tensors["Wya"], tensors["by"], a_next)}


def rnn_function_course(tensors: Tensors) -> dict[str, torch.Tensor]:
    """``rnn_forward``: ``a (n_a, m, T_x)`` and ``y_pred (n_y, m, T_x)`` through ``nn.RNN``."""
    seed = {"x": tensors["x"].permute(1, 2, 0), "h0": tensors["a0"].T, **cell_parameters("rnn", tensors, _join)}
    a = rnn_function(seed)["h"].permute(2, 0, 1)
    return {"a": a, "y_pred": predictions(tensors["Wya"], tensors["by"], a)}


def lstm_cell_function(tensors: Tensors) -> dict[str, torch.Tensor]:
    """``lstm_cell_forward``: ``a_next``, ``c_next`` ``(n_a, m)`` and ``yt_pred (n_y, m)`` through ``nn.LSTMCell``."""
    seed = {"x": tensors["xt"].T, "prev_h": tensors["a_prev"].T, "prev_c": tensors["c_prev"].T,
            **cell_parameters("lstm", tensors, _join)}
    step = lstm_step_function(seed)
    a_next = step["next_h"].T
    return {"a_next": a_next, "c_next": step["next_c"].T,
            "yt_pred": predictions(tensors["Wy"], tensors["by"], a_next)}


def lstm_function_course(tensors: Tensors) -> dict[str, torch.Tensor]:
    """``lstm_forward`` (``c0 = 0``): ``a``, ``c`` ``(n_a, m, T_x)``, ``y (n_y, m, T_x)``; a loop of ``nn.LSTMCell``."""
    params = cell_parameters("lstm", tensors, _join)
    x, h = tensors["x"], tensors["a0"].T
    c = torch.zeros_like(h)
    hs, cs = [], []
    for t in range(x.shape[2]):
        step = lstm_step_function({"x": x[:, :, t].T, "prev_h": h, "prev_c": c, **params})
        h, c = step["next_h"], step["next_c"]
        hs.append(h.T)
        cs.append(c.T)
    a = torch.stack(hs, dim=2)
    return {"a": a, "y": predictions(tensors["Wy"], tensors["by"], a), "c": torch.stack(cs, dim=2)}


#: Twin of ``rnn_cell_forward``/``rnn_cell_backward``.
rnn_cell = TorchTwin("dlai_rnn_cell", rnn_cell_function)
#: Twin of ``rnn_forward``/``rnn_backward`` of the course.
rnn = TorchTwin("dlai_rnn", rnn_function_course)
#: Twin of ``lstm_cell_forward``/``lstm_cell_backward``.
lstm_cell = TorchTwin("dlai_lstm_cell", lstm_cell_function)
#: Twin of ``lstm_forward``/``lstm_backward`` of the course.
lstm = TorchTwin("dlai_lstm", lstm_function_course)
