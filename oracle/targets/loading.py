"""Importing a user's implementation by the name given on the command line: a file, a folder or a module.

This runs in the worker process (:mod:`oracle.targets.worker`), never in the judge's
(see :mod:`oracle.targets.boundary`), and imports neither torch nor the rest of the
oracle. A target is a ``.py`` file, a package folder (a course folder
``cs231n/`` holding ``rnn_layers.py``, and ``classifiers/rnn.py`` for the
model; any other package folder is imported as the package) or a dotted
module name. Its folder's parent (a file's own folder) is made importable, so
the target's own imports (``from cs231n.layers import *``) work.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

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
    """A user's implementation: where its public names are looked up, in order."""

    label: str
    modules: tuple[ModuleType, ...]

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
    Anything the user's code raises while importing becomes a :class:`TargetError`; a ``SystemExit``
    propagates (the caller decides what an exit means).
    """
    base = Path.cwd() if base is None else base
    path = base / text
    try:
        if path.suffix == ".py" and path.is_file():
            module = import_file(path, "_rnn_oracle_target_" + re.sub(r"\W", "_", path.stem))
            return Target(text, (module,))
        if path.is_dir():
            folder = path.resolve()
            _importable(folder.parent)
            for name in [name for name in sys.modules if name == folder.name or name.startswith(folder.name + ".")]:
                del sys.modules[name]  # a package of the same name imported earlier must not stand in for this one
            found = [name for name in COURSE_MODULES if (folder / (name.replace(".", "/") + ".py")).is_file()]
            if not found:  # a package exporting the API itself (its __init__.py)
                return Target(text, (importlib.import_module(folder.name),))
            return Target(text, tuple(importlib.import_module(f"{folder.name}.{name}") for name in found))
        if path.suffix == ".py" or "/" in text:
            raise TargetError(f"{text}: no such file or folder")
        _importable(base)
        return Target(text, (importlib.import_module(text),))
    except TargetError:
        raise
    except Exception as error:  # anything the user's code raises while importing
        raise TargetError(f"cannot import {text}: {describe_error(error)}") from error
