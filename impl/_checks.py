"""Input contract shared by every public function of :mod:`impl`.

Every check raises before any arithmetic, with a message that names the
argument, what was expected and what was received:

- ``TypeError`` for a wrong dtype (float16, integers where floats are needed,
  float32 mixed with float64 in one call, non-integer word indices, non-boolean
  masks);
- ``ValueError`` for a wrong number of dimensions, a shape that disagrees with
  another argument, or an index outside its range.

:func:`ieee_quiet` is the other half of the contract: the NaN/Inf policy
every public layer function applies in its body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: The floating dtypes every layer accepts; results keep the input dtype.
SUPPORTED_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def common_float_dtype(**arrays: np.ndarray) -> np.dtype:
    """Return the single float dtype shared by all ``arrays``.

    Parameters
    ----------
    **arrays
        Argument name -> array. Every value must be a ``numpy.ndarray`` of
        dtype float32 or float64, and all must have the same dtype.

    Returns
    -------
    numpy.dtype
        The common dtype (float32 or float64).

    Raises
    ------
    TypeError
        If a value is not an ndarray, has an unsupported dtype, or the dtypes
        differ (a mix has no right answer, since dtype in is dtype out).
    """
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):
            raise TypeError(f"argument '{name}' must be a numpy.ndarray, got {type(array).__name__}")
        if array.dtype not in SUPPORTED_FLOAT_DTYPES:
            raise TypeError(
                f"argument '{name}' has dtype {array.dtype}; expected float32 or float64"
            )
    dtypes = {name: array.dtype for name, array in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name}={dtype}" for name, dtype in dtypes.items())
        raise TypeError(f"arguments mix float dtypes ({listed}); pass all float32 or all float64")
    return next(iter(dtypes.values()))


def check_ndim(name: str, array: np.ndarray, ndim: int, layout: str) -> None:
    """Raise ``ValueError`` unless ``array.ndim == ndim``; ``layout`` names the axes, e.g. ``"(N, T, D)"``."""
    if array.ndim != ndim:
        raise ValueError(
            f"argument '{name}' must have {ndim} dimensions {layout}, got shape {array.shape}"
        )


def check_shape(name: str, array: np.ndarray, expected: Sequence[int], layout: str) -> None:
    """Raise ``ValueError`` unless ``array.shape == tuple(expected)``.

    ``layout`` spells the expected shape symbolically, e.g. ``"(N, H)"``, so the
    message reads ``argument 'h0' has shape (2, 3); expected (N, H) = (2, 4)``.
    """
    expected = tuple(int(size) for size in expected)
    if array.shape != expected:
        raise ValueError(
            f"argument '{name}' has shape {array.shape}; expected {layout} = {expected}"
        )


def check_upstream(name: str, grad: np.ndarray, dtype: np.dtype, expected: Sequence[int], layout: str) -> None:
    """Validate an upstream gradient against the dtype and shape its forward pass produced.

    Parameters
    ----------
    name
        Argument name used in error messages (``"dout"``, ``"dh"``, ...).
    grad
        The upstream gradient passed to a backward function.
    dtype
        The float dtype the forward pass ran in.
    expected, layout
        The shape the forward output had, and its symbolic spelling (as for
        :func:`check_shape`).

    Raises
    ------
    TypeError
        If ``grad`` is not a float32/float64 ndarray, or is one in the other
        float dtype: a mix of precisions is rejected rather than silently
        promoting or truncating the results.
    ValueError
        If ``grad`` does not have the shape ``expected``.
    """
    got = common_float_dtype(**{name: grad})
    if got != dtype:
        raise TypeError(
            f"argument '{name}' has dtype {got}, but the forward pass ran in {dtype}; pass {name} as {dtype}"
        )
    check_shape(name, grad, expected, layout)


def check_indices(name: str, indices: np.ndarray, upper: int) -> np.ndarray:
    """Validate integer indices in ``[0, upper)`` and return them as ``intp``.

    Parameters
    ----------
    name
        Argument name used in error messages.
    indices
        Array of any shape with an integer dtype (booleans are rejected: they
        are masks, not indices).
    upper
        Exclusive upper bound (the vocabulary size V).

    Returns
    -------
    numpy.ndarray
        ``indices`` as ``numpy.intp`` (a view when already ``intp``; never
        modified in place).
    """
    if not isinstance(indices, np.ndarray):
        raise TypeError(f"argument '{name}' must be a numpy.ndarray, got {type(indices).__name__}")
    if indices.dtype == np.bool_ or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"argument '{name}' must hold integer indices, got dtype {indices.dtype}")
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= upper:
            bad = low if low < 0 else high
            raise ValueError(
                f"argument '{name}' holds index {bad}; every index must satisfy 0 <= index < {upper}"
            )
    return indices.astype(np.intp, copy=False)


def check_mask(name: str, mask: np.ndarray) -> np.ndarray:
    """Validate a mask and return it as ``bool``.

    Boolean masks are taken as they are; integer masks are accepted only when
    every entry is 0 or 1. Anything else raises.
    """
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"argument '{name}' must be a numpy.ndarray, got {type(mask).__name__}")
    if mask.dtype == np.bool_:
        return mask
    if np.issubdtype(mask.dtype, np.integer):
        if mask.size and not np.isin(mask, (0, 1)).all():
            raise ValueError(f"argument '{name}' is an integer mask with entries other than 0 and 1")
        return mask.astype(np.bool_)
    raise TypeError(f"argument '{name}' must be a boolean (or 0/1 integer) mask, got dtype {mask.dtype}")


def check_same_keys(name: str, given: Mapping[str, object], expected: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``given`` has exactly the keys ``expected``."""
    missing = sorted(set(expected) - set(given))
    extra = sorted(set(given) - set(expected))
    if missing or extra:
        raise ValueError(
            f"argument '{name}' keys differ from {sorted(expected)}: missing {missing}, unexpected {extra}"
        )


def ieee_quiet() -> np.errstate:
    """The package's NaN/Inf policy as a context manager: numpy's floating-point warnings off.

    Every public layer function runs its whole body under ``with ieee_quiet():``
    (argument checks included, so they see the same state). Non-finite inputs
    are not checked for; they propagate as IEEE 754 says, without
    RuntimeWarnings (``inf * 0`` in a product is NaN; ``exp`` overflowing to
    ``inf`` gives a sigmoid of exactly 0, as intended). Argument errors still
    raise: they are exceptions, not floating-point flags. Each call returns a
    fresh ``errstate``, which keeps this thread-safe.

    A context manager in the body rather than a decorator, because mutmut
    never mutates a decorated function; the policy is stated where each
    function is defined, so ``impl.lstm.lstm_forward`` and
    ``impl.lstm_forward`` are the same function.
    """
    return np.errstate(all="ignore")
