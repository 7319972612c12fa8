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
``--impl course folder with learners' mistakes``
    the course API's folder with four mistakes as learners make them: an
    ``rnn_backward`` that never carries the gradient from step t+1, a
    ``temporal_softmax_loss`` that ignores the mask, an ``lstm_step_backward``
    outside the catalogue and an ``lstm_backward`` that loops over it
    (inherited); the time includes naming the likely causes
    (:mod:`oracle.judge.causes`), which is also reported on its own (column
    ``causes``): budget 30 s, and the causes at most 20% of the rest;
``--impl class of 6, -j 2, prebuilt store``
    a small class through the grader's route (a judge process per target,
    two at a time): two course folders that are right, two whose
    ``rnn_step_backward`` scales ``dWx`` by 1.5, two whose ``lstm_forward``
    crashes; with ``--references`` a store built first (not timed), as a
    class of 300 has its references computed once, by its first targets or
    ahead of time; budget 12 s (2 s a target: a class of 300 in 10 minutes).
``--impl worker start-up, the sandbox's share``
    what confining a worker (:mod:`oracle.targets.sandbox`) adds to starting it: a worker is started,
    imports a course folder and is closed, :data:`SANDBOX_STARTS` times (the run's ``cases``) with
    ``--sandbox auto`` and as many with ``--sandbox off``, in turns; the seconds are the difference of
    the medians: budget 0.1 s. The row's ``confine_seconds`` is the median time a worker took to
    confine itself, by its own clock, which a loaded machine's noise blurs less. The run passes when
    every confined worker held every protection the kernel offers
    (:data:`oracle.targets.sandbox.PROTECTIONS`), and ``checks`` is the number of starts.

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

#: Workers started with the sandbox, and as many without, for the sandbox's share of a start.
SANDBOX_STARTS = 9


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


#: The mistakes of the run with findings (appended to a course folder's ``rnn_layers.py``).
LEARNERS_MISTAKES = """
import numpy as np
import impl as _impl


def rnn_forward(x, h0, Wx, Wh, b):
    caches, hs, h = [], [], h0
    for t in range(x.shape[1]):
        h, cache = _impl.rnn_step_forward(x[:, t], h, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def rnn_backward(dh, caches):
    dx, dh0 = [], None
    dWx = dWh = db = 0
    for t in reversed(range(dh.shape[1])):
        dx_t, dh0, dWx_t, dWh_t, db_t = _impl.rnn_step_backward(dh[:, t], caches[t])  # no dh from step t+1
        dx.insert(0, dx_t)
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return np.stack(dx, axis=1), dh0, dWx, dWh, db


def temporal_softmax_loss(x, y, mask, verbose=False):
    return _impl.temporal_softmax_loss(x, y, np.ones_like(mask))


def lstm_step_backward(dnext_h, dnext_c, cache):
    dx, dprev_h, dprev_c, dWx, dWh, db = _impl.lstm_step_backward(dnext_h, dnext_c, cache)
    return dx, dprev_h, dprev_c, dWx, dWh, db / dnext_h.shape[0]


def lstm_forward(x, h0, Wx, Wh, b):
    caches, hs, h, c = [], [], h0, np.zeros_like(h0)
    for t in range(x.shape[1]):
        h, c, cache = _impl.lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def lstm_backward(dh, caches):
    dx, dh_next, dc_next = [], np.zeros_like(dh[:, 0]), np.zeros_like(dh[:, 0])
    dWx = dWh = db = 0
    for t in reversed(range(dh.shape[1])):
        dx_t, dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dh_next, dc_next, caches[t])
        dx.insert(0, dx_t)
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return np.stack(dx, axis=1), dh_next, dWx, dWh, db
"""


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
        AuditRun("--impl course folder with learners' mistakes", every, default_cases, 30.0, course="mistakes"),
        AuditRun("--impl class of 6, -j 2, prebuilt store", every, default_cases, 12.0, course="class", prebuilt=True),
        AuditRun("--impl worker start-up, the sandbox's share", ("affine",), SANDBOX_STARTS, 0.1, course="sandbox"),
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
            timings: dict[str, float] = {}
            if run.course == "sandbox":
                seconds, confining, checks, passed = _sandbox_share(run.cases)
                rows.append({"run": run.name, "seconds": round(seconds, 3), "budget": run.budget,
                             "within_budget": seconds <= run.budget, "checks": checks, "audit_passed": passed,
                             "confine_seconds": round(confining, 4)})
                continue
            with tempfile.TemporaryDirectory() as folder:
                if run.prebuilt:
                    build([get_spec(name) for name in run.layers], config, ReferenceStore.open(folder))
                started = time.perf_counter()
                # Each run starts from an empty store (or the one just built), as a fresh ``rnn-oracle audit``.
                with using(ReferenceStore.open(folder) if run.prebuilt else ReferenceStore.memory()):
                    if run.course:
                        checks, passed = _impl_audit(run, config, timings, folder if run.prebuilt else None)
                    else:
                        result = run_audit([get_spec(name) for name in run.layers], config)
                        checks, passed = len(result.checks), result.passed
                seconds = time.perf_counter() - started
            causes = timings.get("causes")
            fits = seconds <= run.budget and (causes is None or causes <= CAUSES_SHARE * (seconds - causes))
            # To 0.1 ms: an audit whose references all come from the store can take a few milliseconds.
            rows.append({"run": run.name, "seconds": round(seconds, 4), "budget": run.budget,
                         "within_budget": fits, "checks": checks, "audit_passed": passed,
                         "causes_seconds": None if causes is None else round(causes, 2)})
    finally:
        torch.set_num_threads(previous)
    return rows


def _impl_audit(run: AuditRun, config: AuditConfig, timings: dict[str, float],
                references: str | None = None) -> tuple[int, bool]:
    """``(checks, whether the course's own functions all passed)`` of an ``--impl`` audit of the run's course folder.

    Of the course API, only the functions it defines count: the GRU and the LSTM with a given cell state
    are missing from it by design. The run with mistakes passes when exactly its four mistakes are found
    and each is named (:func:`_mistakes_named`). ``timings`` gets the seconds spent naming causes.
    """
    from oracle.targets.impl_audit import audit_one, workers_per_target

    if run.course == "class":
        return _class_audit(run, config, references)
    with tempfile.TemporaryDirectory() as root:
        folder = (write_course_notebook(Path(root)) if run.course == "dlai notebook"
                  else write_course_folder(Path(root), complete=run.course == "every function",
                                           extra=LEARNERS_MISTAKES if run.course == "mistakes" else ""))
        entry, _, result = audit_one(str(folder), config, run.layers, "rnn-oracle", parallel=workers_per_target(1),
                                     timings=timings)
    if run.course == "mistakes":
        return (len(result.checks) if result is not None else 0), _mistakes_named(entry)
    judged = {function: dtypes for function, dtypes in entry["verdicts"].items()
              if run.course in ("every function", "dlai notebook") or function in COURSE_FUNCTIONS
              or function.endswith(("[rnn]", "[lstm]"))}
    passed = bool(judged) and all(findings == ["pass"] for dtypes in judged.values() for findings in dtypes.values())
    return (len(result.checks) if result is not None else 0), passed


#: What the run with mistakes must name: each wrong function and dtype's likely causes.
NAMED = {"rnn_backward": ["rnn.h_not_carried"], "temporal_softmax_loss": ["temporal_softmax_loss.mask_ignored"],
         "lstm_step_backward": [], "lstm_backward": ["inherited.lstm_step_backward"]}

#: The share of the rest of an audit with findings that naming their causes may take.
CAUSES_SHARE = 0.2


def _mistakes_named(entry: dict) -> bool:
    """Whether the functions with findings are exactly those of :data:`NAMED` audited, each with those causes."""
    wrong = {function for function, dtypes in entry["verdicts"].items()
             if any(set(findings) - {"pass", "not_supported"} for findings in dtypes.values())}
    audited = set(NAMED) & set(entry["verdicts"])
    named = all([cause["id"] for cause in entry["causes"][function][dtype]] == NAMED[function]
                for function in audited for dtype in entry["causes"][function])
    return bool(audited) and wrong == audited and named


def _class_audit(run: AuditRun, config: AuditConfig, references: str | None = None) -> tuple[int, bool]:
    """``(targets, whether each got what it should)`` of the class run: ``rnn-oracle audit --impl ... -j 2``
    (``--references`` the store at ``references``, when given)."""
    import contextlib
    import io
    import json

    from oracle.cli import main

    with tempfile.TemporaryDirectory() as root:
        folders = [write_course_folder(Path(root) / f"student{number}", False, extra)
                   for number, extra in enumerate(["", "", *(bug for bug in CLASS_BUGS for _ in range(2))])]
        path = Path(root) / "class.json"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(["audit", "--impl", *map(str, folders), "-j", "2", "--cases", str(config.cases), "--json", str(path),
                  *(["--references", references] if references else [])])
        entries = json.loads(path.read_text())["targets"]
    failing = [any(finding not in ("pass", "not_supported") for dtypes in entry["verdicts"].values()
                   for findings in dtypes.values() for finding in findings) for entry in entries]
    return len(entries), failing == [False, False, True, True, True, True]


def _sandbox_share(starts: int) -> tuple[float, float, int, bool]:
    """``(seconds the sandbox adds to a worker's start, the median seconds a worker took to confine itself, starts,
    whether every confined start held it all)``."""
    import statistics

    from oracle.targets.boundary import Limits, open_target

    seconds: dict[str, list[float]] = {"auto": [], "off": []}
    confining: list[float] = []
    held = True
    with tempfile.TemporaryDirectory() as root:
        folder = write_course_folder(Path(root), complete=True)
        for _ in range(starts):
            for mode in ("off", "auto"):
                started = time.perf_counter()
                with open_target(str(folder), ("affine_forward",), Limits(sandbox=mode), base=Path(root)) as target:
                    state = target.sandbox()
                seconds[mode].append(time.perf_counter() - started)
                held = held and (mode == "off" or not state["missing"])
                confining += [state["seconds"]] if mode == "auto" and state["seconds"] is not None else []
    share = statistics.median(seconds["auto"]) - statistics.median(seconds["off"])
    return share, statistics.median(confining) if confining else 0.0, 2 * starts, held


def format_audit_timings(rows: list[dict]) -> str:
    """A small table of the rows of :func:`time_audits`."""
    width = max(len(row["run"]) for row in rows)
    lines = [f"{'audit run':<{width}}  {'seconds':>8}  {'budget':>6}  {'fits':<4}  checks  audit   causes"]
    for row in rows:
        causes = row.get("causes_seconds")
        share = ("-" if causes is None else
                 f"{causes:.1f} s ({100 * causes / max(row['seconds'] - causes, 1e-9):.0f}% of the rest)")
        lines.append(f"{row['run']:<{width}}  {row['seconds']:8.{3 if row['budget'] < 1 else 1}f}  "
                     f"{row['budget']:6.{1 if row['budget'] < 1 else 0}f}  "
                     f"{'yes' if row['within_budget'] else 'NO':<4}  {row['checks']:6d}  "
                     f"{'passed' if row['audit_passed'] else 'FAILED':<6}  {share}")
    return "\n".join(lines)
