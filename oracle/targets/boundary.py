"""The judge's side of the process boundary: a user's code runs in a worker process, never in the judge's.

:func:`open_target` starts a fresh worker (:mod:`oracle.targets.worker`) for a target,
has it import the target, and returns a :class:`RemoteTarget` whose
:meth:`~RemoteTarget.find` gives stand-ins for the target's functions and model
(:class:`RemoteFunction`, :class:`RemoteModel`). Calling a stand-in sends the
arguments to the worker and returns what the user's code returned, as plain
data decoded by :mod:`oracle.targets.wire`: numeric arrays, scalars, containers of
them, ``None``, a :class:`~oracle.targets.wire.Handle` for what the worker keeps (a
forward pass's cache) and :class:`~oracle.targets.wire.Other` for anything else. An
argument the call changed in place is changed in the judge's copy too, so the
audit sees the mutation as it would in one process.

Limits (:class:`Limits`)
------------------------
Every reply must come within ``timeout`` seconds (the import within
``import_timeout``); otherwise the worker's whole process group is killed with
SIGKILL, which no code can ignore, the call raises :class:`CallTimedOut`, and a
fresh worker is started for the next call. A function that timed out is not
called again: its later calls raise :class:`CallTimedOut` at once. The worker's
address space is limited to ``memory`` bytes (``RLIMIT_AS``); a call that runs
out of it raises :class:`WorkerFailed` ("killed: out of memory") and the worker
is replaced. A worker that exits or dies during a call raises
:class:`WorkerFailed` naming its exit status or signal. Output is read from
its own pipe, kept per function as the last :data:`OUTPUT_TAIL` bytes, and
never printed.

Each exception carries ``cause``, the finding it stands for (``"timeout"``,
``"crash"``, ``"not_implemented"``, ``"wrong_value"``); the audit files it
from there, never from text the user's code chose.

Sandbox (:mod:`oracle.targets.sandbox`, :mod:`oracle.targets.confine`)
-----------------------------------------------------------------------
Every worker confines itself before it imports numpy or the target, to the
policy the judge gives it (``Limits.sandbox``, ``--sandbox``): it reads the
Python installation, this package and the target's own folder, writes only
its scratch folder, has no network (a private network namespace, Landlock's TCP
rules, no Unix sockets) and lives in a PID namespace whose processes the kernel
kills when the worker goes, however they detached themselves. Its first frame
says what held, before the target runs; the judge keeps it in
:attr:`Session.sandbox` and the report shows it. Under ``--sandbox require`` a
worker that lacks a protection does not import the target, and the target
cannot be audited. What stays open, and what root keeps, is said in
docs/explanation/sandbox.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import math
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from impl.dlai import COURSE_PARAMETERS
from oracle.specs.calls import MODEL_CLASS, recipe_name
from oracle.specs.spec import CallFailed
from oracle.targets import wire
from oracle.targets.backends import BACKENDS, PortOptions
from oracle.targets.loading import TargetError
from oracle.targets.notebooks import NotebookCell, NotebookError, cell_name, notebook_cells
from oracle.targets.sandbox import SandboxPolicy, SandboxState, gpu_devices, policy_for
from oracle.targets.worker import STANDINS

#: Seconds a call may take by default, at the default sizes (see :func:`default_timeout`).
DEFAULT_TIMEOUT = 10.0

#: Seconds the import of a target may take.
DEFAULT_IMPORT_TIMEOUT = 60.0

#: The worker's address space by default, in bytes.
DEFAULT_MEMORY = 8 * 2**30

#: Bytes of output kept per function.
OUTPUT_TAIL = 4096

#: The largest reply the judge reads, in bytes, and what one batch of calls aims to stay under.
MAX_REPLY = 2 * 2**30
BATCH_BYTES = 64 * 2**20

#: The fewest calls a second worker takes from a batch.
MIN_SHARE = 8

#: Environment variables the worker inherits: locale, and the thread and kernel settings of numpy's BLAS.
INHERITED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                         "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS",
                         "NPY_DISABLE_CPU_FEATURES", "SYSTEMROOT")

#: The worker's program: confine itself (before numpy and the target are imported), then serve.
_WORKER_SOURCE = ("import sys; sys.path.insert(0, sys.argv[1]); from oracle.targets.confine import confine_worker; "
                  "held = confine_worker(sys.argv[2:]); "
                  "from oracle.targets.worker import main; main(sys.argv[2:], held)")


def default_timeout(dims: dict[str, int]) -> float:
    """:data:`DEFAULT_TIMEOUT`, scaled for ``--dims``: times ``1 + log2`` of the product of every size over 4.

    A correct implementation takes milliseconds per call at the default sizes
    (1 to 4); at ``N=64,T=50,D=128,H=256`` the limit is 10 s times 19.6.
    """
    growth = math.prod(max(1.0, size / 4) for size in dims.values())
    return DEFAULT_TIMEOUT * (1 + math.log2(growth))


@dataclass(frozen=True)
class Limits:
    """What a worker may cost and reach: seconds per reply, seconds for the import, bytes of address space,
    and its sandbox (``--sandbox``: ``"auto"``, ``"require"`` or ``"off"``; :mod:`oracle.targets.sandbox`)."""

    timeout: float = DEFAULT_TIMEOUT
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT
    memory: int = DEFAULT_MEMORY
    sandbox: str = "auto"


class BoundaryError(CallFailed):
    """A call that gave no usable result from the worker (see :class:`oracle.specs.spec.CallFailed`)."""


class CallTimedOut(BoundaryError):
    """No reply within the time limit (or the function timed out earlier and is not called again)."""

    cause = "timeout"


class WorkerFailed(BoundaryError):
    """The worker exited, died, ran out of memory or broke the wire format during a call."""


class TargetRaised(BoundaryError):
    """The user's code raised; the evidence names the exception, its message and where."""

    def __init__(self, evidence: str, not_implemented: bool = False, output: str = "",
                 not_supported: bool = False) -> None:  # defaults: an exception is unpickled from its evidence
        super().__init__(evidence, output)
        self.cause = "not_supported" if not_supported else "not_implemented" if not_implemented else "crash"


