"""Findings a learner can act on: the minimal failing case (:mod:`oracle.judge.shrink`) and a numpy-only reproducer
(:mod:`oracle.report.repro`) that fails before the fix and agrees after it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from oracle.cli import main
from tests.hostile_targets import write_target

#: A bug that shows only when N >= 2 and T >= 3: the minimal case must be exactly that size.
ONLY_WHEN_LARGE_ENOUGH = """
def temporal_affine_forward(x, w, b):
    out, cache = _impl.temporal_affine_forward(x, w, b)
    if x.shape[0] >= 2 and x.shape[1] >= 3:
        out = out.copy()
        out[1, 2] += 1.0
    return out, cache
"""

#: An RNN step written with numpy alone, its bias gradient kept 2-D (a common slip), and the fix.
RNN_STEP = """import numpy as np


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0{keepdims})
"""
BUGGY, FIXED = RNN_STEP.format(keepdims=", keepdims=True"), RNN_STEP.format(keepdims="")


def audit(capsys, tmp_path, target: Path, *options: str) -> tuple[int, dict]:
    path = tmp_path / "verdicts.json"
    code = main(["audit", "--impl", str(target), "--json", str(path), "--timeout", "5", *options])
    capsys.readouterr()
    return code, json.loads(path.read_text())["targets"][0]


def test_the_minimal_case_is_exactly_as_large_as_the_bug_needs(capsys, tmp_path):
    target = write_target(tmp_path, "large_enough", ONLY_WHEN_LARGE_ENOUGH)
    _, entry = audit(capsys, tmp_path, target, "--layers", "temporal_affine", "--dtypes", "float64")
    minimal = entry["minimal"]["temporal_affine_forward"]["float64"]
    assert minimal["finding"] == "wrong_value"
    assert minimal["sizes"] == {"N": 2, "T": 3, "D": 1, "M": 1}
    assert entry["evidence"]["temporal_affine_forward"]["float64"][-1].startswith(
        "minimal case (wrong_value): N=2, T=3, D=1, M=1; ")


def numpy_alone(tmp_path: Path) -> Path:
    """A folder holding numpy and nothing else, to run a reproducer with only numpy importable."""
    folder = tmp_path / "numpy-alone"
    folder.mkdir()
    source = Path(np.__file__).resolve().parent
    (folder / "numpy").symlink_to(source)
    libs = source.parent / "numpy.libs"  # the wheel's bundled BLAS, where it has one
    if libs.is_dir():
        (folder / "numpy.libs").symlink_to(libs)
    return folder


def run_alone(script: Path, path: Path) -> subprocess.CompletedProcess:
    code = f"import sys, runpy; sys.path[:0] = [{str(path)!r}]; runpy.run_path({str(script)!r}, run_name='__main__')"
    return subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=script.parent)


def as_notebook(path: Path, code: str) -> Path:
    notebook = new_notebook()
    notebook.cells = [new_code_cell("%matplotlib inline"), new_code_cell(code),
                      new_code_cell("print(rnn_step_forward)")]
    nbformat.write(notebook, str(path))
    return path


@pytest.mark.parametrize("kind", ["py", "ipynb"])
def test_a_reproducer_needs_numpy_alone_fails_before_the_fix_and_agrees_after(kind, capsys, tmp_path):
    target = tmp_path / f"layers.{kind}"
    write = (lambda code: target.write_text(code)) if kind == "py" else (lambda code: as_notebook(target, code))
    write(BUGGY)
    code, entry = audit(capsys, tmp_path, target, "--layers", "rnn_step", "--cases", "4",
                        "--repro", str(tmp_path / "repro"))
    assert code == 1 and entry["verdicts"]["rnn_step_backward"]["float32"] == ["wrong_value"]
    script = tmp_path / "repro" / "rnn_step_backward-float32.py"
    assert script.is_file() and (tmp_path / "repro" / "rnn_step_backward-float32.npz").is_file()
    assert entry["reproducers"]["rnn_step_backward"]["float32"] == str(script)
    alone = numpy_alone(tmp_path)
    before = run_alone(script, alone)
    assert before.returncode == 1, before.stderr
    assert "STILL WRONG" in before.stdout and "grad b: shape (1, 1) where (1,) is expected" in before.stdout
    write(FIXED)
    after = run_alone(script, alone)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "agrees with the reference" in after.stdout
