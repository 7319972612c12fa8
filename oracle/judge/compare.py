"""Comparing a result with a reference, with failures that explain themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.judge.localize import Localization, QuantityAxes, localize
from oracle.specs.spec import Evaluation
from oracle.specs.tolerances import ROUNDING_FACTOR, Tolerance

#: How the quantity of a comparison that stands for a call that gave no result begins: ``error in backward``.
NO_RESULT = "error in "


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
        Set when values outside the tolerance were accepted by the float32
        rounding rule (see :func:`compare_arrays`), with the worst error
        against what the rule allows.
    localization
        Where a comparison that failed on values is wrong (worst element,
        gate blocks, time steps: :mod:`oracle.judge.localize`); ``None`` otherwise.
    cause
        For a comparison that stands for a call that gave no result, the
        finding it stands for (``"crash"``, ``"timeout"``,
        ``"not_implemented"``, ``"wrong_value"``); ``""`` otherwise.
    measured
        False when no values were compared (a call that raised, a wrong
        dtype or shape, an argument written into): the errors are then
        infinite, and :meth:`describe` leaves them out (:meth:`unmeasured`).
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
    localization: Localization | None = None
    cause: str = ""
    measured: bool = True

    @classmethod
    def unmeasured(cls, layer: str, quantity: str, dtype: str, reference: str, shape: tuple[int, ...],
                   tolerance: Tolerance, problem: str, cause: str = "") -> Comparison:
        """A failed comparison in which no values were compared: ``problem`` says why."""
        return cls(layer, quantity, dtype, reference, shape, np.inf, np.inf, np.inf, tolerance, problem, cause=cause,
                   measured=False)

    @property
    def passed(self) -> bool:
        return not self.problem

    def describe(self) -> str:
        """One paragraph naming the layer, quantity, dtype, shape, worst errors and tolerance.

        One that compared no values (:attr:`measured`) says why, without figures; for a call that gave
        no result (``error in forward``), what it raised and where.
        """
        if not self.measured:
            if self.quantity.startswith(NO_RESULT):
                return f"{self.layer} {self.quantity.removeprefix(NO_RESULT)} ({self.dtype}): {self.problem}"
            return (f"{self.layer} {self.quantity} ({self.dtype}, shape {self.shape}) DISAGREES with "
                    f"{self.reference}: {self.problem}")
        verdict = "agrees with" if self.passed else "DISAGREES with"
        return (
            f"{self.layer} {self.quantity} ({self.dtype}, shape {self.shape}) {verdict} {self.reference}: "
            f"max abs err {self.max_abs:.3e}, max rel err {self.max_rel:.3e}, "
            f"worst err / allowed {self.ratio:.3g} (rtol={self.tolerance.rtol:g}, atol={self.tolerance.atol:g})"
            + (f"; {self.problem}" if self.problem else "")
            + (f"; {self.note}" if self.note else "")
            + (f"; {self.localization.describe()}" if self.localization is not None else "")
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
    spread: np.ndarray | None = None,
    axes: QuantityAxes | None = None,
) -> Comparison:
    """Compare ``actual`` with ``expected``: dtype, shape, then values under ``tolerance``.

    NaNs agree with NaNs in the same places, infinities with equal infinities.
    A comparison that fails on values is localized (:func:`oracle.judge.localize.localize`
    along ``axes``).

    The float32 rounding rule (with ``precise`` and ``spread``): two correct
    float32 computations of an ill-conditioned quantity (a gradient that is
    a small difference of large terms) can differ by more than any float32
    tolerance. ``precise`` is the reference computed in float64 and
    ``spread`` each element's rounding spread (:func:`oracle.references.rounding.rounding_spread`);
    an element outside ``tolerance`` is then accepted when
    ``|actual - precise| <= atol + rtol * |precise| + ROUNDING_FACTOR * spread``
    (see :mod:`oracle.specs.tolerances`). A wrong formula is many spreads away and
    still fails.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)

    def outcome(max_abs: float, max_rel: float, ratio: float, problem: str, note: str = "",
                where: Localization | None = None) -> Comparison:
        return Comparison(layer, quantity, actual.dtype.name, reference, actual.shape, max_abs, max_rel, ratio,
                          tolerance, problem, note, where)

    if check_dtype and actual.dtype != expected.dtype:
        return Comparison.unmeasured(layer, quantity, actual.dtype.name, reference, actual.shape, tolerance,
                                     f"dtype {actual.dtype} where the reference has {expected.dtype}")
    if actual.shape != expected.shape:
        return Comparison.unmeasured(layer, quantity, actual.dtype.name, reference, actual.shape, tolerance,
                                     f"shape {actual.shape} where the reference has {expected.shape}")
    if actual.dtype.kind in "fiub" and expected.dtype.kind in "fiub" and np.array_equal(actual, expected):
        # Equal values, none NaN (array_equal never matches a NaN): every difference is 0, as computed below.
        return outcome(0.0, 0.0, 0.0, "")
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    with np.errstate(invalid="ignore"):
        plain = np.abs(a - e)
    # abs_difference, where no difference is NaN (no NaN and no infinities of one sign on both sides): the same.
    diff = abs_difference(a, e) if np.isnan(plain).any() else plain
    allowed = tolerance.atol + tolerance.rtol * np.abs(e)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(diff == 0, 0.0, diff / allowed)  # equal values pass even under a zero tolerance
        ratio = float(ratios.max()) if ratios.size else 0.0
        nonzero = e != 0
        relative = diff[nonzero] / np.abs(e[nonzero])
        max_rel = float(relative.max()) if relative.size else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    if ratio <= 1.0:
        return outcome(max_abs, max_rel, ratio, "")
    outside = diff > allowed
    problem = f"{int(np.count_nonzero(outside))} of {a.size} elements outside tolerance"
    if precise is None or spread is None or np.shape(precise) != a.shape or np.shape(spread) != a.shape:
        return outcome(max_abs, max_rel, ratio, problem, where=localize(ratios, axes))
    p = np.asarray(precise, dtype=np.float64)
    rule_allows = tolerance.atol + tolerance.rtol * np.abs(p) + ROUNDING_FACTOR * np.asarray(spread, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rule_ratio = np.where(outside, abs_difference(a, p) / rule_allows, 0.0)
    worst = float(np.max(rule_ratio, initial=0.0))
    located = localize(rule_ratio, axes)
    errors = (f"worst error against the float64 result / what float32 rounding allows {worst:.3g} at index "
              f"{located.worst_index} (allowed: row + {ROUNDING_FACTOR:g} rounding spreads)")
    if worst <= 1.0:
        return outcome(max_abs, max_rel, ratio, "", f"accepted by the float32 rounding rule: {errors}")
    return outcome(max_abs, max_rel, ratio, f"{problem}, and farther from the float64 result than float32 rounding "
                                            f"explains: {errors}", where=located)


def abs_difference(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``|values - reference|``, 0 where they are equal or both NaN, inf where only one is NaN."""
    same = (values == reference) | (np.isnan(values) & np.isnan(reference))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(values - reference))
    return np.where(np.isnan(diff), np.inf, diff)


def compare_evaluations(
    actual: Evaluation,
    expected: Evaluation,
    tolerance: Tolerance,
    *,
    layer: str,
    reference: str,
    check_dtype: bool = True,
    precise: Evaluation | None = None,
    spread: Evaluation | None = None,
    axes: dict[str, QuantityAxes] | None = None,
) -> list[Comparison]:
    """Compare every output and gradient that ``expected`` has; a missing one fails.

    A float result of another dtype than the reference's gets a failed
    ``"<quantity> dtype"`` comparison, and its values are then compared after
    casting them to the reference's dtype.

    ``precise``, ``spread``: the reference computed in float64 and its rounding spread, for the float32
    rounding rule of :func:`compare_arrays`. ``axes``: what the axes of each quantity mean, by quantity
    (:func:`oracle.judge.localize.quantity_axes`), for localizing failures.
    """
    comparisons = []
    for kind, actual_part, expected_part in (
        ("output", actual.outputs, expected.outputs),
        ("grad", actual.grads, expected.grads),
    ):
        for name, reference_value in expected_part.items():
            quantity = f"{kind} {name}"
            if name not in actual_part:
                comparisons.append(Comparison.unmeasured(layer, quantity, np.asarray(reference_value).dtype.name,
                                                         reference, (), tolerance, "missing from the result"))
                continue
            value, expected_value = np.asarray(actual_part[name]), np.asarray(reference_value)
            if check_dtype and value.dtype != expected_value.dtype:
                # Its own finding, and the values are still judged (after casting), so that a layer that
                # returns float64 for float32 inputs still gets a verdict on its math.
                comparisons.append(Comparison.unmeasured(
                    layer, f"{quantity} dtype", value.dtype.name, reference, value.shape, tolerance,
                    f"dtype {value.dtype} where the reference has {expected_value.dtype}"))
                value = value.astype(expected_value.dtype) if value.dtype.kind == "f" else value
            comparisons.append(compare_arrays(value, expected_value, tolerance, layer=layer,
                                              quantity=quantity, reference=reference, check_dtype=check_dtype,
                                              precise=_part(precise, kind).get(name),
                                              spread=_part(spread, kind).get(name),
                                              axes=(axes or {}).get(quantity)))
    return comparisons


def _part(evaluation: Evaluation | None, kind: str) -> dict[str, np.ndarray]:
    """The outputs (``kind == "output"``) or gradients of ``evaluation``; nothing for ``None``."""
    if evaluation is None:
        return {}
    return dict(evaluation.outputs if kind == "output" else evaluation.grads)
