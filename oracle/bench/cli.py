"""Command line: the ``bench`` options, :func:`run` (parsed options) and :func:`main` (``python -m oracle.bench``).

:mod:`oracle.cli` registers ``rnn-oracle bench`` from :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracle.bench.audit_timing import audit_runs, format_audit_timings, time_audits
from oracle.bench.cases import CASES, CASES_BY_NAME, Case
from oracle.bench.driver import run_benchmarks
from oracle.bench.machine import loadavg, machine_info
from oracle.bench.table import dims_text, format_table
from oracle.bench.timing import (
    DEFAULT_BLOCK_TIME,
    DEFAULT_REPEAT,
    DEFAULT_SETTLE,
    DEFAULT_WARMUP,
    MAX_BLOCK,
    QUICK_BLOCK_TIME,
    QUICK_REPEAT,
    QUICK_SETTLE,
    QUICK_WARMUP,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to ``parser`` (used by ``rnn-oracle bench`` and ``python -m oracle.bench``)."""
    parser.add_argument("--cases", action="append", metavar="NAMES",
                        help="comma-separated case names (repeatable); default all. See --list.")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--repeat", type=int, default=None,
                        help=f"measured rounds, each one block per side, alternating which side goes first "
                             f"(default {DEFAULT_REPEAT}; {QUICK_REPEAT} with --quick)")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"discarded warmup rounds (default {DEFAULT_WARMUP}; {QUICK_WARMUP} with --quick)")
    parser.add_argument("--block-time", type=float, default=None,
                        help=f"seconds of calls per block: fast cases repeat their call up to {MAX_BLOCK} times per "
                             f"block (default {DEFAULT_BLOCK_TIME}; {QUICK_BLOCK_TIME} with --quick)")
    parser.add_argument("--settle", type=float, default=None,
                        help="seconds to sleep before each block, so the other library's spinning worker threads "
                             f"go idle (default {DEFAULT_SETTLE}; {QUICK_SETTLE} with --quick)")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and numpy's BLAS (default 2)")
    parser.add_argument("--memory", choices=("alloc", "rss", "both", "none"), default=None,
                        help="peak-memory method(s): alloc (tracemalloc / torch profiler), rss (peak RSS in a fresh "
                             "subprocess per side, LSTM rows), both, none (default both; alloc with --quick)")
    parser.add_argument("--json", metavar="PATH", help="also write the full report as JSON to PATH")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and few rounds: a smoke run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    parser.add_argument("--fail-on-miss", action="store_true",
                        help="exit with status 2 when a row misses its target or mismatches")
    parser.add_argument("--audit-timings", action="store_true",
                        help="instead of the cases, time the audit itself: the default audit (budget 30 s), the "
                             "LSTM at N=64,T=50,D=128,H=256 in both dtypes, 2 cases (budget 30 s), and --impl audits "
                             "of a course folder through the worker processes (budgets 6 s, 2 s with a prebuilt "
                             "reference store, 30 s with every function), of a deeplearning.ai notebook (10 s), of a "
                             "course folder with learners' mistakes whose likely causes are named (30 s; the causes' "
                             "own seconds in column 'causes', at most 20%% of the rest), of a class of 6 with a "
                             "prebuilt store (12 s) and the sandbox's share of a worker's start (0.1 s); then where "
                             "one target's time goes "
                             "(oracle/bench/audit_timing.py, oracle/bench/audit_costs.py)")


def _select(names: Sequence[str] | None) -> list[Case]:
    if not names:
        return list(CASES)
    wanted = [name.strip() for group in names for name in group.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in CASES_BY_NAME]
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES_BY_NAME)}")
    return [CASES_BY_NAME[name] for name in dict.fromkeys(wanted)]


def _option(value: Any, default: Any) -> Any:
    return default if value is None else value


def run(args: argparse.Namespace) -> int:
    """Run ``bench`` with parsed ``args``; print the table (and write JSON). Returns the exit status.

    Returns
    -------
    int
        0 when every case ran, 1 when one failed to run (``status: error``),
        2 for bad options or, with ``--fail-on-miss``, a missed target or a
        mismatch.
    """
    if args.audit_timings:
        return _run_audit_timings(args)
    if args.list:
        for case in CASES:
            target = "-" if case.target is None else f"<= {case.target:g}"
            print(f"{case.name:22s} {case.description:26s} {case.dtype:8s} {dims_text(case.dims):45s} {target}")
        return 0
    try:
        cases = _select(args.cases)
    except ValueError as exc:
        print(f"rnn-oracle bench: {exc}", file=sys.stderr)
        return 2
    negative = [value for value in (args.warmup, args.block_time, args.settle) if value is not None and value < 0]
    if args.threads < 1 or (args.repeat is not None and args.repeat < 1) or negative:
        print("rnn-oracle bench: --threads and --repeat must be >= 1; --warmup, --block-time, --settle >= 0",
              file=sys.stderr)
        return 2
    quick = bool(args.quick)
    report = run_benchmarks(
        cases,
        threads=args.threads,
        warmup=_option(args.warmup, QUICK_WARMUP if quick else DEFAULT_WARMUP),
        repeat=_option(args.repeat, QUICK_REPEAT if quick else DEFAULT_REPEAT),
        block_time=_option(args.block_time, QUICK_BLOCK_TIME if quick else DEFAULT_BLOCK_TIME),
        settle=_option(args.settle, QUICK_SETTLE if quick else DEFAULT_SETTLE),
        quick=quick,
        memory=args.memory or ("alloc" if quick else "both"),
        seed=args.seed,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_table(report))
    if args.json and not _write_json(args.json, report):
        return 2
    statuses = [row["status"] for row in report["results"]]
    if "error" in statuses:
        return 1
    if args.fail_on_miss and ("miss" in statuses or "mismatch" in statuses):
        return 2
    return 0


def _write_json(path_text: str, document: dict) -> bool:
    path = Path(path_text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"rnn-oracle bench: cannot write --json {path}: {exc}", file=sys.stderr)
        return False
    print(f"wrote {path}", file=sys.stderr)
    return True


def _run_audit_timings(args: argparse.Namespace) -> int:
    """``--audit-timings``: the table of :mod:`oracle.bench.audit_timing` and the machine it ran on."""
    from oracle.bench.audit_costs import format_costs, target_costs
    from oracle.cli import DEFAULT_CASES
    from oracle.layers import all_specs

    load_before = loadavg()
    rows = time_audits(audit_runs(DEFAULT_CASES), progress=lambda line: print(line, file=sys.stderr, flush=True))
    print("profiling one target ...", file=sys.stderr, flush=True)
    costs = target_costs(tuple(spec.name for spec in all_specs()), DEFAULT_CASES)
    machine = machine_info(threads_pinned=False)
    print(format_audit_timings(rows))
    print(format_costs(costs))
    print(f"machine: {machine.get('cpu_model')}, {machine.get('logical_cpus')} logical CPUs, "
          f"load average {load_before} before, {loadavg()} after")
    if args.json and not _write_json(args.json, {"audit_timings": rows, "costs": costs, "machine": machine}):
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m oracle.bench [options]``: ``rnn-oracle bench [options]``, through the one command line."""
    from oracle.cli import main as command_line

    return command_line(["bench", *(sys.argv[1:] if argv is None else argv)])
