"""Run the test suite several times in a row, each with a different Hypothesis seed: the flakiness check.

Usage (from the repository root; ``tox -e flakiness`` runs the first form)::

    python tools/repeat_suite.py                    # 20 runs, seeds 1..20, profile ci
    python tools/repeat_suite.py --runs 5 --first-seed 100
    python tools/repeat_suite.py -- -k lstm         # extra pytest arguments after --

Each run is ``pytest -n auto -p no:cacheprovider --hypothesis-seed=SEED`` with
``HYPOTHESIS_PROFILE`` (default ``ci``, which keeps no example database, so a
run neither replays nor records the examples of another). The script prints
one line per run (seed, verdict, pytest's summary line, seconds) and stops at
the first failing run, printing the command that reproduces it. Exit status:
0 when every run passed, 1 when one failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pytest_command(seed: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-n", os.environ.get("PYTEST_WORKERS", "auto"),
            "-p", "no:cacheprovider", f"--hypothesis-seed={seed}", *extra]


def summary_line(output: str) -> str:
    """pytest's last line, e.g. ``755 passed, 1 skipped in 138.20s``, without the ``=`` padding."""
    lines = [line.strip("= ") for line in output.strip().splitlines()]
    return lines[-1] if lines else "(no output)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="number of runs (default 20)")
    parser.add_argument("--first-seed", type=int, default=1, help="seed of the first run; then +1 (default 1)")
    parser.add_argument("--profile", default=os.environ.get("HYPOTHESIS_PROFILE", "ci"),
                        help="Hypothesis profile (default: $HYPOTHESIS_PROFILE or ci)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    env = dict(os.environ, HYPOTHESIS_PROFILE=args.profile)
    started = time.monotonic()
    for number, seed in enumerate(range(args.first_seed, args.first_seed + args.runs), start=1):
        command = pytest_command(seed, args.pytest_args)
        run_start = time.monotonic()
        completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - run_start
        verdict = "passed" if completed.returncode == 0 else f"FAILED (exit {completed.returncode})"
        print(f"run {number:2d}/{args.runs}  seed {seed:<6d} {verdict:<16s} {summary_line(completed.stdout)}"
              f"  [{seconds:.0f} s]", flush=True)
        if completed.returncode != 0:
            print(completed.stdout[-6000:], completed.stderr[-2000:], sep="\n", file=sys.stderr)
            print(f"reproduce: HYPOTHESIS_PROFILE={args.profile} python {' '.join(command[1:])}", file=sys.stderr)
            return 1
    print(f"{args.runs} of {args.runs} runs passed (profile {args.profile}, seeds {args.first_seed}.."
          f"{args.first_seed + args.runs - 1}) in {(time.monotonic() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
