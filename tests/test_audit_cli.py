"""``rnn-oracle audit``: table, summary, JSON, exit statuses, broken layers, devices, and the full default run."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import oracle.judge.sampling
from oracle.cli import DEFAULT_CASES, main
from oracle.judge.audit import DTYPES, AuditConfig, audit_case, case_rng, run_audit
from oracle.judge.checks import run_case
from oracle.judge.sampling import sampling_comparison
from oracle.layers import all_specs, get_spec
from oracle.layers.cs231n import build_captioning_model
from oracle.report.text import JSON_SCHEMA, SCHEMA_VERSION, render
from oracle.specs.sources import RandomSource
from tests.planted_bugs import PLANTED_BUGS

ROOT = Path(__file__).resolve().parent.parent
BROKEN = "tests.broken_specs:SPECS"
SCHEMA_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def audit(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``main(["audit", *argv])`` in-process; return the status, stdout and stderr."""
    code = main(["audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def type_matches(value, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, SCHEMA_TYPES[name])


def validate(value, schema: dict, where: str = "$") -> None:
    """Check ``value`` against the subset of JSON Schema that :data:`oracle.report.text.JSON_SCHEMA` uses."""
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        assert any(type_matches(value, name) for name in names), f"{where}: {value!r} is not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    for key in schema.get("required", []):
        assert key in value, f"{where}: missing {key!r}"
    for key, subschema in schema.get("properties", {}).items():
        if key in value:
            validate(value[key], subschema, f"{where}.{key}")
    if "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{index}]")


def test_audit_of_two_layers_passes_and_prints_table_and_summary(capsys):
    code, out, err = audit(capsys, "--layers", "affine,lstm", "--cases", "2", "--seed", "3")
    assert code == 0, out
    assert "impl vs torch[cpu]" in out and "impl vs finite diff" in out and "torch vs finite diff" in out
    for row in ("affine  ", "lstm  ", "output h", "grad Wx", "grad h0", "float32", "float64"):
        assert row in out, row
    assert "FAIL" not in out
    # Per dtype: affine 1 output + 3 grads x 3 pairs, lstm 1 output + 5 grads x 3 pairs; in float64 also the
    # metamorphic relations (outputs and grads of [repeated call] and [batch split], grads of [2x upstream] and
    # [zero upstream]: 6 per layer; lstm's [loop of steps]: 2 more).
    assert "66 of 66 checks passed (all passed)" in out and "seed 3" in out
    assert "cudnn_allow_tf32" in out  # the precision settings in force are part of the report
    assert "[1/4] affine float64 ..." in err and "[4/4] lstm float32 ..." in err


def test_json_matches_documented_schema(capsys, tmp_path):
    path = tmp_path / "audit.json"
    code, _, _ = audit(capsys, "--layers", "rnn_step", "captioning_gru", "--dtypes", "float32", "--cases", "1",
                       "--seed", "11", "--json", str(path))
    assert code == 0
    document = json.loads(path.read_text())
    validate(document, JSON_SCHEMA)
    assert document["schema_version"] == SCHEMA_VERSION and document["passed"] is True
    assert document["seed"] == 11 and document["options"]["layers"] == ["rnn_step", "captioning_gru"]
    assert document["options"]["dtypes"] == ["float32"] and document["options"]["cases"] == 1
    assert document["command_line"][:2] == ["audit", "--layers"]
    assert document["environment"]["torch"] == torch.__version__
    assert "cudnn_allow_tf32" in document["environment"]["precision"]
    assert document["summary"]["passed"] == document["summary"]["checks"] == len(document["results"])
    quantities = {(row["layer"], row["quantity"], row["subject"], row["reference"]) for row in document["results"]}
    assert ("captioning_gru", "sample captions", "impl", "torch[cpu]") in quantities
    assert ("captioning_gru", "grad bh", "torch[cpu]", "finite_difference") in quantities


@pytest.mark.parametrize("argv", [
    [], ["audit", "--cases", "0"], ["audit", "--seed", "-1"], ["audit", "--bogus"], ["audit", "--device", "tpu"],
    ["audit", "--cases", "many"], ["nonsense"],
])
def test_bad_usage_exits_2(argv, capsys):
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--layers", "lstm,nope"], "unknown layer 'nope'"),
    (["--dtypes", "float16"], "unknown dtype float16"),
    (["--spec", "no_such_module_anywhere:SPECS"], "cannot load --spec"),
    (["--spec", "tests.broken_specs"], "cannot load --spec"),
    (["--spec", "tests.broken_specs:MISSING"], "cannot load --spec"),
    (["--spec", "tests.broken_specs:NOT_SPECS"], "not LayerSpec"),
    (["--spec", "oracle.layers.cs231n:LSTM"], "already taken"),
])
def test_unknown_names_and_bad_specs_exit_2(argv, message, capsys):
    code, out, err = audit(capsys, *argv)
    assert code == 2 and message in err and not out


