"""``rnn-oracle audit --impl``: a user's implementation audited by one command, each problem reported as itself."""

from __future__ import annotations

import json
import sys

import pytest

from oracle.bench.audit_timing import write_course_folder
from oracle.cli import main
from oracle.judge.verdicts import FINDINGS, NO_FAILURE
from tests.user_implementations import PROBLEMS, course_folder


def impl_audit(capsys, tmp_path, *targets: str, extra: tuple[str, ...] = ()) -> tuple[int, dict, str, str]:
    path = tmp_path / "verdicts.json"
    code = main(["audit", "--impl", *targets, "--cases", "4", "--json", str(path), *extra])
    out, err = capsys.readouterr()
    return code, json.loads(path.read_text()), out, err


@pytest.fixture
def isolated_imports(monkeypatch):
    """Each test's course folder is a package named cs231n on its own path (the audit replaces an earlier one)."""
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.mark.parametrize("problem", PROBLEMS)
def test_each_problem_gets_exactly_its_finding(problem, capsys, tmp_path, isolated_imports):
    folder = course_folder(tmp_path, problem)
    code, document, out, _ = impl_audit(capsys, tmp_path, str(folder))
    [entry] = document["targets"]
    assert entry["error"] is None
    found = {function: {finding for findings in dtypes.values() for finding in findings} - {"pass"}
             for function, dtypes in entry["verdicts"].items()}
    expected = PROBLEMS[problem][2]
    assert {function: findings for function, findings in found.items() if findings} == expected, entry["evidence"]
    assert code == (1 if any(findings - set(NO_FAILURE) for findings in expected.values()) else 0)
    assert all(set(findings) <= set(FINDINGS) for dtypes in entry["verdicts"].values()
               for findings in dtypes.values())
    assert f"verdicts for {folder}" in out


def test_a_crash_names_the_smallest_case_that_triggers_it(capsys, tmp_path, isolated_imports):
    folder = course_folder(tmp_path, "crash on a size-1 axis")
    _, document, _, _ = impl_audit(capsys, tmp_path, str(folder), extra=("--layers", "temporal_affine"))
    *evidence, minimal = document["targets"][0]["evidence"]["temporal_affine_forward"]["float64"]
    assert minimal.startswith("minimal case (crash): N=1, T=1, D=1, M=1")
    # The generated cases with a size of 1, and the batch-split relation's row 0 run alone (N = 1).
    assert sorted(text.split(" (")[0] for text in evidence) == [
        "crash: temporal_affine forward",
        "crash: temporal_affine forward [batch split: row 0 alone, N = 1]"]
    assert all("ValueError" in text and "inputs x(" in text for text in evidence)
    [crash] = [text for text in evidence if text.startswith("crash: temporal_affine forward (float64): raised ")]
    assert "it raises only when N = 1 or T = 1 or D = 1" in crash


def test_a_sampling_crash_names_the_size_of_one_that_triggers_it(capsys, tmp_path, isolated_imports):
    folder = course_folder(tmp_path, "sample crashes when N = 1")
    _, document, _, _ = impl_audit(capsys, tmp_path, str(folder), extra=("--layers", "captioning_rnn"))
    *evidence, minimal = document["targets"][0]["evidence"]["CaptioningRNN.sample[rnn]"]["float64"]
    assert evidence and all("it raises only when N = 1 or D = 1" in text for text in evidence), evidence
    assert minimal.startswith("minimal case (crash): N=1")


def test_a_file_that_cannot_be_imported_gets_one_message_and_the_others_still_run(capsys, tmp_path):
    broken = tmp_path / "python2.py"
    broken.write_text('print "hello"\n')
    code, document, out, err = impl_audit(capsys, tmp_path, str(broken), "impl", extra=("--layers", "affine"))
    entries = {entry["target"]: entry for entry in document["targets"]}
    assert code == 2
    assert "SyntaxError" in entries[str(broken)]["error"] and f"{broken}:1" in entries[str(broken)]["error"]
    assert entries["impl"]["error"] is None and entries["impl"]["verdicts"]["affine_forward"]["float64"] == ["pass"]
    assert "Traceback" not in err
    header, *rows = out.strip().splitlines()[-3:]  # the grader's grid ends the output
    assert header.split("\t") == ["target", "seconds", "points", "affine_forward", "affine_backward", "error"]
    assert rows[0].split("\t")[0] == str(broken) and rows[0].split("\t")[2:5] == ["0/40", "ERROR", "ERROR"]
    assert rows[1].split("\t")[2:5] == ["3/40", "pass", "pass"]  # affine's 1 + 2 points of the course rubric


@pytest.mark.parametrize(("require", "status", "finding"), [((), 0, "not_supported"),
                                                              (("--require", "gru,lstm_c0"), 1, "not_implemented")])
def test_the_course_api_alone_passes_unless_more_is_required(require, status, finding, capsys, tmp_path,
                                                             isolated_imports):
    folder = write_course_folder(tmp_path, complete=False)
    code, document, _, _ = impl_audit(capsys, tmp_path, str(folder), extra=(
        "--layers", "affine,gru_step,lstm_with_c0,captioning_gru,captioning_lstm", *require))
    verdicts = document["targets"][0]["verdicts"]
    assert code == status
    for function in ("gru_step_forward", "gru_step_backward", "lstm_forward_with_c0", "lstm_backward_with_c0",
                     "CaptioningRNN.loss[gru]", "CaptioningRNN.sample[gru]"):
        assert verdicts[function] == {"float64": [finding], "float32": [finding]}, function
    assert verdicts["CaptioningRNN.loss[lstm]"]["float64"] == ["pass"] and verdicts["affine_forward"]["float32"] == [
        "pass"]


def test_an_unknown_requirement_is_refused(capsys):
    assert main(["audit", "--impl", "impl", "--require", "transformer"]) == 2
    assert "expected one of gru, lstm_c0" in capsys.readouterr().err
