"""The built-in layer tables: one spec per layer, the rows every generic test and the audit iterate over.

Room ``layers``: the entries, apart from the machinery that reads them (as
PyTorch keeps ``opinfo/definitions/`` apart from ``opinfo/core.py``).
:mod:`oracle.layers.cs231n` holds the seed's layers, the GRU and LSTM-with-c0
variants and the captioning model; :mod:`oracle.layers.dlai`
deeplearning.ai's course API; :mod:`oracle.layers.cs231n_mistakes` and
:mod:`oracle.layers.dlai_mistakes` the known mistakes of each
(:mod:`oracle.specs.mistakes`). An entry names its references
(:mod:`oracle.references`) and its own checks (:mod:`oracle.judge`), so this
room sits above both. It may import ``judge``, ``references``, ``specs`` and
:mod:`impl`; ``report``, ``targets`` and the command line import it.
"""

from __future__ import annotations

# Each table registers its specs when imported, and each catalogue then attaches its error models to them.
from oracle.layers import (  # noqa: F401
    cs231n,
    cs231n_mistakes,
    dlai,
    dlai_mistakes,
)
from oracle.specs.registry import registered
from oracle.specs.spec import LayerSpec


def all_specs() -> list[LayerSpec]:
    """Every built-in spec (the seed's, then deeplearning.ai's) and any registered since, in registration order."""
    return registered()


def get_spec(name: str) -> LayerSpec:
    """The registered spec called ``name``; ``KeyError`` lists the known names."""
    specs = {spec.name: spec for spec in all_specs()}
    if name not in specs:
        raise KeyError(f"no layer spec named {name!r}; known: {', '.join(specs)}")
    return specs[name]
