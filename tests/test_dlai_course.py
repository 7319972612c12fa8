"""deeplearning.ai's course API audited with no option: each learner-style fixture gets exactly its findings.

The fixtures (:mod:`tests.dlai_course`) are a correct version of the
assignment and one version per kind of bug learners make in it, each as a
``.py`` file and as a notebook with its test cells. The functions the
problem does not touch must pass; the findings must be located (time steps,
gates, the global that was read) and reproducible with numpy alone, and come
with the likely causes of :data:`tests.dlai_course.CAUSES` and no other (the
catalogue's own fixtures: ``test_dlai_causes.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oracle.cli import main
from tests import dlai_course
from tests.test_learner_findings import numpy_alone, run_alone

FUNCTIONS = tuple(dlai_course.FUNCTIONS)


def audit(capsys, tmp_path: Path, target: Path, *options: str) -> tuple[int, dict, str]:
    path = tmp_path / "verdicts.json"
    code = main(["audit", "--impl", str(target), "--json", str(path), "--timeout", "5", "--cases", "6", *options])
    out = capsys.readouterr().out
    return code, json.loads(path.read_text())["targets"][0], out


def findings(entry: dict) -> dict[str, set[str]]:
    """Each function's findings over the dtypes."""
    return {function: {finding for found in dtypes.values() for finding in found}
            for function, dtypes in entry["verdicts"].items()}


@pytest.mark.parametrize("form", ["py", "ipynb"])
@pytest.mark.parametrize("problem", list(dlai_course.PROBLEMS))
def test_each_fixture_gets_exactly_its_findings_with_no_option(problem, form, capsys, tmp_path):
    write = dlai_course.write_module if form == "py" else dlai_course.write_notebook
    target = write(tmp_path / f"assignment.{form}", problem)
    code, entry, out = audit(capsys, tmp_path, target)
    expected = {function: {"pass"} for function in FUNCTIONS} | dlai_course.PROBLEMS[problem][1]
    assert entry["family"] == "dlai"
    assert findings(entry) == expected
    assert causes(entry) == dlai_course.CAUSES[problem]
    assert set(next(iter(entry["verdicts"].values()))) == {"float64"}, "the course's API is float64"
    assert code == (0 if problem == "correct" else 1)
    assert "deeplearning.ai Sequence Models API" in out
    assert any(note.startswith("rnn_utils is not beside the target") for note in entry["notes"])
    assert entry["points"]["max"] == 16  # the course's rubric, oracle/targets/rubrics/dlai.toml
    assert (entry["points"]["total"] == 16) == (problem == "correct")


def causes(entry: dict) -> dict[str, list[str]]:
    """Each function's likely causes (ids, over the dtypes), for the functions that have any."""
    return {function: [cause["id"] for listed in dtypes.values() for cause in listed]
            for function, dtypes in entry["causes"].items() if any(dtypes.values())}


def evidence(entry: dict, function: str) -> str:
    return "\n".join(entry["evidence"][function]["float64"])


def test_no_backpropagation_through_time_is_located_in_the_time_steps(capsys, tmp_path):
    target = dlai_course.write_notebook(tmp_path / "bptt.ipynb", "no backpropagation through time")
    _, entry, _ = audit(capsys, tmp_path, target)
    text = evidence(entry, "lstm_backward")
    assert "grad x" in text and "time steps outside tolerance" in text
    assert "right at the last 1 step(s)" in text or "wrong only at t = 0" in text, text


