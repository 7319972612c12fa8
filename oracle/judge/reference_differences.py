"""Finite differences of a spec's reference forward pass: computed once for a class, kept in the reference store.

The audit's second oracle is the float64 finite differences of the objective
(:mod:`oracle.judge.directional`) at a case. For code under test in a worker
process they cost two calls of its forward pass per input element, each a
round trip to the worker: most of a correct target's audit. A spec bound to a
target (:func:`oracle.targets.binding.bind`) keeps its own forward pass as
:attr:`~oracle.specs.spec.LayerSpec.reference_forward` (impl's, for the
built-in layers). On a case where the target's forward outputs agree with the
twin's, its backward pass must compute the gradient of that same function
there, so the finite differences of the reference forward pass are what it is
judged against: they are the same for every target of a class, computed in
the judge's process and kept in the store (:func:`reference_finite_differences`).

Where the target's forward pass disagrees with the twin on a case, its own
finite differences are taken, as before: a backward pass that is the exact
gradient of a wrong forward pass is then still told apart
(:func:`oracle.judge.causes.inherited_from_forward`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from oracle.judge import directional
from oracle.judge.directional import DirectionalDerivatives, FiniteDifferences, finite_differences
from oracle.references.finite_diff import RELATIVE_STEP
from oracle.references.store import FINITE_DIFFERENCES, active, entry_key
from oracle.specs.spec import Arrays, Evaluation, LayerSpec


def reference_finite_differences(spec: LayerSpec, inputs: Arrays, upstream: Arrays,
                                 rng: np.random.Generator) -> FiniteDifferences:
    """:func:`oracle.judge.directional.finite_differences` of ``spec.reference_forward`` at a case, from the store.

    ``rng`` draws the directions of the inputs checked directionally; its state is part of the key.
    """
    key = entry_key(FINITE_DIFFERENCES, spec, inputs, upstream, "cpu", parameters(rng))
    (found,) = active().get(key, lambda: (as_evaluation(finite_differences(reference_spec(spec), inputs, upstream,
                                                                           rng)),))
    return from_evaluation(spec, found)


def reference_spec(spec: LayerSpec) -> LayerSpec:
    """``spec`` with its reference forward pass as its forward pass (``ValueError`` when it has none)."""
    if spec.reference_forward is None:
        raise ValueError(f"spec {spec.name!r} has no reference forward pass")
    return dataclasses.replace(spec, forward=spec.reference_forward)


def parameters(rng: np.random.Generator) -> dict[str, Any]:
    """What finite differences depend on besides the case and the forward pass: steps, directions, the method."""
    return {"relative_step": RELATIVE_STEP, "elementwise_limit": directional.ELEMENTWISE_LIMIT,
            "directions": directional.DIRECTIONS, "rounding_noise": directional.ROUNDING_NOISE,
            "rng": rng.bit_generator.state, "method": _method_digest()}


@functools.cache
def _method_digest() -> str:
    """SHA-256 of the source of :mod:`oracle.judge.directional` and of this module (how they are computed)."""
    digest = hashlib.sha256()
    for path in (Path(directional.__file__), Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def as_evaluation(found: FiniteDifferences) -> Evaluation:
    """Finite differences as an :class:`Evaluation` the store keeps: element-wise ones as gradients, directional
    ones as outputs ``"<input>.directions"`` (stacked), ``"<input>.values"`` and ``"<input>.errors"``."""
    grads = {name: value for name, value in found.items() if isinstance(value, np.ndarray)}
    outputs = {}
    for name, value in found.items():
        if isinstance(value, DirectionalDerivatives):
            value = value.complete()
            outputs[f"{name}.directions"] = np.stack(value.directions)
            outputs[f"{name}.values"] = np.asarray(value.values, dtype=np.float64)
            outputs[f"{name}.errors"] = np.asarray(value.errors, dtype=np.float64)
    return Evaluation(outputs, grads)


def from_evaluation(spec: LayerSpec, evaluation: Evaluation) -> FiniteDifferences:
    """The finite differences :func:`as_evaluation` encoded, in the order of ``spec.grads``."""
    found: FiniteDifferences = {}
    for name in spec.grads:
        if name in evaluation.grads:
            found[name] = evaluation.grads[name]
        else:
            directions, values, errors = (evaluation.outputs[f"{name}.{part}"]
                                          for part in ("directions", "values", "errors"))
            found[name] = DirectionalDerivatives(tuple(directions), tuple(map(float, values)),
                                                 tuple(map(float, errors)))
    return found
