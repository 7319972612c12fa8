"""Unfinished code: the ``None`` placeholders a course's templates leave for learners to fill in.

deeplearning.ai's notebooks hand out functions whose unfinished lines read
``a_next = None`` or ``for t in range(None):``. Run as they are, they raise
(``TypeError: unsupported operand type(s) ... 'NoneType'``) instead of
returning ``None``. :func:`placeholder_left` tells that error from a real
crash: it is one only when a frame of the user's code that the error passed
through still holds such a placeholder: a name assigned the literal ``None``
that is still ``None``, or an assignment of ``None`` or a literal ``None``
argument on the line that failed. A ``None`` that came from elsewhere (a helper that forgot its
``return``) is a crash.

Runs in the worker process next to the user's code (torch-free).
"""

from __future__ import annotations

import ast
import inspect
import linecache
import sysconfig
import textwrap
from pathlib import Path
from types import FrameType, TracebackType

import impl

#: Code that is not the user's: this project's and the installed libraries' (numpy's own ``x = None``s).
_NOT_USERS = tuple(Path(folder).resolve() for folder in (
    str(Path(__file__).parents[1]), str(Path(impl.__file__).parent),
    *(sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib"))))

#: Errors that a ``None`` placeholder raises when it reaches arithmetic, indexing or iteration.
_PLACEHOLDER_ERRORS = (TypeError, AttributeError, ValueError)


def placeholder_left(error: BaseException) -> str:
    """``"a_next is still None (the placeholder at line 12)"``, or ``""`` when ``error`` is no placeholder's."""
    if not isinstance(error, _PLACEHOLDER_ERRORS) or "None" not in str(error):
        return ""
    for frame, line in reversed(list(_user_frames(error.__traceback__))):
        found = _placeholder_in(frame, line)
        if found:
            return found
    return ""


def _user_frames(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    frames = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if ", cell " in filename or not any(Path(filename).resolve().is_relative_to(folder) for folder in _NOT_USERS):
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _placeholder_in(frame: FrameType, line: int) -> str:
    code = frame.f_code
    lines = linecache.getlines(code.co_filename, frame.f_globals)
    if not lines or code.co_name == "<module>":
        return ""
    first = code.co_firstlineno
    try:
        tree = ast.parse(textwrap.dedent("".join(inspect.getblock(lines[first - 1:]))))
    except (SyntaxError, IndexError, inspect.EndOfBlock):
        return ""
    nodes = list(ast.walk(tree))
    for node in nodes:  # first what failed: an assignment of None, or a None argument, on the failing line
        at = first + getattr(node, "lineno", 1) - 1
        if at == line and isinstance(node, ast.Assign) and _is_none(node.value):
            return f"the placeholder at line {at} of {code.co_name} is still None"
        if at == line and isinstance(node, ast.Call) and any(_is_none(arg) for arg in node.args):
            return f"a None placeholder is passed at line {at} of {code.co_name}"
    for node in nodes:  # then a name the error may have read: assigned None, and still None
        if isinstance(node, ast.Assign) and _is_none(node.value):
            for target in node.targets:
                if isinstance(target, ast.Name) and frame.f_locals.get(target.id, 0) is None:
                    return (f"{target.id} is still None (the placeholder at line {first + node.lineno - 1} "
                            f"of {code.co_name})")
    return ""


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
