"""Targets written to misbehave or to cheat, each with what the judge must make of it (``audit --impl``).

Every target is a ``.py`` file that takes impl's functions (which are right)
and overrides some. Those that cheat also plant a real bug, a weight gradient
scaled by 1.5 in ``affine_backward``: the cheat succeeds only if that bug is
reported as ``pass``. :data:`HOSTILE` maps a name to a :class:`Hostile`:
the code, the layers audited, the findings the judge must report (every
other audited function must pass), and how long the audit may take at most
with the limits the tests set (``--timeout 1 --memory 1G``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Every target starts from impl's right functions.
HEADER = "import numpy as np\n\nimport impl as _impl\nfrom impl import *  # noqa: F403\n"

#: The planted bug every cheat tries to hide.
PLANTED_BUG = '''
def affine_backward(dout, cache):
    dx, dw, db = _impl.affine_backward(dout, cache)
    return dx, 1.5 * dw, db
'''


@dataclass(frozen=True)
class Hostile:
    """A misbehaving target and the verdicts it must get.

    Attributes
    ----------
    code
        The file's body after :data:`HEADER`.
    layers
        The layers the test audits.
    findings
        ``{function: {finding, ...}}`` it must get; every other audited function must pass.
    seconds
        The most the whole audit may take.
    memory
        The ``--memory`` limit (a target that imports torch needs more than the tests' usual 1G).
    """

    code: str
    layers: tuple[str, ...]
    findings: dict[str, set[str]]
    seconds: float = 60.0
    memory: str = "1G"


HOSTILE: dict[str, Hostile] = {
    "widens the tolerance table while imported": Hostile('''
import oracle.specs.tolerances as _tolerances

for _row, _tolerance in list(_tolerances.TOLERANCES.items()):
    _tolerances.TOLERANCES[_row] = type(_tolerance)(rtol=1e9, atol=1e9)
''' + PLANTED_BUG, ("affine",), {"affine_backward": {"wrong_value"}}),
    "replaces the result classes' passed": Hostile('''
import oracle.judge.audit as _audit
import oracle.judge.compare as _compare

_audit.CheckResult.passed = property(lambda self: True)
_audit.LayerRun.passed = property(lambda self: True)
_audit.AuditResult.passed = property(lambda self: True)
_compare.Comparison.passed = property(lambda self: True)
''' + PLANTED_BUG, ("affine",), {"affine_backward": {"wrong_value"}}, seconds=90.0, memory="8G"),
    "makes numpy's abs and maximum return zeros for the oracle": Hostile('''
import sys as _sys

_abs, _maximum = np.abs, np.maximum


def _from_oracle():
    frame = _sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("oracle"):
            return True
        frame = frame.f_back
    return False


class _Lying:
    """A ufunc that answers zeros to the oracle's modules (and stays a ufunc to everyone else)."""

    def __init__(self, real):
        self.real = real

    def __call__(self, *args, **kwargs):
        result = self.real(*args, **kwargs)
        return np.zeros_like(result) if _from_oracle() else result

    def __getattr__(self, name):
        return getattr(self.real, name)


np.abs = np.absolute = _Lying(_abs)
np.maximum = _Lying(_maximum)
''' + PLANTED_BUG, ("affine",), {"affine_backward": {"wrong_value"}}),
    "exits with status 0 inside rnn_forward": Hostile('''
import os as _os


def rnn_forward(x, h0, Wx, Wh, b):
    _os._exit(0)
''', ("affine", "rnn"), {"rnn_forward": {"crash"}, "rnn_backward": {"untested"}}),
    "calls sys.exit(0) inside a backward pass": Hostile('''
import sys as _sys


def temporal_affine_backward(dout, cache):
    _sys.exit(0)
''', ("temporal_affine", "affine"), {"temporal_affine_backward": {"crash"}}),
    "loops forever ignoring signals and swallowing exceptions": Hostile('''
import signal as _signal


def rnn_step_backward(dnext_h, cache):
    for _name in ("SIGALRM", "SIGTERM", "SIGINT", "SIGHUP"):
        _signal.signal(getattr(_signal, _name), _signal.SIG_IGN)
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
''', ("rnn_step", "affine"), {"rnn_step_backward": {"timeout"}}),
    "sleeps for an hour": Hostile('''
import time as _time


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    _time.sleep(3600)
''', ("lstm_step", "affine"), {"lstm_step_forward": {"timeout"}, "lstm_step_backward": {"untested"}}),
    "runs out of memory": Hostile('''
def word_embedding_backward(dout, cache):
    hoard = []
    while True:
        hoard.append(np.empty(2**27))  # 1 GiB of address space at a time, past any --memory limit
''', ("word_embedding", "affine"), {"word_embedding_backward": {"crash"}}),
    "prints 64 KB on every call": Hostile('''
def affine_forward(x, w, b):
    print("all checks passed\\n" * 3641, end="")  # 64 KB
    return _impl.affine_forward(x, w, b)
''', ("affine",), {}),
    "returns a generator where an array belongs": Hostile('''
def word_embedding_forward(x, W):
    out, cache = _impl.word_embedding_forward(x, W)
    return (row for row in out), cache
''', ("word_embedding", "affine"), {"word_embedding_forward": {"wrong_value"},
                                    "word_embedding_backward": {"untested"}}),
}

#: A target whose import writes an all-pass grading document wherever a ``--json`` path shows in the
#: command line of a process above it, then plants the bug.
FORGER = '''
import json as _json
import os as _os


def _forge():
    pid = _os.getpid()
    while pid > 1:
        try:
            words = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return
        for flag, path in zip(words, words[1:]):
            if flag == b"--json":
                forged = {"schema_version": "1", "targets": [{"target": "forged", "seconds": 0.0, "error": None,
                                                              "verdicts": {}, "evidence": {}}]}
                try:
                    with open(path.decode(), "w") as handle:
                        _json.dump(forged, handle)
                except OSError:
                    pass


_forge()
''' + PLANTED_BUG


def write_target(folder: Path, name: str, code: str) -> Path:
    """``folder/name.py`` holding :data:`HEADER` and ``code``."""
    path = folder / f"{name}.py"
    path.write_text(HEADER + code)
    return path
