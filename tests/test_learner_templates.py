"""Verdicts on learner code as it really comes (:mod:`tests.learner_templates`).

A missing module costs only its own import; a function that does not exist,
or is still the template's, is ``not_implemented`` with what was seen, and so
is a model that fails only inside such a function; a crash's evidence leads
with what was raised and the user's line, without comparison figures; a cell
never run is cited without an execution count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from oracle.cli import main
from oracle.targets.loading import import_file
from oracle.targets.placeholders import unfinished_function
from tests import learner_templates
from tests.dlai_course import FUNCTIONS as DLAI_FUNCTIONS
from tests.dlai_course import IMPORTS as DLAI_IMPORTS
from tests.test_learner_findings import numpy_alone, run_alone

#: The notes of the two imports of the first cell that fail here.
SKIPPED = ("line 1: import imageio_is_not_installed_here raised ModuleNotFoundError: No module named "
           "'imageio_is_not_installed_here'",
           "line 3: from scipy_is_not_installed_here.misc import imread raised ModuleNotFoundError: No module named "
           "'scipy_is_not_installed_here'")


@pytest.fixture
def isolated_imports(monkeypatch):
    """Each test's course folder is a package named cs231n on its own path."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def audit(capsys, tmp_path: Path, target: Path, layers: str) -> tuple[dict, str]:
    path = tmp_path / "verdicts.json"
    main(["audit", "--impl", str(target), "--json", str(path), "--layers", layers, "--dtypes", "float64",
          "--cases", "2", "--timeout", "5"])
    out = capsys.readouterr().out
    return json.loads(path.read_text())["targets"][0], out


def findings(entry: dict) -> dict[str, str]:
    return {function: " ".join(dtypes["float64"]) for function, dtypes in entry["verdicts"].items()}


def evidence(entry: dict, function: str) -> str:
    return " ".join(entry["evidence"][function]["float64"])


@pytest.mark.parametrize("form", ["py", "ipynb"])
def test_a_missing_module_costs_its_import_alone_and_a_missing_backward_is_not_implemented(form, capsys, tmp_path):
    target = (learner_templates.module if form == "py" else learner_templates.notebook)(tmp_path / f"rnn.{form}")
    entry, out = audit(capsys, tmp_path, target, "rnn_step,temporal_affine")
    assert findings(entry) == {"rnn_step_forward": "pass", "rnn_step_backward": "pass",
                               "temporal_affine_forward": "crash", "temporal_affine_backward": "not_implemented"}
    place = f"{target}, cell 1 (In [1])" if form == "ipynb" else str(target)
    rest = "the rest of the cell run" if form == "ipynb" else "the rest of the module run"
    assert entry["notes"] == [f"{place}, {skipped}: that import skipped, {rest}" for skipped in SKIPPED]
    assert evidence(entry, "temporal_affine_backward") == (
        "not_implemented: the target defines no temporal_affine_backward")
    crash = entry["evidence"]["temporal_affine_forward"]["float64"][0]
    in_file = 1 + (learner_templates.FIRST_CELL + learner_templates.RNN_STEP).count("\n") + 3
    line = f"{target}, cell 3, line 3" if form == "ipynb" else f"{target}:{in_file}"  # never run: no In [ ]
    assert crash.startswith("crash: temporal_affine forward (float64): raised NameError: name 'bias' is not "
                            f"defined at {line}"), crash
    assert "max abs err" not in crash and "DISAGREES" not in crash and "In [0]" not in json.dumps(entry)
    assert "impl: temporal_affine forward (float64): raised NameError" in out


@pytest.mark.parametrize("form", ["py", "ipynb"])
def test_the_reproducer_skips_the_same_imports_and_still_fails(form, capsys, tmp_path):
    write = learner_templates.module if form == "py" else learner_templates.notebook
    target = write(tmp_path / f"rnn.{form}")
    text = target.read_text().replace("da.sum(axis=0)", "da.sum(axis=0, keepdims=True)")  # db of shape (1, H)
    target.write_text(text)
    main(["audit", "--impl", str(target), "--layers", "rnn_step", "--dtypes", "float64", "--cases", "2",
          "--timeout", "5", "--repro", str(tmp_path / "repro")])
    capsys.readouterr()
    ran = run_alone(tmp_path / "repro" / "rnn_step_backward-float64.py", numpy_alone(tmp_path))
    assert ran.returncode == 1, ran.stderr
    assert "(skipped, as in the audit: import imageio_is_not_installed_here raised" in ran.stdout
    assert "STILL WRONG" in ran.stdout and "grad b: shape (1, 1)" in ran.stdout


def test_a_folder_module_with_a_missing_import_is_judged_on_its_code(capsys, tmp_path, isolated_imports):
    folder = learner_templates.course_folder_with_missing_import(tmp_path)
    entry, _ = audit(capsys, tmp_path, folder, "rnn_step")
    assert findings(entry) == {"rnn_step_forward": "pass", "rnn_step_backward": "pass"}
    assert entry["notes"] == [f"{folder}/rnn_layers.py, {skipped}: that import skipped, the rest of the module run"
                              for skipped in SKIPPED]


