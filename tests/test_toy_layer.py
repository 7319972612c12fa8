"""A layer declared by one spec in one file is picked up by every generic suite and by the audit.

The toy (``tests/toy_layer.py``) is registered only in the pytest and audit
processes started here, so the rest of the suite never sees it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.toy_layer import NAME

ROOT = Path(__file__).resolve().parent.parent
#: The generic suites: every one iterates over the registry.
GENERIC_SUITES = ("tests/test_layer_specs.py", "tests/test_input_contract.py", "tests/test_finite_differences.py",
                  "tests/test_numerical_edges.py", "tests/test_twin_gradcheck.py")


def run(*command: str, bug: bool = False) -> subprocess.CompletedProcess:
    # With the bug, only whether a test fails matters, not its smallest example: no shrinking (profile catch).
    env = dict(os.environ, HYPOTHESIS_PROFILE="catch" if bug else "dev", TOY_LAYER_BUG="1" if bug else "0")
    return subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def generic_tests(*suites: str, bug: bool = False) -> subprocess.CompletedProcess:
    """Every test of ``suites`` for the toy; with ``bug``, stop at the first failure."""
    return run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "tests.toy_layer",
               "-k", NAME, *(["-x"] if bug else []), *suites, bug=bug)


@pytest.mark.slow
def test_every_generic_suite_runs_the_toy_layer_and_it_passes():
    collected = run("-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", "-p", "tests.toy_layer",
                    "-k", NAME, *GENERIC_SUITES)
    files = {line.split("::")[0] for line in collected.stdout.splitlines() if NAME in line}
    assert files == set(GENERIC_SUITES), collected.stdout[-3000:]
    toy_ids = [line for line in collected.stdout.splitlines() if NAME in line]
    for subject in ("matches_twin", "dtypes_and_shapes", "no_mutation_and_determinism", "float16_is_rejected",
                    "sizes_that_must_agree", "error_inputs_of_the_spec", "bad_upstream_gradients",
                    f"{NAME}-N=0", f"{NAME}-M=0", "zero_size_is_declared"):
        assert any(subject in line for line in toy_ids), subject
    passed = generic_tests(*GENERIC_SUITES)
    assert passed.returncode == 0, passed.stdout[-3000:]


def test_the_generic_suites_catch_a_bug_in_the_toy_layer():
    failed = generic_tests("tests/test_layer_specs.py", bug=True)
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "grad b" in failed.stdout


@pytest.mark.parametrize("bug", [False, True])
def test_the_audit_runs_the_toy_layer(bug):
    audit = run("-c", "import sys, tests.toy_layer as toy; from oracle.specs.registry import register; "
                "from oracle.cli import main; register(toy.TOY); "
                f"sys.exit(main(['audit', '--layers', '{NAME}', '--cases', '2']))", bug=bug)
    assert audit.returncode == (1 if bug else 0), audit.stdout[-3000:] + audit.stderr[-2000:]
    assert f"{NAME}" in audit.stdout and ("FAIL" in audit.stdout) is bug
