"""``rnn-oracle bench --audit-timings``: how long the audit itself takes, against its budgets.

Two runs of :func:`oracle.judge.audit.run_audit`, in this process, with torch on
one thread as ``rnn-oracle audit`` runs it:

``default audit``
    every built-in layer, both dtypes, the default number of cases
    (:data:`oracle.cli.DEFAULT_CASES`): budget 30 s;
``lstm at N=64,T=50,D=128,H=256``
    the LSTM in both dtypes at a realistic size, two cases (``rnn-oracle audit
    --layers lstm --dims N=64,T=50,D=128,H=256 --cases 2``; the large inputs
    are checked along random directions): budget 30 s;
``--impl course folder (course API)``
    ``rnn-oracle audit --impl`` of a course folder written for the run, as a
    learner's looks: the course's layers and model (impl's, which are right),
    no GRU and no LSTM with a given cell state, a model that refuses
    ``cell_type="gru"``; imported and called in worker processes
    (:mod:`oracle.targets.boundary`), so the time includes starting them; the
    reference store empty (:mod:`oracle.references.store`): budget 6 s;
``--impl course folder (course API), prebuilt store``
    the same with a store that ``rnn-oracle references build`` filled first (not
    timed), as a Gradescope submission runs (``examples/gradescope``): budget 2 s;
``--impl course folder (every function)``
    the same with every function and cell type: budget 30 s;
``--impl deeplearning.ai notebook``
    ``rnn-oracle audit --impl`` of a notebook of deeplearning.ai's course API
    (:mod:`oracle.layers.dlai`) as a learner keeps it, its functions impl's
    (:mod:`impl.dlai`), ``rnn_utils`` and ``public_tests`` missing, detected
    with no option: budget 10 s;
``--impl class of 6, -j 2``
    a small class through the grader's route (a judge process per target,
    two at a time): two course folders that are right, two whose
    ``rnn_step_backward`` scales ``dWx`` by 1.5, two whose ``lstm_forward``
    crashes; budget 12 s (2 s a target: a class of 300 in 10 minutes).

The seconds are wall time on the machine at hand (its CPU and load), so
they are reported with the machine, never asserted by a test.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from impl.dlai import FORWARDS, GRADIENTS
from oracle.judge.audit import AuditConfig, run_audit
from oracle.layers import all_specs, get_spec
from oracle.references.store import ReferenceStore, using

#: The realistic LSTM shape of the second run.
LARGE_LSTM_DIMS = {"N": 64, "T": 50, "D": 128, "H": 256}


#: The course's own API: what a learner's course folder defines (no GRU, no LSTM with a given cell state).
COURSE_FUNCTIONS = ("affine_forward", "affine_backward", "temporal_affine_forward", "temporal_affine_backward",
                    "word_embedding_forward", "word_embedding_backward", "sigmoid", "rnn_step_forward",
                    "rnn_step_backward", "rnn_forward", "rnn_backward", "lstm_step_forward", "lstm_step_backward",
                    "lstm_forward", "lstm_backward", "temporal_softmax_loss")

#: A course model: impl's, refusing the GRU as the course's does.
COURSE_MODEL = """import impl


class CaptioningRNN(impl.CaptioningRNN):
    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128, cell_type="rnn",
                 dtype=None, **options):
        if cell_type not in ("rnn", "lstm"):
            raise ValueError(f"Invalid cell_type {cell_type}")
        super().__init__(word_to_idx, input_dim, wordvec_dim, hidden_dim, cell_type, **options)
"""


@dataclass(frozen=True)
class AuditRun:
    """One timed audit: what it covered and its budget in seconds; ``course``: an ``--impl`` of a course folder.

    ``course`` is ``"course API"`` (:data:`COURSE_FUNCTIONS`, :data:`COURSE_MODEL`), ``"every function"`` or ``""``
    (impl in this process). ``prebuilt``: the references of its cases are built into a store first (untimed).
    """

    name: str
    layers: tuple[str, ...]
    cases: int
    budget: float
    dims: dict[str, int] = field(default_factory=dict)
    course: str = ""
    prebuilt: bool = False


#: The class run's submissions besides the right ones: a wrong weight gradient, and a crash.
CLASS_BUGS = ("""
import impl as _impl


def rnn_step_backward(dnext_h, cache):
    dx, dprev_h, dWx, dWh, db = _impl.rnn_step_backward(dnext_h, cache)
    return dx, dprev_h, 1.5 * dWx, dWh, db
""", """
def lstm_forward(x, h0, Wx, Wh, b):
    raise IndexError("list index out of range")
