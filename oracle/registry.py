"""The registry of layer specs that every generic test and the audit iterate over."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from oracle.spec import LayerSpec

_REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    """Add ``spec`` to the registry and return it; a duplicate name raises ``ValueError``."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a layer spec named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def all_specs() -> list[LayerSpec]:
    """Every registered spec, the built-in ones first, in registration order."""
    importlib.import_module("oracle.builtin_specs")
    return list(_REGISTRY.values())


def get_spec(name: str) -> LayerSpec:
    """The registered spec called ``name``; ``KeyError`` lists the known names."""
    specs = {spec.name: spec for spec in all_specs()}
    if name not in specs:
        raise KeyError(f"no layer spec named {name!r}; known: {', '.join(specs)}")
    return specs[name]


def load_specs(target: str) -> list[LayerSpec]:
    """Load specs from ``"package.module:ATTRIBUTE"``.

    ``ATTRIBUTE`` may be one :class:`LayerSpec` or an iterable of them. The
    specs are returned, not registered, so user specs never shadow built-ins.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:ATTRIBUTE', got {target!r}")
    value = getattr(importlib.import_module(module_name), attribute)
    specs: Iterable[object] = [value] if isinstance(value, LayerSpec) else value
    loaded = list(specs)
    for spec in loaded:
        if not isinstance(spec, LayerSpec):
            raise TypeError(f"{target} holds {type(spec).__name__}, not LayerSpec")
    return loaded
