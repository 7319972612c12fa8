"""The audit names deeplearning.ai's mistakes: each fixture's finding comes with its error model's id, and only it.

``rnn-oracle audit`` on the learner-style fixtures of :mod:`tests.dlai_mistakes`
(as ``.py`` files and as notebooks), limited to the spec of the model:
every function the model names and the audit finds wrong gets exactly that
model as its likely cause (``causes[function]["float64"]`` in the JSON), and
the text report says it under the finding. Two mistakes at once are the
pair: two in one function (``"a+b"``), or a sequence mistake over a wrong
cell function of the same target (``"<sequence model>+<cell model>"``).
The correct assignment, and mistakes outside the catalogue, get no cause:
:mod:`tests.test_dlai_course` checks those on its own fixtures.

Each audit costs about 3 s, so the default run audits :data:`DEFAULT`, one
model of a cell's backward in one form and one of a sequence's forward in
the other (its right backward, judged against the finite differences of the
wrong forward, inherits it);
``RNN_ORACLE_CATALOGUE=all`` (``tox -e catalogue``) audits every model in
both forms. That every fixture is reproduced by its model alone, on drawn
cases, is checked for all of them in ``tests/test_dlai_mistakes.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from oracle.cli import main
from oracle.layers import get_spec
from oracle.layers.dlai_mistakes import CATALOGUE
from tests import dlai_course, dlai_mistakes

MODELS = {model.id: model for models in CATALOGUE.values() for model in models}

#: The (model, form) pairs audited by default.
DEFAULT = (("dlai_lstm_cell.sigmoid_derivatives_of_activated", "py"), ("dlai_lstm.a_and_c_share_one_array", "ipynb"))

SWEEP = (tuple((model_id, form) for model_id in dlai_mistakes.FIXTURES for form in ("py", "ipynb"))
         if os.environ.get("RNN_ORACLE_CATALOGUE") == "all" else DEFAULT)


def audit(capsys, tmp_path: Path, functions: dict[str, str], form: str, layers: str, *options: str,
          ) -> tuple[dict, str]:
    """The fixture audited with ``--layers layers``: its JSON entry and the text report."""
    write = dlai_course.write_module if form == "py" else dlai_course.write_notebook
    target = write(tmp_path / f"assignment.{form}", functions)
    path = tmp_path / "verdicts.json"
    main(["audit", "--impl", str(target), "--layers", layers, "--json", str(path), "--timeout", "5", "--cases", "4",
          *options])
    return json.loads(path.read_text())["targets"][0], capsys.readouterr().out


def cause_ids(entry: dict) -> dict[str, list[str]]:
    """Each function's likely causes in float64, by id, for the functions that have any."""
    return {function: [cause["id"] for cause in dtypes.get("float64", [])]
            for function, dtypes in entry["causes"].items() if dtypes.get("float64")}


@pytest.mark.parametrize(("model_id", "form"), SWEEP)
def test_a_fixture_gets_its_model_as_the_cause(model_id, form, capsys, tmp_path):
    model = MODELS[model_id]
    spec = model_id.split(".")[0]
    entry, out = audit(capsys, tmp_path, dlai_mistakes.fixture(model_id), form, spec)
    wrong = {function for function, dtypes in entry["verdicts"].items() if "wrong_value" in dtypes["float64"]}
    named = wrong & set(model.functions)
    assert named, f"the audit finds none of {model.functions} wrong: {entry['verdicts']}"
    causes = cause_ids(entry)
    assert {function: causes.get(function) for function in named} == {function: [model_id] for function in named}
    # A function the model does not name is a right backward judged against a wrong forward: the forward first.
    forward = get_spec(spec).public_names[0]
    assert {function: causes.get(function) for function in wrong - named} == {
        function: [f"inherited.{forward}"] for function in wrong - named}
    assert "likely cause (reproduced exactly on all " in out and f"{model.text} [{model_id}]" in out


def test_a_cell_mistake_and_a_sequence_mistake_are_the_pair(capsys, tmp_path):
    """A wrong lstm_cell_backward under an lstm_backward that does not carry da_prevt: each mistake in its place,
    in the text, the Gradescope tests, the HTML page and the reproducers' headers."""
    functions = dlai_mistakes.functions_with(*dlai_mistakes.FIXTURES["dlai_lstm_cell.forget_path_missing"],
                                             *dlai_mistakes.FIXTURES["dlai_lstm.da_prev_not_carried"])
    paths = {name: tmp_path / name for name in ("gradescope.json", "page.html", "repro")}
    entry, out = audit(capsys, tmp_path, functions, "ipynb", "dlai_lstm_cell,dlai_lstm", "--gradescope",
                       str(paths["gradescope.json"]), "--html", str(paths["page.html"]), "--repro", str(paths["repro"]))
    pair = "dlai_lstm.da_prev_not_carried+dlai_lstm_cell.forget_path_missing"
    assert cause_ids(entry) == {"lstm_cell_backward": ["dlai_lstm_cell.forget_path_missing"], "lstm_backward": [pair]}
    assert "it loops over your own lstm_cell_backward, which is wrong: in lstm_cell_backward, dc_prev is not" in out
    tests = {test["name"]: test["output"] for test in json.loads(paths["gradescope.json"].read_text())["tests"]}
    assert f"[{pair}]" in tests["lstm_backward"] and "likely cause" not in tests["lstm_forward"]
    assert f"[{pair}]" in paths["page.html"].read_text()
    script = Path(entry["reproducers"]["lstm_cell_backward"]["float64"]).read_text()
    assert script.startswith("# likely cause: in lstm_cell_backward, dc_prev is not multiplied by the forget gate")
    assert "[dlai_lstm_cell.forget_path_missing]" in script


def test_two_mistakes_in_one_function_are_the_pair(capsys, tmp_path):
    first, second = "dlai_lstm_cell.sigmoid_derivatives_of_activated", "dlai_lstm_cell.forget_path_missing"
    functions = dlai_mistakes.functions_with(*dlai_mistakes.FIXTURES[first], *dlai_mistakes.FIXTURES[second])
    entry, _ = audit(capsys, tmp_path, functions, "py", "dlai_lstm_cell")
    assert cause_ids(entry) == {"lstm_cell_backward": [f"{first}+{second}"]}
