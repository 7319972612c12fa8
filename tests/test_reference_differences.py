"""The finite differences of a spec's reference forward pass stand in for the target's only where they may.

:mod:`oracle.judge.reference_differences`: a bound spec's own forward pass is its reference; on a case where
the target's forward agrees with the twin its finite differences are the reference's (kept in the store, not
one call of the target's code each); where it disagrees, the target's own, so that a backward pass that is the
exact gradient of a wrong forward pass is still told apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import impl
from oracle.judge.audit import FINITE_DIFFERENCE, IMPL, audit_case, case_rng, case_source
from oracle.judge.checks import run_case
from oracle.judge.directional import DirectionalDerivatives, finite_differences
from oracle.judge.reference_differences import as_evaluation, from_evaluation, reference_finite_differences
from oracle.layers import get_spec
from oracle.references.store import ReferenceStore, using
from oracle.specs.spec import LayerSpec


def counted(function: Callable[..., Any], calls: list[int]) -> Callable[..., Any]:
    """``function``, counting its calls in ``calls``."""
    def wrapper(*args: Any) -> Any:
        calls.append(1)
        return function(*args)
    return wrapper


def bound(spec: LayerSpec, forward: Callable[..., Any], backward: Callable[..., Any] | None = None) -> LayerSpec:
    """``spec`` as :func:`oracle.targets.binding.bind` leaves it: a target's functions, its own as the reference."""
    return dataclasses.replace(spec, forward=forward, backward=backward or spec.backward,
                               reference_forward=spec.forward_reference)


def finite_difference_checks(observations: list, subject: str = IMPL) -> list:
    return [o.comparison for o in observations if o.subject == subject and o.comparison.reference == FINITE_DIFFERENCE]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_forward_that_agrees_is_differentiated_through_its_reference_not_called_for_it(dtype):
    spec = get_spec("rnn_step")
    by_reference, by_itself = [], []
    with using(ReferenceStore.memory()):
        observations = audit_case(bound(spec, counted(impl.rnn_step_forward, by_reference)), dtype, 0, 0)
        itself = audit_case(dataclasses.replace(spec, forward=counted(impl.rnn_step_forward, by_itself)), dtype, 0, 0)
    assert all(o.comparison.passed for o in observations + itself), [o.comparison.describe() for o in observations]
    assert len(finite_difference_checks(observations)) == len(finite_difference_checks(itself)) > 0
    inputs = spec.make_inputs(case_source(spec, np.dtype(dtype), 0, 0, _setting()), np.dtype(dtype))
    elements = sum(np.size(inputs[name]) for name in spec.grads)
    # Two calls per input element are the finite differences of its own, which the reference's replace.
    assert len(by_reference) + 2 * elements == len(by_itself)


def test_a_wrong_forward_is_differentiated_itself_so_its_own_gradient_passes_against_it():
    spec = get_spec("affine")

    def doubled_forward(x, w, b):
        out, cache = impl.affine_forward(x, w, b)
        return 2 * out, cache

    def doubled_backward(dout, cache):
        return impl.affine_backward(2 * dout, cache)

    with using(ReferenceStore.memory()):
        observations = audit_case(bound(spec, doubled_forward, doubled_backward), "float64", 0, 0)
    assert not all(o.comparison.passed for o in observations if o.comparison.quantity.startswith("output "))
    assert all(check.passed for check in finite_difference_checks(observations))  # the gradient of its own forward
    against_twin = [o.comparison for o in observations if o.subject == IMPL
                    and o.comparison.quantity.startswith("grad ") and o.comparison.reference != FINITE_DIFFERENCE]
    assert against_twin and not all(check.passed for check in against_twin)


def test_a_right_forward_with_a_wrong_backward_fails_against_the_reference_differences():
    spec = get_spec("affine")

    def wrong_backward(dout, cache):
        dx, dw, db = impl.affine_backward(dout, cache)
        return dx, 1.5 * dw, db

    with using(ReferenceStore.memory()):
        observations = audit_case(bound(spec, impl.affine_forward, wrong_backward), "float32", 0, 0)
    failed = {check.quantity for check in finite_difference_checks(observations) if not check.passed}
    assert failed == {"grad w"}


def test_a_reference_that_raises_gives_way_to_the_targets_own_differences():
    spec = get_spec("affine")

    def broken(*args):
        raise RuntimeError("a reference that cannot run here")

    target = dataclasses.replace(spec, reference_forward=broken)
    with using(ReferenceStore.memory()):
        observations = audit_case(target, "float64", 0, 0)
    assert all(o.comparison.passed for o in observations), [o.comparison.describe() for o in observations]
    assert finite_difference_checks(observations)


def test_the_model_loss_alone_is_the_models_loss_bit_for_bit():
    for cell in ("rnn", "lstm", "gru"):
        spec = get_spec(f"captioning_{cell}")
        for dtype in ("float64", "float32"):
            for index in range(4):
                inputs = spec.make_inputs(case_source(spec, np.dtype(dtype), 0, index, _setting()), np.dtype(dtype))
                (alone,) = spec.reference_forward(*inputs.values())
                whole = spec.forward(*inputs.values())[0]
                assert alone.dtype == whole.dtype and alone.tobytes() == whole.tobytes(), (cell, dtype, index)


def test_kept_differences_are_read_back_as_computed_and_their_key_holds_the_directions():
    spec = dataclasses.replace(get_spec("affine"), reference_forward=impl.affine_forward)
    case = run_case(spec, case_source(spec, np.dtype("float64"), 0, 0, _setting()), np.dtype("float64"))
    # A limit of 4 elements makes every input but the smallest directional: both kinds go through the store.
    found = finite_differences(spec, case.inputs, case.upstream, case_rng(0, spec.name, "float64", 0, 1), limit=4)
    assert any(isinstance(value, DirectionalDerivatives) for value in found.values())
    back = from_evaluation(spec, as_evaluation(found))
    for name, value in found.items():
        if isinstance(value, DirectionalDerivatives):
            assert np.array_equal(np.stack(back[name].directions), np.stack(value.directions))
            assert back[name].values == value.values and back[name].errors == value.errors
        else:
            assert np.array_equal(back[name], value)
    store = ReferenceStore.memory()
    with using(store):
        first = reference_finite_differences(spec, case.inputs, case.upstream, case_rng(0, spec.name, "float64", 0, 1))
        again = reference_finite_differences(spec, case.inputs, case.upstream, case_rng(0, spec.name, "float64", 0, 1))
        other = reference_finite_differences(spec, case.inputs, case.upstream, case_rng(1, spec.name, "float64", 0, 1))
    assert (store.misses, store.hits) == (2, 1)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert other.keys() == first.keys()


def _setting():
    from oracle.specs.profiles import DEFAULT
    return DEFAULT[0]
