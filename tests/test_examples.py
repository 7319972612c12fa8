"""The user-defined variant in ``examples/``: the generic checks and the audit pick it up from its spec alone."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle.cli import main
from oracle.targets.spec_files import load_specs
from tests.layer_checks import ALL_CHECKS
from tests.planted_bugs import grad_transformed

EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "leaky_rnn.py")
(LEAKY_RNN,) = load_specs(f"{EXAMPLE}:SPECS")

#: The example with a planted bug: the leak gradient loses 1% on its way out.
BROKEN_LEAKY_RNN = dataclasses.replace(
    grad_transformed("leak", lambda grad: grad * grad.dtype.type(0.99))(LEAKY_RNN), name="leaky_rnn_broken"
)
BROKEN_SPECS = [BROKEN_LEAKY_RNN]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@given(data=st.data())
def test_generic_checks_cover_the_example(check, data):
    check(LEAKY_RNN, data.draw)


def test_audit_of_the_example_from_the_command_line_passes(tmp_path, capsys):
    report = tmp_path / "audit.json"
    assert main(["audit", "--spec", f"{EXAMPLE}:SPECS", "--cases", "4", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "leaky_rnn" in out and "grad leak" in out
    rows = json.loads(report.read_text())["results"]
    assert {row["layer"] for row in rows} == {"leaky_rnn"}
    assert all(row["passed"] for row in rows)


def test_audit_reports_the_planted_bug_in_the_example(capsys):
    status = main(["audit", "--spec", f"{__name__}:BROKEN_SPECS", "--cases", "4"])
    out = capsys.readouterr().out
    assert status == 1
    failing = [line for line in out.splitlines() if "leaky_rnn_broken" in line and "FAIL" in line]
    assert failing and all("grad leak" in line for line in failing), out


def test_the_example_leak_of_one_is_the_vanilla_rnn():
    import impl

    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5))
    Wx, Wh, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 5)), rng.standard_normal(5)
    leaky, _ = LEAKY_RNN.forward(x, h0, Wx, Wh, b, np.ones(5))
    vanilla, _ = impl.rnn_forward(x, h0, Wx, Wh, b)
    np.testing.assert_allclose(leaky, vanilla, rtol=1e-14, atol=1e-14)


def without_docstrings(function: ast.FunctionDef) -> str:
    body = function.body[1:] if ast.get_docstring(function) is not None else function.body
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def test_the_how_to_page_shows_the_examples_code():
    """docs/how-to/variant-spec.md pastes the example's functions: each as the example has it, docstrings aside."""
    page = (Path(EXAMPLE).parents[1] / "docs" / "how-to" / "variant-spec.md").read_text()
    shown = [node for block in re.findall(r"^```python\n(.*?)^```", page, flags=re.MULTILINE | re.DOTALL)
             for node in ast.parse(block).body if isinstance(node, ast.FunctionDef)]
    example = {node.name: node for node in ast.parse(Path(EXAMPLE).read_text()).body
               if isinstance(node, ast.FunctionDef)}
    assert {function.name for function in shown} == set(example)
    assert [function.name for function in shown
            if without_docstrings(function) != without_docstrings(example[function.name])] == []