def test_a_failing_statement_other_than_an_import_still_stops_the_module(capsys, tmp_path):
    target = tmp_path / "broken.py"
    target.write_text("import imageio_is_not_installed_here\nimport numpy as np\nraise RuntimeError('data/ missing')\n")
    assert main(["audit", "--impl", str(target), "--layers", "rnn_step"]) == 2
    assert f"RuntimeError at {target}:3: data/ missing" in capsys.readouterr().err


@pytest.mark.parametrize("folder, layers, expected, seen", [
    ("template loss", "captioning_rnn", {"CaptioningRNN.loss[rnn]": "not_implemented"},
     "not_implemented: captioning_rnn forward (float64): CaptioningRNN.loss returned loss 0.0 and no gradients (an "
     "empty dict): the template's placeholders, not filled in yet"),
    ("lstm left as the template", "lstm,captioning_lstm",
     {"lstm_forward": "not_implemented", "lstm_backward": "not_implemented",
      "CaptioningRNN.loss[lstm]": "not_implemented"},
     "not_implemented: captioning_lstm forward (float64): unfinished: h, cache_cell are None: lstm_forward (called at "
     "line 47 of loss) is unfinished: its body is still the template's (h, cache = None, None; pass; return h, "
     "cache) (so it raised TypeError: "),
    ("lstm forgets its return", "captioning_lstm", {"CaptioningRNN.loss[lstm]": "crash"},
     "crash: captioning_lstm forward (float64): raised TypeError: cannot unpack non-iterable NoneType object at "),
])
def test_unfinished_work_is_not_implemented_with_what_was_seen(folder, layers, expected, seen, capsys, tmp_path,
                                                                 isolated_imports):
    entry, _ = audit(capsys, tmp_path, learner_templates.course_folder(tmp_path, folder), layers)
    assert {function: found for function, found in findings(entry).items() if ".sample[" not in function} == expected
    model = next(function for function in expected if function.startswith("CaptioningRNN.loss[") and (
        expected[function] != "pass"))
    assert evidence(entry, model).startswith(seen), evidence(entry, model)
    assert "KeyError" not in evidence(entry, model)
    if "lstm_backward" in expected:  # never run (its forward pass is a stub too), and still seen for one
        assert evidence(entry, "lstm_backward") == (
            "not_implemented: lstm_backward is unfinished: its body is still the template's (dx, dh0, dWx, dWh, db = "
            "None, None, None, None, None; return dx, dh0, dWx, dWh, db)")


def test_a_call_that_fails_in_the_judges_own_wrapper_cites_no_line_of_it(capsys, tmp_path):
    """A course function called with the wrong arguments raises in impl.dlai's wrapper: no user line, no impl path."""
    target = tmp_path / "dlai.py"
    target.write_text(DLAI_IMPORTS + "\n\ndef rnn_cell_forward(xt, a_prev):  # the parameters argument forgotten\n"
                      "    return None, None, None\n" + DLAI_FUNCTIONS["rnn_cell_backward"])
    entry, _ = audit(capsys, tmp_path, target, "dlai_rnn_cell")
    crash = evidence(entry, "rnn_cell_forward")
    assert crash.startswith("crash: dlai_rnn_cell forward (float64): raised TypeError: rnn_cell_forward() takes 2 "
                            "positional arguments but "), crash
    assert "impl/" not in crash and " at " not in crash.split("[")[0]


#: A course backward pass left as the template hands it out: the dict of gradients still empty.
EMPTY_GRADIENTS = """
def rnn_cell_backward(da_next, cache):
    gradients = {}
    # TODO: the gradients of the cell, in the dict
    return gradients
"""


def test_a_course_backward_that_returns_its_empty_dict_is_not_implemented(capsys, tmp_path):
    target = tmp_path / "dlai.py"
    target.write_text(DLAI_IMPORTS + DLAI_FUNCTIONS["rnn_cell_forward"] + EMPTY_GRADIENTS)
    entry, _ = audit(capsys, tmp_path, target, "dlai_rnn_cell")
    assert findings(entry) == {"rnn_cell_forward": "pass", "rnn_cell_backward": "not_implemented"}
    assert evidence(entry, "rnn_cell_backward").startswith(
        "not_implemented: dlai_rnn_cell backward (float64): rnn_cell_backward returned an empty dict of gradients")


#: Functions as a template leaves them, or not: what the static reading must see (``""``: finished work).
SOURCES = {
    "def f(x):\n    return x * 2\n": "",
    "def f(x):\n    return helper(x)\n": "",
    "def f(x):\n    out = None\n    out = x + 1\n    return out\n": "",
    'def f(x):\n    """Still to write."""\n': "its body is still the template's (a docstring alone)",
    "def f(x):\n    h, cache = None, None\n    # TODO\n    pass\n    return h, cache\n":
        "its body is still the template's (h, cache = None, None; pass; return h, cache)",
    'def f(x):\n    dx = None\n    return {"dx": dx}\n':
        'its body is still the template\'s (dx = None; return {"dx": dx})',
    "def f(x):\n    out = None\n    n = x.shape[0]\n    return out, n\n":
        "it returns out, set to None at line 2 (out = None) and never set again",
}


@pytest.mark.parametrize("source", SOURCES)
def test_a_function_is_read_unfinished_only_from_its_placeholders(source, tmp_path):
    path = tmp_path / "template.py"
    path.write_text(source)
    assert unfinished_function(import_file(path).f) == SOURCES[source]
