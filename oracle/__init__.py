"""rnn-oracle: a reference-verified test oracle for recurrent-network layers.

The names a user needs import from here, whatever room of the package holds
them (docs/reference/python-api.md)::

    from oracle import LayerSpec, TorchTwin, InputSource, register

Each is imported on first use, so ``import oracle`` stays light: it imports
neither torch nor the judge. ``%load_ext oracle`` in IPython or Jupyter
registers the ``%rnn_oracle`` magic (:mod:`oracle.targets.jupyter`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the type checker sees; at run time each name is imported on first use (__getattr__)
    from oracle.references.twins import TorchTwin
    from oracle.specs.contract import RESULT, ErrorInput, GateLayout, InputContract
    from oracle.specs.registry import register
    from oracle.specs.sources import InputSource
    from oracle.specs.spec import Arrays, ExtraCheck, LayerSpec
    from oracle.specs.tolerances import Tolerance
    from oracle.targets.boundary import Limits
    from oracle.targets.jupyter import audit_here
    from oracle.targets.pytest_tests import impl_tests

#: Each public name and the module that holds it. Moving a module changes this table, never a user's import.
HOMES: dict[str, str] = {
    # A layer variant's spec (docs/how-to/variant-spec.md).
    "LayerSpec": "oracle.specs.spec",
    "Arrays": "oracle.specs.spec",
    "ExtraCheck": "oracle.specs.spec",
    "TorchTwin": "oracle.references.twins",
    "InputSource": "oracle.specs.sources",
    "InputContract": "oracle.specs.contract",
    "ErrorInput": "oracle.specs.contract",
    "RESULT": "oracle.specs.contract",
    "GateLayout": "oracle.specs.contract",
    "Tolerance": "oracle.specs.tolerances",
    "register": "oracle.specs.registry",
    # Running the audit from Python: a test suite, a notebook.
    "impl_tests": "oracle.targets.pytest_tests",
    "audit_here": "oracle.targets.jupyter",
    "Limits": "oracle.targets.boundary",
}

__all__ = ["Arrays", "ErrorInput", "ExtraCheck", "GateLayout", "InputContract", "InputSource", "LayerSpec", "Limits",
           "RESULT", "Tolerance", "TorchTwin", "audit_here", "impl_tests", "register"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext oracle``: the ``%rnn_oracle`` magic (:func:`oracle.targets.jupyter.load_ipython_extension`)."""
    from oracle.targets.jupyter import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    """A public name (:data:`HOMES`), imported from its module on first use and kept here."""
    if name not in HOMES:
        raise AttributeError(f"module 'oracle' has no attribute {name!r}")
    value = getattr(importlib.import_module(HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *HOMES})