class WrongKind(BoundaryError):
    """The user's code returned something that is not numeric data (a torch tensor, a generator, a string)."""

    cause = "wrong_value"


@dataclass
class OutputLog:
    """What one function printed: total bytes and the last :data:`OUTPUT_TAIL` of them."""

    count: int = 0
    tail: bytes = b""

    def add(self, data: bytes) -> None:
        self.count += len(data)
        self.tail = (self.tail + data)[-OUTPUT_TAIL:]

    def text(self) -> str:
        return self.tail.decode(errors="replace")


def harden_judge() -> None:
    """Make this process non-dumpable (Linux): a worker of the same user cannot ptrace it or open its files.

    ``/proc/PID/fd``, ``/proc/PID/mem`` and ``ptrace`` of a non-dumpable
    process need ``CAP_SYS_PTRACE``. Elsewhere this does nothing.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


class WorkerProcess:
    """One running worker: its process, its three pipes, and reading replies against a deadline.

    ``policy`` is the sandbox it confines itself to (:class:`oracle.targets.sandbox.SandboxPolicy`), on its
    command line.
    """

    def __init__(self, scratch: Path, memory: int, policy: SandboxPolicy) -> None:
        request_read, self.request_fd = os.pipe()
        self.reply_fd, reply_write = os.pipe()
        output_read, output_write = os.pipe()
        root = str(Path(__file__).resolve().parents[2])
        environment = {name: os.environ[name] for name in INHERITED_ENVIRONMENT if name in os.environ}
        environment.update(HOME=str(scratch), TMPDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1")
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER_SOURCE, root, str(request_read), str(reply_write), str(memory),
             policy.wire()],
            stdin=subprocess.DEVNULL, stdout=output_write, stderr=output_write, cwd=scratch, env=environment,
            pass_fds=(request_read, reply_write), start_new_session=True)
        for fd in (request_read, reply_write, output_write):
            os.close(fd)
        self.output_fd = output_read
        with contextlib.suppress(OSError, AttributeError):  # room for a batch's calls and replies (Linux)
            for fd in (self.request_fd, self.reply_fd):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        for fd in (self.request_fd, self.reply_fd, self.output_fd):
            os.set_blocking(fd, False)
        self.pending = bytearray()
        self.received = bytearray()
        self.alive = True
        self.importing = False
        self.cells: list[NotebookCell] = []  # a notebook's cells it was asked to run, in order

    def send(self, data: bytes) -> None:
        """Queue ``data`` and write what the pipe takes now; the rest goes while replies are read."""
        self.pending += data
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            while self.pending:
                del self.pending[:os.write(self.request_fd, self.pending[:1 << 20])]

    def reply(self, deadline: float, output: OutputLog) -> tuple[dict[str, Any], bytes]:
        """The next reply frame, writing pending request bytes and reading output meanwhile.

        Raises :class:`CallTimedOut` past ``deadline`` (``time.monotonic()``), :class:`WorkerFailed` when the
        worker closes its pipe or breaks the format.
        """
        lengths: tuple[int, int] | None = None
        while True:
            size = wire.HEADER_STRUCT.size
            if lengths is None and len(self.received) >= size:
                lengths = wire.parse_lengths(bytes(self.received[:size]), MAX_REPLY)
            if lengths is not None and len(self.received) >= size + sum(lengths):
                header_end = size + lengths[0]
                header = wire.decode_header(bytes(self.received[size:header_end]))
                payload = bytes(self.received[header_end:header_end + lengths[1]])
                del self.received[:header_end + lengths[1]]
                self._drain(output)
                return header, payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._drain(output)
                raise CallTimedOut("timed out")
            writers = [self.request_fd] if self.pending else []
            readable, writable, _ = select.select([self.reply_fd, self.output_fd], writers, [], remaining)
            if self.output_fd in readable:
                self._drain(output)
            if writable:
                try:
                    written = os.write(self.request_fd, self.pending[:1 << 20])
                except BrokenPipeError:
                    written = len(self.pending)
                del self.pending[:written]
            if self.reply_fd in readable:
                chunk = os.read(self.reply_fd, 1 << 20)
                if not chunk:
                    self._drain(output)
                    raise WorkerFailed(self.ended())
                self.received += chunk

    def _drain(self, output: OutputLog) -> None:
        while True:
            try:
                chunk = os.read(self.output_fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            output.add(chunk)

    def ended(self) -> str:
        """How the worker ended, once its reply pipe closed: ``"exited with status 0"``, ``"killed by SIGSEGV"``."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "closed its reply pipe and was killed"
        self.alive = False
        if code < 0:
            return f"the worker was killed by {signal.Signals(-code).name}"
        return f"the worker exited with status {code}"

    def kill(self) -> None:
        """SIGKILL the worker's process group, reap it and close the pipes."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
            self.alive = False
        for fd in (self.request_fd, self.reply_fd, self.output_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.request_fd = self.reply_fd = self.output_fd = -1


@dataclass(frozen=True)
class LaneReport:
    """What a forked judge process learnt of its lent worker (:meth:`Session.lane_report`); nothing by default.

    ``printed``: ``{function: (bytes printed, the last of them)}`` since the fork; ``timed_out``, ``sandbox`` and
    ``notes`` as :class:`Session` has them.
    """

    printed: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    timed_out: set[str] = field(default_factory=set)
    sandbox: SandboxState | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Session:
    """The workers of one target, restarted after a failure, with what the judge knows of them.

    One worker (the primary) takes every call that keeps state (a cache); batches of independent
    calls (:meth:`map`, the finite differences) are shared with a second one where ``parallel`` is 2.

    Attributes
    ----------
    target
        The target as given; ``base`` the folder it is found from.
    limits
        Seconds and bytes per call.
    names
        The public names the judge will look up.
    parallel
        How many workers share a batch (1 or 2).
    cells, cell_timeout
        A notebook target's cells to run instead of importing ``target`` (:mod:`oracle.targets.notebooks`), and the
        limit of each (``None``: the import's).
    pickled
        A target sent by value from a kernel (cloudpickle of ``{name: object}``), instead.
    classmates
        The run's other targets, out of the workers' reach (:func:`oracle.targets.sandbox.policy_for`).
    sandbox
        What held of the sandbox for every worker so far (:class:`oracle.targets.sandbox.SandboxState`).
    port
        How a port's arrays cross (:class:`~oracle.targets.backends.PortOptions`); ``backend`` and ``chosen``:
        the library the worker ran it with (:data:`~oracle.targets.backends.BACKENDS`) and why.
    notes
        One line per notebook cell that failed and was skipped, citing it, and one per top-level import
        of the target that failed and was skipped (:mod:`oracle.targets.imports`).
    found
        ``{public name: "function" | "class" | "other" | "missing"}``, from the import.
    unfinished
        ``{public name: what shows it unfinished}`` for its functions that are stubs as written
        (:func:`oracle.targets.placeholders.unfinished_function`), from the import.
    standins
        The course helpers the target lacks that stand-ins replaced (:data:`oracle.targets.worker.STANDINS`).
    timed_out
        Functions that timed out; they are not called again.
    output
        What each function printed (:class:`OutputLog`), by public name, and ``"import"``.
    """

    target: str
    base: Path
    limits: Limits
    names: tuple[str, ...]
    parallel: int = 1
    cells: list[NotebookCell] | None = None
    cell_timeout: float | None = None
    pickled: bytes | None = None
    classmates: tuple[str, ...] = ()
    sandbox: SandboxState | None = None
    port: PortOptions = field(default_factory=PortOptions)
    backend: str = "numpy"
    chosen: str = ""
    autograd: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _skipped: set[int] = field(default_factory=set)
    found: dict[str, str] = field(default_factory=dict)
    unfinished: dict[str, str] = field(default_factory=dict)
    standins: list[str] = field(default_factory=list)
    timed_out: set[str] = field(default_factory=set)
    output: dict[str, OutputLog] = field(default_factory=dict)
    generation: int = 0
    _workers: list[WorkerProcess | None] = field(default_factory=lambda: [None, None])
    _scratch: tempfile.TemporaryDirectory | None = None
    _released: list[tuple[int, int]] = field(default_factory=list)
    _next_id: int = 0
    _reply_sizes: dict[str, int] = field(default_factory=dict)
    _unread: list[WorkerProcess] = field(default_factory=list)

    def start(self) -> None:
        """Start the workers and import the target; :class:`~oracle.targets.loading.TargetError` if it cannot be.

        A second worker (``parallel``) imports it at the same time; its import is read on its first use.
        """
        harden_judge()
        primary = self._spawned()
        self._workers = [primary, self._spawned() if self.parallel > 1 else None]
        self._workers[0] = self._imported(primary)  # another worker, when a cell had to be skipped
        self.generation += 1

    def _spawned(self) -> WorkerProcess:
        """A fresh worker in the scratch folder, asked to import the target (see :meth:`_imported`)."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="rnn-oracle-worker-")
        scratch = Path(self._scratch.name)
        policy = policy_for(self.target, self.base, scratch, self.limits.sandbox, self.classmates,
                            pickled=self.pickled is not None,
                            devices=gpu_devices() if self.port.device == "cuda" else ())
        worker = WorkerProcess(scratch, self.limits.memory, policy)
        header: dict[str, Any] = {"op": "import", "target": self.target, "base": str(self.base),
                                  "names": list(self.names), "paths": list(self._paths()),
                                  "port": dataclasses.asdict(self.port)}
        fields: dict[str, Any] = {}
        running = [cell for cell in self.cells or () if cell.index not in self._skipped]
        if self.cells is not None:
            header["cells"] = [[cell.index, cell.count, cell.source] for cell in running]
        if self.pickled is not None:
            fields["pickled"] = np.frombuffer(self.pickled, dtype=np.uint8)
        worker.send(wire.encode(header, fields))
        worker.importing = True
        worker.cells = running
        return worker

    def _started(self) -> WorkerProcess:
        """A fresh worker, in the scratch folder, with the target imported."""
        return self._imported(self._spawned())

    def _imported(self, worker: WorkerProcess) -> WorkerProcess:
        """``worker`` once its import of the target succeeded; :class:`~oracle.targets.loading.TargetError` if not.

        A notebook's cells report one by one, each within its own limit; a cell that fails is noted
        (:attr:`notes`), and one that hangs or ends the worker is skipped in a fresh worker.
        """
        worker.importing = False
        log = self.output.setdefault("import", OutputLog())
        waiting = list(worker.cells)
        try:
            self._confined(worker, log)
            while True:
                limit = self.cell_timeout if waiting and self.cell_timeout else self.limits.import_timeout
                header, payload = worker.reply(time.monotonic() + limit, log)
                if "cell" not in header:
                    break
                if waiting and header.get("cell") == waiting[0].index:
                    for imported in _texts(header.get("imports")):
                        self._note(waiting[0], f"{imported}: that import skipped, the rest of the cell run",
                                   skipped=False)
                    if header.get("status") != "ok":
                        self._note(waiting[0], str(header.get("message"))[:1000])
                    waiting.pop(0)
            found = header.get("found", {})
        except (CallTimedOut, WorkerFailed) as error:
            worker.kill()
            if waiting:  # a cell hung or ended the worker: run the notebook again without it
                ended = f"no result within {limit:g} s" if isinstance(error, CallTimedOut) else error.evidence
                self._note(waiting[0], ended)
                self._skipped.add(waiting[0].index)
                return self._imported(self._spawned())
            if isinstance(error, CallTimedOut):
                raise TargetError(f"{self.target}: did not finish importing within {limit:g} s "
                                  "(the worker was killed)") from error
            raise TargetError(f"{self.target}: {error.evidence.replace('the worker', 'the target')} "
                              "while being imported") from error
        except wire.WireError as error:
            worker.kill()
            raise TargetError(f"{self.target}: the worker broke the wire format while importing: {error}") from error
        status = header.get("status")
        if status == "exited":
            worker.kill()
            raise TargetError(f"{self.target}: called sys.exit({header.get('code')!r}) while being imported")
        if status != "ok" or not isinstance(found, dict):
            worker.kill()
            raise TargetError(str(header.get("message") or f"{self.target}: the import failed"))
        self.found = {name: kind for name, kind in found.items()
                      if name in self.names and kind in ("function", "class", "other", "missing")}
        used = header.get("standins", [])
        self.standins = [name for name in STANDINS if isinstance(used, list) and name in used]
        self.notes += [note for note in _texts(header.get("notes")) if note not in self.notes]
        unfinished = header.get("unfinished")
        self.unfinished = {name: text[:500] for name, text in unfinished.items() if name in self.names
                           and isinstance(text, str)} if isinstance(unfinished, dict) else {}
        backend = header.get("backend")
        self.backend = backend if isinstance(backend, str) and backend in BACKENDS else "numpy"
        self.chosen = str(header.get("chosen") or "")[:200]
        return worker

    def _paths(self) -> tuple[str, ...]:
        """Folders the worker puts on its ``sys.path``: a notebook's own folder (its modules are beside it)."""
        path = self.base / self.target
        return (str(path.resolve().parent),) if self.cells is not None else ()

    def _confined(self, worker: WorkerProcess, log: OutputLog) -> None:
        """Read the worker's first frame, what held of its sandbox, sent before the target ran.

        Under ``--sandbox require``, a missing protection is a :class:`~oracle.targets.loading.TargetError`
        (the worker did not import the target).
        """
        try:
            header, _ = worker.reply(time.monotonic() + self.limits.import_timeout, log)
        except (CallTimedOut, WorkerFailed) as error:  # no code of the target has run yet
            worker.kill()
            said = log.text().strip().splitlines()[-1:]
            raise TargetError(f"{self.target}: the worker ended while confining itself, before it imported the "
                              f"target ({error.evidence}{': ' + said[0][:300] if said else ''}); --sandbox off "
                              "runs it unconfined") from error
        if "sandbox" not in header:
            raise wire.WireError("the worker did not say what of its sandbox held")
        state = SandboxState.from_wire(self.limits.sandbox, header["sandbox"])
        self.sandbox = state if self.sandbox is None else self.sandbox.weakest(state)
        if self.limits.sandbox == "require" and state.missing:
            worker.kill()
            raise TargetError(f"{self.target}: not run: --sandbox require, and this kernel gives the worker no "
                              f"{' and no '.join(state.missing)} protection ({state.text()})")

    def _note(self, cell: NotebookCell, what: str, skipped: bool = True) -> None:
        """A note on ``cell``: ``what`` happened (and the cell was skipped, unless ``skipped`` is false)."""
        note = f"{cell_name(self.target, cell.index, cell.count)}" + (
            f": {what}: skipped" if skipped else f", {what}")
        if note not in self.notes:
            self.notes.append(note)

    def close(self) -> None:
        """Kill the workers and remove their scratch folder."""
        for worker in self._workers:
            if worker is not None:
                worker.kill()
        self._workers = [None, None]
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    # --- a second judge process (oracle.targets.forked_lane) ---

    def lend_second(self) -> int:
        """Stop using the second worker, lent to a forked judge process: its process id (0: none to lend)."""
        second = self._workers[1]
        if self.parallel < 2 or second is None or not second.alive or self._unread:  # (a batch left unread)
            return 0
        if second.importing:
            self._workers[1] = second = self._imported(second)  # TargetError: nothing is lent
        self.parallel = 1
        return second.process.pid

    def keep_second(self) -> None:
        """In the forked judge process: the lent worker becomes its only one; the first is the lender's, untouched.

        Its scratch folder stays the lender's to remove (this process leaves by ``os._exit``).
        """
        self._workers = [self._workers[1], None]
        self.parallel = 1
        self.generation += 1  # no handle of the lender's worker is taken to this one
        self._released.clear()
        self._unread = []

    def leave_second(self, lent: int) -> bool:
        """In the forked judge process, before it exits: kill the workers it started; whether the lent one is alive.

        The lent worker (process ``lent``) is left running for the lender, unless it was replaced here.
        """
        kept = False
        for worker in self._workers:
            if worker is not None and worker.process.pid == lent and worker.alive:
                kept = True
            elif worker is not None:
                worker.kill()
        return kept

    def take_back_second(self, alive: bool, report: LaneReport) -> None:
        """In the lender, once the forked judge is done: the second worker again (or a fresh one when it was
        replaced there), with what happened there: what functions printed, which timed out, what held of the
        sandbox and the notes.
        """
        second = self._workers[1]
        if second is not None and not alive:
            second.kill()
            self._workers[1] = None
        self.parallel = 2
        for name, (added, tail) in report.printed.items():
            log = self.output.setdefault(name, OutputLog())
            log.add(tail)
            log.count += added - len(tail)
        self.timed_out |= report.timed_out
        if report.sandbox is not None:
            self.sandbox = report.sandbox if self.sandbox is None else self.sandbox.weakest(report.sandbox)
        self.notes += [note for note in report.notes if note not in self.notes]

    def lane_report(self, printed_before: dict[str, int]) -> LaneReport:
        """What the forked judge process learnt since the fork (``printed_before``: each log's bytes then)."""
        printed = {}
        for name, log in self.output.items():
            added = log.count - printed_before.get(name, 0)
            if added:
                printed[name] = (added, log.tail[-min(added, len(log.tail)):])
        return LaneReport(printed, set(self.timed_out), self.sandbox, list(self.notes))

    def _worker(self, slot: int) -> WorkerProcess:
        """The worker in ``slot`` (0: primary), started afresh when it is gone; a new primary drops all handles."""
        worker = self._workers[slot]
        if worker is not None and worker.alive and worker.importing:
            try:
                worker = self._workers[slot] = self._imported(worker)
            except TargetError as error:
                raise WorkerFailed(f"a second worker could not import the target: {error}") from error
        if worker is None or not worker.alive:
            if worker is not None:
                worker.kill()
            try:
                worker = self._started()
            except TargetError as error:  # it imported once: this is how it fails now
                raise WorkerFailed(f"a fresh worker could not import the target again: {error}") from error
            self._workers[slot] = worker
            if slot == 0:
                self.generation += 1
        return worker

    def _handle(self, handle: wire.Handle) -> wire.Handle:
        weakref.finalize(handle, self._released.append, (handle.generation, handle.id))
        return handle

    def call(self, recipe: dict[str, str], args: Sequence[Any], keep_last: bool = False) -> Any:
        """The user's result of ``recipe`` on ``args``; arguments the call changed are changed here too.

        ``keep_last``: the worker keeps the result's last element (a forward pass's cache) and the judge gets
        a :class:`~oracle.targets.wire.Handle` for it. Raises a :class:`BoundaryError` when the call gave no result.
        """
        self._worker(0)  # restarted first if it died, so that a stale handle is caught here
        for value in args:
            if isinstance(value, wire.Handle) and value.generation != self.generation:
                raise WorkerFailed("its cache was held by a worker that was restarted since (after a timeout or an "
                                   "exit), so this call could not run")
        released = [handle for generation, handle in self._released if generation == self.generation]
        self._released.clear()
        request = self._request(recipe, args, [[]], keep_last=keep_last, take=None, watch=True, release=released)
        return self._exchange([(0, request)], recipe, args)[0]

    def map(self, recipe: dict[str, str], args: Sequence[Any], variants: Sequence[Sequence[tuple[int, Any, Any]]],
            take: int) -> list[Any]:
        """The user's results of ``recipe`` on ``args`` changed by each variant, in batches shared by the workers.

        A variant lists ``(argument position, flat index or None, value)``: one element set, or (``None``)
        the whole argument replaced; every call gets fresh copies of ``args``. Only the first ``take``
        results of each call come back (a forward pass's outputs, a loss), and arguments are not watched.
        Raises the :class:`BoundaryError` of the first call that gave no result.
        """
        return self.map_later(recipe, args, variants, take)()

    def map_later(self, recipe: dict[str, str], args: Sequence[Any],
                  variants: Sequence[Sequence[tuple[int, Any, Any]]], take: int) -> Callable[[], list[Any]]:
        """:meth:`map`, with the first batch sent now: the returned function reads the results.

        The workers compute while the judge does other work (the twin); nothing else may be sent to
        them before the function is called.
        """
        name = recipe_name(recipe)
        if name in self.timed_out:
            raise CallTimedOut(f"not run: {name} timed out earlier in this audit (limit {self.limits.timeout:g} s)")

        def batch(start: int) -> list[tuple[WorkerProcess, list[dict]]]:
            size = self._reply_sizes.get(name)
            count = 1 if size is None else max(1, min(2048, BATCH_BYTES // max(size, 1)))
            chunk = variants[start:start + count]
            shares = 1 if len(chunk) < 2 * MIN_SHARE else self.parallel
            bounds = [len(chunk) * part // shares for part in range(shares + 1)]
            return self._send([(slot, self._request(recipe, args, chunk[bounds[slot]:bounds[slot + 1]],
                                                    keep_last=False, take=take, watch=False, release=[]))
                               for slot in range(shares)])

        first = batch(0) if variants else []

        def results() -> list[Any]:
            found: list[Any] = []
            sent = first
            while True:
                found += self._collect(sent, recipe, ())
                if len(found) >= len(variants):
                    return found
                sent = batch(len(found))

        return results

    def _request(self, recipe: dict[str, str], args: Sequence[Any], variants: Sequence[Sequence[tuple]],
                 keep_last: bool, take: int | None, watch: bool, release: list[int]) -> tuple[dict, bytes]:
        """One request frame of ``len(variants)`` calls, and its header."""
        encoder = wire.Encoder()
        calls = []
        for variant in variants:
            self._next_id += 1
            calls.append({"id": self._next_id, "replace": [[position, index, encoder.value(value)]
                                                          for position, index, value in variant]})
        header = {"op": "calls", "recipe": recipe, "args": encoder.value(list(args)), "keep_last": keep_last,
                  "take": take, "watch": watch, "release": release, "calls": calls}
        return header, encoder.frame(header)

    def _exchange(self, requests: Sequence[tuple[int, tuple[dict, bytes]]], recipe: dict[str, str],
                  args: Sequence[Any]) -> list[Any]:
        """Send each ``(worker slot, request)`` and read every call's reply, each within the time limit."""
        name = recipe_name(recipe)
        if name in self.timed_out:
            raise CallTimedOut(f"not run: {name} timed out earlier in this audit (limit {self.limits.timeout:g} s)")
        return self._collect(self._send(requests), recipe, args)

    def _send(self, requests: Sequence[tuple[int, tuple[dict, bytes]]]) -> list[tuple[WorkerProcess, list[dict]]]:
        # A batch started and never read (map_later's reader not called) leaves replies behind: those workers
        # go, with no finding for anyone, rather than answer this request with that batch's replies.
        for worker in self._unread:
            worker.kill()
        self._unread = []
        sent = []
        for slot, (header, frame) in requests:
            worker = self._worker(slot)
            worker.send(frame)
            sent.append((worker, header["calls"]))
        self._unread = [worker for worker, _ in sent]
        return sent

    def _collect(self, sent: list[tuple[WorkerProcess, list[dict]]], recipe: dict[str, str],
                 args: Sequence[Any]) -> list[Any]:
        """Read the reply of every call ``sent``, each within the time limit (see :meth:`_exchange`)."""
        name = recipe_name(recipe)
        self._unread = []
        log = self.output.setdefault(name, OutputLog())
        results: list[Any] = []
        first_error: BoundaryError | None = None
        try:
            for worker, calls in sent:
                for call in calls:
                    try:
                        header, payload = worker.reply(time.monotonic() + self.limits.timeout, log)
                        if header.get("id") != call["id"]:
                            raise wire.WireError(f"a reply to call {header.get('id')!r} where {call['id']} was "
                                                 "expected")
                        self._reply_sizes[name] = max(self._reply_sizes.get(name, 0), len(payload))
                        if first_error is None:  # the replies after a failed call are read, so none is left behind
                            results.append(self._result(name, header, wire.Decoder(header, payload, self.generation),
                                                        args, log))
                    except (TargetRaised, WrongKind) as error:
                        first_error = error
        except CallTimedOut as error:
            self._kill(sent)
            self.timed_out.add(name)
            raise CallTimedOut(f"timed out: no result within {self.limits.timeout:g} s (the worker was killed with "
                               "SIGKILL; the function is not called again in this audit)", log.text()) from error
        except WorkerFailed as error:
            self._kill(sent)
            raise WorkerFailed(f"{error.evidence} during the call", log.text()) from error
        except wire.WireError as error:
            self._kill(sent)
            raise WorkerFailed(f"the worker's reply broke the wire format: {error}", log.text()) from error
        if first_error is not None:
            raise first_error
        return results

    def _result(self, name: str, header: dict[str, Any], decoder: wire.Decoder, args: Sequence[Any],
                log: OutputLog) -> Any:
        """The value of one reply, or the :class:`BoundaryError` it stands for; changed ``args`` are updated."""
        status = header.get("status")
        if status == "exited":
            raise WorkerFailed(f"{name} called sys.exit({header.get('code')!r})", log.text())
        if status == "out_of_memory":
            raise WorkerFailed(f"killed: out of memory (over the --memory limit of {self.limits.memory / 2**30:.3g} "
                               "GiB)", log.text())
        if status == "raised":
            where = str(header.get("where") or "")[:500]
            text = (f"raised {str(header.get('type'))[:200]}: {str(header.get('message'))[:2000]}"
                    + (f" at {where}" if where else "") + global_hint(header.get("type"), header.get("message")))
            unfinished = str(header.get("unfinished") or "")[:1000]
            if unfinished:  # what was seen first, then what it made the code raise
                text = f"unfinished: {unfinished} (so it {text})"
            elif header.get("not_implemented") is True and not where:  # the call's wrapper said what it saw
                text = str(header.get("message"))[:2000]
            raise TargetRaised(text, header.get("not_implemented") is True, log.text(),
                               not_supported=header.get("not_supported") is True)
        if status != "ok":
            raise wire.WireError(f"unknown status {str(status)[:40]!r}")
        value = decoder.value(header.get("value"))
        for position, array in decoder.value(header.get("mutated", [])):
            if type(position) is int and 0 <= position < len(args) and isinstance(args[position], np.ndarray) \
                    and isinstance(array, np.ndarray) and args[position].shape == array.shape:
                np.copyto(args[position], array, casting="unsafe")
        kinds = _others(value)
        if kinds:
            raise WrongKind(f"{name} returned {' and '.join(sorted(kinds))} where numpy arrays belong")
        return _track(value, self._handle)

    @staticmethod
    def _kill(sent: Sequence[tuple[WorkerProcess, Any]]) -> None:
        """Kill the workers of a request that failed: their unread replies must not answer a later one."""
        for worker, _ in sent:
            worker.kill()

def _texts(value: Any, most: int = 50) -> list[str]:
    """The worker's lines of text in ``value`` (a list, or anything else: none), each cut to 1000 characters."""
    return [text[:1000] for text in value[:most] if isinstance(text, str)] if isinstance(value, list) else []


def global_hint(kind: Any, message: Any) -> str:
    """For a ``NameError``, what the global it names is likely to be: a course parameter a test cell set, or not."""
    found = re.match(r"name '(\w+)' is not defined", str(message)) if kind == "NameError" else None
    if found is None:
        return ""
    name = found[1]
    if any(name in names for names in COURSE_PARAMETERS.values()):
        return (f"; {name} is read as a global, which only a test cell sets: take it from the argument, "
                f"parameters[{name!r}]")
    return f"; {name} is read as a global that no definition of the target sets (did only a test cell set it?)"


def _others(value: Any) -> set[str]:
    """Type names of the :class:`~oracle.targets.wire.Other` leaves of a decoded value."""
    if isinstance(value, wire.Other):
        return {f"a {value.type}"}
    if isinstance(value, tuple | list):
        return set().union(*(_others(item) for item in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_others(item) for item in value.values())) if value else set()
    return set()


def _track(value: Any, track: Any) -> Any:
    """``value`` with ``track(handle)`` applied to its top-level handles (the kept cache)."""
    if isinstance(value, wire.Handle):
        return track(value)
    if isinstance(value, tuple):
        return tuple(track(item) if isinstance(item, wire.Handle) else item for item in value)
    return value


class RemoteFunction:
    """A stand-in for one of the target's functions (or a model method, by recipe) that calls it in the worker.

    ``keep_last``: the function is a forward pass, whose last result (its
    cache) stays in the worker; the judge gets a :class:`~oracle.targets.wire.Handle`.
    """

    def __init__(self, session: Session, recipe: dict[str, str], keep_last: bool = False) -> None:
        self.session, self.recipe, self.keep_last = session, recipe, keep_last
        self.__name__ = recipe_name(recipe)

    def __call__(self, *args: Any) -> Any:
        return self.session.call(self.recipe, args, keep_last=self.keep_last)

    def adapted(self, family: str) -> RemoteFunction:
        """This function called as a course family's recipe says (``{"dlai": name}``: :mod:`oracle.specs.calls`).

        An autograd recipe keeps what it says besides the name (:func:`oracle.targets.autograd.function`).
        """
        kept = {key: value for key, value in self.recipe.items() if key != "call"} if "autograd" in self.recipe else {}
        return RemoteFunction(self.session, {family: recipe_name(self.recipe), **kept}, keep_last=self.keep_last)

    def many(self, args: Sequence[Any], variants: Sequence[Sequence[tuple[int, Any, Any]]], take: int) -> list[Any]:
        """The first ``take`` results of calls on ``args`` changed by each variant (:meth:`Session.map`)."""
        return self.session.map(self.recipe, args, variants, take)

    def many_later(self, args: Sequence[Any], variants: Sequence[Sequence[tuple[int, Any, Any]]],
                   take: int) -> Callable[[], list[Any]]:
        """:meth:`many`, started now and read when the returned function is called (:meth:`Session.map_later`)."""
        return self.session.map_later(self.recipe, args, variants, take)


class RemoteModel:
    """A stand-in for the target's ``CaptioningRNN``: its loss and its greedy sampling, per cell, in the worker."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def loss_function(self, cell: str) -> RemoteFunction:
        """``forward(features, captions, null, *params) -> (loss, *grads)``: see :mod:`oracle.specs.calls`."""
        return RemoteFunction(self.session, {"model_loss": cell})

    def sample_function(self, cell: str) -> RemoteFunction:
        """``sample(features, null, max_length, *params) -> words`` (:func:`oracle.specs.calls.captioning_sample`)."""
        return RemoteFunction(self.session, {"model_sample": cell})


@dataclass(frozen=True)
class RemoteTarget:
    """A user's implementation running in a worker: stand-ins for its public names."""

    label: str
    session: Session

    def find(self, name: str) -> Any | None:
        """A stand-in for the target's ``name``, or ``None`` when it has none."""
        kind = self.session.found.get(name, "missing")
        if kind == "missing":
            return None
        if name == MODEL_CLASS:
            return RemoteModel(self.session)
        return RemoteFunction(self.session, {"call": name}, keep_last="_forward" in name)

    def unfinished(self) -> dict[str, str]:
        """``{public name: what shows it unfinished}`` for its functions that are stubs as written."""
        return dict(self.session.unfinished)

    def autograd_pair(self, forward: str, backward: str, grads: Sequence[int],
                      upstream: Sequence[int]) -> tuple[RemoteFunction, RemoteFunction] | None:
        """With ``--autograd``, a port's ``forward`` and, for the ``backward`` it lacks, its library's autograd.

        ``grads``: the positions of the inputs the backward returns gradients of, in its order; ``upstream``:
        the positions of the outputs whose upstream gradients it takes. ``None`` when the option is off, the
        target defines ``backward`` itself (an explicit backward is judged as it is), lacks ``forward``, or is
        not a torch or JAX port (numpy has no autograd: the backward is missing).
        """
        found = self.session.found
        if not self.session.port.autograd or self.session.backend not in AUTOGRAD_NAMES \
                or found.get(backward, "missing") != "missing" or found.get(forward) != "function":
            return None
        self.session.autograd[backward] = forward
        recipe = {"call": forward, "autograd": "forward", "grads": ",".join(map(str, grads))}
        return (RemoteFunction(self.session, recipe, keep_last=True),
                RemoteFunction(self.session, {"call": backward, "autograd": "backward",
                                              "upstream": ",".join(map(str, upstream))}))

    def notes(self) -> list[str]:
        """One line per notebook cell that failed or did not parse and was left out, citing the cell, one per
        top-level import that failed and was skipped, one per course helper the target's folder lacks and a
        stand-in replaced (:data:`oracle.targets.worker.STANDINS`), the library a port ran with, and one per
        backward function that autograd supplied."""
        session = self.session
        notes = list(session.notes) + [STANDIN_NOTES[name] for name in session.standins]
        if session.backend != "numpy":
            notes.append(f"audited as a {session.backend} port ({session.chosen}): its arguments crossed as "
                         f"{session.backend} arrays on {session.port.device}, its results were brought back into numpy"
                         + ("; --backend numpy audits it as numpy code" if session.chosen != "--backend" else ""))
        if session.port.autograd and session.backend not in AUTOGRAD_NAMES:
            notes.append(f"--autograd: a {session.backend} target has no autograd to supply its missing backward "
                         "functions (it takes a torch or JAX port)")
        notes += [f"{backward}: supplied by {session.backend}'s autograd through {forward} (--autograd; the target "
                  f"defines no {backward}): what is judged is the backward of the port's own "
                  f"{AUTOGRAD_NAMES.get(session.backend, 'autograd')}, or {session.backend}'s derivatives of its "
                  "operations" for backward, forward in session.autograd.items()]
        return notes

    def sandbox(self) -> dict[str, Any]:
        """What held of the workers' sandbox (:meth:`oracle.targets.sandbox.SandboxState.json`)."""
        return (self.session.sandbox or SandboxState(self.session.limits.sandbox)).json()

    def output(self) -> dict[str, dict[str, Any]]:
        """What the target printed, by function: ``{"bytes": n, "tail": last bytes as text}`` (non-empty ones)."""
        return {name: {"bytes": log.count, "tail": log.text()} for name, log in self.session.output.items()
                if log.count}


#: What a port's hand-written backward is, by library (for the notes of ``--autograd``).
AUTOGRAD_NAMES = {"torch": "torch.autograd.Function", "jax": "jax.custom_vjp"}

#: What a report says of each stand-in a target was given.
STANDIN_NOTES = {
    "rnn_utils": "rnn_utils is not beside the target: rnn-oracle's stand-in was imported instead (softmax over "
                 "axis 0 and sigmoid, as the course's); a finding may come from your rnn_utils if it differs",
    "public_tests": "public_tests is not beside the target: its import was ignored (the course's test cells "
                    "never run in an audit)",
    "test_utils": "test_utils is not beside the target: its import was ignored (the course's test cells never "
                  "run in an audit)",
}

#: The kinds of target ``--impl`` takes, for the message about a path of another kind.
TARGET_KINDS = "a .py file, a .ipynb notebook, a package folder or a dotted module name"


@contextlib.contextmanager
def open_target(text: str, names: Sequence[str], limits: Limits = Limits(), base: Path | None = None,
                parallel: int = 1, cells: str = "definitions", pickled: bytes | None = None,
                classmates: Sequence[str] = (), port: PortOptions | None = None) -> Iterator[RemoteTarget]:
    """A worker with ``text`` imported, as a :class:`RemoteTarget`; the workers are killed on leaving.

    Parameters
    ----------
    text
        The target: a ``.py`` file, a notebook, a folder or a dotted module name, found from ``base``
        (default: the current folder); with ``pickled``, only its label.
    names
        The public names the audit will look up.
    limits
        Seconds and bytes per call (:class:`Limits`).
    parallel
        2 to share batches of calls with a second worker.
    cells
        Which of a notebook's cells run: ``"definitions"`` or ``"all"`` (:mod:`oracle.targets.notebooks`).
    pickled
        The target's objects sent by value from a kernel (cloudpickle of ``{name: object}``).
    classmates
        The other targets of the run, which the worker may not read (:func:`oracle.targets.sandbox.target_home`).
    port
        How a port's arrays cross: its library, device, and ``--autograd`` (:mod:`oracle.targets.backends`).

    Raises
    ------
    oracle.targets.loading.TargetError
        When the target cannot be imported (one line: the error, or how the worker ended), is a path of
        another kind, or is a notebook that cannot be read.
    """
    base = Path.cwd() if base is None else base
    session = Session(text, base, limits, tuple(names), max(1, min(2, parallel)), pickled=pickled,
                      classmates=tuple(classmates), port=port or PortOptions())
    path = base / text
    if pickled is None and path.suffix == ".ipynb" and path.is_file():
        try:
            session.cells, session.notes = notebook_cells(path, cells, label=text)
        except NotebookError as error:
            raise TargetError(str(error)) from error
        session.cell_timeout = limits.timeout if cells == "all" else None
    elif pickled is None and path.exists() and not path.is_dir() and path.suffix != ".py":
        raise TargetError(f"{text}: not a kind of target rnn-oracle audits; give {TARGET_KINDS}")
    try:
        session.start()
        yield RemoteTarget(text, session)
    finally:
        session.close()
