"""Reading a notebook as a target: which of its code runs, cell by cell (``--impl NOTEBOOK.ipynb``).

The notebook is read with nbformat (the extra ``rnn-oracle[notebook]``) and
parsed here; nothing of it runs in this process. The worker
(:mod:`oracle.targets.worker`) runs what :func:`notebook_cells` selects, one cell at a
time, each compiled under a name that cites the cell (:func:`cell_name`), so
every crash trace names the cell and the line within it.

What runs (``--cells definitions``, the default, as the ``ipynb`` package's
definitions-only import does): in every code cell, the imports, the function
and class definitions, ``try`` blocks of imports only, and the module-level
assignments whose names the definitions read (their free names, found with
:mod:`symtable`, and the names in their decorators and default values, then
the names those assignments read in turn), except the assignments of test
cells (cells that define nothing and call the notebook's own functions) and
those whose value is random data (``np.random.randn(5, 3)``; a generator,
``np.random.default_rng(0)``, is kept): a function that reads such a global is a
crash whose evidence names it. Data loading, training, plotting and demo
statements are left out. IPython magics (``%matplotlib inline``) and
shell lines (``!pip install ...``) are blanked, and a cell magic (``%%time``)
leaves its cell out. A cell that does not parse is reported by its number and
left out; the rest of the notebook is still audited. ``--cells all`` runs every
code cell in order instead (magics blanked), each within the time limit of a
call; a cell that fails is reported and skipped. In either mode each top-level
import runs on its own (:mod:`oracle.targets.imports`): one that fails, for a
module this machine lacks, is reported and the rest of its cell still runs.
"""

from __future__ import annotations

import ast
import re
import symtable
from dataclasses import dataclass
from pathlib import Path

#: What ``--cells`` accepts.
CELL_MODES = ("definitions", "all")

#: The extra that reads notebooks.
NOTEBOOK_EXTRA = "pip install 'rnn-oracle[notebook]'"

_MAGIC = re.compile(r"^\s*(%|!|\w+\s*=\s*[!%])")


class NotebookError(Exception):
    """A notebook that cannot be read (or nbformat missing); the message is one line."""


@dataclass(frozen=True)
class NotebookCell:
    """A code cell as it will run: its index among the notebook's cells, its execution count and its code.

    ``source`` keeps the cell's line numbers: lines left out are blank.
    """

    index: int
    count: int | None
    source: str


def cell_name(label: str, index: int, count: int | None) -> str:
    """The name a cell's code is compiled under, which crash traces cite: ``RNN.ipynb, cell 7 (In [3])``.

    A cell never run (no count, or 0) is ``RNN.ipynb, cell 7``.
    """
    return f"{label}, cell {index}" + (f" (In [{count}])" if count else "")


