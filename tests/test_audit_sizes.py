"""``--dims`` and ``--profile stress``: the audit at the user's own sizes, and bugs that exist only at size."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.cli import main
from oracle.judge.audit import AuditConfig, describe_inputs, run_audit
from oracle.layers import get_spec
from oracle.report.text import rerun_command, selection
from oracle.specs.profiles import STRESS, case_setting, format_dims, parse_dims
from tests import recurrent_bugs

TRUNCATED_AFTER = 8


def audit_truncated_lstm(cases: int, **options) -> set[tuple[str, str]]:
    """(quantity, reference) of every failed check of impl's LSTM with BPTT cut every 8 steps (float64)."""
    broken = recurrent_bugs.truncated_bptt(get_spec("lstm"), TRUNCATED_AFTER)
    result = run_audit([broken], AuditConfig(("lstm",), ("float64",), cases, 0, **options))
    return {(check.quantity, check.reference) for check in result.checks if not check.passed}


def test_a_bug_of_long_sequences_passes_at_the_default_sizes():
    """Default sequences have T <= 4 < 8 steps, so the cut never happens: the audit cannot see it."""
    assert audit_truncated_lstm(16) == set()


def test_the_same_bug_is_caught_with_dims():
    failed = audit_truncated_lstm(2, dims={"T": 2 * TRUNCATED_AFTER + 1})
    assert {("grad x", "torch[cpu]"), ("grad x", "finite_difference"), ("grad h0", "torch[cpu]")} <= failed


def test_the_same_bug_is_caught_by_the_stress_profile():
    assert ("grad x", "torch[cpu]") in audit_truncated_lstm(1, profile="stress")  # case 0: the long sequence


def test_the_stress_profile_cycles_its_settings_and_dims_apply_on_top():
    names = [case_setting("stress", {}, index).name for index in range(len(STRESS) + 1)]
    assert names == [setting.name for setting in STRESS] + [STRESS[0].name]
    assert case_setting("stress", {"T": 7, "H": 3}, 0).dims == {"T": 7, "H": 3}
    assert case_setting("default", {"N": 64}, 5).dims == {"N": 64}


def test_dims_reach_the_rerun_command_and_the_selection_line():
    config = AuditConfig(("lstm",), ("float32",), 2, 5, profile="stress", dims={"N": 64, "T": 50})
    command = rerun_command(config, "lstm", "float32", 1)
    assert command.endswith("--profile stress --dims N=64,T=50")
    assert "profile stress, dims N=64,T=50" in selection(config)
    assert parse_dims(format_dims(config.dims)) == config.dims


@pytest.mark.parametrize("text, message", [
    ("N=0", "N must be at least 1"),
    ("N64", "expected NAME=SIZE"),
    ("N=2,N=3", "N given twice"),
    ("", "got nothing"),
])
def test_malformed_dims_exit_2(capsys, text, message):
    assert main(["audit", "--layers", "rnn", "--dims", text]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--layers", "rnn", "--dims", "Q=3"], "--dims names Q, which no selected layer draws; they draw D, H, N, T"),
    (["--layers", "captioning_rnn", "--dims", "V=2"], "layer captioning_rnn: V = 2 is below the smallest size 3"),
])
def test_dims_a_layer_cannot_take_exit_2_before_the_audit(capsys, argv, message):
    assert main(["audit", *argv]) == 2
    assert message in capsys.readouterr().err


def test_an_audit_at_fixed_dims_draws_exactly_those_sizes(capsys):
    for case_index in range(3):
        described = describe_inputs(get_spec("rnn"), 0, np.dtype(np.float64), case_index,
                                    case_setting("default", {"N": 2, "T": 9}, case_index))
        assert "x(2, 9, " in described and "h0(2, " in described
    assert main(["audit", "--layers", "rnn", "--dtypes", "float64", "--cases", "2", "--dims", "N=2,T=9"]) == 0
    assert "dims N=2,T=9" in capsys.readouterr().out