def test_a_missing_gate_derivative_is_located_in_its_gate(capsys, tmp_path):
    """The output gate's sigmoid derivative left out: the gradients of Wo and bo are wrong, the other gates' not."""
    source = dlai_course.FUNCTIONS["lstm_cell_backward"].replace("dot = da_next * tanh_c * ot * (1 - ot)",
                                                                "dot = da_next * tanh_c")
    assert source != dlai_course.FUNCTIONS["lstm_cell_backward"]
    target = tmp_path / "gate.py"
    dlai_course.write_module(target, "correct")
    target.write_text(target.read_text() + source)
    _, entry, _ = audit(capsys, tmp_path, target, "--layers", "dlai_lstm_cell")
    assert findings(entry)["lstm_cell_backward"] == {"wrong_value"}
    text = evidence(entry, "lstm_cell_backward")
    assert "grad Wo" in text and "gate blocks outside tolerance: o " in text
    assert "grad Wf" not in text and "grad Wi" not in text and "grad Wc" not in text
    assert causes(entry) == {}, "one gate's derivative left out is no mistake of the catalogue: no cause"


def test_a_global_read_instead_of_parameters_names_the_entry_to_use(capsys, tmp_path):
    target = dlai_course.write_notebook(tmp_path / "globals.ipynb", "globals instead of parameters")
    _, entry, _ = audit(capsys, tmp_path, target)
    assert "name 'Wf' is not defined" in evidence(entry, "lstm_cell_forward")
    assert "take it from the argument, parameters['Wf']" in evidence(entry, "lstm_cell_forward")


def test_unfinished_placeholders_are_not_implemented_and_say_which(capsys, tmp_path):
    target = dlai_course.write_notebook(tmp_path / "stub.ipynb", "stub left as None placeholders")
    _, entry, _ = audit(capsys, tmp_path, target)
    assert "unfinished: a None placeholder is passed at line" in evidence(entry, "rnn_forward")
    assert "unfinished: the placeholder at line" in evidence(entry, "lstm_backward")


def test_a_none_that_is_no_placeholder_stays_a_crash(capsys, tmp_path):
    """A helper that forgot its return hands back a None the function never wrote: a crash, not a stub."""
    helper = '''
def _tanh_of(z):
    np.tanh(z)


def rnn_cell_forward(xt, a_prev, parameters):
    a_next = _tanh_of(np.dot(parameters["Wax"], xt) + np.dot(parameters["Waa"], a_prev) + parameters["ba"])
    yt_pred = softmax(np.dot(parameters["Wya"], a_next) + parameters["by"])
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)
'''
    target = tmp_path / "helper.py"
    dlai_course.write_module(target, "correct")
    target.write_text(target.read_text() + helper)
    _, entry, _ = audit(capsys, tmp_path, target, "--layers", "dlai_rnn_cell")
    assert findings(entry)["rnn_cell_forward"] == {"crash"}


def test_family_overrides_the_detection(capsys, tmp_path):
    """--family cs231n audits the seed's API instead: the course's functions there take other arguments."""
    target = dlai_course.write_module(tmp_path / "assignment.py", "correct")
    _, entry, _ = audit(capsys, tmp_path, target, "--family", "cs231n", "--layers", "rnn")
    assert entry["family"] == "cs231n"
    assert set(entry["verdicts"]) == {"rnn_forward", "rnn_backward"}
    assert findings(entry)["rnn_forward"] == {"crash"}


def test_layers_of_the_other_family_alone_are_refused_by_name(capsys, tmp_path):
    target = dlai_course.write_module(tmp_path / "assignment.py", "correct")
    code = main(["audit", "--impl", str(target), "--layers", "rnn", "--cases", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "written for the deeplearning.ai Sequence Models API, and none of the layers given is of it" in err
    assert "--family cs231n" in err


def test_the_reproducer_of_a_finding_runs_with_numpy_alone(capsys, tmp_path):
    target = dlai_course.write_notebook(tmp_path / "bptt.ipynb", "no backpropagation through time")
    _, entry, _ = audit(capsys, tmp_path, target, "--layers", "dlai_lstm", "--repro", str(tmp_path / "repro"))
    script = Path(entry["reproducers"]["lstm_backward"]["float64"])
    alone = numpy_alone(tmp_path)
    failing = run_alone(script, alone)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "STILL WRONG:\n  grad " in failing.stdout
    dlai_course.write_notebook(target, "correct")
    fixed = run_alone(script, alone)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "agrees with the reference" in fixed.stdout
