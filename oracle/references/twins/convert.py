"""numpy <-> torch for the twins: copies in, checks on index inputs, upstream gradients, copies out.

Every tensor a twin builds from an input is a *copy*, so neither the forward
pass nor autograd can touch the caller's arrays. Floats keep their dtype
(float32 or float64), integer arrays become int64, booleans stay boolean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from oracle.references.twins.device import resolve_device

#: numpy float dtypes a twin computes in.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(inputs: Mapping[str, np.ndarray], names: Sequence[str]) -> np.dtype:
    """The one float dtype shared by ``inputs[name]`` for ``name`` in ``names``.

    Raises
    ------
    TypeError
        If one of them is not float32/float64 or they mix dtypes.
    """
    dtypes = {name: np.asarray(inputs[name]).dtype for name in names}
    for name, dtype in dtypes.items():
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"twin input {name!r} has dtype {dtype}; expected float32 or float64")
    if len(set(dtypes.values())) > 1:
        raise TypeError(f"twin inputs mix float dtypes: {dtypes}")
    return next(iter(dtypes.values()))


def tensor(array: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """A copy of ``array`` on ``device``: floats keep their dtype, integers become int64, bools stay bool.

    Raises
    ------
    TypeError
        For float dtypes other than float32/float64 and for non-numeric arrays.
    """
    array = np.asarray(array)
    if array.dtype in FLOAT_DTYPES or array.dtype == np.bool_:
        copy = np.array(array, copy=True, order="C")
    elif np.issubdtype(array.dtype, np.integer):
        copy = np.array(array, dtype=np.int64, copy=True, order="C")
    else:
        raise TypeError(f"cannot hand an array of dtype {array.dtype} to a twin")
    return torch.from_numpy(copy).to(resolve_device(device))


def check_indices(indices: torch.Tensor, upper: int, name: str) -> torch.Tensor:
    """``indices`` itself, after checking that it is an integer tensor with entries in ``[0, upper)``.

    The check runs before any kernel indexes with the tensor: on a GPU a bad
    index would otherwise become a device-side assert (which poisons the
    process), on the CPU an error deep inside torch or a silent wrap-around.

    Parameters
    ----------
    indices
        Any shape; int64 as :func:`tensor` makes it.
    upper
        Exclusive upper bound (the vocabulary or class count).
    name
        The twin input's name, for the message.

    Raises
    ------
    TypeError
        If ``indices`` is not an integer tensor (booleans are rejected).
    ValueError
        If an index is negative or ``>= upper``.
    """
    if indices.dtype == torch.bool or indices.is_floating_point() or indices.is_complex():
        raise TypeError(f"twin input {name!r} must hold integer indices, got dtype {indices.dtype}")
    if indices.numel():
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= upper:
            raise ValueError(f"twin input {name!r} holds indices outside [0, {upper}): min {low}, max {high}")
    return indices


def one_integer(value: torch.Tensor, name: str) -> int:
    """The single integer held by ``value`` (any shape with one element).

    Raises
    ------
    TypeError
        If ``value`` is boolean, not an integer tensor, or not one element.
    """
    if value.dtype == torch.bool or value.is_floating_point() or value.is_complex() or value.numel() != 1:
        raise TypeError(f"twin input {name!r} must be one integer, got {value.dtype} {tuple(value.shape)}")
    return int(value.reshape(()))


def upstream_tensors(outputs: Mapping[str, torch.Tensor],
                     upstream: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The upstream gradients as tensors, by output name, each on its output's device and in its dtype.

    Parameters
    ----------
    outputs
        Output name -> tensor, as the twin's function returns them.
    upstream
        Output name -> upstream gradient shaped like that output, for every
        output or some of them (the others are not differentiated: a
        spec's ``forward_only`` outputs); empty for a loss layer, whose single
        output must then be a scalar (its upstream gradient is 1).

    Raises
    ------
    ValueError
        If an upstream name is not an output, a shape differs from its
        output's, or a loss layer does not have exactly one scalar output.
    """
    if not upstream:
        if len(outputs) != 1:
            raise ValueError(f"no upstream gradients given, but the twin has outputs {sorted(outputs)}, not one loss")
        ((name, loss),) = outputs.items()
        if loss.dim() != 0:
            raise ValueError(f"no upstream gradients given, but the output has shape {tuple(loss.shape)}, not a scalar")
        return {name: torch.ones_like(loss)}
    if not set(upstream) <= set(outputs):
        raise ValueError(f"upstream gradients for {sorted(upstream)}; the twin's outputs are {sorted(outputs)}")
    grads = {}
    for name, output in outputs.items():
        if name not in upstream:
            continue
        if tuple(np.shape(upstream[name])) != tuple(output.shape):
            raise ValueError(
                f"upstream gradient {name!r} has shape {np.shape(upstream[name])}; "
                f"the output has shape {tuple(output.shape)}"
            )
        # Cast to the output's dtype: the twin computes in the inputs' dtype even when
        # the upstream was drawn to match an impl output of the wrong dtype.
        grads[name] = tensor(upstream[name], output.device).to(output.dtype)
    return grads


def to_numpy(value: torch.Tensor) -> np.ndarray:
    """A detached, host-side numpy copy of ``value`` in its own dtype."""
    return value.detach().cpu().numpy().copy()
