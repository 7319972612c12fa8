"""``rnn-oracle audit --impl TARGET [TARGET ...]``: audit users' own implementations, one or a class of them.

One target is audited in this process: the usual table and failures, then
its verdicts, one line per function and dtype (:func:`oracle.targets.verdicts`).
Several targets are audited each in a fresh process (each submission's own
``cs231n`` package must not meet another's in ``sys.modules``), ``-j N`` at
a time, and summarised in a grid (:func:`grader_grid`): one row per target,
its seconds, and one column per function with its findings. ``--json PATH``
writes :data:`IMPL_JSON_SCHEMA`; ``--html PATH`` the page of :mod:`oracle.html_report` (one target: its audit and
verdicts; several: the grader's grid of targets x functions). Exit status:
0 when every function of every target passed, 1 when any has a finding, 2
when a target could not be imported (the others still run) or the page
could not be written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from oracle.audit import EXIT_FAILED, EXIT_OK, EXIT_USAGE, AuditConfig, AuditResult, run_audit
from oracle.profiles import format_dims
from oracle.registry import all_specs
from oracle.report import render
from oracle.targets import FINDINGS, TargetError, bound_specs, load_target, verdicts

#: The ``--json`` document of an ``--impl`` audit.
IMPL_JSON_SCHEMA = {
    "schema_version": "1",
    "findings": f"the finding identifiers, in order: {', '.join(FINDINGS)} (oracle/targets.py says what each means)",
    "targets": [{
        "target": "the TARGET as given",
        "seconds": "wall time of its audit",
        "error": "why it could not be imported (file, line, error), or null",
        "verdicts": "{function: {dtype: [finding, ...]}}: ['pass'] when clean; functions by the seed's public "
                    "names, the model's as 'CaptioningRNN.loss[lstm]' and 'CaptioningRNN.sample[rnn]'",
        "evidence": "{function: {dtype: [text, ...]}}: per finding, the failure and the smallest case it occurs in",
    }],
}


def audit_one(target_text: str, config: AuditConfig, layers: Sequence[str], prog: str,
              progress: object = None) -> tuple[dict, str, AuditResult | None]:
    """Audit one target in this process: ``(its JSON entry, the text report, the audit)`` (no audit: not imported)."""
    started = time.perf_counter()
    try:
        target = load_target(target_text)
    except TargetError as error:
        entry = {"target": target_text, "seconds": 0.0, "error": str(error), "verdicts": {}, "evidence": {}}
        return entry, "", None
    chosen = [spec for spec in all_specs() if not layers or spec.name in layers]
    specs = bound_specs(chosen, target)
    config = dataclasses.replace(config, layers=tuple(spec.name for spec in specs), impl_target=target_text)
    result = run_audit(specs, config, progress=progress)  # type: ignore[arg-type]
    found, evidence = verdicts(result, specs)
    entry = {"target": target_text, "seconds": round(time.perf_counter() - started, 2), "error": None,
             "verdicts": found, "evidence": evidence}
    return entry, render(result, prog), result


def render_verdicts(entry: dict) -> str:
    """One line per function: its findings per dtype."""
    if entry["error"]:
        return f"{entry['target']}: cannot be audited: {entry['error']}"
    width = max((len(function) for function in entry["verdicts"]), default=8)
    lines = [f"verdicts for {entry['target']} ({entry['seconds']:.1f} s):"]
    for function, dtypes in entry["verdicts"].items():
        cells = ", ".join(f"{dtype} {' '.join(findings)}" for dtype, findings in dtypes.items())
        lines.append(f"  {function:<{width}}  {cells}")
    return "\n".join(lines)


def grader_grid(entries: Sequence[dict]) -> str:
    """The grader's summary, tab-separated: one row per target, its seconds, then one column per function.

    A cell holds the function's findings over both dtypes joined by ``+``
    (``pass`` when clean, ``-`` when not audited); a target that could not be
    imported gets ``ERROR`` and its message in the last column.
    """
    functions = list(dict.fromkeys(function for entry in entries for function in entry["verdicts"]))
    lines = ["\t".join(["target", "seconds", *functions, "error"])]
    for entry in entries:
        if entry["error"]:
            lines.append("\t".join([entry["target"], "-", *(["ERROR"] * len(functions)), entry["error"]]))
            continue
        cells = []
        for function in functions:
            dtypes = entry["verdicts"].get(function)
            found = {finding for findings in (dtypes or {}).values() for finding in findings}
            cells.append("-" if dtypes is None else "+".join(sorted(found - {"pass"} or {"pass"}, key=FINDINGS.index)))
        lines.append("\t".join([entry["target"], f"{entry['seconds']:.1f}", *cells, ""]))
    return "\n".join(lines)


def status(entries: Sequence[dict]) -> int:
    if any(entry["error"] for entry in entries):
        return EXIT_USAGE
    clean = all(findings == ["pass"] for entry in entries for dtypes in entry["verdicts"].values()
                for findings in dtypes.values())
    return EXIT_OK if clean else EXIT_FAILED


def audit_in_subprocess(target: str, args: argparse.Namespace, folder: Path, index: int) -> dict:
    """Audit ``target`` with ``python -m oracle audit --impl TARGET`` and read its JSON entry."""
    path = folder / f"target{index}.json"
    command = [sys.executable, "-m", "oracle", "audit", "--impl", target, "--json", str(path),
               "--cases", str(args.cases), "--seed", str(args.seed), "--device", args.device, "--profile", args.profile]
    if args.dims:
        command += ["--dims", format_dims(args.dims)]
    for option, values in (("--layers", args.layers), ("--dtypes", args.dtypes)):
        if values:
            command += [option, *values]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    if path.is_file():
        return json.loads(path.read_text())["targets"][0]
    last = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"target": target, "seconds": round(time.perf_counter() - started, 2), "error": last, "verdicts": {},
            "evidence": {}}


def run_impl_audit(args: argparse.Namespace, config: AuditConfig, layers: Sequence[str], progress: object) -> int:
    """The ``--impl`` audit of ``args.impl`` (see the module docstring)."""
    targets = list(dict.fromkeys(args.impl))
    if len(targets) == 1:
        entry, report, result = audit_one(targets[0], config, layers, args.prog, progress)
        if report:
            print(report)
        print(render_verdicts(entry))
        entries = [entry]
    else:
        result = None
        with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(audit_in_subprocess, target, args, Path(folder), index)
                       for index, target in enumerate(targets)]
            entries = []
            for number, future in enumerate(futures, start=1):
                entries.append(future.result())
                print(f"[{number}/{len(targets)}] {entries[-1]['target']} done", file=sys.stderr, flush=True)
        print(grader_grid(entries))
    for entry in entries:
        if entry["error"]:
            print(f"{args.prog} audit: error: {entry['target']}: {entry['error']}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"schema_version": IMPL_JSON_SCHEMA["schema_version"],
                                               "targets": entries}, indent=2) + "\n")
    if args.html and not write_html(args, result.config if result is not None else config, entries, result):
        return EXIT_USAGE
    return status(entries)


def write_html(args: argparse.Namespace, config: AuditConfig, entries: Sequence[dict],
               result: AuditResult | None) -> bool:
    """Write the ``--html`` page of ``entries`` (and of ``result``, one target's audit); ``False`` when it cannot."""
    from oracle.html_report import write_report  # the optional extra rnn-oracle[report], only when asked for

    try:
        write_report(args.html, config, args.command_line, result=result, entries=entries, prog=args.prog)
    except OSError as error:
        print(f"{args.prog} audit: error: cannot write --html {args.html}: {error}", file=sys.stderr)
        return False
    return True
