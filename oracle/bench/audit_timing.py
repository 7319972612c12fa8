"""``rnn-oracle bench --audit-timings``: how long the audit itself takes, against its budgets.

Two runs of :func:`oracle.audit.run_audit`, in this process, with torch on
one thread as ``rnn-oracle audit`` runs it:

``default audit``
    every built-in layer, both dtypes, the default number of cases
    (:data:`oracle.cli.DEFAULT_CASES`): budget 30 s;
``lstm at N=64,T=50,D=128,H=256``
    the LSTM in both dtypes at a realistic size, one case (``--dims``; the
    large inputs are checked along random directions): budget 60 s.

The seconds are wall time on the machine at hand (its CPU and load), so
they are reported with the machine, never asserted by a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from oracle.audit import AuditConfig, run_audit
from oracle.registry import all_specs, get_spec

#: The realistic LSTM shape of the second run.
LARGE_LSTM_DIMS = {"N": 64, "T": 50, "D": 128, "H": 256}


@dataclass(frozen=True)
class AuditRun:
    """One timed audit: what it covered and its budget in seconds."""

    name: str
    layers: tuple[str, ...]
    cases: int
    budget: float
    dims: dict[str, int] = field(default_factory=dict)


def audit_runs(default_cases: int) -> tuple[AuditRun, ...]:
    """The two runs of the module docstring."""
    return (
        AuditRun("default audit", tuple(spec.name for spec in all_specs()), default_cases, 30.0),
        AuditRun("lstm at " + ",".join(f"{k}={v}" for k, v in LARGE_LSTM_DIMS.items()), ("lstm",), 1, 60.0,
                 dict(LARGE_LSTM_DIMS)),
    )


def time_audits(runs: tuple[AuditRun, ...], progress: Callable[[str], None] = lambda line: None) -> list[dict]:
    """Run each audit and return one row per run: seconds, budget, whether it fit, and whether it passed."""
    import torch

    rows = []
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for run in runs:
            progress(f"timing {run.name} ...")
            config = AuditConfig(run.layers, ("float64", "float32"), run.cases, 0, dims=run.dims)
            started = time.perf_counter()
            result = run_audit([get_spec(name) for name in run.layers], config)
            seconds = time.perf_counter() - started
            rows.append({"run": run.name, "seconds": round(seconds, 2), "budget": run.budget,
                         "within_budget": seconds <= run.budget, "checks": len(result.checks),
                         "audit_passed": result.passed})
    finally:
        torch.set_num_threads(previous)
    return rows


def format_audit_timings(rows: list[dict]) -> str:
    """A small table of the rows of :func:`time_audits`."""
    width = max(len(row["run"]) for row in rows)
    lines = [f"{'audit run':<{width}}  {'seconds':>8}  {'budget':>6}  {'fits':<4}  checks  audit"]
    for row in rows:
        lines.append(f"{row['run']:<{width}}  {row['seconds']:8.1f}  {row['budget']:6.0f}  "
                     f"{'yes' if row['within_budget'] else 'NO':<4}  {row['checks']:6d}  "
                     f"{'passed' if row['audit_passed'] else 'FAILED'}")
    return "\n".join(lines)