def test_json_to_an_unwritable_path_exits_2(capsys, tmp_path):
    code, _, err = audit(capsys, "--layers", "affine", "--cases", "1", "--json", str(tmp_path / "no" / "x.json"))
    assert code == 2 and "cannot write --json" in err


def test_broken_layers_fail_naming_layer_and_gradient(capsys, tmp_path):
    path = tmp_path / "broken.json"
    code, out, _ = audit(capsys, "--spec", BROKEN, "--cases", "2", "--json", str(path))
    assert code == 1
    assert "FAIL lstm_dWx_scaled float64 grad Wx: impl vs torch[cpu]" in out
    assert "impl's backward is wrong: torch and finite differences agree" in out
    assert "FAIL lstm_gates_swapped float32 output h: impl vs torch[cpu]" in out
    assert re.search(r"lstm_dWx_scaled +float64 +grad Wh( +\S+){3} +pass", out)  # the others are audited and pass
    assert "torch[cpu]: lstm_gates_swapped grad x (float64" in out  # which side each failed comparison is
    failing = {(row["layer"], row["quantity"]) for row in json.loads(path.read_text())["results"] if not row["passed"]}
    assert ("lstm_dWx_scaled", "grad Wx") in failing and ("lstm_dWx_scaled", "grad Wh") not in failing
    assert ("lstm_gates_swapped", "output h") in failing
    assert not any(layer == "lstm" for layer, _ in failing)


def test_failure_names_shapes_seed_case_and_a_rerun_command_that_reproduces_it(capsys):
    code, out, _ = audit(capsys, "--spec", BROKEN, "--layers", "lstm_dWx_scaled", "--dtypes", "float32",
                         "--cases", "2", "--seed", "5")
    assert code == 1
    assert "case 0 (seed 5): layer lstm_dWx_scaled, dtype float32, inputs x(" in out
    rerun = next(line.split("rerun: ", 1)[1] for line in out.splitlines() if "rerun: " in line)
    assert rerun == ("rnn-oracle audit --layers lstm_dWx_scaled --dtypes float32 --seed 5 --cases 1 "
                     f"--spec {BROKEN}")
    code, again, _ = audit(capsys, *shlex.split(rerun)[2:])
    assert code == 1 and "FAIL lstm_dWx_scaled float32 grad Wx" in again


def test_spec_layers_can_be_audited_next_to_builtins(capsys):
    code, out, err = audit(capsys, "--spec", BROKEN, "--layers", "lstm_gates_swapped,affine", "--cases", "1")
    assert code == 1 and "affine  " in out and "lstm_dWx_scaled" not in out + err


def test_a_case_depends_only_on_seed_layer_dtype_and_index():
    spec = get_spec("gru_step")
    first, again = audit_case(spec, "float32", 9, 2), audit_case(spec, "float32", 9, 2)
    assert [(o.inputs, o.comparison.max_abs) for o in first] == [(o.inputs, o.comparison.max_abs) for o in again]
    draws = {case_rng(9, layer, dtype, index).random()
             for layer in ("gru_step", "lstm") for dtype in DTYPES for index in range(3)}
    assert len(draws) == 2 * len(DTYPES) * 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given when CUDA is missing")
