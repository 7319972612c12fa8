"""Comparing a result with a reference, with failures that explain themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.spec import Evaluation
from oracle.tolerances import Tolerance


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
) -> Comparison:
    """Compare ``actual`` with ``expected``: dtype, shape, then values under ``tolerance``.

    NaNs agree with NaNs in the same places, infinities with equal infinities.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)

    def outcome(max_abs: float, max_rel: float, ratio: float, problem: str) -> Comparison:
        return Comparison(layer, quantity, actual.dtype.name, reference, actual.shape, max_abs, max_rel, ratio,
                          tolerance, problem)

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
    problem = "" if ratio <= 1.0 else f"{int(np.count_nonzero(diff > allowed))} of {a.size} elements outside tolerance"
    return outcome(max_abs, max_rel, ratio, problem)


def compare_evaluations(
    actual: Evaluation,
    expected: Evaluation,
    tolerance: Tolerance,
    *,
    layer: str,
    reference: str,
    check_dtype: bool = True,
) -> list[Comparison]:
    """Compare every output and gradient that ``expected`` has; a missing one fails."""
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
            comparisons.append(compare_arrays(actual_part[name], reference_value, tolerance, layer=layer,
                                              quantity=quantity, reference=reference, check_dtype=check_dtype))
    return comparisons
