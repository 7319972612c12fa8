"""Notebooks as targets (``--impl NOTEBOOK.ipynb``, :mod:`oracle.targets.notebooks`) and the audit inside a kernel.

Every fixture notebook is built here with nbformat. A notebook must get the
verdicts its code gets as a ``.py`` file, with its cells cited, in bounded time.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from oracle.cli import main
from oracle.judge.verdicts import NO_FAILURE, functions_of
from oracle.layers import all_specs
from oracle.targets.notebooks import notebook_cells
from tests.hostile_targets import HEADER
from tests.user_implementations import PROBLEMS

#: A data-loading, a plotting and a training cell as a learner's notebook has them: none may run by default.
MESSY_CELLS = [
    "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n!pip install --quiet nothing-at-all",
    "from cs231n.coco_utils import load_coco_data  # not here: this cell fails\ndata = load_coco_data(max_train=50)",
    "import matplotlib.pyplot as plt\nplt.plot(data['train_captions'][0])\nplt.show()",
    "import time\nfor epoch in range(10**9):  # training that would run for minutes\n    time.sleep(1)",
]

#: Which spec each public function belongs to.
SPEC_OF = {function: spec.name for spec in all_specs() if spec.family == "cs231n"
           for function in functions_of(spec)}


def write_notebook(path: Path, *sources: str, counts: bool = True) -> Path:
    """A notebook of a markdown cell and one code cell per source (execution counts 1, 2, ... when ``counts``)."""
    notebook = new_notebook()
    notebook.cells = [new_markdown_cell("# Recurrent layers")] + [
        new_code_cell(source, execution_count=number if counts else None)
        for number, source in enumerate(sources, start=1)]
    nbformat.write(notebook, str(path))
    return path


def audit(capsys, tmp_path, target: Path, *options: str) -> tuple[int, dict, str]:
    path = tmp_path / f"{target.stem}.json"
    code = main(["audit", "--impl", str(target), "--json", str(path), "--cases", "2", "--timeout", "5", *options])
    out, _ = capsys.readouterr()
    return code, json.loads(path.read_text()), out


def layers_of(expected: dict[str, set[str]]) -> list[str]:
    """The layers to audit for a problem: the specs of its functions (affine for a problem with none)."""
    return sorted({SPEC_OF[function] for function in expected}) or ["affine"]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_notebook_gets_the_verdicts_of_its_code_as_a_file(problem, capsys, tmp_path):
    layers_code, model_code, expected = PROBLEMS[problem]
    file = tmp_path / "layers.py"
    file.write_text(HEADER + layers_code + model_code)
    notebook = write_notebook(tmp_path / "layers.ipynb", HEADER, *MESSY_CELLS[:1], layers_code, model_code)
    layers = ("--layers", *layers_of(expected))
    _, from_file, _ = audit(capsys, tmp_path, file, *layers)
    code, from_notebook, _ = audit(capsys, tmp_path, notebook, *layers)
    assert from_notebook["targets"][0]["verdicts"] == from_file["targets"][0]["verdicts"]
    assert code == (1 if any(findings - set(NO_FAILURE) for findings in expected.values()) else 0)


def test_a_messy_notebook_runs_only_its_definitions_and_cites_its_cells(capsys, tmp_path):
    crash = "def temporal_affine_forward(x, w, b):\n    n, t, d = x.squeeze().shape\n    return 1\n"
    notebook = write_notebook(tmp_path / "messy.ipynb", *MESSY_CELLS, HEADER, crash, "def broken(:\n    pass")
    started = time.perf_counter()
    code, document, out = audit(capsys, tmp_path, notebook, "--layers", "temporal_affine,affine")
    assert time.perf_counter() - started < 60  # the training cell never ran
    [entry] = document["targets"]
    found = {function: {finding for findings in dtypes.values() for finding in findings} - {"pass"}
             for function, dtypes in entry["verdicts"].items()}
    assert {function: findings for function, findings in found.items() if findings} == {
        "temporal_affine_forward": {"crash"}, "temporal_affine_backward": {"untested"}}
    evidence = " ".join(entry["evidence"]["temporal_affine_forward"]["float64"])
    assert f"{notebook}, cell 6 (In [6]), line 2" in evidence and "/tmp" not in evidence.replace(str(notebook), "")
    assert entry["notes"] == [
        f"{notebook}, cell 7 (In [7]): does not parse (SyntaxError at line 1: invalid syntax): skipped",
        f"{notebook}, cell 2 (In [2]), line 1: from cs231n.coco_utils import load_coco_data raised "
        "ModuleNotFoundError: No module named 'cs231n': that import skipped, the rest of the cell run"]
    assert f"note: {notebook}, cell 7" in out and code == 1


def test_definitions_keep_the_constants_they_read_and_nothing_else(tmp_path):
    notebook = write_notebook(tmp_path / "constants.ipynb",
                              "import numpy as np\nGATES = 4\nWIDTH = GATES * 2\nunused = np.ones(3)\nprint(WIDTH)",
                              "def width(h, scale=SCALE):\n    return WIDTH * h * scale\nSCALE = 2\nwidth(3)")
    cells, notes = notebook_cells(notebook)
    code = "\n".join(cell.source for cell in cells)
    assert "GATES = 4" in code and "WIDTH = GATES * 2" in code and "SCALE = 2" in code
    assert "unused" not in code and "print" not in code and "width(3)" not in code
    assert [cell.index for cell in cells] == [1, 2] and not notes
    assert cells[0].source.splitlines()[1] == "GATES = 4"  # line numbers kept: line 2 of the cell is line 2


def test_a_test_cells_data_and_random_draws_are_no_constants(tmp_path):
    """A global a definition reads is not set from a test cell or by a random draw: the function's NameError
    then names it (deeplearning.ai's notebooks set ``parameters_tmp`` and such in their test cells)."""
    notebook = write_notebook(tmp_path / "tests.ipynb",
                              "import numpy as np\nRNG = np.random.default_rng(0)\n"
                              "def step(x):\n    return np.dot(W, x) + B + RNG.normal()",
                              "B = np.random.randn(2, 1)",
                              "W = np.eye(2)\nprint(step(np.ones((2, 1))))")
    cells, _ = notebook_cells(notebook)
    code = "\n".join(cell.source for cell in cells)
    assert "RNG = np.random.default_rng(0)" in code, "a generator the definition draws from is kept"
    assert "B =" not in code and "W =" not in code


def test_every_cell_runs_with_cells_all_and_a_cell_that_hangs_is_skipped(capsys, tmp_path):
    notebook = write_notebook(tmp_path / "all.ipynb", HEADER, "import time\ntime.sleep(3600)",
                              "raise RuntimeError('a demo cell that fails here')",
                              "SCALE = 1.0\nx = affine_forward  # a statement definitions-only would leave out")
    started = time.perf_counter()
    code, document, _ = audit(capsys, tmp_path, notebook, "--cells", "all", "--layers", "affine", "--timeout", "2")
    [entry] = document["targets"]
    assert code == 0 and time.perf_counter() - started < 60
    assert any("cell 2 (In [2]): no result within 2 s: skipped" in note for note in entry["notes"])
    assert any("cell 3 (In [3]): raised RuntimeError: a demo cell that fails here" in note for note in entry["notes"])


def test_a_path_that_is_not_code_gets_one_line_and_exit_2(capsys, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("def affine_forward(x, w, b): ...\n")
    assert main(["audit", "--impl", str(text), "--layers", "affine"]) == 2
    assert "give a .py file, a .ipynb notebook, a package folder or a dotted module name" in capsys.readouterr().err


def test_a_notebook_without_nbformat_names_the_extra(capsys, tmp_path, monkeypatch):
    notebook = write_notebook(tmp_path / "any.ipynb", HEADER)
    monkeypatch.setitem(sys.modules, "nbformat", None)
    assert main(["audit", "--impl", str(notebook), "--layers", "affine"]) == 2
    assert "pip install 'rnn-oracle[notebook]'" in capsys.readouterr().err


def test_the_kernel_audit_judges_the_functions_of_a_namespace():
    from oracle.targets.jupyter import audit_here

    namespace: dict = {}
    exec(HEADER + PROBLEMS["bias gradient of shape (1, H)"][0], namespace)  # noqa: S102 - the fixture's own code
    result = audit_here(namespace, layers=["rnn_step", "affine"], cases=2)
    assert result.entry["verdicts"]["rnn_step_backward"]["float64"] == ["wrong_value"]
    assert result.entry["verdicts"]["affine_backward"]["float64"] == ["pass"]
    page = result._repr_html_()
    assert "rnn_step_backward" in page and "<script" not in page and "http://" not in page.replace("http://www.w3", "")
    assert "rnn_step_backward  float64 wrong_value" in str(result)


def test_the_kernel_audit_shows_its_report_inline_in_a_real_kernel(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    code = HEADER + PROBLEMS["bias gradient of shape (1, H)"][0]
    notebook = new_notebook()
    notebook.cells = [new_code_cell(code), new_code_cell("%load_ext oracle"),
                      new_code_cell("%rnn_oracle --layers rnn_step --cases 2")]
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(__file__).resolve().parent.parent)}}).execute()
    outputs = notebook.cells[-1].outputs
    html = [output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert html and "rnn_step_backward" in html[0] and "wrong_value" in html[0]
