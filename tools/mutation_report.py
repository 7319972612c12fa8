"""Run mutmut over impl/, print the mutation score, and fail unless it is good enough.

Usage (from the repository root; ``tox -e mutation`` runs the first form)::

    python tools/mutation_report.py                 # fresh run: clear mutants/, run mutmut, report
    python tools/mutation_report.py --no-run        # report on the results already in mutants/
    python tools/mutation_report.py --recheck       # rerun only the mutants that survived last time
    python tools/mutation_report.py --resume        # continue an interrupted run
    python tools/mutation_report.py --list          # also print every undocumented survivor's diff

The score is ``killed / total`` over every mutant mutmut generated, where
"killed" means a test failed (mutmut's ``killed``), the mutant ran out of CPU
time (``timeout``: an endless loop is detected) or crashed the interpreter
(``segfault``). Everything else is not killed: ``survived``, ``no tests`` (no
test calls the mutated function), ``suspicious``, ``skipped``, ``not checked``.

The run fails (exit status 1) when the score is below ``--threshold``
(default 95%) and some survivor is not documented in
``docs/surviving_mutants.md``. A survivor is documented by a table row
naming its function and the mutated code, e.g.::

    | `impl.softmax_loss.temporal_softmax_loss` | `probs = np.exp(shifted, out=None)` | equivalent: ... |

Rows are matched on the function and the mutated line(s) (whitespace
collapsed), not on mutmut's mutant numbers, which change whenever a function
is edited. ``--strict`` fails on any undocumented survivor whatever the score.

mutmut silently skips decorated functions (anything but ``@staticmethod`` /
``@classmethod``), so their code is outside the score. The report lists them
and fails unless each has a row ``| `impl.module.function` | not mutated | reason |``.
Exit status 2 means mutmut itself failed.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
DOC = ROOT / "docs" / "surviving_mutants.md"
SOURCE = "impl"

#: mutmut's exit-code -> status table (mutmut/stats.py), restated so the report needs no mutmut import.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "check was interrupted by user",
          None: "not checked", 33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout",
          37: "caught by type check", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -11: "segfault", -9: "segfault"}
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}
#: Seconds between two progress lines while mutmut runs.
PROGRESS_EVERY = 60


@dataclass(frozen=True)
class Mutant:
    key: str  # mutmut's name, e.g. impl.rnn.x_rnn_forward__mutmut_12
    status: str
    function: str  # impl.rnn.rnn_forward, impl.captioning.CaptioningRNN.sample
    removed: str  # the original line(s) the mutant changes
    added: str  # the mutated line(s)


def squash(code: str) -> str:
    return re.sub(r"\s+", " ", code).strip()


def function_name(key: str) -> str:
    """``impl.mod.x_func__mutmut_3`` -> ``impl.mod.func``.

    Methods: ``impl.mod.xǁClassǁmethod__mutmut_3`` -> ``impl.mod.Class.method``.
    """
    module, _, mangled = key.rsplit("__mutmut_", 1)[0].rpartition(".")
    if mangled.startswith("xǁ"):
        return f"{module}." + ".".join(part for part in mangled[2:].split("ǁ") if part)
    return f"{module}.{mangled.removeprefix('x_')}"


def mutant_diffs(path: Path) -> dict[str, tuple[str, str]]:
    """Mutant key -> (removed lines, added lines), from the mutated copy of one module."""
    source = path.read_text()
    lines = source.splitlines()
    functions = {node.name: node for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.FunctionDef) and "__mutmut_" in node.name}
    module = ".".join(path.relative_to(MUTANTS).with_suffix("").parts)
    diffs = {}
    for name, node in functions.items():
        base, _, number = name.rpartition("__mutmut_")
        if number == "orig" or base + "__mutmut_orig" not in functions:
            continue
        original = functions[base + "__mutmut_orig"]
        # Whole functions, decorators excluded; the def lines differ in the name only (and in any mutated default).
        plain = function_name(f"{module}.{name}").rsplit(".", 1)[1]
        before = lines[original.lineno - 1:original.end_lineno]
        after = lines[node.lineno - 1:node.end_lineno]
        before[0], after[0] = before[0].replace(original.name, plain, 1), after[0].replace(name, plain, 1)
        removed: list[str] = []
        added: list[str] = []
        for line in difflib.unified_diff(before, after, lineterm="", n=0):
            if line.startswith(("---", "+++", "@@")):
                continue
            (removed if line.startswith("-") else added).append(line[1:])
        diffs[f"{module}.{name}"] = (squash(" / ".join(removed)), squash(" / ".join(added)))
    return diffs


def load_mutants() -> list[Mutant]:
    mutants = []
    for meta in sorted((MUTANTS / SOURCE).rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if not codes:
            continue
        diffs = mutant_diffs(meta.with_suffix(""))
        for key, code in codes.items():
            removed, added = diffs.get(key, ("", ""))
            mutants.append(Mutant(key, STATUS.get(code, "suspicious"), function_name(key), removed, added))
    return mutants


def documented_rows() -> list[tuple[str, str, str]]:
    """(function, mutated code, reason) of every table row of docs/surviving_mutants.md."""
    rows: list[tuple[str, str, str]] = []
    if not DOC.exists():
        return rows
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) != 3 or not cells[0].startswith("`impl."):
            continue
        function, code, reason = (cell.strip("`").replace("\\|", "|") for cell in cells)
        rows.append((function, squash(code), reason))
    return rows


def is_documented(mutant: Mutant, rows: list[tuple[str, str, str]]) -> bool:
    return any(function == mutant.function and code == mutant.added and reason for function, code, reason in rows)


def unmutated_functions() -> list[str]:
    """Functions of impl/ that mutmut skips: it never mutates a decorated function (other than a
    static or class method), so a decorator hides the whole body from mutation testing."""
    skipped = []
    for path in sorted((ROOT / SOURCE).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text())
        scopes = [(module, tree.body)] + [(f"{module}.{node.name}", node.body) for node in tree.body
                                          if isinstance(node, ast.ClassDef)]
        for prefix, body in scopes:
            for node in body:
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.decorator_list:
                    continue
                names = [ast.unparse(decorator) for decorator in node.decorator_list]
                if names in (["staticmethod"], ["classmethod"]):
                    continue
                skipped.append(f"{prefix}.{node.name} (@{', @'.join(names)})")
    return skipped


def run_mutmut(names: list[str]) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if mutmut is None:
        print("mutmut is not installed (pip install mutmut)", file=sys.stderr)
        raise SystemExit(2)
    command = [mutmut, "run", "--max-children", str(os.cpu_count() or 1), *names]
    print("$", " ".join(command[:5]), f"... ({len(names)} mutants)" if names else "", flush=True)
    start = time.monotonic()
    # mutmut's own progress display is a spinner redrawn in place; print a plain line instead.
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    while True:
        try:
            returncode = process.wait(timeout=PROGRESS_EVERY)
            break
        except subprocess.TimeoutExpired:
            print(progress_line(time.monotonic() - start), flush=True)
    elapsed = time.monotonic() - start
    if returncode != 0:
        print(f"mutmut run failed with exit status {returncode}", file=sys.stderr)
        raise SystemExit(2)
    return elapsed


def progress_line(elapsed: float) -> str:
    """How far a running mutmut is, read from the result files it updates as mutants finish."""
    codes = []
    for meta in (MUTANTS / SOURCE).rglob("*.py.meta"):
        try:
            codes += json.loads(meta.read_text()).get("exit_code_by_key", {}).values()
        except (OSError, ValueError):  # mutmut is rewriting it; the next line will count it
            continue
    checked = [STATUS.get(code, "suspicious") for code in codes if code is not None]
    if not checked:
        return f"  {elapsed / 60:4.1f} min: generating mutants and mapping tests to functions"
    missed = sum(status not in DETECTED for status in checked)
    return f"  {elapsed / 60:4.1f} min: {len(checked)} of {len(codes)} mutants checked, {missed} not killed so far"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-run", action="store_true", help="report on the existing mutants/ results")
    mode.add_argument("--recheck", action="store_true", help="rerun only the mutants not killed last time")
    mode.add_argument("--resume", action="store_true",
                      help="continue an interrupted run: keep mutants/ and test only the unchecked mutants")
    parser.add_argument("--threshold", type=float, default=95.0, help="minimum score in percent (default 95)")
    parser.add_argument("--strict", action="store_true", help="fail on any undocumented survivor")
    parser.add_argument("--list", action="store_true", help="print every undocumented survivor's diff")
    parser.add_argument("--json", type=Path, help="also write the summary and survivors to this file")
    args = parser.parse_args(argv)

    elapsed = None
    if args.recheck:
        names = [m.key for m in load_mutants() if m.status not in DETECTED]
        elapsed = run_mutmut(names) if names else 0.0
    elif args.resume:
        elapsed = run_mutmut([])
    elif not args.no_run:
        # A fresh run keeps only the record of which tests killed which mutants: the plugin runs
        # those tests first (an ordering, never a verdict), which makes the run several times faster.
        kills = MUTANTS / "mutmut-kills.jsonl"
        kept = kills.read_bytes() if kills.exists() else None
        shutil.rmtree(MUTANTS, ignore_errors=True)
        if kept is not None:
            MUTANTS.mkdir()
            kills.write_bytes(kept)
        elapsed = run_mutmut([])

    mutants = load_mutants()
    if not mutants:
        print("no mutation results in mutants/; run without --no-run first", file=sys.stderr)
        return 2
    counts = Counter(m.status for m in mutants)
    killed = sum(counts[status] for status in DETECTED)
    total = len(mutants)
    score = 100.0 * killed / total
    rows = documented_rows()
    survivors = [m for m in mutants if m.status not in DETECTED]
    undocumented = [m for m in survivors if not is_documented(m, rows)]
    stale = [row for row in rows if row[1] != "not mutated"
             and not any(m.function == row[0] and m.added == row[1] for m in survivors)]

    print(f"mutation score: {killed} / {total} = {score:.2f}% killed (threshold {args.threshold:g}%)")
    print("  " + ", ".join(f"{status}: {count}" for status, count in sorted(counts.items())))
    if elapsed is not None:
        print(f"  mutmut run: {elapsed / 60:.1f} min wall clock on {os.cpu_count()} CPUs")
    per_file = Counter(m.key.split(".")[1] for m in survivors)
    if per_file:
        print("  not killed, by module: " + ", ".join(f"{name} {count}" for name, count in per_file.most_common()))
    print(f"  survivors documented in {DOC.relative_to(ROOT)}: {len(survivors) - len(undocumented)} of "
          f"{len(survivors)}")
    skipped = unmutated_functions()
    hidden = [name for name in skipped if not any(function == name.split(" ")[0] and code == "not mutated"
                                                  for function, code, _ in rows)]
    if skipped:
        print(f"  mutmut does not mutate decorated functions; {len(skipped)} are outside the score"
              f" ({len(skipped) - len(hidden)} documented):")
        for name in skipped:
            print(f"    {name}")
    if stale:
        print(f"  {len(stale)} documented rows match no current survivor (killed now, or the code changed)")
    if undocumented and (args.list or len(undocumented) <= 40):
        print("undocumented survivors:")
        for m in undocumented:
            print(f"  [{m.status}] {m.key}\n      - {m.removed}\n      + {m.added}")
    if args.json:
        args.json.write_text(json.dumps({
            "killed": killed, "total": total, "score": score, "counts": dict(counts), "elapsed_s": elapsed,
            "survivors": [m.__dict__ | {"documented": m not in undocumented} for m in survivors],
            "not_mutated": skipped,
        }, indent=1))

    failed = False
    if undocumented and (args.strict or score < args.threshold):
        print(f"FAIL: {len(undocumented)} survivor(s) neither killed nor documented"
              + ("" if args.strict else f", and the score is below {args.threshold:g}%"))
        failed = True
    if hidden:
        print(f"FAIL: {len(hidden)} decorated function(s) escape mutation testing and are not documented "
              "(move the decorator's work into the body, or list them with the reason)")
        failed = True
    if failed:
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