def read_cells(path: Path) -> list[tuple[int, int | None, str]]:
    """``(cell index, execution count or None, source)`` of every code cell; :class:`NotebookError` if unreadable."""
    try:
        import nbformat
    except ImportError as error:
        raise NotebookError(f"{path}: reading a notebook needs nbformat, which is not installed: "
                            f"{NOTEBOOK_EXTRA}") from error
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # nbformat raises its own errors, JSON errors and OSError
        raise NotebookError(f"{path}: not a notebook nbformat can read: {type(error).__name__}: {error}") from error
    return [(index, _count(cell.get("execution_count")), cell.source) for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code"]


def _count(execution_count: object) -> int | None:
    """A cell's execution count, ``None`` for a cell never run: no count, or 0 (as some editors save it)."""
    return execution_count if type(execution_count) is int and execution_count > 0 else None


def without_magics(source: str) -> str | None:
    """``source`` with IPython magic and shell lines blanked; ``None`` for a cell magic's cell (``%%time``)."""
    if source.lstrip().startswith("%%"):
        return None
    return "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())


def notebook_cells(path: Path, mode: str = "definitions", label: str = "") -> tuple[list[NotebookCell], list[str]]:
    """The cells to run (see the module docstring) and notes on the cells left out, one line each.

    ``label``: how the notes name the notebook (default: its path).
    """
    label = label or str(path)
    cells, notes = [], []
    parsed: list[tuple[int, int | None, str, ast.Module]] = []
    for index, count, source in read_cells(path):
        code = without_magics(source)
        if code is None:
            notes.append(f"{cell_name(label, index, count)}: a cell magic ({source.split()[0]}): not run")
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError as error:
            notes.append(f"{cell_name(label, index, count)}: does not parse (SyntaxError at line {error.lineno}: "
                         f"{error.msg}): skipped")
            continue
        parsed.append((index, count, code, tree))
    if mode == "all":
        return [NotebookCell(index, count, code) for index, count, code, _ in parsed], notes
    statements = [(index, statement) for index, _, _, tree in parsed for statement in tree.body]
    kept = _definitions(statements)
    for index, count, code, tree in parsed:
        lines = code.splitlines()
        keep = [False] * len(lines)
        for statement in tree.body:
            if id(statement) in kept:
                for line in range(statement.lineno - 1, statement.end_lineno or statement.lineno):
                    keep[line] = True
                for decorator in getattr(statement, "decorator_list", []):
                    for line in range(decorator.lineno - 1, statement.lineno):
                        keep[line] = True
        if any(keep):
            cells.append(NotebookCell(index, count, "\n".join(line if keep[number] else ""
                                                               for number, line in enumerate(lines))))
    return cells, notes


def _definitions(statements: list[tuple[int, ast.stmt]]) -> set[int]:
    """``id``s of the statements that define the API: imports, definitions and the constants they read."""
    kept = {id(statement) for _, statement in statements if _is_definition(statement)}
    needed: set[str] = set()
    for _, statement in statements:
        if id(statement) in kept and isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            needed |= _names_read(statement)
    tests = _test_cells(statements)
    assignments = [statement for index, statement in statements
                   if isinstance(statement, ast.Assign | ast.AnnAssign) and index not in tests
                   and not _draws_random(statement)]
    changed = True
    while changed:
        changed = False
        for statement in assignments:
            if id(statement) not in kept and _targets(statement) & needed:
                kept.add(id(statement))
                needed |= {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)}
                changed = True
    return kept


def _test_cells(statements: list[tuple[int, ast.stmt]]) -> set[int]:
    """Cells that define nothing and call a function the notebook defines: its test cells, whose data is no constant."""
    defines = {index for index, statement in statements
               if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    defined = {statement.name for _, statement in statements
               if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    return {index for index, statement in statements if index not in defines
            and any(isinstance(node, ast.Call) and _called_name(node) in defined for node in ast.walk(statement))}


def _called_name(call: ast.Call) -> str:
    function = call.func
    return function.id if isinstance(function, ast.Name) else function.attr if isinstance(function,
                                                                                           ast.Attribute) else ""


#: What ``np.random`` makes that is no random data: generators a definition may keep drawing from.
_GENERATORS = {"default_rng", "RandomState", "Generator", "SeedSequence", "PCG64", "MT19937", "Philox", "SFC64"}


def _draws_random(statement: ast.stmt) -> bool:
    """Whether an assignment's value is random data (``np.random.randn(5, 3)``, not a generator): no constant."""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "random"
               and node.func.attr not in _GENERATORS for node in ast.walk(statement))


def _is_definition(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return True
    return isinstance(statement, ast.Try) and all(isinstance(inner, ast.Import | ast.ImportFrom | ast.Pass)
                                                  for inner in statement.body)


def _names_read(definition: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> set[str]:
    """Global names a definition reads: free names of its body, and names in its decorators and defaults."""
    table = symtable.symtable(ast.unparse(definition), "<definition>", "exec")
    names: set[str] = set()
    pending = list(table.get_children())
    while pending:
        child = pending.pop()
        names |= {symbol.get_name() for symbol in child.get_symbols() if symbol.is_global() and symbol.is_referenced()}
        pending += child.get_children()
    evaluated_at_definition = [*getattr(definition, "decorator_list", []), *getattr(definition, "bases", [])]
    if isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        evaluated_at_definition += [*definition.args.defaults, *definition.args.kw_defaults]
    for node in evaluated_at_definition:
        if node is not None:
            names |= {inner.id for inner in ast.walk(node) if isinstance(inner, ast.Name)}
    return names


def _targets(statement: ast.Assign | ast.AnnAssign) -> set[str]:
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    return {node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)}
