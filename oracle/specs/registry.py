"""The registry of layer specs: each spec registers itself under a unique name (:func:`register`).

The built-in tables (:mod:`oracle.layers`) register theirs when imported;
:func:`oracle.layers.all_specs` lists them for every generic test and the
audit.
"""

from __future__ import annotations

from oracle.specs.mistakes import ErrorModel
from oracle.specs.spec import LayerSpec

_REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    """Add ``spec`` to the registry and return it; a duplicate name raises ``ValueError``."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a layer spec named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def registered() -> list[LayerSpec]:
    """Every spec registered so far, in registration order."""
    return list(_REGISTRY.values())


def attach_mistakes(name: str, models: tuple[ErrorModel, ...]) -> LayerSpec:
    """Add error models (:class:`oracle.specs.mistakes.ErrorModel`) to the registered spec ``name``; return it.

    Called by a catalogue module while the tables are imported (:mod:`oracle.layers`), before any spec
    is bound or read, so the spec object every table and module holds gets them (its other fields are
    untouched). An id that some registered spec already has raises ``ValueError``.
    """
    spec = _REGISTRY[name]
    taken = {model.id for other in _REGISTRY.values() for model in other.mistakes}
    for model in models:
        if model.id in taken:
            raise ValueError(f"error model id {model.id!r} is already attached to a spec")
        taken.add(model.id)
    object.__setattr__(spec, "mistakes", tuple(spec.mistakes) + tuple(models))  # frozen: set once, at import
    return spec
