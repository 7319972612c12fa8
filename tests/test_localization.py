"""Failures located in the layer's own terms: gate blocks, time steps and the worst element."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.judge.audit import AuditConfig, run_audit
from oracle.judge.localize import Localization, QuantityAxes, localize, quantity_axes
from oracle.layers import get_spec
from oracle.report.text import to_json
from oracle.specs.sources import RandomSource
from tests import recurrent_bugs


def failures(result, quantity: str, reference: str = "torch[cpu]"):
    """The case failures of impl's checks of ``quantity`` against ``reference``, in every dtype; at least one."""
    found = [failure for check in result.checks
             if check.quantity == quantity and check.subject == "impl" and check.reference == reference
             for failure in check.failures]
    assert found, f"no failure of {quantity} against {reference}"
    return found


def test_gate_blocks_and_the_worst_element_are_located():
    ratio = np.zeros((3, 8))
    ratio[1, 5] = 40.0  # gate 2 of four blocks of 2 columns
    ratio[0, 7] = 3.0  # gate 3
    where = localize(ratio, QuantityAxes(gate_blocks={"i": slice(0, 2), "f": slice(2, 4), "o": slice(4, 6),
                                                      "g": slice(6, 8)}))
    assert where.worst_index == (1, 5)
    assert where.failing_gates == ("o", "g")
    assert dict(where.gates) == {"i": 0.0, "f": 0.0, "o": 40.0, "g": 3.0}
    assert "gate blocks outside tolerance: o, g" in where.describe()


@pytest.mark.parametrize("failing, pattern", [
    ([0], "wrong only at t = 0"),
    ([3, 4, 5], "wrong from the last step on"),
    ([0, 1, 2, 3], "right at the last 2 step(s), wrong from t = 3 back"),
])
def test_the_per_step_pattern_is_named(failing, pattern):
    ratio = np.full((2, 6, 3), 0.5)
    ratio[:, failing] = 7.0
    where = localize(ratio, QuantityAxes(time_axis=1))
    assert where.failing_steps == tuple(failing)
    assert where.first_failing_step_from_end == failing[-1]
    assert pattern in where.step_pattern()


def test_an_error_growing_backwards_in_time_is_named_so():
    ratio = np.broadcast_to((10.0 ** np.arange(6, 0, -1))[None, :, None], (2, 6, 3))
    assert "error grows backwards in time" in localize(ratio, QuantityAxes(time_axis=1)).step_pattern()


def test_nan_counts_as_infinitely_wrong_and_json_has_no_infinities():
    where = localize(np.array([[0.1, np.nan], [2.0, 0.3]]), QuantityAxes(time_axis=1))
    assert where.worst_index == (0, 1)
    assert where.to_json() == {"worst_index": [0, 1], "steps": [2.0, None], "first_failing_step_from_end": 1,
                               "gates": None}


def test_axes_come_from_the_spec():
    spec = get_spec("lstm")
    inputs = spec.make_inputs(RandomSource(np.random.default_rng(0), {"T": 3, "H": 2}), np.dtype(np.float64))
    axes = quantity_axes(spec, inputs)
    assert axes["output h"].time_axis == 1 and axes["grad x"].time_axis == 1
    assert list(axes["grad Wh"].gate_blocks) == ["i", "f", "o", "g"]
    assert axes["grad b"].gate_blocks["g"] == slice(6, 8)
    assert "grad h0" not in axes  # (N, H): nothing to locate beyond the worst element


@pytest.mark.parametrize("layer, first, second", [("lstm", "o", "g"), ("lstm_step", "o", "g"), ("gru", "z", "n")])
def test_a_gate_swap_in_the_weight_gradients_is_reported_as_those_gate_blocks(layer, first, second):
    broken = recurrent_bugs.weight_gradient_gates_swapped(get_spec(layer), first, second)
    result = run_audit([broken], AuditConfig((layer,), ("float64", "float32"), 3, 0))
    for name in ("Wx", "Wh", "b"):
        for failure in failures(result, f"grad {name}"):
            assert failure.localization.failing_gates == (first, second), failure.message
            assert f"gate blocks outside tolerance: {first}, {second}" in failure.message
    assert all(check.passed for check in result.checks if check.quantity in ("grad x", "output h", "output next_h"))


def test_a_backward_that_drops_the_gradient_into_the_previous_state_shows_its_per_step_pattern():
    t = 6
    broken = recurrent_bugs.dropped_recurrent_gradient(get_spec("rnn"))
    result = run_audit([broken], AuditConfig(("rnn",), ("float64",), 3, 0, dims={"T": t}))
    for reference in ("torch[cpu]", "finite_difference"):
        for failure in failures(result, "grad x", reference):
            # The last step has nothing to pass back: right there, wrong at every earlier step.
            assert failure.localization.failing_steps == tuple(range(t - 1)), failure.message
            assert failure.localization.first_failing_step_from_end == t - 2
            assert "right at the last 1 step(s), wrong from t = 4 back" in failure.message
    document = to_json(result, [])
    [row] = [row for row in document["results"]
             if row["quantity"] == "grad x" and row["reference"] == "torch[cpu]"]
    assert row["failures"][0]["localization"]["first_failing_step_from_end"] == t - 2
    assert len(row["failures"][0]["localization"]["steps"]) == t


def test_a_passing_comparison_has_no_localization():
    result = run_audit([get_spec("gru")], AuditConfig(("gru",), ("float64",), 2, 0))
    assert result.passed and all(not check.failures for check in result.checks)
    assert Localization((0,)).describe() == "worst at index (0,)"


def test_infinite_or_flat_step_errors_name_no_trend_and_raise_no_warning():
    for ratio in (np.array([[np.inf, 5.0, 3.0, 2.0]]), np.full((1, 4), 9.0)):
        where = localize(ratio, QuantityAxes(time_axis=1))
        assert "grows backwards" not in where.step_pattern() and "wrong from the last step on" in where.step_pattern()
