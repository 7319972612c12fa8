"""The sandbox of a worker: what it may reach (the policy) and what held (the state the report shows).

The judge (:mod:`oracle.targets.boundary`) gives every worker a :class:`SandboxPolicy`, and the worker
confines itself to it before it imports the target (:mod:`oracle.targets.confine`). The policy grants:

- **read** the target's home: a course folder, a notebook's folder, a ``.py`` file's folder (the file
  alone where a classmate of the same run lives in that folder), a dotted module's first folder or
  file, a kernel's working folder; the data files beside the target are readable;
- **read and run** the Python installation (``sys.prefix``, ``sys.base_prefix``, folders its
  ``.pth`` files add), this package's ``oracle/`` and ``impl/``, and the system's libraries;
- **list** (names only) the folder that makes the target importable (a course folder's parent) and
  the one above ``oracle/``;
- **write** the worker's scratch folder, nothing else;
- **devices**: ``/dev/null``, ``/dev/zero``, ``/dev/urandom``, and what ``devices`` adds (the
  policy's place for ``/dev/nvidia*`` when CUDA is asked for).

Everything else is out of reach: the other targets, the judge's outputs (``--json``, ``--html``,
``--repro``), any store of the judge's, the network, and the processes outside the worker's.
:class:`SandboxState` is what a worker says held, sent before the target runs; ``--sandbox require``
refuses a target whose worker lacks a protection, ``--sandbox off`` confines nothing.

:data:`LACKS_VARIABLE` (read by the judge only, never by a worker) makes the worker act as if the
kernel lacked Landlock or namespaces: how the tests check the report of a kernel without them.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What the sandbox protects, in the order the report names them.
PROTECTIONS = ("files", "network", "processes")

#: What ``--sandbox`` accepts: confine as far as the kernel allows, refuse a target that lacks a protection, none.
SANDBOX_MODES = ("auto", "require", "off")

#: Kernel features a worker acts as if it lacked (comma-separated: ``landlock``, ``namespaces``); for tests.
LACKS_VARIABLE = "RNN_ORACLE_SANDBOX_LACKS"

#: What a target can do when a protection is missing.
MISSING = {
    "files": "the target can read and write whatever your user can (no Landlock)",
    "network": "the target can use the network but for the parts the notes name (no private network namespace)",
    "processes": "a process the target starts in a session of its own can outlive the audit (no PID namespace)",
}

#: System files and folders that Python, numpy and its BLAS read (those that exist are granted, read only).
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/ld.so.conf",
               "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime", "/etc/passwd", "/etc/group",
               "/etc/nsswitch.conf", "/proc", "/sys/devices/system/cpu", "/sys/fs/cgroup")

#: Devices every worker may open.
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random")

#: The driver's files in /sys that a GPU's runtime reads (granted read only with GPU devices, where they exist).
GPU_SYSTEM_READ = ("/sys/bus/pci", "/sys/devices", "/sys/module", "/sys/dev/char", "/dev/char")

_PACKAGE = Path(__file__).resolve().parents[1]  # oracle/


def gpu_devices() -> tuple[str, ...]:
    """NVIDIA's device files on this machine (``/dev/nvidia0``, ``/dev/nvidiactl``, ``/dev/nvidia-uvm``, ...).

    A port audited with ``--device cuda`` is given these besides :data:`DEVICES`. Untested on a GPU so far.
    """
    return tuple(sorted(str(path) for path in Path("/dev").glob("nvidia*")))


@dataclass(frozen=True)
class SandboxPolicy:
    """What one worker may reach; every entry is an absolute path (a folder: all beneath it)."""

    mode: str = "auto"
    read: tuple[str, ...] = ()
    run: tuple[str, ...] = ()
    list: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    devices: tuple[str, ...] = DEVICES
    lacks: tuple[str, ...] = ()

    def wire(self) -> str:
        """The policy as the worker's command line carries it (JSON)."""
        return json.dumps({"mode": self.mode, "read": self.read, "run": self.run, "list": self.list,
                           "write": self.write, "devices": self.devices, "lacks": self.lacks})


def policy_for(target: str, base: Path, scratch: Path, mode: str = "auto", classmates: Sequence[str] = (),
               pickled: bool = False, devices: Sequence[str] = ()) -> SandboxPolicy:
    """The policy of a worker of ``target`` (found from ``base``), writing in ``scratch``.

    Parameters
    ----------
    classmates
        The other targets of the run: a ``.py`` file's folder is granted only when none lives in it.
    pickled
        The target was sent from a kernel: its home is ``base``, the kernel's working folder.
    devices
        Device files to grant besides :data:`DEVICES` (``/dev/nvidia0``, ``/dev/nvidiactl``, ... for CUDA).
    """
    if mode == "off":
        return SandboxPolicy(mode="off")
    read, listed = ((str(base.resolve()),), ()) if pickled else target_home(target, base, classmates)
    if devices:
        read = (*read, *(path for path in GPU_SYSTEM_READ if Path(path).exists()))
    return SandboxPolicy(mode=mode, read=read, run=python_installation(), list=(*listed, str(_PACKAGE.parent)),
                         write=(str(scratch.resolve()),), devices=(*DEVICES, *devices), lacks=simulated_lacks())


