"""Binding the specs to a user's code: each spec's public names looked up in a target (``rnn-oracle audit --impl``).

A target is a ``.py`` file, a package folder, a notebook or a dotted module
name (:mod:`oracle.targets.loading`); its code runs only in a worker process
(:mod:`oracle.targets.boundary`), whose stand-ins :func:`bind` puts in the
place of impl's functions. A name the target lacks becomes a stub that
reports ``not_implemented`` (:func:`missing`). The target is audited as the
course family its names show (:func:`family_of`). With ``--autograd``, a
backward function a port lacks is its library's autograd through its forward
function (:func:`autograd_functions`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from oracle.specs.families import FAMILIES
from oracle.specs.registry import registered
from oracle.specs.spec import LayerSpec, NotImplementedLayer, input_names


class Findable(Protocol):
    """A target: a label and its public names looked up (a :class:`~oracle.targets.loading.Target`, or stand-ins)."""

    @property
    def label(self) -> str: ...

    def find(self, name: str) -> Any | None: ...


def family_of(target: Findable) -> str:
    """The course family a target is written for: the last of :data:`FAMILIES` whose marking names it defines."""
    marked = [family for family, names in FAMILIES.items() if any(target.find(name) is not None for name in names)]
    return marked[-1] if marked else next(iter(FAMILIES))


def public_names(specs: Iterable[LayerSpec]) -> tuple[str, ...]:
    """Every public name the specs (and their extra checks) look up, in order, and those that mark a family."""
    names = [name for spec in specs for name in spec.public_names]
    names += [name for spec in specs for check in spec.extra_checks for name in check.public_names]
    names += [name for marks in FAMILIES.values() for name in marks]
    return tuple(dict.fromkeys(names))


def missing(name: str, target: Findable) -> Callable[..., Any]:
    """A stand-in for a function the target lacks: it raises :class:`NotImplementedLayer`."""

    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedLayer(f"{target.label} has no {name}")

    stub.__name__ = name
    return stub


def bind(spec: LayerSpec, target: Findable) -> LayerSpec:
    """``spec`` with its functions taken from ``target`` by their public names (see the module docstring)."""
    bound = _bind_functions(spec, _found(spec.public_names, target, spec))
    checks = tuple(check if check.binder is None else check.binder(_found(check.public_names, target))
                   for check in bound.extra_checks)
    # The spec's own forward pass, trusted, whose finite differences stand in for the target's where they agree.
    return dataclasses.replace(bound, extra_checks=checks, reference_forward=spec.forward_reference)


def _found(names: Iterable[str], target: Findable, spec: LayerSpec | None = None) -> dict[str, Any]:
    names = tuple(names)
    found = {name: target.find(name) for name in names}
    if spec is None:  # an extra check's functions: those of the registered spec that has them (a sequence's step)
        spec = next((known for known in registered() if known.public_names == names), None)
    if spec is not None:
        found.update(autograd_functions(spec, target))
    return {name: missing(name, target) if function is None else function for name, function in found.items()}


def autograd_functions(spec: LayerSpec, target: Findable) -> dict[str, Any]:
    """``{forward: ..., backward: ...}`` from a port's autograd where ``--autograd`` asks for it, else ``{}``.

    Only a forward/backward pair whose backward the target lacks (the target's ``autograd_pair``:
    :meth:`oracle.targets.boundary.RemoteTarget.autograd_pair`); the gradients are those of the spec's
    :attr:`~oracle.specs.spec.LayerSpec.grads`, of the objective of its upstream outputs.
    """
    pair = getattr(target, "autograd_pair", None)
    if pair is None or spec.is_loss or len(spec.public_names) != 2:
        return {}
    inputs = input_names(spec)
    if not set(spec.grads) <= set(inputs):
        return {}
    grads = [inputs.index(name) for name in spec.grads]
    upstream = [spec.outputs.index(name) for name in spec.upstream_outputs]
    functions = pair(*spec.public_names, grads, upstream)
    return {} if functions is None else dict(zip(spec.public_names, functions, strict=True))


def _bind_functions(spec: LayerSpec, found: dict[str, Any]) -> LayerSpec:
    if spec.binder is not None:
        return spec.binder(spec, found)
    if spec.is_loss:
        return dataclasses.replace(spec, forward=found[spec.public_names[0]])
    forward, backward = spec.public_names
    return dataclasses.replace(spec, forward=found[forward], backward=found[backward])


def bound_specs(specs: Iterable[LayerSpec], target: Findable) -> list[LayerSpec]:
    """The specs that name public functions, bound to ``target``."""
    return [bind(spec, target) for spec in specs if spec.public_names]
