"""A target's layers audited by two judge processes at once, each calling its own worker.

A target audited with two workers (:func:`oracle.targets.impl_audit.workers_per_target`: a core to spare)
has its layers shared by two judge processes: this one, and a copy of it made with ``fork`` after the target
was imported. The copy takes the second worker (:meth:`oracle.targets.boundary.Session.lend_second`) and
audits every second layer (the layer's position among those audited, odd: both dtypes of a layer in one
process); this process audits the others with the first worker. Then the copy sends its runs back through a
pipe with the references it computed (kept in this process's memory store, for the causes and the shrinking
that follow) and leaves, and this process takes the second worker back. The judge's own work (comparisons,
references) is most of a right target's audit, so two judge processes on two cores take about half the time.

What decides a verdict is unchanged: each layer is audited by the same code on the same cases, and each
worker receives the calls of its layers in the same order on every run, whatever the timing. The copy is
the judge's own code, on the judge's side of the trust boundary; a target's code never runs in it. The runs
come back pickled, their specs by name (this process puts its own back). Where the copy cannot be made,
fails or dies, this process audits its layers itself, so the audit's result is always whole.

The copy is made only on Linux, where ``fork`` is safe with the libraries loaded here, only where torch runs
on one thread (as every audit command runs it: ``oracle.cli.single_threaded_torch``; torch's OpenMP threads
are not copied, and a copy that asked them for work would wait forever), and never inside a Jupyter kernel
(:func:`oracle.targets.jupyter.audit_here` asks for none).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch

from oracle.judge.audit import AuditConfig, LayerRun, Progress, Runner, Unit, audit_layer, run_in_order
from oracle.references.store import active
from oracle.specs.spec import LayerSpec
from oracle.targets.boundary import LaneReport, Session
from oracle.targets.loading import TargetError

#: Linux's ``prctl`` option for the signal a process gets when its parent ends.
_PR_SET_PDEATHSIG = 1


def in_second(unit: Unit) -> bool:
    """Whether the copy audits ``unit``: every second layer, by its position among those audited."""
    return unit[0] % 2 == 1


def forked_runner(session: Session) -> Runner:
    """A :data:`oracle.judge.audit.Runner` that shares the units with a copy of this process (see the module
    docstring), or runs them in order here where no copy can be made."""

    def run(units: Sequence[Unit], config: AuditConfig, progress: Callable[[Progress], None] | None) -> list[LayerRun]:
        second = [unit for unit in units if in_second(unit)]
        if not second or not sys.platform.startswith("linux") or not hasattr(os, "fork") \
                or torch.get_num_threads() != 1:
            return run_in_order(units, config, progress)
        try:
            lent = session.lend_second()
        except TargetError:
            lent = 0
        if not lent:
            return run_in_order(units, config, progress)
        return _shared(session, lent, units, second, config, progress)

    return run


def _shared(session: Session, lent: int, units: Sequence[Unit], second: Sequence[Unit], config: AuditConfig,
            progress: Callable[[Progress], None] | None) -> list[LayerRun]:
    """Run ``second`` in a copy of this process with worker ``lent``, the other units here; all runs in order."""
    printed_before = {name: log.count for name, log in session.output.items()}
    kept_before = active().kept_names()
    lender = os.getpid()
    try:
        read_end, write_end = os.pipe()
        try:
            child = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            raise
    except OSError:  # no copy can be made now (no memory, no process left to this user): all of it here
        session.take_back_second(True, LaneReport())
        return run_in_order(units, config, progress)
    if child == 0:  # the copy: it never returns
        os.close(read_end)
        _serve_copy(session, lent, second, config, (printed_before, kept_before), write_end, lender)
    os.close(write_end)
    alive, found = False, None
    try:
        first = [unit for unit in units if not in_second(unit)]
        here = dict(zip(map(id, first), run_in_order(first, config, progress, among=units), strict=True))
        with os.fdopen(read_end, "rb") as stream:
            data = stream.read()
        os.waitpid(child, 0)
        child = 0
        found = _loaded(data, {spec.name: spec for _, spec, _ in units})
    finally:
        if child:  # this process failed or was interrupted: the copy goes too
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)
        if found is not None:
            alive = found[1]
            active().keep_all(found[3])  # the references the copy computed, for this process's causes and shrinking
        session.take_back_second(alive, found[2] if found is not None else LaneReport())
    if found is None:  # the copy failed: its units are audited here, as they would have been without it
        there = dict(zip(map(id, second), run_in_order(second, config, progress, among=units), strict=True))
    else:
        there = dict(zip(map(id, second), found[0], strict=True))
        for number, unit in enumerate(units, start=1):
            if progress and id(unit) in there:
                progress(Progress(number, len(units), unit[1].name, unit[2], config.cases, there[id(unit)],
                                  alone=True))
    return [here[id(unit)] if id(unit) in here else there[id(unit)] for unit in units]


def _serve_copy(session: Session, lent: int, units: Sequence[Unit], config: AuditConfig,
                before: tuple[dict[str, int], set[str]], write_end: int, lender: int) -> None:
    """The copy's whole life: audit ``units`` with the lent worker, send the runs, leave (``os._exit``).

    ``before``: each output log's bytes and the store's entries in memory, at the fork; ``lender``: the process
    it was copied from, whose end is its own.
    """
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # an interrupted audit ends its copy at once
        with contextlib.suppress(OSError, AttributeError):  # killed with the lender, as its workers are
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != lender:  # the lender ended before the line above
            os._exit(0)
        session.keep_second()
        runs = [audit_layer(spec, dtype, config) for _, spec, dtype in units]
        alive = session.leave_second(lent)
        data = _dumped((runs, alive, session.lane_report(before[0]), active().kept_since(before[1])))
    except BaseException:  # noqa: BLE001  nothing of the copy's failure may reach the lender but its absence
        with contextlib.suppress(BaseException):
            session.leave_second(lent)
        data = b""
    try:
        with os.fdopen(write_end, "wb") as stream:
            stream.write(data)
    finally:
        os._exit(0)


class _SpecsByName(pickle.Pickler):
    """Pickles specs by name: a spec bound to a target holds its session, which does not cross."""

    def persistent_id(self, obj: Any) -> str | None:
        return obj.name if isinstance(obj, LayerSpec) else None


class _SpecsFromNames(pickle.Unpickler):
    def __init__(self, data: bytes, specs: dict[str, LayerSpec]) -> None:
        super().__init__(io.BytesIO(data))
        self.specs = specs

    def persistent_load(self, pid: Any) -> LayerSpec:
        return self.specs[pid]


def _dumped(value: Any) -> bytes:
    stream = io.BytesIO()
    _SpecsByName(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return stream.getvalue()


def _loaded(data: bytes, specs: dict[str, LayerSpec]) -> tuple[list[LayerRun], bool, LaneReport, dict] | None:
    """What the copy sent, or ``None`` when it sent nothing whole (it failed or died)."""
    if not data:
        return None
    try:
        return _SpecsFromNames(data, specs).load()
    except Exception:  # noqa: BLE001  a copy that died mid-write: its units are audited again here
        return None
