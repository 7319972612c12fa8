"""The judge and the judged: no target can reach its verdict, every call is bounded (:mod:`oracle.targets.boundary`).

Each misbehaving target of :mod:`tests.hostile_targets` is audited through the
command line, with small limits (``--timeout 1 --memory 1G``), and must get
exactly its finding, within its bound, while its other functions still pass.
"""

from __future__ import annotations

import json
import time

import pytest

from oracle.cli import main
from tests.hostile_targets import FORGER, HOSTILE, PLANTED_BUG, write_target


def audit(capsys, tmp_path, *arguments: str) -> tuple[int, dict, str, str, float]:
    """Run ``rnn-oracle audit --impl ...``: ``(exit status, its JSON, stdout, stderr, seconds)``."""
    path = tmp_path / "verdicts.json"
    started = time.perf_counter()
    code = main(["audit", "--json", str(path), "--cases", "2", "--timeout", "1", *arguments])
    seconds = time.perf_counter() - started
    out, err = capsys.readouterr()
    return code, json.loads(path.read_text()) if path.is_file() else {}, out, err, seconds


def findings_of(entry: dict) -> dict[str, set[str]]:
    """``{function: findings other than pass}`` over both dtypes, for the functions that have any."""
    found = {function: {finding for findings in dtypes.values() for finding in findings} - {"pass"}
             for function, dtypes in entry["verdicts"].items()}
    return {function: findings for function, findings in found.items() if findings}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_misbehaving_target_gets_exactly_its_finding_within_its_bound(name, capsys, tmp_path):
    hostile = HOSTILE[name]
    target = write_target(tmp_path, "hostile", hostile.code)
    code, document, out, _, seconds = audit(capsys, tmp_path, "--impl", str(target), "--memory", hostile.memory,
                                            "--layers", *hostile.layers)
    [entry] = document["targets"]
    assert entry["error"] is None
    assert findings_of(entry) == hostile.findings, entry["evidence"]
    assert code == (1 if hostile.findings else 0)
    assert seconds < hostile.seconds
    assert "all checks passed" not in out  # what the target prints never reaches the report


def test_what_a_target_prints_is_kept_as_evidence_and_capped(capsys, tmp_path):
    target = write_target(tmp_path, "loud", HOSTILE["prints 64 KB on every call"].code)
    _, document, _, _, _ = audit(capsys, tmp_path, "--impl", str(target), "--layers", "affine")
    printed = document["targets"][0]["output"]["affine_forward"]
    assert printed["bytes"] >= 64 * 1024 * 8  # at least the 2 cases x 2 dtypes of the twin comparisons, twice
    assert 0 < len(printed["tail"].encode()) <= 4096 and printed["tail"].endswith("all checks passed\n")


@pytest.mark.parametrize("name", ["exits with status 0 inside rnn_forward", "sleeps for an hour"])
def test_the_evidence_says_how_the_call_ended(name, capsys, tmp_path):
    hostile = HOSTILE[name]
    target = write_target(tmp_path, "hostile", hostile.code)
    _, document, _, _, _ = audit(capsys, tmp_path, "--impl", str(target), "--layers", *hostile.layers)
    function = next(iter(hostile.findings))
    evidence = " ".join(text for texts in document["targets"][0]["evidence"][function].values() for text in texts)
    expected = "exited with status 0" if "exits" in name else "no result within 1 s (the worker was killed with SIGKILL"
    assert expected in evidence


@pytest.mark.parametrize(("code", "message"), [
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) while being imported"),
    ("import os\nos._exit(0)\n", "the target exited with status 0 while being imported"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "killed by SIGKILL while being imported"),
])
def test_a_target_that_exits_while_imported_cannot_be_imported(code, message, capsys, tmp_path):
    target = write_target(tmp_path, "exits", code)
    status, document, _, err, _ = audit(capsys, tmp_path, "--impl", str(target), "--layers", "affine")
    assert status == 2
    assert message in document["targets"][0]["error"] and message in err


def test_a_target_that_hangs_while_imported_costs_its_limit(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("oracle.cli.DEFAULT_IMPORT_TIMEOUT", 2.0)
    target = write_target(tmp_path, "hangs", "while True:\n    pass\n")
    status, document, _, _, seconds = audit(capsys, tmp_path, "--impl", str(target), "--layers", "affine")
    assert status == 2 and "did not finish importing within 2 s" in document["targets"][0]["error"]
    assert seconds < 20


def test_a_forged_grading_document_is_overwritten_by_the_judges(capsys, tmp_path):
    forger = write_target(tmp_path, "forger", FORGER)
    honest = write_target(tmp_path, "honest", "")
    status, document, out, _, _ = audit(capsys, tmp_path, "--impl", str(forger), str(honest), "-j", "2",
                                        "--layers", "affine")
    entries = {entry["target"]: entry for entry in document["targets"]}
    assert set(entries) == {str(forger), str(honest)}
    assert findings_of(entries[str(forger)]) == {"affine_backward": {"wrong_value"}}
    assert findings_of(entries[str(honest)]) == {}
    assert status == 1
    assert out.strip().splitlines()[-2].split("\t")[4] == "wrong_value"  # the grid: the forger's affine_backward


def test_a_spec_in_this_process_that_exits_is_a_finding_not_the_exit(capsys, tmp_path):
    spec_file = tmp_path / "exiting_spec.py"
    spec_file.write_text(
        "import dataclasses, sys\n"
        "from oracle.layers import get_spec\n\n\n"
        "def forward(*args):\n"
        "    sys.exit(0)\n\n\n"
        "SPECS = [dataclasses.replace(get_spec('affine'), name='exiting_affine', forward=forward)]\n")
    status = main(["audit", "--spec", f"{spec_file}:SPECS", "--cases", "1", "--dtypes", "float64"])
    out, _ = capsys.readouterr()
    assert status == 1
    assert "raised SystemExit" in out


def test_limits_without_impl_are_refused(capsys):
    assert main(["audit", "--layers", "affine", "--timeout", "5"]) == 2
    assert "no limit holds" in capsys.readouterr().err


def test_the_planted_bug_alone_is_found(capsys, tmp_path):
    """The cheats' planted bug, without a cheat: the finding every cheat above had to hide."""
    target = write_target(tmp_path, "planted", PLANTED_BUG)
    code, document, _, _, _ = audit(capsys, tmp_path, "--impl", str(target), "--layers", "affine")
    assert code == 1 and findings_of(document["targets"][0]) == {"affine_backward": {"wrong_value"}}
