"""The site's output excerpts, rerun from real audits: ``docs/snippets/*.txt``, never edited by hand.

Each :class:`Example` lays out its targets in a scratch folder (the
learner-style notebooks of ``docs/examples/``, or the course folders and
notebooks that the tests build, :mod:`tests.user_implementations` and
:mod:`tests.dlai_course`), runs ``rnn-oracle`` there exactly as its first line
shows, with relative paths as a user types them, and keeps the part of the
output that its page discusses. The pages include the files with
``pymdownx.snippets`` (``--8<-- "NAME.txt"``); README.md, which GitHub shows
as it is, holds a copy of some between ``<!-- output: NAME -->`` and the end
of the fenced block after it, which this script rewrites too.

``python tools/docs_examples.py --write`` rewrites the files;
``--check`` (``tox -e docs-examples``) reruns everything and exits 1 naming
each excerpt that differs from its file, timings and numbers at rounding level
aside (they depend on the machine); ``--only NAME`` limits either to some excerpts. The scratch folder's own path,
where a report names it, is written as ``.``. The whole run audits
a few dozen small cases: about two minutes on two cores.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' fixture builders

from tests.dlai_course import write_notebook  # noqa: E402
from tests.user_implementations import course_folder  # noqa: E402

SNIPPETS = ROOT / "docs" / "snippets"
EXAMPLES = ROOT / "docs" / "examples"

#: Timings, which change from run to run: ``4.2 s``, ``0.61 s``, ``12 ms``, a grid's seconds column, Gradescope's
#: ``execution_time``.
TIMING = re.compile(r"\b\d+(?:\.\d+)? ?(?:s|ms)\b|(?<=\t)\d+\.\d+(?=\t)|(?<=\"execution_time\": )[\d.]+")

#: An LSTM backward whose weight and bias gradients come back with the o and g gate blocks swapped.
GATE_SWAP = '''

def lstm_backward(dh, cache):
    dx, dh0, dWx, dWh, db = _impl.lstm_backward(dh, cache)
    H = dWh.shape[0]
    o, g = slice(2 * H, 3 * H), slice(3 * H, 4 * H)  # impl's blocks are i, f, o, g
    dWx[:, o], dWx[:, g] = dWx[:, g].copy(), dWx[:, o].copy()
    dWh[:, o], dWh[:, g] = dWh[:, g].copy(), dWh[:, o].copy()
    db[o], db[g] = db[g].copy(), db[o].copy()
    return dx, dh0, dWx, dWh, db
'''


def rnn_oracle(folder: Path, *arguments: str) -> str:
    """``$ rnn-oracle ARGUMENTS`` and its standard output, run in ``folder``."""
    script = Path(sys.executable).parent / "rnn-oracle"  # the console script: reports name the command as users type it
    program = [str(script)] if script.exists() else [sys.executable, "-m", "oracle"]
    return command(folder, [*program, *arguments], f"rnn-oracle {shlex.join(arguments)}")


def command(folder: Path, argv: Sequence[str], shown: str) -> str:
    """``$ SHOWN`` and the standard output of ``argv`` run in ``folder``; exit status 0 or 1 expected."""
    completed = subprocess.run(list(argv), cwd=folder, capture_output=True, text=True, timeout=600,
                               env={**os.environ, "COLUMNS": "120"})
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"{shown} exited {completed.returncode}:\n{completed.stderr[-3000:]}")
    return f"$ {shown}\n{completed.stdout}".replace(str(folder.resolve()), ".")


def failures_and_verdicts(output: str, blocks: int = 99) -> str:
    """The command line, the first ``blocks`` FAIL blocks, and everything from the summary line on.

    The table of every check, its legend and the precision settings are left out: the page talks about the rest.
    """
    lines = output.rstrip("\n").splitlines()
    kept = [lines[0]]
    in_block, seen = False, 0
    for line in lines[1:]:
        if line.startswith("FAIL "):
            seen += 1
            in_block = seen <= blocks
            if in_block and seen > 1:
                kept.append("")
        elif not line.strip():
            in_block = False
        elif re.match(r"\d+ of \d+ checks passed", line):
            index = lines.index(line)
            if seen > blocks:
                kept.append("...")
            kept += [""] * (len(kept) > 1) + lines[index:]
            break
        if in_block:
            kept.append(line)
    return "\n".join(kept) + "\n"


def verdicts_only(output: str) -> str:
    """The command line and its verdicts (or grid): from the first ``note:``, ``verdicts`` or grid line on."""
    lines = output.rstrip("\n").splitlines()
    start = next(index for index, line in enumerate(lines)
                 if line.startswith(("note:", "sandbox:", "verdicts for", "target\t")) or index == len(lines) - 1)
    return "\n".join([lines[0], *lines[start:]]) + "\n"


def lines_with(output: str, *needles: str) -> str:
    """The command line and every output line holding one of ``needles``."""
    lines = output.rstrip("\n").splitlines()
    return "\n".join([lines[0], *(line for line in lines[1:] if any(n in line for n in needles))]) + "\n"


def copy_examples(folder: Path) -> None:
    for path in EXAMPLES.iterdir():
        shutil.copy(path, folder / path.name)


def learner_notebook(folder: Path) -> dict[str, str]:
    copy_examples(folder)
    buggy = rnn_oracle(folder, "audit", "--impl", "RNN_Captioning.ipynb", "--layers", "rnn_step,rnn",
                       "--repro", "repro")
    repro = command(folder, [sys.executable, "repro/rnn_step_backward-float64.py"],
                    "python repro/rnn_step_backward-float64.py")
    fixed = rnn_oracle(folder, "audit", "--impl", "RNN_Captioning_fixed.ipynb", "--layers", "rnn_step,rnn")
    return {"learner-notebook": failures_and_verdicts(buggy), "learner-repro": repro,
            "learner-fixed": verdicts_only(fixed)}


def in_kernel(folder: Path) -> dict[str, str]:
    """``audit_here`` on the tutorial notebook's functions, as a kernel that ran its definition cells holds them."""
    copy_examples(folder)
    script = '''
import nbformat
from oracle import audit_here

notebook = nbformat.read("RNN_Captioning.ipynb", as_version=4)
namespace = {"__name__": "__main__"}
for cell in notebook.cells:
    if cell.cell_type == "code" and ("def " in cell.source or cell.source.startswith("import")):
        exec(cell.source, namespace)
print(audit_here(namespace, layers=["rnn_step"], cases=4))
'''
    output = command(folder, [sys.executable, "-c", script], 'python -c \'... print(audit_here(layers=["rnn_step"], '
                                                             'cases=4))\'')
    return {"in-kernel": "\n".join(output.splitlines()[1:]) + "\n"}


