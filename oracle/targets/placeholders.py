"""Unfinished code: the ``None`` placeholders a course's templates leave for learners to fill in.

deeplearning.ai's notebooks hand out functions whose unfinished lines read
``a_next = None`` or ``for t in range(None):``. Run as they are, they raise
(``TypeError: unsupported operand type(s) ... 'NoneType'``) instead of
returning ``None``. :func:`placeholder_left` tells that error from a real
crash: it is one only when a frame of the user's code that the error passed
through still holds such a placeholder: a name assigned the literal ``None``
that is still ``None``, or an assignment of ``None`` or a literal ``None``
argument on the line that failed. The same holds one call away: code that
fails on a ``None`` that a function of the user's returned, where that function
is itself unfinished (a body that is still the template's, ``pass`` or
placeholders alone, or a ``return`` of a name it set to ``None`` and left so),
depends on unfinished work (CS231n's ``CaptioningRNN.loss`` calling an
``lstm_forward`` that still returns ``h, cache = None, None``), and the note
names that function. A ``None`` that came from elsewhere (a helper that forgot
its ``return``) is a crash.

Runs in the worker process next to the user's code (torch-free).
"""

from __future__ import annotations

import ast
import inspect
import linecache
import textwrap
from dataclasses import dataclass
from types import CodeType, FrameType, FunctionType, TracebackType
from typing import Any

from oracle.targets.frames import is_users

#: Errors that a ``None`` placeholder raises when it reaches arithmetic, indexing or iteration.
_PLACEHOLDER_ERRORS = (TypeError, AttributeError, ValueError)


def placeholder_left(error: BaseException) -> str:
    """``"a_next is still None (the placeholder at line 12)"``, or ``""`` when ``error`` is no placeholder's."""
    if not isinstance(error, _PLACEHOLDER_ERRORS) or "None" not in str(error):
        return ""
    frames = list(reversed(_user_frames(error.__traceback__)))
    for frame, line in frames:
        found = _placeholder_in(frame, line)
        if found:
            return found
    for frame, line in frames:
        found = _unfinished_callee(frame, line)
        if found:
            return found
    return ""


