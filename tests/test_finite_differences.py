"""The finite-difference oracle: accurate on known functions, and in agreement with impl and every twin.

Finite differences share no code with impl or torch, so impl agreeing with
them *and* with its twin (and the twin with them) means a bug in a twin
cannot hide a bug in impl. ``torch.autograd.gradcheck`` of every twin (the
same idea on torch's side) is in ``tests/test_twin_gradcheck.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle.judge.checks import Case, against_finite_differences, failures_report, run_case
from oracle.judge.reference_differences import reference_spec
from oracle.layers import all_specs
from oracle.references.finite_diff import RELATIVE_STEP, central_difference, numeric_gradients, step_sizes
from oracle.specs.sources import RandomSource
from oracle.specs.spec import Evaluation, LayerSpec
from tests.hypothesis_source import HypothesisSource, draw_dtype


def smooth_forward(x, y):
    """``out = sin(x) * exp(y) + x**3``: every derivative nonzero, so truncation error is not accidentally 0."""
    return np.sin(x) * np.exp(y) + x**3, (x, y)


def smooth_backward(dout, cache):
    x, y = cache
    return dout * (np.cos(x) * np.exp(y) + 3 * x**2), dout * np.sin(x) * np.exp(y)


def smooth_loss(x, labels):
    """A loss layer: ``sum(log(1 + x**2)[labels])``, with integer ``labels`` that must be left alone."""
    picked = x[labels]
    grad = np.zeros_like(x)
    np.add.at(grad, labels, 2 * picked / (1 + picked**2))
    return np.log1p(picked**2).sum(), grad


def _unused_twin(inputs, upstream, device="cpu"):
    raise AssertionError("finite differences never call the twin")


SMOOTH = LayerSpec(
    name="smooth", make_inputs=lambda source, dtype: {}, forward=smooth_forward, backward=smooth_backward,
    outputs=("out",), grads=("x", "y"), twin=_unused_twin,
)
LOSS = LayerSpec(
    name="smooth_loss", make_inputs=lambda source, dtype: {}, forward=smooth_loss, outputs=("loss",),
    grads=("x",), twin=_unused_twin,
)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Worst error relative to the largest gradient entry (elements near zero are not divided by themselves)."""
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("scale", [1e-3, 1.0])
def test_known_function_to_1e_8_relative(scale):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (3, 4)) * scale, rng.uniform(-1, 1, (3, 4))
    upstream = {"out": rng.uniform(-1, 1, (3, 4))}
    numeric = numeric_gradients(SMOOTH, {"x": x, "y": y}, upstream)
    analytic = smooth_backward(upstream["out"], (x, y))
    for name, expected in zip(("x", "y"), analytic, strict=True):
        assert relative_error(numeric[name], expected) < 1e-8, name


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_step_follows_the_magnitude_of_large_inputs(scale):
    """With ``|x|`` large the step grows with it and ``grad x`` stays accurate.

    Only ``x`` is checked: cancellation error is relative to ``|f|``, which
    ``x**3`` makes huge here, so the small ``grad y`` cannot be resolved to
    1e-8 by any step (a limit of finite differences, not of this step).
    """
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-1, 1, (3, 4)) * scale, rng.uniform(-1, 1, (3, 4))
    upstream = {"out": rng.uniform(-1, 1, (3, 4))}
    numeric = numeric_gradients(SMOOTH, {"x": x, "y": y}, upstream)
    assert relative_error(numeric["x"], smooth_backward(upstream["out"], (x, y))[0]) < 1e-8


def test_loss_layer_and_integer_inputs():
    rng = np.random.default_rng(1)
    x, labels = rng.uniform(-2, 2, 6), np.array([0, 3, 3, 5])
    numeric = numeric_gradients(LOSS, {"x": x, "labels": labels}, {})
    assert relative_error(numeric["x"], smooth_loss(x, labels)[1]) < 1e-8