def learner_cause(folder: Path) -> dict[str, str]:
    """A learner's course folder whose ``rnn_backward`` never carries the gradient from step t+1: its likely cause."""
    course_folder(folder / "learner", "backward drops the gradient through time")
    output = rnn_oracle(folder, "audit", "--impl", "learner/cs231n", "--layers", "rnn_step,rnn")
    return {"learner-cause": verdicts_only(output)}


def course(folder: Path) -> dict[str, str]:
    course_folder(folder, "in-place dnext_c")
    output = rnn_oracle(folder, "audit", "--impl", "cs231n")
    return {"course-folder": failures_and_verdicts(output, blocks=1)}


#: The class of the grading pages: one submission per problem of :mod:`tests.user_implementations`.
CLASS = {"alice": "correct", "bob": "bias gradient of shape (1, H)", "carol": "in-place dnext_c",
         "dave": "backward drops the gradient through time"}
CLASS_LAYERS = "rnn_step,rnn,lstm_step"


def grading(folder: Path) -> dict[str, str]:
    """The class of :data:`CLASS` graded with ``docs/examples/rubric.toml``: grid, CSV, shards merged, Gradescope."""
    copy_examples(folder)
    for student, problem in CLASS.items():
        course_folder(folder / student, problem)
    targets = [f"{student}/cs231n" for student in CLASS]
    options = ["--layers", CLASS_LAYERS, "--rubric", "rubric.toml"]
    grid = rnn_oracle(folder, "audit", "--impl", *targets, *options, "-j", "2", "--csv", "grades.csv",
                      "--json", "class.json")
    for k in (1, 2):
        rnn_oracle(folder, "audit", "--impl", *targets, *options, "--shard", f"{k}/2", "--json", f"part-{k}.json")
    merged = rnn_oracle(folder, "merge", "part-1.json", "part-2.json", "--rubric", "rubric.toml",
                        "--json", "merged.json")
    shown = rnn_oracle(folder, "audit", "--impl", "bob/cs231n", *options, "--gradescope", "results.json")
    results = json.loads((folder / "results.json").read_text())
    results["tests"] = results["tests"][:2] + ["..."]
    gradescope = (shown.splitlines()[0] + "\n$ cat results.json  # the first two tests of six\n"
                  + json.dumps(results, indent=2) + "\n")
    return {"class-grid": grid, "class-csv": "$ cat grades.csv\n" + (folder / "grades.csv").read_text(),
            "class-merge": merged, "gradescope-results": gradescope}


def dlai(folder: Path) -> dict[str, str]:
    write_notebook(folder / "Building_your_RNN.ipynb", "no backpropagation through time")
    output = rnn_oracle(folder, "audit", "--impl", "Building_your_RNN.ipynb")
    return {"dlai-notebook": failures_and_verdicts(output, blocks=1)}


