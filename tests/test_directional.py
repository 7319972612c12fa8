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
