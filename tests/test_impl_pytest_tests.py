"""``oracle.targets.pytest_tests.impl_tests``: a user's pytest run reports each audit check as a test (JUnit XML)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from oracle.judge.verdicts import functions_of
from oracle.layers import all_specs
from tests.user_implementations import course_folder

ROOT = Path(__file__).resolve().parent.parent


def test_a_users_pytest_run_reports_every_check_and_the_one_problem(tmp_path):
    folder = course_folder(tmp_path, "in-place dnext_c")
    (tmp_path / "test_rnn_oracle.py").write_text(
        "from oracle.targets.pytest_tests import impl_tests\n\n"
        f"test_rnn_layers = impl_tests({str(folder)!r}, cases=2)\n")
    report = tmp_path / "junit.xml"
    completed = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                                "-o", "addopts=", "-W", "ignore", f"--junitxml={report}", str(tmp_path)],
                               cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                               text=True, timeout=600)
    assert completed.returncode == 1, completed.stdout[-3000:]
    cases = ElementTree.parse(report).getroot().iter("testcase")
    failed = {case.get("name") for case in cases if case.find("failure") is not None}
    assert failed == {"test_rnn_layers[lstm_step_backward-float64-upstream gradient next_c unchanged]",
                      "test_rnn_layers[lstm_step_backward-float32-upstream gradient next_c unchanged]"}
    names = [case.get("name") for case in ElementTree.parse(report).getroot().iter("testcase")]
    functions = {name.removeprefix("test_rnn_layers[").split("-")[0] for name in names}
    expected = {function for spec in all_specs() for function in functions_of(spec)
                if spec.public_names and spec.family == "cs231n"}
    assert functions == expected  # every public function's checks are tests of their own


def test_a_target_that_cannot_be_imported_is_one_failing_test(tmp_path):
    broken = tmp_path / "python2.py"
    broken.write_text('print "hello"\n')
    (tmp_path / "test_rnn_oracle.py").write_text(
        f"from oracle.targets.pytest_tests import impl_tests\n\ntest_rnn_layers = impl_tests({str(broken)!r})\n")
    completed = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                                "-o", "addopts=", str(tmp_path / "test_rnn_oracle.py")], cwd=tmp_path,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 1 and "1 failed" in completed.stdout and "SyntaxError" in completed.stdout
