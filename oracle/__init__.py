"""rnn-oracle: a reference-verified test oracle for recurrent-network layers.

``%load_ext oracle`` in IPython or Jupyter registers the ``%rnn_oracle`` magic
(:mod:`oracle.targets.jupyter`). Nothing is imported until it is used.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext oracle``: the ``%rnn_oracle`` magic (:func:`oracle.targets.jupyter.load_ipython_extension`)."""
    from oracle.targets.jupyter import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    """``from oracle import audit_here``, imported on first use."""
    if name == "audit_here":
        from oracle.targets.jupyter import audit_here

        return audit_here
    raise AttributeError(f"module 'oracle' has no attribute {name!r}")
