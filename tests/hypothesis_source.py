"""An :class:`oracle.specs.sources.InputSource` that draws through Hypothesis.

Arrays come from ``hypothesis.extra.numpy.arrays``, so Hypothesis explores
and shrinks sizes, values, index repeats and mask patterns. Every element is
drawn on its own (``fill=st.nothing()``): by default Hypothesis draws a few
elements and fills the rest with one value, and arrays constant along time
hide bugs such as a mask shifted by one step (it then moves equal terms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oracle.specs.sources import MASK_PATTERNS, mask_from_pattern

Draw = Callable[[st.SearchStrategy[Any]], Any]


class HypothesisSource:
    """Draw a layer's inputs inside a ``@given(st.data())`` test (pass ``data.draw``)."""

    def __init__(self, draw: Draw) -> None:
        self._draw = draw
        self._dims: dict[str, int] = {}

    def dim(self, name: str, low: int = 1, high: int = 4) -> int:
        if name not in self._dims:
            self._dims[name] = self._draw(st.integers(low, high).map(int))
        return self._dims[name]

    def floats(self, shape: tuple[int, ...], dtype: np.dtype, low: float = -1.0, high: float = 1.0) -> np.ndarray:
        dtype = np.dtype(dtype)
        low, high = representable_bounds(low, high, dtype)
        elements = st.floats(low, high, width=dtype.itemsize * 8, allow_nan=False, allow_infinity=False,
                             allow_subnormal=False)
        return self._draw(hnp.arrays(dtype, shape, elements=elements, fill=st.nothing()))

    def indices(self, shape: tuple[int, ...], upper: int) -> np.ndarray:
        # A small pool makes repeated words certain; the full range reaches the last row.
        pool = self._draw(st.sampled_from(sorted({upper, min(upper, 2)})))
        return self._draw(hnp.arrays(np.int64, shape, elements=st.integers(0, pool - 1), fill=st.nothing()))

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        pattern = self._draw(st.sampled_from(MASK_PATTERNS))
        lengths = self._draw(hnp.arrays(np.int64, (shape[0],), elements=st.integers(0, shape[1]), fill=st.nothing()))
        bits = self._draw(hnp.arrays(np.bool_, shape, elements=st.booleans(), fill=st.nothing()))
        return mask_from_pattern(pattern, shape, lengths, bits)


def representable_bounds(low: float, high: float, dtype: np.dtype) -> tuple[float, float]:
    """``[low, high]`` shrunk to the nearest bounds exactly representable in ``dtype`` (Hypothesis requires it)."""
    lo, hi = dtype.type(low), dtype.type(high)
    if lo < low:
        lo = np.nextafter(lo, dtype.type(np.inf))
    if hi > high:
        hi = np.nextafter(hi, dtype.type(-np.inf))
    return float(lo), float(hi)


def draw_dtype(draw: Draw) -> np.dtype:
    """float32 or float64."""
    return np.dtype(draw(st.sampled_from(["float32", "float64"])))
