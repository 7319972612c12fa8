"""A grader's tools: rubric points, Gradescope's results.json, a CSV, shards of a class and their merge."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.cli import main
from oracle.targets.rubric import DEFAULT_RUBRIC, RubricError, load_rubric
from tests.user_implementations import PROBLEMS, course_folder

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gradescope"

#: Fast options for a class: the findings of the fixtures that these layers reach, one case each.
CLASS_OPTIONS = ("--layers", "affine,rnn_step,lstm_step,temporal_affine", "--cases", "1")


def class_of(root: Path, count: int = 12) -> list[str]:
    """``count`` course folders, one per problem of :data:`PROBLEMS` (correct, buggy, crashing, stubs)."""
    return [str(course_folder(root / f"student{number:02d}", problem))
            for number, problem in zip(range(count), PROBLEMS, strict=False)]


def test_the_rubric_turns_findings_into_points(tmp_path):
    rubric_file = tmp_path / "rubric.toml"
    rubric_file.write_text('[functions]\nrnn_step_forward = 2\nrnn_step_backward = {points = 4, visibility = '
                           '"hidden"}\n[findings]\ndtype_changed = 0.5\nmutates_input = 0.25\n')
    rubric = load_rubric(rubric_file)
    score = rubric.score({"rnn_step_forward": {"float64": ["pass"], "float32": ["dtype_changed"]},
                          "rnn_step_backward": {"float64": ["mutates_input"], "float32": ["wrong_value"]}})
    assert score == {"total": 1.0, "max": 6.0, "functions": {"rnn_step_forward": 1.0, "rnn_step_backward": 0.0}}
    assert rubric.visibility == {"rnn_step_forward": "visible", "rnn_step_backward": "hidden"}
    assert load_rubric().source == str(DEFAULT_RUBRIC) and "lstm_backward" in load_rubric().points


@pytest.mark.parametrize(("text", "message"), [
    ("[functions]\nrnn_forward = 1\n[findings]\nbroken = 0.5\n", "not a finding"),
    ("[functions]\nrnn_forward = 1\n[findings]\ncrash = 2\n", "from 0 to 1"),
    ("[functions]\nrnn_forward = {points = 1, visibility = 'soon'}\n", "visibility must be one of"),
    ("[findings]\ncrash = 0\n", "gives no function any points"),
    ("[functions\n", "cannot read the rubric"),
])
def test_a_rubric_that_makes_no_sense_is_refused_with_where(text, message, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RubricError, match=message):
        load_rubric(path)
    assert main(["audit", "--impl", "impl", "--rubric", str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_the_example_autograder_writes_gradescope_results(tmp_path):
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    shutil.copy(EXAMPLE / "run_autograder", root / "source" / "run_autograder")
    (root / "source" / "rubric.toml").write_text(
        '[functions]\nrnn_step_forward = 1\nrnn_step_backward = {points = 2, visibility = "after_published"}\n'
        "[findings]\n")
    shutil.copytree(course_folder(tmp_path / "upload", "bias gradient of shape (1, H)"), root / "submission" / "cs231n")
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root), "RNN_ORACLE": f"{sys.executable} -m oracle"}
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=environment, check=True, timeout=600)
    results = json.loads((root / "results" / "results.json").read_text())
    assert set(results) == {"score", "execution_time", "output", "tests"}
    assert results["score"] == 1.0 and results["execution_time"] > 0
    tests = {test["name"]: test for test in results["tests"]}
    assert set(tests) == {"rnn_step_forward", "rnn_step_backward"}
    assert tests["rnn_step_forward"] | {"output": ""} == {"name": "rnn_step_forward", "score": 1.0, "max_score": 1.0,
                                                          "output": "", "visibility": "visible"}
    backward = tests["rnn_step_backward"]
    assert backward["score"] == 0.0 and backward["max_score"] == 2.0 and backward["visibility"] == "after_published"
    assert "float64: wrong_value" in backward["output"] and "grad b" in backward["output"]


@pytest.mark.slow
def test_a_class_in_shards_merges_into_exactly_one_run(tmp_path, capsys):
    targets = class_of(tmp_path)
    whole = tmp_path / "whole.json"
    assert main(["audit", "--impl", *targets, "-j", "2", *CLASS_OPTIONS, "--json", str(whole),
                 "--csv", str(tmp_path / "whole.csv")]) == 1
    one_run, progress = capsys.readouterr()
    assert "[12/12]" in progress and "with findings" in progress  # plain progress lines: stderr is no terminal
    parts = []
    for shard in ("1/3", "2/3", "3/3"):
        parts.append(tmp_path / f"part{shard[0]}.json")
        main(["audit", "--impl", *targets, "-j", "2", *CLASS_OPTIONS, "--shard", shard, "--json", str(parts[-1])])
    capsys.readouterr()
    merged = tmp_path / "merged.json"
    assert main(["merge", *map(str, reversed(parts)), "--json", str(merged),
                 "--csv", str(tmp_path / "merged.csv")]) == 1
    merged_grid, _ = capsys.readouterr()

    def judged(path: Path) -> list[dict]:
        return [{key: entry[key] for key in ("target", "index", "verdicts", "points", "error")}
                for entry in json.loads(path.read_text())["targets"]]

    def grid(text: str) -> list[list[str]]:  # the grid without its seconds column
        return [row[:1] + row[2:] for row in (line.split("\t") for line in text.strip().splitlines()[-13:])]

    assert judged(merged) == judged(whole) and len(judged(whole)) == 12
    assert grid(merged_grid) == grid(one_run)
    with open(tmp_path / "merged.csv", newline="") as handle, open(tmp_path / "whole.csv", newline="") as other:
        assert list(csv.reader(handle)) == list(csv.reader(other))


@pytest.mark.parametrize(("change", "message"), [
    (lambda document: document["options"].update(seed=7), "seed is 7 there and 0 in document 1"),
    (lambda document: document.update(schema_version="1"), "schema version '1'"),
    (lambda document: document.update(shard=[1, 2]), "a merge needs each of 1/2 ... 2/2 once"),
])
def test_shards_that_do_not_belong_together_are_refused(change, message, tmp_path, capsys):
    targets = class_of(tmp_path, count=2)
    parts = [tmp_path / "part1.json", tmp_path / "part2.json"]
    for number, part in enumerate(parts, start=1):
        main(["audit", "--impl", *targets, "--layers", "affine", "--cases", "1", "--shard", f"{number}/2",
              "--json", str(part)])
    document = json.loads(parts[1].read_text())
    change(document)
    parts[1].write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["merge", *map(str, parts)]) == 2
    assert message in capsys.readouterr().err


def test_on_a_terminal_the_class_progress_is_a_bar_with_findings_and_time_left(monkeypatch):
    import io

    from oracle.report.progress import ClassProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with ClassProgress(3) as shown:
        for number in range(3):
            shown.done({"target": f"student{number}", "seconds": 1.0}, failing=number == 1)
    text = terminal.getvalue()
    assert "3/3" in text and "with_findings=1" in text and "<" in text  # done/total, failing, elapsed<left
