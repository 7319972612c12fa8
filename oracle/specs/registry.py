"""The registry of layer specs: each spec registers itself under a unique name (:func:`register`).

The built-in tables (:mod:`oracle.layers`) register theirs when imported;
:func:`oracle.layers.all_specs` lists them for every generic test and the
audit.
"""

from __future__ import annotations

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