def test_device_cuda_without_cuda_exits_2_with_a_clear_message(capsys):
    code, out, err = audit(capsys, "--device", "cuda", "--layers", "affine", "--cases", "1")
    assert code == 2 and not out
    assert "--device cuda requested, but no CUDA device is available" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_cuda_reports_disagreement_and_precision_settings(capsys, tmp_path):
    path = tmp_path / "cuda.json"
    code, out, _ = audit(capsys, "--device", "cuda", "--layers", "lstm,gru", "--cases", "2", "--json", str(path))
    assert code in (0, 1)  # float32 through cuDNN may use TF32: a disagreement is reported, not hidden
    assert "impl vs torch[cuda]" in out and "cudnn_allow_tf32" in out
    document = json.loads(path.read_text())
    validate(document, JSON_SCHEMA)
    assert document["options"]["device"] == "cuda"
    float64 = [row for row in document["results"] if row["dtype"] == "float64"]
    assert float64 and all(row["passed"] for row in float64)


def test_python_dash_m_oracle_runs_the_same_command():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run([sys.executable, "-m", "oracle", "audit", "--layers", "affine", "--cases", "1"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "checks passed (all passed)" in completed.stdout and "[2/2] affine float32" in completed.stderr


@pytest.mark.slow
def test_full_default_audit_passes(capsys):
    started = time.perf_counter()
    code, out, err = audit(capsys)
    seconds = time.perf_counter() - started
    assert code == 0, out
    layers = len(all_specs())
    assert f"{layers} layers x 2 dtypes x {DEFAULT_CASES} cases, seed 0" in out
    units = sum(dtype in spec.dtypes for spec in all_specs() for dtype in ("float64", "float32"))
    assert units < 2 * layers, "deeplearning.ai's layers take float64 alone"
    assert f"[{units}/{units}]" in err
    print(f"full default audit: {seconds:.1f} s")  # shown with -s / -rP; the budget is 30 s on two cores


def raising_forward(*inputs):
    raise FloatingPointError("planted crash")


def test_a_crashing_layer_is_reported_as_a_failure_not_a_crash():
    spec = dataclasses.replace(get_spec("affine"), name="affine_crashing", forward=raising_forward)
    result = run_audit([spec], AuditConfig(layers=(spec.name,), dtypes=("float64",), cases=2, seed=0))
    assert not result.passed
    [check] = result.checks
    assert check.quantity == "error in forward" and len(check.failures) == 2
    assert "FloatingPointError: planted crash" in check.failures[0].message
    shown = render(result)
    assert "FAIL affine_crashing float64 error in forward: impl gave no result in 2 of 2 cases" in shown
    assert " inf" not in shown  # nothing was compared: no figures, in the table or the failure


class FakeTwin:
    """Stands in for ``CaptioningTwin``: samples impl's captions with one word changed at row 0, step 0."""

    gap = 0.0

    def __init__(self, cell, params, null=0, device="cpu"):
        self.model = build_captioning_model(cell, null, params)

    def sample(self, features, max_length, start):
        captions = self.model.sample(features, max_length=max_length).copy()
        vocab = self.model.params["W_embed"].shape[0]
        scores = np.zeros((*captions.shape, vocab), dtype=features.dtype)
        other = (captions[0, 0] + 1) % vocab
        scores[0, 0, other] = FakeTwin.gap  # the twin "prefers" other by gap over impl's word (score 0)
        captions[0, 0] = other
        return captions, scores


@pytest.mark.parametrize("gap, passes", [(1e-7, True), (1e-3, False)])
def test_sampling_differences_count_only_beyond_a_near_tie(monkeypatch, gap, passes):
    monkeypatch.setattr(oracle.judge.sampling.twins, "CaptioningTwin", FakeTwin)
    monkeypatch.setattr(FakeTwin, "gap", gap)
    spec = get_spec("captioning_lstm")
    case = run_case(spec, RandomSource(case_rng(0, spec.name, "float32", 0)), np.float32)
    comparison = sampling_comparison(spec, case, "lstm", "cpu")
    assert comparison.passed is passes and comparison.max_abs == pytest.approx(gap)
    if not passes:
        assert "row 0 step 0: impl chose word" in comparison.problem


def writes_into_its_input_x(spec):
    """The planted bug of a forward that overwrites ``x`` after using it (the math is right)."""

    def forward(*args):
        results = spec.forward(*args)
        args[0][...] = 0
        return results

    return dataclasses.replace(spec, name=f"{spec.name}_zeroes_x", forward=forward)


@pytest.mark.parametrize("broken, argument", [
    (next(bug for bug in PLANTED_BUGS if bug.name == "lstm_step_backward mutates dnext_c").broken_spec(),
     "upstream gradient next_c"),
    (writes_into_its_input_x(get_spec("rnn")), "input x"),
])
def test_a_layer_that_writes_into_its_arguments_is_reported_for_that_and_nothing_else(broken, argument):
    """Correct math that modifies the caller's array: the audit names the argument, and every value passes,
    because impl got copies and the twin and finite differences saw the arrays as drawn."""
    observations = [observation for dtype in DTYPES for observation in audit_case(broken, dtype, 0, 0)]
    failed = {observation.comparison.quantity for observation in observations if not observation.comparison.passed}
    assert failed == {f"{argument} unchanged"}
    assert any("in place" in observation.comparison.problem for observation in observations)


def test_a_layer_that_returns_float64_for_float32_gets_dtype_findings_and_a_verdict_on_its_values():
    promoting = next(bug for bug in PLANTED_BUGS if bug.name == "lstm promotes float32 to float64").broken_spec()
    observations = audit_case(promoting, "float32", 0, 0)
    failed = {observation.comparison.quantity for observation in observations if not observation.comparison.passed}
    quantities = [f"output {name}" for name in promoting.outputs] + [f"grad {name}" for name in promoting.grads]
    assert failed == {f"{quantity} dtype" for quantity in quantities}
    values = [observation.comparison for observation in observations
              if observation.comparison.quantity in quantities]
    assert values and all(np.isfinite(comparison.max_abs) for comparison in values)


def test_a_spec_file_can_import_the_package_beside_it(capsys, tmp_path, monkeypatch):
    """``my_audit.py`` next to the user's ``cs231n/`` folder: ``from cs231n.layers import ...`` works."""
    (tmp_path / "cs231n").mkdir()
    (tmp_path / "cs231n" / "__init__.py").write_text("")
    (tmp_path / "cs231n" / "layers.py").write_text(
        "import dataclasses\nfrom oracle.layers.cs231n import AFFINE\n"
        "SPECS = [dataclasses.replace(AFFINE, name='user_affine')]\n")
    (tmp_path / "my_audit.py").write_text("from cs231n.layers import SPECS\n")
    monkeypatch.setattr(sys, "path", list(sys.path))  # the import adds the file's folder; keep it local
    monkeypatch.delitem(sys.modules, "cs231n", raising=False)
    code, out, _ = audit(capsys, "--spec", f"{tmp_path / 'my_audit.py'}:SPECS", "--layers", "user_affine",
                         "--cases", "1")
    assert code == 0 and "user_affine" in out


@pytest.mark.parametrize("source, error", [
    ('print "hello"\n', "SyntaxError at {path}:1"),
    ("x = 1\nraise RuntimeError('boom')\n", "RuntimeError at {path}:2: boom"),
])
def test_a_spec_file_that_cannot_be_imported_exits_2_naming_file_line_and_error(capsys, tmp_path, source, error):
    path = tmp_path / "broken_audit.py"
    path.write_text(source)
    code, _, err = audit(capsys, "--spec", f"{path}:SPECS")
    assert code == 2 and error.format(path=path) in err and "Traceback" not in err


@pytest.mark.parametrize("stub", [
    lambda *args: None,                          # a body of `pass`
    lambda *args: (None, None),                  # the course's skeleton: out, cache = None, None
    lambda *args: (_ for _ in ()).throw(NotImplementedError("TODO")),
])
def test_a_stub_is_reported_as_not_implemented_not_as_an_oracle_crash(stub):
    spec = dataclasses.replace(get_spec("rnn_step"), name="rnn_step_stub", forward=stub)
    observations = audit_case(spec, "float64", 0, 0)
    assert len(observations) == 1 and not observations[0].comparison.passed
    problem = observations[0].comparison.problem
    assert observations[0].comparison.cause == "not_implemented"
    assert ("NotImplementedError" in problem or "not implemented (still a stub?)" in problem), problem
    assert "oracle/specs/spec.py" not in problem