""")


def write_course_folder(root: Path, complete: bool, extra: str = "") -> Path:
    """``root/cs231n`` with ``rnn_layers.py`` and ``classifiers/rnn.py`` (see :class:`AuditRun`); ``extra``: code
    appended to ``rnn_layers.py``."""
    folder = root / "cs231n"
    (folder / "classifiers").mkdir(parents=True)
    for package in (folder, folder / "classifiers"):
        (package / "__init__.py").write_text("")
    names = "*  # noqa: F403" if complete else "(" + ", ".join(COURSE_FUNCTIONS) + ")  # noqa: F401"
    (folder / "rnn_layers.py").write_text(f"from impl import {names}\n{extra}")
    (folder / "classifiers" / "rnn.py").write_text("from impl import CaptioningRNN  # noqa: F401\n" if complete
                                                    else COURSE_MODEL)
    return folder


def write_course_notebook(root: Path) -> Path:
    """``root/Building_your_RNN.ipynb``: deeplearning.ai's eight functions (impl's), one cell each, and a test cell."""
    import nbformat  # the extra rnn-oracle[notebook]
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell("import numpy as np\nfrom rnn_utils import *\nfrom public_tests import *\n")]
    cells += [new_code_cell(f"from impl.dlai import {name}\n") for name in (*FORWARDS, *GRADIENTS)]
    cells.append(new_code_cell("np.random.seed(1)\nprint(rnn_cell_forward(np.random.randn(3, 10), "
                               "np.random.randn(5, 10), {})[0])\n"))
    path = root / "Building_your_RNN.ipynb"
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def audit_runs(default_cases: int) -> tuple[AuditRun, ...]:
    """The runs of the module docstring."""
    every = tuple(spec.name for spec in all_specs())
    return (
        AuditRun("default audit", every, default_cases, 30.0),
        AuditRun("lstm at " + ",".join(f"{k}={v}" for k, v in LARGE_LSTM_DIMS.items()), ("lstm",), 2, 30.0,
                 dict(LARGE_LSTM_DIMS)),
        AuditRun("--impl course folder (course API)", every, default_cases, 6.0, course="course API"),
        AuditRun("--impl course folder (course API), prebuilt store", every, default_cases, 2.0, course="course API",
                 prebuilt=True),
        AuditRun("--impl course folder (every function)", every, default_cases, 30.0, course="every function"),
        AuditRun("--impl deeplearning.ai notebook", every, default_cases, 10.0, course="dlai notebook"),
        AuditRun("--impl class of 6, -j 2", every, default_cases, 12.0, course="class"),
    )


def time_audits(runs: tuple[AuditRun, ...], progress: Callable[[str], None] = lambda line: None) -> list[dict]:
    """Run each audit and return one row per run: seconds, budget, whether it fit, and whether it passed."""
    import torch

    from oracle.references_command import build

    rows = []
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for run in runs:
            progress(f"timing {run.name} ...")
            config = AuditConfig(run.layers, ("float64", "float32"), run.cases, 0, dims=run.dims)
            with tempfile.TemporaryDirectory() as folder:
                if run.prebuilt:
                    build([get_spec(name) for name in run.layers], config, ReferenceStore.open(folder))
                started = time.perf_counter()
                # Each run starts from an empty store (or the one just built), as a fresh ``rnn-oracle audit``.
                with using(ReferenceStore.open(folder) if run.prebuilt else ReferenceStore.memory()):
                    if run.course:
                        checks, passed = _impl_audit(run, config)
                    else:
                        result = run_audit([get_spec(name) for name in run.layers], config)
                        checks, passed = len(result.checks), result.passed
                seconds = time.perf_counter() - started
            rows.append({"run": run.name, "seconds": round(seconds, 2), "budget": run.budget,
                         "within_budget": seconds <= run.budget, "checks": checks, "audit_passed": passed})
    finally:
        torch.set_num_threads(previous)
    return rows


def _impl_audit(run: AuditRun, config: AuditConfig) -> tuple[int, bool]:
    """``(checks, whether the course's own functions all passed)`` of an ``--impl`` audit of the run's course folder.

    Of the course API, only the functions it defines count: the GRU and the LSTM with a given cell state
    are missing from it by design.
    """
    from oracle.targets.impl_audit import audit_one, workers_per_target

    if run.course == "class":
        return _class_audit(run, config)
    with tempfile.TemporaryDirectory() as root:
        folder = (write_course_notebook(Path(root)) if run.course == "dlai notebook"
                  else write_course_folder(Path(root), complete=run.course == "every function"))
        entry, _, result = audit_one(str(folder), config, run.layers, "rnn-oracle", parallel=workers_per_target(1))
    judged = {function: dtypes for function, dtypes in entry["verdicts"].items()
              if run.course in ("every function", "dlai notebook") or function in COURSE_FUNCTIONS
              or function.endswith(("[rnn]", "[lstm]"))}
    passed = bool(judged) and all(findings == ["pass"] for dtypes in judged.values() for findings in dtypes.values())
    return (len(result.checks) if result is not None else 0), passed


def _class_audit(run: AuditRun, config: AuditConfig) -> tuple[int, bool]:
    """``(targets, whether each got what it should)`` of the class run: ``rnn-oracle audit --impl ... -j 2``."""
    import contextlib
    import io
    import json

    from oracle.cli import main

    with tempfile.TemporaryDirectory() as root:
        folders = [write_course_folder(Path(root) / f"student{number}", False, extra)
                   for number, extra in enumerate(["", "", *(bug for bug in CLASS_BUGS for _ in range(2))])]
        path = Path(root) / "class.json"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(["audit", "--impl", *map(str, folders), "-j", "2", "--cases", str(config.cases), "--json", str(path)])
        entries = json.loads(path.read_text())["targets"]
    failing = [any(finding not in ("pass", "not_supported") for dtypes in entry["verdicts"].values()
                   for findings in dtypes.values() for finding in findings) for entry in entries]
    return len(entries), failing == [False, False, True, True, True, True]


def format_audit_timings(rows: list[dict]) -> str:
    """A small table of the rows of :func:`time_audits`."""
    width = max(len(row["run"]) for row in rows)
    lines = [f"{'audit run':<{width}}  {'seconds':>8}  {'budget':>6}  {'fits':<4}  checks  audit"]
    for row in rows:
        lines.append(f"{row['run']:<{width}}  {row['seconds']:8.1f}  {row['budget']:6.0f}  "
                     f"{'yes' if row['within_budget'] else 'NO':<4}  {row['checks']:6d}  "
                     f"{'passed' if row['audit_passed'] else 'FAILED'}")
    return "\n".join(lines)
