"""The one table of tolerances. Every comparison in the suite and the audit reads it.

A value ``actual`` agrees with a reference ``expected`` when, elementwise,
``|actual - expected| <= atol + rtol * |expected|`` (the rule of
``numpy.isclose``). Shapes and dtypes must match exactly besides.

Rows
----
``float64`` / ``float32``
    impl against the torch twin run in the same dtype on the same inputs.
    Both sides round differently (summation order, fused kernels), so the
    float32 row is a few float32 ulps of headroom over sums of O(10) terms;
    the float64 row is about 1e-10 relative.
``finite_difference``
    anything against central finite differences (always float64). Truncation
    (O(h^2)) and cancellation (O(eps / h)) errors of the step chosen in
    :mod:`oracle.finite_diff` bound agreement near 1e-7 relative. A float32
    gradient against finite differences uses the looser of this row and the
    float32 row.

The accuracy rule
-----------------
Inside a recurrence, a gradient can be a small difference of terms tens of
times larger (weights near 1 in magnitude amplify it at every step), and two
correct float32 computations of it, impl's and torch's, then differ by more
than the float32 row allows. Where that happens, both are also computed in
float64 (the twin on float64 inputs), and impl's float32 value is accepted
when its total absolute error against that is at most ``ACCURACY_FACTOR``
times the float32 twin's: "no less accurate than torch, up to the spread of
two independent float32 roundings". This is the rule of PyTorch's reference
tests (``test_ops.py``, factor 1), with headroom for that spread: the flakiness
check found impl 3.3 times farther than torch on one case and torch farther on
another. A wrong formula is orders of magnitude farther and still fails. The
rule applies to float32 only; float64 results must meet their row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Absolute and relative tolerance of one comparison."""

    rtol: float
    atol: float

    def loosest(self, other: Tolerance) -> Tolerance:
        """The elementwise looser of two tolerances."""
        return Tolerance(max(self.rtol, other.rtol), max(self.atol, other.atol))


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-10, atol=1e-12),
    "float32": Tolerance(rtol=1e-5, atol=1e-6),
    "finite_difference": Tolerance(rtol=1e-6, atol=1e-8),
}


#: How much farther from the float64 result than the float32 twin a float32 result may be (see above).
ACCURACY_FACTOR = 4.0


def tolerance_for(dtype: np.dtype | type | str) -> Tolerance:
    """Tolerance for comparing two results computed in ``dtype``."""
    return TOLERANCES[np.dtype(dtype).name]


def finite_difference_tolerance(dtype: np.dtype | type | str) -> Tolerance:
    """Tolerance for comparing a ``dtype`` gradient with float64 finite differences."""
    return TOLERANCES["finite_difference"].loosest(tolerance_for(dtype))
