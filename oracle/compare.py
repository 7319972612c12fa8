"""Comparing a result with a reference, with failures that explain themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.spec import Evaluation
from oracle.tolerances import ACCURACY_FACTOR, Tolerance


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing one output or gradient with a reference.

    Attributes
    ----------
    layer, quantity, dtype, reference
        What was compared: e.g. ``"lstm"``, ``"grad Wx"``, ``"float32"``,
        ``"torch"`` or ``"finite_difference"``.
    shape
        Shape of the actual value.
    max_abs, max_rel
        Greatest absolute difference, and greatest relative difference over
        elements whose reference is nonzero (0.0 when there are none).
    ratio
        Greatest ``|actual - expected| / (atol + rtol * |expected|)``: the
        comparison passes on values when this is at most 1.
    tolerance
        The tolerance applied.
    problem
        Empty when the comparison passed, else why it failed.
    note
        Set when values outside the tolerance were accepted by the accuracy
        rule (see :func:`compare_arrays`), with the two error sums.
    """

    layer: str
    quantity: str
    dtype: str
    reference: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    ratio: float
    tolerance: Tolerance
    problem: str
    note: str = ""

    @property
    def passed(self) -> bool:
        return not self.problem

    def describe(self) -> str:
        """One paragraph naming the layer, quantity, dtype, shape, worst errors and tolerance."""
        verdict = "agrees with" if self.passed else "DISAGREES with"
        return (
            f"{self.layer} {self.quantity} ({self.dtype}, shape {self.shape}) {verdict} {self.reference}: "
            f"max abs err {self.max_abs:.3e}, max rel err {self.max_rel:.3e}, "
            f"worst err / allowed {self.ratio:.3g} (rtol={self.tolerance.rtol:g}, atol={self.tolerance.atol:g})"
            + (f"; {self.problem}" if self.problem else "")
            + (f"; {self.note}" if self.note else "")
        )


def compare_arrays(
    actual: np.ndarray,
    expected: np.ndarray,
    tolerance: Tolerance,
    *,
    layer: str,
    quantity: str,
    reference: str,
    check_dtype: bool = True,
    precise: np.ndarray | None = None,
) -> Comparison:
    """Compare ``actual`` with ``expected``: dtype, shape, then values under ``tolerance``.

    NaNs agree with NaNs in the same places, infinities with equal infinities.

    The accuracy rule (with ``precise``): two float32 computations of an
    ill-conditioned quantity (a gradient that is a small difference of large
    terms) can both be right and still differ by more than any float32
    tolerance. ``precise`` is the same reference computed in float64; values
    outside the tolerance are then accepted when ``actual``'s total absolute
    error against ``precise`` is at most :data:`oracle.tolerances.ACCURACY_FACTOR`
    times ``expected``'s (see :mod:`oracle.tolerances`). A wrong formula is far
    from both and still fails.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)

    def outcome(max_abs: float, max_rel: float, ratio: float, problem: str, note: str = "") -> Comparison:
        return Comparison(layer, quantity, actual.dtype.name, reference, actual.shape, max_abs, max_rel, ratio,
                          tolerance, problem, note)

    if check_dtype and actual.dtype != expected.dtype:
        return outcome(np.inf, np.inf, np.inf, f"dtype {actual.dtype} where the reference has {expected.dtype}")
    if actual.shape != expected.shape:
        return outcome(np.inf, np.inf, np.inf, f"shape {actual.shape} where the reference has {expected.shape}")
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(same, 0.0, np.abs(a - e))
        diff = np.where(np.isnan(diff), np.inf, diff)
        allowed = tolerance.atol + tolerance.rtol * np.abs(e)
        ratio = float(np.max(diff / allowed, initial=0.0))
        nonzero = e != 0
        max_rel = float(np.max(diff[nonzero] / np.abs(e[nonzero]), initial=0.0))
    max_abs = float(np.max(diff, initial=0.0))
    if ratio <= 1.0:
        return outcome(max_abs, max_rel, ratio, "")
    problem = f"{int(np.count_nonzero(diff > allowed))} of {a.size} elements outside tolerance"
    if precise is None or np.shape(precise) != a.shape:
        return outcome(max_abs, max_rel, ratio, problem)
    actual_error, expected_error = total_error(a, precise), total_error(e, precise)
    errors = (f"total abs error vs float64 {actual_error:.3e}, {reference}'s {expected_error:.3e}, "
              f"allowed factor {ACCURACY_FACTOR:g}")
    if actual_error <= ACCURACY_FACTOR * expected_error:
        return outcome(max_abs, max_rel, ratio, "", f"accepted: as close to the float64 result ({errors})")
    return outcome(max_abs, max_rel, ratio, f"{problem}, and farther from the float64 result ({errors})")


def total_error(values: np.ndarray, precise: np.ndarray) -> float:
    """Sum of ``|values - precise|``, where equal values and NaNs in the same places count 0 (other NaNs inf)."""
    v = np.asarray(values, dtype=np.float64)
    p = np.asarray(precise, dtype=np.float64)
    same = (v == p) | (np.isnan(v) & np.isnan(p))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(v - p))
    return float(np.sum(np.where(np.isnan(diff), np.inf, diff)))


def compare_evaluations(
    actual: Evaluation,
    expected: Evaluation,
    tolerance: Tolerance,
    *,
    layer: str,
    reference: str,
    check_dtype: bool = True,
    precise: Evaluation | None = None,
) -> list[Comparison]:
    """Compare every output and gradient that ``expected`` has; a missing one fails.

    ``precise``: the reference computed in float64, for the accuracy rule of :func:`compare_arrays`.
    """
    comparisons = []
    for kind, actual_part, expected_part in (
        ("output", actual.outputs, expected.outputs),
        ("grad", actual.grads, expected.grads),
    ):
        for name, reference_value in expected_part.items():
            quantity = f"{kind} {name}"
            if name not in actual_part:
                comparisons.append(Comparison(layer, quantity, np.asarray(reference_value).dtype.name, reference,
                                              (), np.inf, np.inf, np.inf, tolerance, "missing from the result"))
                continue
            precise_part = {} if precise is None else (precise.outputs if kind == "output" else precise.grads)
            comparisons.append(compare_arrays(actual_part[name], reference_value, tolerance, layer=layer,
                                              quantity=quantity, reference=reference, check_dtype=check_dtype,
                                              precise=precise_part.get(name)))
    return comparisons
