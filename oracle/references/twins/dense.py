"""Twins of the non-recurrent layers: affine, temporal affine and the sigmoid.

The weights stay in impl's ``(D, M)`` layout and reach ``F.linear`` as
``w.T`` (a differentiable view), so their gradients are already in impl's
layout.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from oracle.references.twins.core import TorchTwin


def affine_function(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fully connected layer ``out = x.reshape(N, -1) @ w + b``.

    Inputs ``x (N, d1, ..., dk)``, ``w (D, M)`` with ``D = d1 * ... * dk``,
    ``b (M,)``; output ``out (N, M)``.
    """
    x = tensors["x"]
    return {"out": F.linear(x.reshape(x.shape[0], -1), tensors["w"].T, tensors["b"])}


def temporal_affine_function(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The affine map applied at every time step: ``out[n, t] = x[n, t] @ w + b``.

    Inputs ``x (N, T, D)``, ``w (D, M)``, ``b (M,)``; output ``out (N, T, M)``.
    """
    return {"out": F.linear(tensors["x"], tensors["w"].T, tensors["b"])}


def sigmoid_function(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Logistic sigmoid ``out = 1 / (1 + exp(-x))`` via ``torch.sigmoid``.

    Input ``x`` of any shape; float32/float64 keep their dtype, integer and
    boolean tensors are computed in float64 (numpy's promotion for ``exp``).
    Output ``out`` shaped like ``x``.
    """
    x = tensors["x"]
    return {"out": torch.sigmoid(x if x.is_floating_point() else x.to(torch.float64))}


#: Twin of ``affine_forward``/``affine_backward``: gradients ``x`` (shaped like ``x``), ``w``, ``b``.
affine = TorchTwin("affine", affine_function)
#: Twin of ``temporal_affine_forward``/``temporal_affine_backward``: gradients ``x``, ``w``, ``b``.
temporal_affine = TorchTwin("temporal_affine", temporal_affine_function)
#: Forward-only twin of ``sigmoid``: no gradients, ``upstream`` is ignored.
sigmoid = TorchTwin("sigmoid", sigmoid_function)
