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
    :mod:`oracle.references.finite_diff` bound agreement near 1e-7 relative. A float32
    gradient against finite differences uses the looser of this row and the
    float32 row.
``float64_one_step``
    two float64 computations of one cell step that group the same few
    terms differently (sums of a handful of products, nothing accumulated
    over time): a sequence of length one against one step, a textbook cell
    written in numpy against torch's cell. They differ by a few ulps; the
    measured worst is under 0.002 of this row.
``bench_float32`` / ``bench_float64``
    the benchmark's check, before timing, that impl and the torch baseline
    compute the same thing (:func:`oracle.bench.sides.agreement`). Applied
    normwise, ``max |impl - torch| <= rtol * max |torch|`` per array, on
    the benchmark's large shapes (sums over hundreds of terms, 50-step
    recurrences): a sanity check of the timed computation, not a verdict on
    impl's accuracy, which the rows above judge.

The float32 rounding rule
-------------------------
Inside a recurrence, a gradient can be a small difference of terms tens of
times larger (weights near 1 in magnitude amplify it at every step). Two
correct float32 computations of it, impl's and torch's, then differ by more
than the float32 row allows. How much they differ depends on each one's
evaluation order, which depends on the CPU's kernels. So a float32 value
outside its row is judged against the problem, not against another float32
computation. The twin is run in float64 (the *precise* result) and again
``ROUNDING_RUNS`` times under Monte Carlo arithmetic (:mod:`oracle.references.rounding`:
every operand and result of every operation perturbed by a random relative
amount of at most float32's unit roundoff ``u``). The RMS deviation of those
runs is each element's *rounding spread* ``s`` (a run's squared deviation
counts as 0 where it is not finite). An element is accepted when::

    |actual - precise| <= atol + rtol * |precise| + ROUNDING_FACTOR * s

(the float32 row's ``atol`` and ``rtol``), or when it is inside the row
against the float32 twin. The runs are made only as far as the verdict needs
them: the spread of the first runs, over ``ROUNDING_RUNS``, is a lower bound
of ``s``, so a value it accepts, ``s`` accepts too (:mod:`oracle.references.rounding`).

Why this is sound: IEEE-754 arithmetic computes each operation exactly on
operands and a result perturbed by at most ``u`` (relative). Any correct
float32 evaluation, in any order, is one such choice of perturbations, and to
first order its error is a weighted sum of them. The weights are the
problem's sensitivities, which Monte Carlo arithmetic samples. A correct
evaluation that orders a sum differently has different perturbations, but
they have the same size, so its error is a few spreads (measured on the
ill-conditioned cases found, on an AMD EPYC: impl's and torch's float32
errors are at most 2.5 spreads, at most 0.23 of what the rule allows). The
factor covers that, the statistical error of an RMS over ``ROUNDING_RUNS``
samples (for 16 runs it is below half the true spread with probability about
1e-3, below 0.4 of it with probability 6e-5), and sums longer than the cases
measured. A wrong formula is off by a fixed fraction of the value. That is
many spreads whenever the problem leaves float32 any accuracy at all, so it
still fails: on the cases found, a 0.5% error in grad h0 exceeds what the
rule allows by a factor of 2.6 or more, a sign error by 1,000 or more and a
backward pass that drops the last step by 7e4 or more
(``tests/test_float32_rounding_rule.py``). The rule
applies to float32 only; float64 results must meet their row.
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
    "float64_one_step": Tolerance(rtol=1e-12, atol=1e-14),
    "bench_float32": Tolerance(rtol=1e-3, atol=0.0),
    "bench_float64": Tolerance(rtol=1e-8, atol=0.0),
}


#: float32's unit roundoff, 2**-24: the relative size of one rounding error (see :mod:`oracle.references.rounding`).
UNIT_ROUNDOFF = float(np.finfo(np.float32).eps) / 2

#: Perturbed float64 runs behind one rounding spread (see above).
ROUNDING_RUNS = 16

#: How many rounding spreads a float32 value may be from the float64 result (see above).
ROUNDING_FACTOR = 10.0

#: A directional check (:mod:`oracle.judge.directional`) allows this many times the root sum of squares of the
#: element-wise tolerances: by Hoeffding's inequality, errors within them exceed it with probability at most
#: ``2 exp(-8**2 / 2) = 2.5e-14``.
DIRECTIONAL_SIGMAS = 8.0


def tolerance_for(dtype: np.dtype | type | str) -> Tolerance:
    """Tolerance for comparing two results computed in ``dtype``."""
    return TOLERANCES[np.dtype(dtype).name]


def finite_difference_tolerance(dtype: np.dtype | type | str) -> Tolerance:
    """Tolerance for comparing a ``dtype`` gradient with float64 finite differences."""
    return TOLERANCES["finite_difference"].loosest(tolerance_for(dtype))
