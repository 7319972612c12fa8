"""Which frames of a traceback are the user's code, so that evidence cites the user's line.

The user's code is everything but this package, :mod:`impl` (the references
a target may import, and the calling conventions that wrap a course's
functions, such as :func:`impl.dlai.positional`) and the installed
libraries (numpy's internals): a crash inside ``np.dot`` is cited at the
user's line that called it. A notebook cell's code is the user's wherever
its name says it came from. Runs in the worker process (torch-free).
"""

from __future__ import annotations

import sysconfig
from functools import cache
from pathlib import Path

import impl

#: Code that is not the user's: this project's and the installed libraries'.
NOT_USERS = tuple(Path(folder).resolve() for folder in (
    str(Path(__file__).parents[1]), str(Path(impl.__file__).parent),
    *(sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib"))))


@cache
def is_users(filename: str) -> bool:
    """Whether code compiled under ``filename`` is the user's (a notebook cell's name counts)."""
    if ", cell " in filename:
        return True
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    return not any(Path(filename).resolve().is_relative_to(folder) for folder in NOT_USERS)
