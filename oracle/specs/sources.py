"""Where a layer spec's inputs come from.

A spec describes its inputs once, against the small :class:`InputSource`
interface; the Hypothesis tests draw them through a Hypothesis-backed source
(``tests/hypothesis_source.py``) and the audit through :class:`RandomSource`,
a seeded ``numpy.random.Generator``. Both honour the same contract:

- ``dim(name)`` returns the same size every time it is asked for ``name`` in
  one example, so a spec can ask for ``N`` in several places;
- sizes of 1 are legal and generated;
- floats are finite and lie in ``[low, high]``;
- indices lie in ``[0, upper)`` and repeat often;
- masks come in four patterns: random, padded suffix (with all-false rows),
  all-true, and all-false.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

MASK_PATTERNS = ("random", "padded_suffix", "all_true", "all_false")


class InputSource(Protocol):
    """What a spec's ``make_inputs`` may ask for."""

    def dim(self, name: str, low: int = 1, high: int = 4) -> int:
        """A size in ``[low, high]``, memoised by ``name`` for this example."""
        ...

    def floats(self, shape: tuple[int, ...], dtype: np.dtype, low: float = -1.0, high: float = 1.0) -> np.ndarray:
        """A finite array of ``dtype`` with entries in ``[low, high]``."""
        ...

    def indices(self, shape: tuple[int, ...], upper: int) -> np.ndarray:
        """An ``int64`` array of indices in ``[0, upper)``, repeats likely."""
        ...

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """A boolean ``(N, T)`` mask in one of :data:`MASK_PATTERNS`."""
        ...


def weight_matrix(source: InputSource, shape: tuple[int, ...], dtype: np.dtype, fan_in_axis: int = 0) -> np.ndarray:
    """A weight matrix ``(fan_in, ...)`` drawn uniformly from ``[-b, b]``, ``b = min(1, 2 / sqrt(fan_in))``.

    ``fan_in_axis``: the axis of the fan-in (1 for the ``(fan_out, fan_in)`` matrices of a column-major
    layout).

    Like a standard initialisation, it keeps the products ``x @ W`` of order
    one at any size, so large problems stay well conditioned: with entries
    in ``[-1, 1]`` a 256-wide recurrence over 50 steps explodes, and even
    float64 results keep only a few digits. Up to ``fan_in = 4`` (the
    default sizes) the range is ``[-1, 1]``.
    """
    bound = min(1.0, 2.0 / np.sqrt(max(shape[fan_in_axis], 1))) if shape else 1.0
    return source.floats(shape, dtype, -bound, bound)


def mask_from_pattern(pattern: str, shape: tuple[int, int], lengths: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Build an ``(N, T)`` boolean mask.

    Parameters
    ----------
    pattern
        One of :data:`MASK_PATTERNS`.
    shape
        ``(N, T)``.
    lengths
        ``(N,)`` integers in ``[0, T]``: unpadded length of each row, used by
        ``"padded_suffix"`` (a length of 0 makes an all-false row).
    bits
        ``(N, T)`` booleans used by ``"random"``.
    """
    n, t = shape
    if pattern == "random":
        return np.asarray(bits, dtype=bool).reshape(shape)
    if pattern == "padded_suffix":
        return np.arange(t)[None, :] < np.asarray(lengths).reshape(n, 1)
    if pattern == "all_true":
        return np.ones(shape, dtype=bool)
    if pattern == "all_false":
        return np.zeros(shape, dtype=bool)
    raise ValueError(f"unknown mask pattern {pattern!r}; expected one of {MASK_PATTERNS}")


class DimensionError(ValueError):
    """A fixed size (``--dims``) outside what a layer accepts for that dimension."""


class RandomSource:
    """An :class:`InputSource` drawing from a seeded ``numpy.random.Generator``.

    Parameters
    ----------
    rng
        The generator; the source never touches global random state.
    dims
        Sizes to use instead of drawing them, by dimension name (``--dims``;
        a size below the layer's ``low`` raises :class:`DimensionError`).
    scale
        Factor applied to the bounds of every float range (``--profile
        stress``: saturated gates, large inputs).
    values
        Float draws to replace by simpler values, by draw index: ``"zeros"``,
        ``"ones"`` (clipped to the range) or ``"integers"`` (the drawn values
        doubled and rounded, clipped to the range). The draw still consumes
        the generator, so later draws do not change.
    """

    def __init__(self, rng: np.random.Generator, dims: Mapping[str, int] | None = None, scale: float = 1.0,
                 values: Mapping[int, str] | None = None) -> None:
        self._rng = rng
        self._fixed = dict(dims or {})
        self._scale = scale
        self._dims: dict[str, int] = {}
        self._values = dict(values or {})
        self.float_arrays: list[np.ndarray] = []  # what each float draw returned, in order

    @property
    def drawn(self) -> tuple[str, ...]:
        """The dimension names asked for so far, in order."""
        return tuple(self._dims)

    @property
    def sizes(self) -> dict[str, int]:
        """The sizes given so far, by dimension name."""
        return dict(self._dims)

    def dim(self, name: str, low: int = 1, high: int = 4) -> int:
        if name not in self._dims:
            if name in self._fixed and self._fixed[name] < low:
                raise DimensionError(f"{name} = {self._fixed[name]} is below the smallest size {low} it may have")
            self._dims[name] = self._fixed[name] if name in self._fixed else int(self._rng.integers(low, high + 1))
        return self._dims[name]

    def floats(self, shape: tuple[int, ...], dtype: np.dtype, low: float = -1.0, high: float = 1.0) -> np.ndarray:
        drawn = self._rng.uniform(low * self._scale, high * self._scale, size=shape).astype(dtype)
        simpler = self._values.get(len(self.float_arrays))
        if simpler == "zeros":
            drawn = np.zeros(shape, dtype)
        elif simpler == "ones":
            drawn = np.clip(np.ones(shape, dtype), low * self._scale, high * self._scale).astype(dtype)
        elif simpler == "integers":  # small integers in the range, from the drawn values
            drawn = np.clip(np.round(drawn * 2), low * self._scale, high * self._scale).astype(dtype)
        self.float_arrays.append(drawn)
        return drawn

    def indices(self, shape: tuple[int, ...], upper: int) -> np.ndarray:
        # Half the time draw from a pool of at most three words so repeats are certain.
        pool = upper if self._rng.random() < 0.5 else min(upper, 3)
        return self._rng.integers(0, pool, size=shape, dtype=np.int64)

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        pattern = MASK_PATTERNS[int(self._rng.integers(len(MASK_PATTERNS)))]
        lengths = self._rng.integers(0, shape[1] + 1, size=shape[0])
        bits = self._rng.random(shape) < 0.5
        return mask_from_pattern(pattern, shape, lengths, bits)