def target_home(target: str, base: Path, classmates: Sequence[str] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(read, list)``: what the worker of ``target`` may read, and the folders it may only list.

    A course or package folder: itself, its parent listed (the parent is what makes it importable).
    A notebook or ``.py`` file: its folder, or the file alone with its folder listed where a classmate lives
    in that folder. A dotted module: its first component's folder or file beside ``base``, ``base`` listed
    (an installed module is read with the installation).
    """
    path = (base / target).resolve()
    others = [(base / other).resolve() for other in classmates if (base / other).resolve() != path]
    if path.is_dir():
        return (str(path),), (str(path.parent),)
    if path.is_file():
        folder = path.parent
        if any(other == folder or other.is_relative_to(folder) for other in others):
            return (str(path),), (str(folder),)
        return (str(folder),), ()
    first = base.resolve() / target.split(".")[0]
    found = [candidate for candidate in (first, first.with_name(first.name + ".py")) if candidate.exists()]
    return tuple(str(candidate) for candidate in found), (str(base.resolve()),)


@functools.lru_cache(maxsize=1)
def python_installation() -> tuple[str, ...]:
    """The Python installation, its site-packages' ``.pth`` folders, this package's code and the system's libraries."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                str(Path(sys.executable).resolve().parent)}
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    added = set()
    for folder in paths:
        for pth in Path(folder).glob("*.pth"):
            try:
                lines = pth.read_text(errors="replace").splitlines()
            except OSError:
                continue
            added |= {line.strip() for line in lines
                      if line.strip() and not line.startswith(("#", "import ")) and Path(line.strip()).is_dir()}
    own = {str(_PACKAGE), str(_PACKAGE.parent / "impl")}
    granted = prefixes | paths | added | own | {path for path in SYSTEM_READ if os.path.exists(path)}
    return tuple(sorted(granted))


def simulated_lacks() -> tuple[str, ...]:
    """The kernel features that :data:`LACKS_VARIABLE` tells the workers to act as if missing."""
    text = os.environ.get(LACKS_VARIABLE, "")
    return tuple(name for name in ("landlock", "namespaces") if name in text.split(","))


@dataclass(frozen=True)
class SandboxState:
    """What held for a target's workers: each protection's means, in a few words, or none.

    Attributes
    ----------
    mode
        ``--sandbox``: ``auto``, ``require`` or ``off``.
    held
        ``{protection: how}`` for the protections that held (``{"files": "Landlock ABI 7", ...}``).
    notes
        What the worker said besides (a protection that held in part).
    seconds
        What confining a worker took, at most (the worker's own clock, before the target ran).
    """

    mode: str = "auto"
    held: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    seconds: float | None = None

    @classmethod
    def from_wire(cls, mode: str, sent: Any) -> SandboxState:
        """The state a worker sent (before the target ran), its values checked as text."""
        sent = sent if isinstance(sent, dict) else {}
        held = {name: str(sent[name])[:200] for name in PROTECTIONS if isinstance(sent.get(name), str)}
        notes = sent.get("notes") if isinstance(sent.get("notes"), list) else []
        seconds = sent.get("seconds")
        return cls(mode, held, tuple(str(note)[:300] for note in notes[:8]),
                   float(seconds) if type(seconds) in (int, float) else None)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(name for name in PROTECTIONS if name not in self.held)

    def weakest(self, other: SandboxState) -> SandboxState:
        """What held for both of two workers of a target."""
        held = {name: how for name, how in self.held.items() if other.held.get(name) == how}
        seconds = max((value for value in (self.seconds, other.seconds) if value is not None), default=None)
        return SandboxState(self.mode, held, tuple(dict.fromkeys(self.notes + other.notes)), seconds)

    def text(self) -> str:
        """``"sandbox: files (Landlock ABI 7), network (private namespace, Landlock TCP), processes (PID namespace)"``.

        Missing protections follow, each with what it leaves open.
        """
        if self.mode == "off":
            return "sandbox: off (--sandbox off): the targets ran with all of your user's rights"
        held = ", ".join(f"{name} ({self.held[name]})" for name in PROTECTIONS if name in self.held)
        missing = "; ".join(f"no {name}: {MISSING[name]}" for name in self.missing)
        notes = "; ".join(self.notes)
        return "sandbox: " + "; ".join(part for part in (held, missing and f"missing: {missing}",
                                                         notes and f"notes: {notes}") if part)

    def json(self) -> dict[str, Any]:
        """``{mode, held: {protection: how}, missing: [protection, ...], notes: [text, ...], seconds}``.

        ``seconds``: the longest a worker took to confine itself (``None`` when none did).
        """
        return {"mode": self.mode, "held": dict(self.held), "missing": list(self.missing), "notes": list(self.notes),
                "seconds": self.seconds}


def summary(states: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """What held for every target of a run (the JSON entries' ``sandbox``), as one entry; ``None`` without any."""
    found = [_state(state) for state in states if state]
    if not found:
        return None
    return functools.reduce(SandboxState.weakest, found).json()


def text_of(state: dict[str, Any] | None) -> str:
    """:meth:`SandboxState.text` of a JSON ``sandbox`` entry (``""`` for none)."""
    return _state(state).text() if state else ""


def _state(state: dict[str, Any]) -> SandboxState:
    return SandboxState(state["mode"], state["held"], tuple(state.get("notes", [])), state.get("seconds"))