def test_float32_inputs_are_differentiated_in_float64_without_being_modified():
    rng = np.random.default_rng(2)
    inputs = {"x": rng.uniform(-1, 1, (2, 3)).astype(np.float32), "y": rng.uniform(-1, 1, (2, 3)).astype(np.float32)}
    upstream = {"out": rng.uniform(-1, 1, (2, 3)).astype(np.float32)}
    before = {name: array.copy() for name, array in {**inputs, **upstream}.items()}
    numeric = numeric_gradients(SMOOTH, inputs, upstream)
    for name, array in {**inputs, **upstream}.items():
        assert array.dtype == np.float32 and np.array_equal(array, before[name]), name
    assert all(grad.dtype == np.float64 for grad in numeric.values())
    as64 = {name: array.astype(np.float64) for name, array in inputs.items()}
    expected = smooth_backward(upstream["out"].astype(np.float64), (as64["x"], as64["y"]))
    assert relative_error(numeric["x"], expected[0]) < 1e-8


def test_step_is_cube_root_of_eps_scaled_by_magnitude():
    assert RELATIVE_STEP == pytest.approx(np.finfo(np.float64).eps ** (1 / 3))
    np.testing.assert_array_equal(step_sizes(np.array([0.0, -0.5, 4.0, -1e3])),
                                  RELATIVE_STEP * np.array([1.0, 1.0, 4.0, 1e3]))


def test_central_difference_of_an_array_restores_it_exactly():
    """The array-level routine behind :func:`numeric_gradients` (also used directly by the gate-order tests)."""
    x = np.random.default_rng(3).uniform(-2, 2, (3, 4))
    before = x.copy()
    grad = central_difference(lambda: float(np.sum(np.sin(x) * x)), x)
    np.testing.assert_array_equal(x, before)  # every element put back bit for bit
    assert grad.shape == x.shape and grad.dtype == np.float64
    assert relative_error(grad, np.cos(x) * x + np.sin(x)) < 1e-8
    assert central_difference(lambda: 0.0, np.zeros((0, 3))).shape == (0, 3)


def test_central_difference_refuses_an_array_it_cannot_perturb_in_place():
    transposed = np.zeros((3, 4)).T  # reshape(-1) copies it, so f would never see a perturbation
    with pytest.raises(ValueError, match="contiguous"):
        central_difference(lambda: float(transposed.sum()), transposed)


def test_differentiating_an_integer_input_is_refused():
    spec = LayerSpec(name="bad", make_inputs=lambda source, dtype: {}, forward=smooth_loss, outputs=("loss",),
                     grads=("labels",), twin=_unused_twin)
    with pytest.raises(TypeError, match="labels"):
        numeric_gradients(spec, {"x": np.ones(3), "labels": np.array([0])}, {})


DIFFERENTIABLE = [spec for spec in all_specs() if spec.grads]


def differentiated(spec: LayerSpec) -> LayerSpec:
    """``spec`` with its reference forward pass where it has one: the same values as its own (the model's loss
    alone, bit for bit: ``tests/test_reference_differences.py``), without computing gradients at every step."""
    return spec if spec.reference_forward is None else reference_spec(spec)


def twin_case(case: Case) -> Case:
    """``case`` with its result replaced by the twin's, run in the same dtype on the same inputs."""
    twin = case.spec.twin(case.inputs, case.upstream, "cpu")
    return Case(case.spec, case.inputs, case.upstream, Evaluation({}, twin.grads))


@pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=lambda spec: spec.name)
@given(data=st.data())
def test_impl_and_twin_agree_with_finite_differences(spec, data):
    case = run_case(spec, HypothesisSource(data.draw), draw_dtype(data.draw))
    numeric = numeric_gradients(differentiated(spec), case.inputs, case.upstream)
    assert not failures_report(case, against_finite_differences(case, numeric))
    twin = twin_case(case)
    assert not failures_report(twin, against_finite_differences(twin, numeric))


@pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=lambda spec: spec.name)
def test_float64_impl_matches_finite_differences_to_1e_8(spec):
    """The accuracy the step size was chosen for, on every layer (measured 3e-10; :mod:`oracle.references.finite_diff`).

    Errors are bounded relative to ``max(1, largest gradient entry)``: finite
    differences resolve a gradient to a fraction of the objective's scale,
    not of each (possibly tiny) entry.
    """
    for case_index in range(5):
        case = run_case(spec, RandomSource(np.random.default_rng([7, case_index])), np.float64)
        numeric = numeric_gradients(spec, case.inputs, case.upstream)
        for name, grad in case.result.grads.items():
            scale = max(1.0, float(np.max(np.abs(grad), initial=0.0)))
            assert np.max(np.abs(numeric[name] - grad)) <= 1e-8 * scale, (name, case.describe())
