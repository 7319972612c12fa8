"""Running a learner's module or notebook cell with each top-level import on its own.

A notebook's first cell often imports numpy next to libraries this machine
lacks (``import imageio``, ``from scipy import misc``, ``import tensorflow``).
Run as one block, the first missing module stops the cell, and ``np`` is then
undefined for every function, though the code is right. :func:`run_statements`
runs a cell's or a module's top-level statements in order, each import on its
own: an import that fails is noted (:class:`SkippedImport`) and the rest runs.
Any other statement that raises stops the run, as it would have.

The worker runs notebook cells this way, and a ``.py`` module of a target
when it cannot be imported because one of its own top-level imports failed
(:mod:`oracle.targets.loading`). Runs in the worker process (torch-free).
"""

from __future__ import annotations
import __future__

import ast
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SkippedImport:
    """A top-level import statement that raised, and was skipped.

    Attributes
    ----------
    line
        Its first line in the file or cell.
    statement
        Its text, on one line (``import imageio``).
    error
        What it raised: ``ModuleNotFoundError: No module named 'imageio'``.
    """

    line: int
    statement: str
    error: str

    def describe(self) -> str:
        """``line 2: import imageio raised ModuleNotFoundError: No module named 'imageio'``."""
        return f"line {self.line}: {self.statement} raised {self.error}"


def is_import(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Import | ast.ImportFrom)


def run_statements(tree: ast.Module, filename: str, namespace: dict[str, Any], skipped: list[SkippedImport]) -> None:
    """Run ``tree``'s top-level statements in ``namespace``, in order, each compiled under ``filename``.

    An import that raises an ``Exception`` is appended to ``skipped`` and the next statement runs; any
    other statement's exception propagates (what was skipped before it is in ``skipped`` already). A
    ``from __future__`` import applies to the statements after it, as in one compiled block.
    """
    flags = 0
    for statement in tree.body:
        code = compile(ast.Module(body=[statement], type_ignores=[]), filename, "exec", flags=flags,
                       dont_inherit=True)
        if not is_import(statement):
            exec(code, namespace)
            continue
        try:
            exec(code, namespace)
        except Exception as error:  # a module this machine lacks, or one that fails while imported
            text = " ".join(ast.unparse(statement).split())
            skipped.append(SkippedImport(statement.lineno, text[:200], f"{type(error).__name__}: {error}"[:500]))
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            for alias in statement.names:
                flags |= getattr(__future__, alias.name).compiler_flag


def failed_at_own_import(error: BaseException, filename: str, tree: ast.Module) -> bool:
    """Whether ``error`` came from a top-level import statement of the module ``filename`` (parsed as ``tree``)."""
    lines = {line for statement in tree.body if is_import(statement)
             for line in range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)}
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "<module>" and code.co_filename == filename:
            return tb.tb_lineno in lines
        tb = tb.tb_next
    return False