def _user_frames(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    frames = []
    while tb is not None:
        if is_users(tb.tb_frame.f_code.co_filename):  # not numpy's own ``x = None``s
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


@dataclass(frozen=True)
class _Source:
    """A function's source: ``tree`` parsed from ``text`` (dedented), whose line 1 is line ``first`` of its file."""

    tree: ast.Module
    first: int
    text: str

    def line(self, node: ast.AST) -> int:
        return self.first + getattr(node, "lineno", 1) - 1

    def of(self, node: ast.AST) -> str:
        return " ".join((ast.get_source_segment(self.text, node) or ast.unparse(node)).split())


def _definition(code: CodeType, module_globals: dict[str, Any]) -> _Source | None:
    """The source of the function ``code``, or ``None`` (no source, a module)."""
    lines = linecache.getlines(code.co_filename, module_globals)
    if not lines or code.co_name == "<module>":
        return None
    first = code.co_firstlineno
    try:
        text = textwrap.dedent("".join(inspect.getblock(lines[first - 1:])))
        return _Source(ast.parse(text), first, text)
    except (SyntaxError, IndexError, inspect.EndOfBlock):
        return None


def _placeholder_in(frame: FrameType, line: int) -> str:
    code = frame.f_code
    source = _definition(code, frame.f_globals)
    if source is None:
        return ""
    tree, first = source.tree, source.first
    nodes = list(ast.walk(tree))
    for node in nodes:  # first what failed: an assignment of None, or a None argument, on the failing line
        at = first + getattr(node, "lineno", 1) - 1
        if at == line and isinstance(node, ast.Assign) and _is_none(node.value):
            return f"the placeholder at line {at} of {code.co_name} is still None"
        if at == line and isinstance(node, ast.Call) and any(_is_none(arg) for arg in node.args):
            return f"a None placeholder is passed at line {at} of {code.co_name}"
    for node in nodes:  # then a name the error may have read: assigned None, and still None
        if isinstance(node, ast.Assign):
            for name in _set_to_none(node):
                if frame.f_locals.get(name, 0) is None:
                    return f"{name} is still None (the placeholder at line {first + node.lineno - 1} of {code.co_name})"
    return ""


def _unfinished_callee(frame: FrameType, line: int) -> str:
    """What the code of ``frame`` got from an unfinished function of the user's: a ``None`` it failed on."""
    code = frame.f_code
    source = _definition(code, frame.f_globals)
    if source is None:
        return ""
    for node in ast.walk(source.tree):
        if not isinstance(node, ast.Assign | ast.Expr | ast.Return) or node.value is None:
            continue
        at = source.line(node)
        held = [name for target in getattr(node, "targets", []) for name in _names(target)
                if frame.f_locals.get(name, 0) is None]
        if not held and not at <= line <= source.first + (node.end_lineno or node.lineno) - 1:
            continue  # neither a None it left in a name, nor the statement that failed
        for call in (inner for inner in ast.walk(node.value) if isinstance(inner, ast.Call)):
            callee = _users_function(call, frame)
            unfinished = _unfinished(callee) if callee is not None else ""
            if callee is not None and unfinished:
                what = f"{', '.join(held)} {'is' if len(held) == 1 else 'are'} None: " if held else ""
                return (f"{what}{callee.__name__} (called at line {at} of {code.co_name}) is unfinished: "
                        f"{unfinished}")
    return ""


def unfinished_function(found: Any) -> str:
    """What shows ``found`` (a public name's object) unfinished as written, or ``""``: see :func:`_unfinished`.

    Read from the source alone, so that a function that never runs (a backward pass whose forward pass
    failed) is still known for a stub.
    """
    if not isinstance(found, FunctionType) or not is_users(found.__code__.co_filename):
        return ""
    return _unfinished(found)


def _users_function(call: ast.Call, frame: FrameType) -> FunctionType | None:
    """The function of the user's code that ``call`` names in ``frame`` (a plain name), or ``None``."""
    if not isinstance(call.func, ast.Name):
        return None
    found = frame.f_locals.get(call.func.id, frame.f_globals.get(call.func.id))
    return found if isinstance(found, FunctionType) and is_users(found.__code__.co_filename) else None


def _unfinished(function: FunctionType) -> str:
    """What shows ``function`` unfinished: a body of placeholders alone, or a placeholder ``None`` it returns."""
    source = _definition(function.__code__, function.__globals__)
    if source is None or not isinstance(source.tree.body[0], ast.FunctionDef | ast.AsyncFunctionDef):
        return ""
    definition = source.tree.body[0]
    body = definition.body[1:] if ast.get_docstring(definition) is not None else definition.body
    placeholders = [statement for statement in body if isinstance(statement, ast.Assign) and _set_to_none(statement)]
    none_names = {name for statement in placeholders for name in _set_to_none(statement)}
    if all(isinstance(statement, ast.Pass) or statement in placeholders
           or (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
           or (isinstance(statement, ast.Return) and _only_placeholders(statement.value, none_names))
           for statement in body):
        kept = "; ".join(source.of(statement) for statement in body if not isinstance(statement, ast.Expr))
        return f"its body is still the template's ({kept or 'a docstring alone'})"
    stored = [node.id for node in ast.walk(definition) if isinstance(node, ast.Name)
              and isinstance(node.ctx, ast.Store)]
    left = {name: statement for statement in placeholders for name in _set_to_none(statement)
            if stored.count(name) == sum(_set_to_none(other).count(name) for other in placeholders)}
    for statement in ast.walk(definition):
        if isinstance(statement, ast.Return) and statement.value is not None:
            values = statement.value.values if isinstance(statement.value, ast.Dict) else [statement.value]
            returned = [name for value in values if value is not None for name in _names(value) if name in left]
            if returned:
                assigned = left[returned[0]]
                return (f"it returns {returned[0]}, set to None at line {source.line(assigned)} "
                        f"({source.of(assigned)}) and never set again")
    return ""


def _only_placeholders(value: ast.expr | None, none_names: set[str]) -> bool:
    """Whether a returned value is nothing, ``None``, or names set to ``None`` (``return h, cache``), in a tuple
    or as a dict's values."""
    if value is None or _is_none(value):
        return True
    if isinstance(value, ast.Name):
        return value.id in none_names
    if isinstance(value, ast.Dict):  # deeplearning.ai's gradients: {"dxt": dxt, ...}
        return all(_only_placeholders(element, none_names) for element in value.values)
    return isinstance(value, ast.Tuple) and all(_only_placeholders(element, none_names) for element in value.elts)


def _names(target: ast.AST) -> list[str]:
    """The names a target or a returned value spells: ``h``, ``h, cache``."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [name for element in target.elts for name in _names(element)]
    return []


def _set_to_none(assignment: ast.Assign) -> list[str]:
    """The names an assignment sets to the literal ``None``: ``h = None``, ``h, cache = None, None``."""
    names = []
    for target in assignment.targets:
        if isinstance(target, ast.Name) and _is_none(assignment.value):
            names.append(target.id)
        elif isinstance(target, ast.Tuple) and isinstance(assignment.value, ast.Tuple) and len(
                target.elts) == len(assignment.value.elts):
            names += [element.id for element, value in zip(target.elts, assignment.value.elts, strict=True)
                      if isinstance(element, ast.Name) and _is_none(value)]
    return names


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
