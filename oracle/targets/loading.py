"""Importing a user's implementation by the name given on the command line: a file, a folder or a module.

This runs in the worker process (:mod:`oracle.targets.worker`), never in the judge's
(see :mod:`oracle.targets.boundary`), and imports neither torch nor the rest of the
oracle. A target is a ``.py`` file, a package folder (a course folder
``cs231n/`` holding ``rnn_layers.py``, and ``classifiers/rnn.py`` for the
model; any other package folder is imported as the package) or a dotted
module name. Its folder's parent (a file's own folder) is made importable, so
the target's own imports (``from cs231n.layers import *``) work. A module of
the target that cannot be imported because one of its own top-level imports
failed (``import imageio`` where it is not installed) is run again with each
top-level import on its own (:mod:`oracle.targets.imports`): the failed
imports become the target's notes, and the rest of the module is audited.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass
from importlib.machinery import ModuleSpec, SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

from oracle.targets.imports import SkippedImport, failed_at_own_import, run_statements

#: Modules of a course folder that hold the layer functions and the model, in lookup order.
COURSE_MODULES = ("rnn_layers", "classifiers.rnn")


class TargetError(Exception):
    """A target that cannot be imported; the message is one line (what, file, line)."""


def describe_error(error: BaseException) -> str:
    """``"SyntaxError at path/file.py:3: ..."``: the error and where in the user's code it was raised."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{type(error).__name__} at {error.filename}:{error.lineno}: {error.msg}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if "importlib" not in frame.filename and not frame.filename.startswith("<frozen")]
    oracle = Path(__file__).resolve().parents[1]
    user = [frame for frame in frames if not Path(frame.filename).resolve().is_relative_to(oracle)]
    last = (user or frames)[-1:]
    where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
    return f"{type(error).__name__}{where}: {error}"


@dataclass(frozen=True)
class Target:
    """A user's implementation: where its public names are looked up, in order.

    ``notes``: one line per top-level import of its modules that failed and was skipped.
    """

    label: str
    modules: tuple[ModuleType, ...]
    notes: tuple[str, ...] = ()

    def find(self, name: str) -> Any | None:
        """The target's attribute ``name`` (``"CaptioningRNN"``, ``"lstm_forward"``), or ``None``.

        A module that defines it wins over one that only imports it (``rnn_layers.py`` may re-export
        a model that ``classifiers/rnn.py`` subclasses); otherwise the first module that has it.
        """
        holders = [module for module in self.modules if hasattr(module, name)]
        defining = [module for module in holders
                    if getattr(getattr(module, name), "__module__", None) == module.__name__]
        return getattr((defining or holders)[0], name) if holders else None


def import_file(path: Path, module_name: str | None = None) -> ModuleType:
    """Import the ``.py`` file at ``path`` with its folder importable (so its own imports work).

    The module is named ``module_name`` and entered in ``sys.modules`` under it,
    or, without one, named after the file and left out of ``sys.modules``.
    ``ImportError`` when the file cannot be loaded; whatever the file raises
    while it runs propagates.
    """
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(module_name or path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    if module_name:
        sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _importable(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def load_target(text: str, base: Path | None = None) -> Target:
    """Import the target named by ``text`` (file, package folder or dotted name); :class:`TargetError` if it fails.

    ``base``: the folder a relative path or a dotted name is found from (default: the current one).
    Anything the user's code raises while importing becomes a :class:`TargetError`, except a failed
    top-level import of one of its modules (see the module docstring); a ``SystemExit`` propagates
    (the caller decides what an exit means).
    """
    base = Path.cwd() if base is None else base
    path = base / text
    notes: list[str] = []
    try:
        if path.suffix == ".py" and path.is_file():
            name = "_rnn_oracle_target_" + re.sub(r"\W", "_", path.stem)
            return Target(text, (_module(name, text, notes, path),), tuple(notes))
        if path.is_dir():
            folder = path.resolve()
            _importable(folder.parent)
            for name in [name for name in sys.modules if name == folder.name or name.startswith(folder.name + ".")]:
                del sys.modules[name]  # a package of the same name imported earlier must not stand in for this one
            found = [name for name in COURSE_MODULES if (folder / (name.replace(".", "/") + ".py")).is_file()]
            if not found:  # a package exporting the API itself (its __init__.py)
                return Target(text, (importlib.import_module(folder.name),))
            modules = tuple(_module(f"{folder.name}.{name}", f"{text.rstrip('/')}/{name.replace('.', '/')}.py",
                                    notes) for name in found)
            return Target(text, modules, tuple(notes))
        if path.suffix == ".py" or "/" in text:
            raise TargetError(f"{text}: no such file or folder")
        _importable(base)
        return Target(text, (_module(text, text, notes),), tuple(notes))
    except TargetError:
        raise
    except Exception as error:  # anything the user's code raises while importing
        raise TargetError(f"cannot import {text}: {describe_error(error)}") from error


def _module(name: str, label: str, notes: list[str], path: Path | None = None) -> ModuleType:
    """Import module ``name`` (from the file ``path``, when given), skipping its own top-level imports that fail.

    Imported as Python would first; when that fails at one of the module's own top-level imports, the
    module is run again with each top-level import on its own, and each that failed is appended to
    ``notes`` (``label``: how a note names the module's file).
    """
    try:
        return import_file(path, name) if path is not None else importlib.import_module(name)
    except Exception as error:
        spec = importlib.util.spec_from_file_location(name, path) if path is not None else _spec(name)
        if spec is None or spec.origin is None or not isinstance(spec.loader, SourceFileLoader):
            raise
        tree = ast.parse(spec.loader.get_source(name) or "", spec.origin)
        if not failed_at_own_import(error, spec.origin, tree):
            raise
    module, skipped = _run_skipping_imports(spec, tree)
    notes += [f"{label}, {imported.describe()}: that import skipped, the rest of the module run"
              for imported in skipped]
    return module


def _spec(name: str) -> ModuleSpec | None:
    try:
        return importlib.util.find_spec(name)
    except Exception:  # a parent package that cannot be imported: the first error stands
        return None


def _run_skipping_imports(spec: ModuleSpec, tree: ast.Module) -> tuple[ModuleType, list[SkippedImport]]:
    """The module of ``spec`` run from ``tree`` with each top-level import on its own, and the imports skipped.

    The module is entered in ``sys.modules`` (and in its package) as an import would.
    """
    module = importlib.util.module_from_spec(spec)
    skipped: list[SkippedImport] = []
    sys.modules[spec.name] = module
    try:
        run_statements(tree, str(spec.origin), module.__dict__, skipped)
    except BaseException:
        del sys.modules[spec.name]
        raise
    parent, _, child = spec.name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module, skipped
