"""Layer specs of a user's own (``rnn-oracle audit --spec MODULE:ATTRIBUTE``): imported, never registered."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from oracle.specs.spec import LayerSpec
from oracle.targets.loading import import_file


def load_specs(target: str) -> list[LayerSpec]:
    """Load specs from ``"package.module:ATTRIBUTE"`` or ``"path/to/file.py:ATTRIBUTE"``.

    ``ATTRIBUTE`` may be one :class:`LayerSpec` or an iterable of them. The
    specs are returned, not registered, so user specs never shadow built-ins.
    A file path is imported as a module named after the file, with the file's
    folder importable (so ``from cs231n.layers import *`` beside it works); a
    dotted name is imported normally (the current directory is searched too,
    as with ``python -m``).
    """
    module_name, _, attribute = target.rpartition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:ATTRIBUTE' or 'file.py:ATTRIBUTE', got {target!r}")
    value = getattr(_import(module_name), attribute)
    specs: Iterable[object] = [value] if isinstance(value, LayerSpec) else value
    loaded: list[LayerSpec] = []
    for spec in specs:
        if not isinstance(spec, LayerSpec):
            raise TypeError(f"{target} holds {type(spec).__name__}, not LayerSpec")
        loaded.append(spec)
    return loaded


def _import(module_name: str) -> ModuleType:
    """Import a dotted module name, or a ``.py`` file by path."""
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ModuleNotFoundError(f"no such spec file: {module_name}")
        return import_file(path)
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(module_name)
