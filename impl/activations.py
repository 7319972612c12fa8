"""Elementwise activations shared by the recurrent layers.

The logistic sigmoid is ``sigma(x) = 1 / (1 + exp(-x))``. Written that way it
overflows ``exp`` for large negative ``x``; written as ``exp(x) / (1 + exp(x))``
it overflows for large positive ``x``. With ``e = exp(-|x|)``, which lies in
``(0, 1]`` for every real ``x``, both branches are safe:

- ``x >= 0``: ``sigma(x) = 1 / (1 + e)``
- ``x < 0``:  ``sigma(x) = e / (1 + e)``

Each branch is one ``exp``, one addition and one division, so the result is
within a couple of ulps of the exact value in relative terms, including in the
far tails where ``sigma`` is tiny (a ``0.5 * (1 + tanh(x / 2))`` formula loses
all relative precision there). float32 inputs are evaluated in float64 and
rounded once, which makes them correctly rounded in practice.
"""

from __future__ import annotations

import numpy as np

from impl._checks import SUPPORTED_FLOAT_DTYPES

__all__ = ["sigmoid"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic sigmoid, ``1 / (1 + exp(-x))``, elementwise.

    Parameters
    ----------
    x : array_like, any shape, float32, float64, integer or bool
        Input values. Python scalars and sequences are converted with
        ``numpy.asarray``.

    Returns
    -------
    numpy.ndarray, same shape as ``x``
        ``sigma(x)`` in ``[0, 1]``. float32 and float64 inputs keep their
        dtype; integer and bool inputs are computed and returned in float64
        (computing in an integer dtype would truncate every value). The limits
        are exact: ``sigma(+inf) = 1``, ``sigma(-inf) = 0``, and no overflow
        warning is raised for any finite or infinite input. NaN maps to NaN.
        The input is never modified.

    Raises
    ------
    TypeError
        If the dtype is neither float32/float64 nor integer/bool (float16,
        complex, object, strings...).
    """
    # No ``with ieee_quiet():`` (the layers' NaN/Inf guard) here: no step below can overflow,
    # divide by zero or be invalid, for any input (the tests check it under an errstate that
    # raises on those); exp's underflow to 0 is the right value, and numpy ignores it by default.
    arr = np.asarray(x)
    out_dtype = arr.dtype
    if out_dtype not in SUPPORTED_FLOAT_DTYPES:
        if out_dtype == np.bool_ or np.issubdtype(out_dtype, np.integer):
            out_dtype = np.dtype(np.float64)
        else:
            raise TypeError(
                f"argument 'x' has dtype {arr.dtype}; expected float32, float64, integer or bool"
            )
    # Always evaluate in float64: numpy's float32 exp is only good to ~2.5 ulp,
    # so a float32 evaluation would land up to ~3 ulp from the exact value;
    # rounding a float64 evaluation once gives the correctly rounded float32
    # in all but rare double-rounding ties. (The layers do not call this
    # function on their hot path; they apply the same formula in place.)
    work = arr.astype(np.float64)  # always a copy: the input is never touched
    # e = exp(-|x|) is in (0, 1]: exp never overflows, and it underflows to 0
    # only where the exact result rounds to 0 or 1 anyway.
    positive = work >= 0
    e = work
    np.abs(e, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    result = np.where(positive, 1.0, e)
    e += 1.0
    np.divide(result, e, out=result)
    return result.astype(out_dtype, copy=False)
