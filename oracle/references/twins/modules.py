"""Running a ``torch.nn`` module on given parameter tensors, not on parameters of its own.

The module is only a shell: it is constructed on the ``meta`` device, so its
random initialisation neither allocates memory nor consumes the global torch
RNG, and :func:`torch.func.functional_call` substitutes the given tensors for
its parameters during one call. Those tensors may be results of differentiable
operations (e.g. gate blocks reordered from impl's layout), so autograd
differentiates through the mapping as well as through the module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def meta_module(factory: Callable[..., ModuleT], dtype: torch.dtype, **kwargs: object) -> ModuleT:
    """``factory(**kwargs)`` on the meta device in ``dtype``: a parameterless shell for :func:`call_module`."""
    return factory(device="meta", dtype=dtype, **kwargs)


def call_module(module: nn.Module, params: Mapping[str, torch.Tensor], *args: object) -> object:
    """``module(*args)`` with ``params`` in place of every parameter of ``module``.

    Parameters
    ----------
    module
        Typically from :func:`meta_module`.
    params
        Parameter name (as the module names it, e.g. ``"weight_ih_l0"``) ->
        tensor in torch's layout, on the device of ``args``. Must cover every
        parameter of the module with matching shapes.
    *args
        The module's positional arguments.

    Returns
    -------
    object
        Whatever the module returns.

    Raises
    ------
    ValueError
        If ``params`` misses or adds a parameter, or a shape disagrees (checked
        here so a wrong impl shape is named, not reported by a kernel).
    """
    expected = dict(module.named_parameters())
    if set(expected) != set(params):
        raise ValueError(f"{type(module).__name__} has parameters {sorted(expected)}, given {sorted(params)}")
    for name, value in params.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise ValueError(
                f"{type(module).__name__}.{name} has shape {tuple(expected[name].shape)}, given {tuple(value.shape)}"
            )
    return torch.func.functional_call(module, dict(params), args)