def variant(folder: Path) -> dict[str, str]:
    shutil.copytree(ROOT / "examples", folder / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    output = rnn_oracle(folder, "audit", "--spec", "examples/leaky_rnn.py:SPECS", "--cases", "4",
                        "--dtypes", "float64")
    return {"leaky-rnn": "".join(line for line in output.splitlines(True) if not line.startswith("precision"))}


def localization(folder: Path) -> dict[str, str]:
    swap = course_folder(folder / "swap", "correct")
    with open(swap / "rnn_layers.py", "a", encoding="utf-8") as handle:
        handle.write(GATE_SWAP)
    gates = rnn_oracle(folder, "audit", "--impl", "swap/cs231n", "--layers", "lstm", "--dtypes", "float64",
                       "--cases", "2")
    course_folder(folder / "bptt", "backward drops the gradient through time")
    steps = rnn_oracle(folder, "audit", "--impl", "bptt/cs231n", "--layers", "rnn", "--dtypes", "float64",
                       "--cases", "2", "--dims", "T=6")
    return {"localization-gates": lines_with(gates, "grad Wx (float64") ,
            "localization-steps": lines_with(steps, "rnn grad x (float64")}


@dataclass(frozen=True)
class Example:
    """A scratch folder's worth of runs, and the excerpts (name -> text) they give."""

    name: str
    run: Callable[[Path], dict[str, str]]
    excerpts: tuple[str, ...] = field(default=())


EXAMPLES_RUN = (
    Example("learner", learner_notebook, ("learner-notebook", "learner-repro", "learner-fixed")),
    Example("cause", learner_cause, ("learner-cause",)),
    Example("kernel", in_kernel, ("in-kernel",)),
    Example("course", course, ("course-folder",)),
    Example("grading", grading, ("class-grid", "class-csv", "class-merge", "gradescope-results")),
    Example("dlai", dlai, ("dlai-notebook",)),
    Example("variant", variant, ("leaky-rnn",)),
    Example("localization", localization, ("localization-gates", "localization-steps")),
)


#: ``<!-- output: NAME -->`` then a fenced block in README.md: the block is excerpt NAME (README cannot include files).
README_BLOCK = re.compile(r"(<!-- output: ([a-z-]+) -->\n```text\n)(.*?)(```\n)", flags=re.DOTALL)


def readme_with(excerpts: dict[str, str], readme: str) -> str:
    """``readme`` with each of its output blocks replaced by its excerpt, where ``excerpts`` has it."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        return match.group(1) + excerpts[name] + match.group(4) if name in excerpts else match.group(0)

    return README_BLOCK.sub(replace, readme)


def snippet_files() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(SNIPPETS.glob("*.txt"))}


def readme_blocks_stale() -> bool:
    """Whether README.md's output blocks differ from the excerpts in docs/snippets/ (printing the difference)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    fresh = readme_with(snippet_files(), readme)
    sys.stdout.writelines(difflib.unified_diff(readme.splitlines(True), fresh.splitlines(True), "README.md",
                                               "README.md from docs/snippets"))
    return fresh != readme


def write_readme() -> None:
    path = ROOT / "README.md"
    readme = path.read_text(encoding="utf-8")
    fresh = readme_with(snippet_files(), readme)
    if fresh != readme:
        path.write_text(fresh, encoding="utf-8")
        print("wrote README.md's output blocks")


#: Numbers at rounding level (1e-4 and below in scientific notation: the error of a right result, a right gate's
#: share of its allowance), which depend on the CPU's and BLAS's kernels.
ROUNDING_LEVEL = re.compile(r"\b\d(?:\.\d+)?e-(?:0[4-9]|[1-9]\d)\b")


def comparable(text: str) -> str:
    """``text`` without what may change between two correct runs: timings and numbers at rounding level."""
    return ROUNDING_LEVEL.sub("<tiny>", TIMING.sub("<time>", text))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite docs/snippets/ from fresh runs")
    action.add_argument("--check", action="store_true",
                        help="exit 1 when a snippet differs from a fresh run (timings, rounding-level numbers aside)")
    action.add_argument("--readme", action="store_true",
                        help="only copy docs/snippets/ into README.md's output blocks (no run)")
    parser.add_argument("--only", nargs="+", choices=[example.name for example in EXAMPLES_RUN],
                        help="run only these examples")
    args = parser.parse_args(argv)
    if args.readme:
        write_readme()
        return 0
    stale = []
    for example in EXAMPLES_RUN:
        if args.only and example.name not in args.only:
            continue
        with tempfile.TemporaryDirectory(prefix=f"rnn-oracle-docs-{example.name}-") as scratch:
            excerpts = example.run(Path(scratch))
        assert set(excerpts) == set(example.excerpts), (example.name, sorted(excerpts))
        for name, text in excerpts.items():
            path = SNIPPETS / f"{name}.txt"
            if args.write:
                SNIPPETS.mkdir(exist_ok=True)
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
                continue
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            if comparable(old) != comparable(text):
                stale.append(name)
                sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                           f"{path.relative_to(ROOT)}", "fresh run"))
    if args.write:
        write_readme()
    elif readme_blocks_stale():
        stale.append("README.md")
    if stale:
        print(f"stale excerpts: {', '.join(stale)}; run python tools/docs_examples.py --write", file=sys.stderr)
        return 1
    if args.check:
        print("every excerpt matches a fresh run (timings and rounding-level numbers aside)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
