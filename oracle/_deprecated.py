"""Old import paths kept for one release: a module's names forwarded to their new homes with a DeprecationWarning."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def forwarder(old: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``old`` whose names ``moved`` (name -> new module) are found there, with a warning.

    Python calls it only for names the old module does not define, so each use of an old path warns.
    """

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} has moved to {moved[name]}.{name}; the old path will be removed in the "
                      "next release", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(moved[name]), name)

    return __getattr__
