"""Where one target's audit time goes: ``rnn-oracle bench --audit-timings`` lists it under the timings.

One course folder (:func:`oracle.bench.audit_timing.write_course_folder`) whose
``rnn_step_backward`` scales ``dWx`` by 1.5, so that its findings are shrunk, is
audited through its worker with an empty reference store under ``cProfile``, in
one judge process (the audit shares a target's layers with a copy of the judge
where a core is spare: :mod:`oracle.targets.forked_lane`; the profile would see
half of them);
each cost is the cumulative time of the functions that do that work, on the
judge's side (a worker's time is seen as the judge waiting for its reply).
The costs nest and overlap where the work does: the user's calls include
those the metamorphic relations and the sampling make, and shrinking reruns
all of them. ``cProfile`` slows Python code down, so these are shares more
than seconds. The imports are timed apart, in a fresh interpreter.
"""

from __future__ import annotations

import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oracle.bench.audit_timing import CLASS_BUGS, write_course_folder
from oracle.judge.audit import AuditConfig
from oracle.references.store import ReferenceStore, using

#: ``(cost, file of the oracle package, names of the functions whose cumulative time it is)``.
COSTS = (
    ("worker start-up and the target's import", "targets/boundary.py", ("start", "_started")),
    ("the user's calls, one at a time", "targets/boundary.py", ("call",)),
    ("finite differences of the user's forward (batches)", "targets/boundary.py", ("map_later", "results")),
    ("finite differences of the spec's forward (the store's)", "judge/reference_differences.py",
     ("reference_finite_differences",)),
    ("torch twins (the store's misses)", "references/store.py", ("twin_result",)),
    ("float32 rounding rule's spread", "references/store.py", ("plain_from_store", "stage_from_store")),
    ("comparisons", "judge/compare.py", ("compare_evaluations",)),
    ("directional comparisons", "judge/directional.py", ("compare_directional", "element_slice")),
    ("metamorphic relations", "judge/metamorphic.py", ("metamorphic_comparisons",)),
    ("sampling of the model", "judge/sampling.py", ("run",)),
    ("shrinking the findings' cases", "judge/shrink.py", ("minimal_cases",)),
)


def import_seconds() -> float:
    """Seconds a fresh interpreter takes to import the judge (``oracle.cli``, which imports torch)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import oracle.cli"], check=True)
    return time.perf_counter() - started


def target_costs(layers: tuple[str, ...], cases: int) -> list[dict]:
    """One row per cost of :data:`COSTS`, then the judge's imports and the whole audit: ``{cost, seconds}``."""
    from oracle.targets.impl_audit import audit_one, workers_per_target

    config = AuditConfig(layers, ("float64", "float32"), cases, 0)
    profile = cProfile.Profile()
    with tempfile.TemporaryDirectory() as root, using(ReferenceStore.memory()):
        folder = write_course_folder(Path(root), complete=False, extra=CLASS_BUGS[0])
        started = time.perf_counter()
        profile.enable()
        # In one judge process: a copy of it (oracle.targets.forked_lane) would take half the work out of the profile.
        audit_one(str(folder), config, layers, "rnn-oracle", parallel=workers_per_target(1), fork=False)
        profile.disable()
        total = time.perf_counter() - started
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = []
    for cost, file, names in COSTS:
        seconds = sum(values[3] for (path, _, name), values in stats.items()
                      if path.endswith(f"oracle/{file}") and name in names)
        rows.append({"cost": cost, "seconds": round(seconds, 2)})
    rows.append({"cost": "imports of the judge (oracle, torch), apart", "seconds": round(import_seconds(), 2)})
    rows.append({"cost": "the whole audit of the target (under cProfile)", "seconds": round(total, 2)})
    return rows


def format_costs(rows: list[dict]) -> str:
    """The rows of :func:`target_costs` as a small table, with each cost's share of the whole audit."""
    total = rows[-1]["seconds"] or 1.0
    width = max(len(row["cost"]) for row in rows)
    lines = ["where one target's time goes (a course folder with a wrong dWx, empty store, cProfile):",
             f"{'cost':<{width}}  {'seconds':>8}  share"]
    lines += [f"{row['cost']:<{width}}  {row['seconds']:8.2f}  {100 * row['seconds'] / total:4.0f}%" for row in rows]
    return "\n".join(lines)
