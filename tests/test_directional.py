"""Directional finite differences: no false alarms on correct gradients, and wrong ones caught and located."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from oracle.judge.audit import AuditConfig, case_rng, run_audit
from oracle.judge.checks import against_finite_differences, failures_report, run_case
from oracle.judge.directional import (
    ELEMENTWISE_LIMIT,
    DirectionalDerivatives,
    allowed_element_error,
    compare_directional,
    directional_derivatives,
    finite_differences,
)
from oracle.layers import all_specs, get_spec
from oracle.specs.sources import RandomSource
from oracle.specs.tolerances import finite_difference_tolerance
from tests import recurrent_bugs
from tests.planted_bugs import grad_transformed

SPECS = [spec for spec in all_specs() if spec.grads]


def directional_case(spec, dtype, seed, dims=None):
    """A case of ``spec`` and its finite differences with every input checked directionally (limit 0)."""
    case = run_case(spec, RandomSource(np.random.default_rng(seed), dims), np.dtype(dtype))
    return case, finite_differences(spec, case.inputs, case.upstream, np.random.default_rng([seed, 1]), limit=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_correct_gradients_pass_every_directional_check(spec, dtype):
    for seed in range(3):
        case, numeric = directional_case(spec, dtype, seed)
        assert all(isinstance(value, DirectionalDerivatives) for value in numeric.values())
        twin = dataclasses.replace(case, result=spec.twin(case.inputs, case.upstream, "cpu"))
        for checked in (case, twin):
            comparisons = against_finite_differences(checked, numeric)
            assert not failures_report(checked, comparisons), failures_report(checked, comparisons)
            assert all("directional check" in comparison.note for comparison in comparisons)


def test_a_gradient_off_by_a_tenth_of_a_percent_fails_and_is_located_element_by_element():
    spec = grad_transformed("Wh", lambda g: g * g.dtype.type(1.001))(get_spec("lstm"))
    case, numeric = directional_case(spec, "float64", 0, {"N": 3, "T": 5, "D": 4, "H": 4})
    failed = [comparison for comparison in against_finite_differences(case, numeric) if not comparison.passed]
    assert [comparison.quantity for comparison in failed] == ["grad Wh"]
    assert "element-wise differences on the 8 elements of largest gradient" in failed[0].problem
    assert len(failed[0].localization.worst_index) == 2


def test_element_errors_within_their_tolerance_never_fail():
    spec = get_spec("gru")
    case = run_case(spec, RandomSource(np.random.default_rng(4), {"N": 6, "T": 9}), np.dtype(np.float64))
    tolerance = finite_difference_tolerance(np.float64)
    rng = np.random.default_rng(5)
    for name, grad in case.result.grads.items():
        derivatives = directional_derivatives(spec, case.inputs, case.upstream, name, rng, count=8)
        worst_allowed = (tolerance.atol + tolerance.rtol * np.abs(grad)) * rng.choice([-1.0, 1.0], grad.shape)
        comparison = compare_directional(grad + worst_allowed, derivatives, tolerance, layer=spec.name,
                                         quantity=f"grad {name}", reference="finite_difference")
        assert comparison.passed, comparison.describe()


def test_large_inputs_are_checked_directionally_and_a_size_only_bug_is_caught():
    dims = {"N": 3, "T": 30, "D": 4, "H": 4}
    assert 3 * 30 * 4 > ELEMENTWISE_LIMIT
    config = AuditConfig(("lstm",), ("float64", "float32"), 1, 0, dims=dims)
    correct = run_audit([get_spec("lstm")], config)
    assert correct.passed, [check.failures[0].message for check in correct.checks if not check.passed]
    broken = run_audit([recurrent_bugs.truncated_bptt(get_spec("lstm"))], config)
    failed = {(check.dtype, check.quantity, check.reference) for check in broken.checks if not check.passed}
    for dtype in ("float64", "float32"):
        assert (dtype, "grad x", "finite_difference") in failed
        assert (dtype, "grad x", "torch[cpu]") in failed
    [message] = [check.failures[0].message for check in broken.checks if check.subject == "impl"
                 and (check.dtype, check.quantity, check.reference) == ("float64", "grad x", "finite_difference")]
    assert "directional check along 3 random +-1 directions (input of 360 elements)" in message


def test_directions_are_drawn_from_their_own_stream_of_the_case():
    spec = get_spec("rnn")
    first = case_rng(0, spec.name, "float64", 3, stream=1).random(4)
    assert np.array_equal(first, case_rng(0, spec.name, "float64", 3, stream=1).random(4))
    assert not np.array_equal(first, case_rng(0, spec.name, "float64", 3).random(4))


def test_a_nan_gradient_or_difference_fails_instead_of_passing():
    spec = get_spec("rnn")
    case = run_case(spec, RandomSource(np.random.default_rng(1), {"N": 2, "T": 3}), np.dtype(np.float64))
    derivatives = directional_derivatives(spec, case.inputs, case.upstream, "Wx", np.random.default_rng(2))
    tolerance = finite_difference_tolerance(np.float64)
    options = dict(layer=spec.name, quantity="grad Wx", reference="finite_difference")
    grad = case.result.grads["Wx"]
    assert compare_directional(grad, derivatives, tolerance, **options).passed
    with_nan = grad.copy()
    with_nan[0, 0] = np.nan
    assert not compare_directional(with_nan, derivatives, tolerance, **options).passed
    nan_difference = dataclasses.replace(derivatives, values=(np.nan, *derivatives.values[1:]))
    assert not compare_directional(grad, nan_difference, tolerance, **options).passed


def test_an_exactly_zero_objective_compares_without_dividing_by_zero():
    spec = get_spec("affine")
    zero = DirectionalDerivatives((np.ones((2, 3)),), (0.0,), (0.0,))
    tolerance = dataclasses.replace(finite_difference_tolerance(np.float64), atol=0.0)
    options = dict(layer=spec.name, quantity="grad w", reference="finite_difference")
    assert compare_directional(np.zeros((2, 3)), zero, tolerance, **options).passed
    assert not compare_directional(np.full((2, 3), 1e-3), zero, dataclasses.replace(tolerance, rtol=0.0),
                                   **options).passed


# --------------------------------------------------------------------------- the truncation estimate, put off


def counted(spec):
    """``spec`` whose forward pass counts its calls in ``calls[0]``."""
    calls = [0]

    def forward(*args, **kwargs):
        calls[0] += 1
        return spec.forward(*args, **kwargs)

    return dataclasses.replace(spec, forward=forward), calls


@pytest.mark.parametrize("name", ["x", "Wh"])
def test_a_put_off_truncation_estimate_changes_no_number_and_no_verdict(name):
    """Same directions and ``d(h)``; ``complete()`` gives the eager ``e_fd`` bit for bit; every error size, from
    none to far beyond the allowance through the band that only the truncation term admits, gets the same
    verdict; and a check that the smaller allowance settles costs half the forward passes."""
    spec, calls = counted(get_spec("lstm"))
    case = run_case(spec, RandomSource(np.random.default_rng(3), {"N": 3, "T": 6, "D": 5, "H": 4}),
                    np.dtype(np.float64))
    eager = directional_derivatives(spec, case.inputs, case.upstream, name, np.random.default_rng(8), scale=1.0)
    calls[0] = 0
    later = directional_derivatives(spec, case.inputs, case.upstream, name, np.random.default_rng(8), scale=1.0,
                                    estimate_truncation=False)
    assert calls[0] == 2 * len(eager.directions)
    assert all(np.array_equal(a, b) for a, b in zip(later.directions, eager.directions, strict=True))
    complete = later.complete()
    assert later.values == complete.values == eager.values and complete.errors == eager.errors
    assert complete.estimated is None and later.complete() is complete
    assert all(put_off <= full for put_off, full in zip(later.errors, eager.errors, strict=True))
    assert calls[0] == 4 * len(eager.directions)

    grad = case.result.grads[name]
    tolerance = dataclasses.replace(finite_difference_tolerance(np.float64), atol=0.0, rtol=1e-13)
    options = dict(layer=spec.name, quantity=f"grad {name}", reference="finite_difference")
    truncations = np.subtract(eager.errors, later.errors)
    widest = int(np.argmax(truncations))
    assert truncations[widest] > 0
    # Moves <grad, u> by one along the direction of the widest truncation term (by about 1 / sqrt(n) along others).
    unit = eager.directions[widest] / grad.size
    seen = set()
    full = eager.errors[widest] + allowed_element_error(grad, tolerance)
    for size in np.concatenate([np.linspace(0.0, 2.0, 201), [10.0, 1e3]]) * full:  # steps of 1% of the allowance
        put_off = dataclasses.replace(later, estimated=counted_estimate(later, calls))
        wrong = grad + size * unit
        calls[0] = 0
        got, expected = (compare_directional(wrong, found, tolerance, **options) for found in (put_off, eager))
        assert got.passed == expected.passed, size
        assert calls[0] == (0 if got.ratio <= 1.0 and "not needed" in got.note else 1)
        seen.add((expected.passed, calls[0]))
    assert seen == {(True, 0), (True, 1), (False, 1)}  # settled early, admitted by the estimate alone, failed


def counted_estimate(derivatives, calls):
    """``derivatives.estimated``, counting its calls in ``calls[0]`` instead of forward passes."""
    def estimated():
        calls[0] += 1
        return derivatives.complete()
    return estimated


def refusing_second_steps(spec, position):
    """``spec`` whose forward pass raises where its input at ``position`` is further from where it was first seen
    (for its shape) than 1.5 times the shortest move seen: at a directional check's second step, not its first."""
    first, shortest = {}, {}

    def forward(*args, **kwargs):
        value = np.asarray(args[position], dtype=np.float64)
        moved = float(np.max(np.abs(value - first.setdefault(value.shape, value.copy())), initial=0.0))
        if moved > 0:
            shortest[value.shape] = min(moved, shortest.get(value.shape, moved))
            if moved > 1.5 * shortest[value.shape]:
                raise RuntimeError("the forward pass refuses a step this long")
        return spec.forward(*args, **kwargs)

    return dataclasses.replace(spec, forward=forward)


@pytest.mark.parametrize("wrong", [False, True], ids=["right", "wrong"])
def test_a_forward_pass_failing_at_the_second_step_is_a_finding_where_that_step_is_taken(wrong):
    """A right gradient is settled at the first step; a wrong one takes the second, whose failure is the
    finite-difference stage's finding, as when every step was taken at once, and never stops the audit."""
    spec = get_spec("lstm")
    if wrong:
        spec = grad_transformed("Wh", lambda g: g * g.dtype.type(1.001))(spec)
    spec = refusing_second_steps(spec, list(spec.make_inputs(RandomSource(np.random.default_rng(0)),
                                                             np.dtype(np.float64))).index("Wh"))
    dims = {"N": 3, "T": 4, "D": 5, "H": 16}
    assert 16 * 4 * 16 > ELEMENTWISE_LIMIT  # Wh is checked along directions
    result = run_audit([spec], AuditConfig(("lstm",), ("float64",), 1, 0, dims=dims))
    errors = [check.failures[0].message for check in result.checks
              if not check.passed and check.quantity.startswith("error")]
    assert result.passed != wrong
    assert len(errors) == wrong and all("refuses a step this long" in error for error in errors)
