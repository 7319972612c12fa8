"""Directional finite differences: ``vᵀJu`` along random directions, at any input size.

Element-wise central differences (:mod:`oracle.references.finite_diff`) cost two
forward passes per input element: about a million for an LSTM of realistic
size. Above :data:`ELEMENTWISE_LIMIT` elements an input is checked the way
``torch.autograd.gradcheck``'s fast mode and jax's ``check_grads`` do it. For
a random direction ``u`` over the input (each entry ``+1`` or ``-1``) and the
case's random upstream gradient ``v`` (built into the objective
:func:`oracle.specs.spec.objective`), the layer's gradient ``g`` gives the
directional derivative ``<g, u> = vᵀJu``, and a float64 central difference of
the objective along ``u`` estimates the same number::

    d(h) = (f(x + h u) - f(x - h u)) / (2 h),   h = cbrt(eps) * max(1, max |x|)

That costs four forward passes per direction (``d(h)`` and ``d(2h)``),
whatever the size; two where the truncation estimate is put off (below).

What is allowed
---------------
``|<g, u> - d(h)| <= e_fd + DIRECTIONAL_SIGMAS * sqrt(sum_i t_i^2)``, where

- ``e_fd = |d(2h) - d(h)| + ROUNDING_NOISE * eps * S / h`` bounds the error of
  the finite difference itself: the Richardson difference estimates its
  truncation error (``d(2h)`` has four times that of ``d(h)``), and ``S``, the
  sum of the objective's terms in absolute value, bounds the rounding noise
  of the two evaluations of ``f``;
- ``t_i = atol + rtol * |g_i|`` is what the element-wise comparison would allow
  each element (:func:`oracle.specs.tolerances.finite_difference_tolerance`), plus,
  for float32, ``ROUNDING_FACTOR`` rounding spreads (the float32 rounding
  rule of :mod:`oracle.specs.tolerances`).

If every element of ``g`` is within its ``t_i`` of the true gradient, the
error ``sum_i (g_i - true_i) u_i`` is a sum of independent, bounded, zero-mean
terms, so by Hoeffding's inequality it exceeds ``k sqrt(sum t_i^2)`` with
probability at most ``2 exp(-k^2 / 2)``: 2.5e-14 for ``k = 8``. A correct
layer therefore does not fail it by chance.

The truncation estimate only ever adds to what is allowed, so a gradient
within ``ROUNDING_NOISE * eps * S / h + DIRECTIONAL_SIGMAS * sqrt(sum_i t_i^2)``
of ``d(h)`` passes whatever ``d(2h)`` is. Where the audit differentiates the
judged code's own forward pass (:func:`finite_differences` with
``estimate_truncation=False``), ``d(2h)`` is computed only for a check that
this smaller allowance does not settle: the verdict is the one the full
allowance gives, at half the forward passes for a right gradient (at the
sizes of a realistic LSTM the element-wise allowance is thousands of times
the truncation error). The store's finite differences, computed once for a
class, always carry the estimate. One thing does change: a forward pass that
raises only at ``x +- 2h u`` was a finding of the finite-difference stage
when every step was taken at once, and is one now only where that step is
taken (the audit records it as that stage's finding, as before).

What it can miss
----------------
An error vector ``e = g - true`` shows up as ``<e, u>``, a random number of
standard deviation ``|e|``. A directional check misses it when ``|<e, u>|``
falls below the allowance ``a``, which for an error spread over many elements
has probability about ``0.8 a / |e|`` per direction, so about ``(0.8 a / |e|)^m``
for ``m`` directions (:data:`DIRECTIONS`): an error ten times the allowance
escapes three directions with probability about 5e-4, one a hundred times it
with probability 5e-7. What it cannot see is an error confined to a few
elements that is small next to ``sqrt(n)`` times the element-wise tolerance
(one wrong element among 400,000). The audit's other oracle covers that: the
torch twin's gradient is compared element by element at every size. When a
directional check fails, element-wise differences on a few elements (those
where impl and the twin differ most) show where the error is
(:func:`element_slice`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oracle.judge.compare import Comparison
from oracle.judge.localize import Localization
from oracle.references.finite_diff import RELATIVE_STEP, as_float64, central_differences, numeric_gradients_later
from oracle.specs.spec import Arrays, LayerSpec, objective_scale, objectives
from oracle.specs.tolerances import DIRECTIONAL_SIGMAS, ROUNDING_FACTOR, Tolerance

#: An input with more elements than this is checked along random directions instead of element by element.
ELEMENTWISE_LIMIT = 256

#: Random directions per input checked directionally (see "What it can miss").
DIRECTIONS = 3

#: Multiple of ``eps * S / h`` allowed for the rounding noise of a directional difference (see the module docstring).
ROUNDING_NOISE = 16.0

#: Elements differentiated one at a time when a directional check fails, to show where.
SLICE_ELEMENTS = 8


@dataclass(frozen=True)
class DirectionalDerivatives:
    """Float64 central differences of the objective along random directions over one input.

    Attributes
    ----------
    directions
        ``+1``/``-1`` float64 arrays shaped like the input.
    values
        ``d(h)`` along each direction.
    errors
        ``e_fd`` of each value (see the module docstring), or only its rounding-noise term while the
        truncation estimate is put off.
    estimated
        While the truncation estimate is put off: a function that computes it (once) and returns these
        derivatives with ``e_fd`` in full; ``None`` once ``errors`` holds it.
    """

    directions: tuple[np.ndarray, ...]
    values: tuple[float, ...]
    errors: tuple[float, ...]
    estimated: Callable[[], DirectionalDerivatives] | None = field(default=None, compare=False, repr=False)

    def complete(self) -> DirectionalDerivatives:
        """These derivatives with each ``e_fd`` in full (computing the truncation estimate if it was put off)."""
        return self if self.estimated is None else self.estimated()


#: Finite differences of a case: element-wise gradients (arrays) or directional derivatives, by input name.
FiniteDifferences = dict[str, "np.ndarray | DirectionalDerivatives"]


def directional_derivatives(spec: LayerSpec, inputs: Arrays, upstream: Arrays, name: str,
                            rng: np.random.Generator, count: int = DIRECTIONS,
                            scale: float | None = None, estimate_truncation: bool = True) -> DirectionalDerivatives:
    """Central differences of ``objective(spec, inputs, upstream)`` along ``count`` random directions over ``name``.

    Everything runs in float64 on copies (the caller's arrays are never modified). ``scale`` is
    :func:`oracle.specs.spec.objective_scale` at the point, when already known. With ``estimate_truncation``
    false, ``d(2h)`` is put off until :meth:`DirectionalDerivatives.complete` asks for it (see the module
    docstring); the numbers it then gives are those computed at once, bit for bit.
    """
    point, upstream64 = as_float64(inputs), as_float64(upstream)
    base = point[name].copy()
    step = RELATIVE_STEP * max(1.0, float(np.max(np.abs(base), initial=0.0)))
    if scale is None:
        scale = objective_scale(spec, point, upstream64)
    noise = ROUNDING_NOISE * float(np.finfo(np.float64).eps) * scale / step
    directions = tuple(rng.choice(np.array([-1.0, 1.0]), size=base.shape) for _ in range(count))

    def differences(*distances: float) -> list[list[float]]:
        """``(f(x + d u) - f(x - d u)) / (2 d)`` along each direction ``u``, for each distance ``d``: one batch."""
        found = objectives(spec, point, [{name: (None, base + sign * distance * direction)}
                                         for distance in distances for direction in directions
                                         for sign in (1, -1)], upstream64)
        plus, minus = found[::2], found[1::2]
        return [[(plus[at] - minus[at]) / (2 * distance) for at in range(k * count, (k + 1) * count)]
                for k, distance in enumerate(distances)]

    def with_estimate(near: list[float], far: list[float]) -> DirectionalDerivatives:
        return DirectionalDerivatives(directions, tuple(near),
                                      tuple(abs(f - n) + noise for n, f in zip(near, far, strict=True)))

    if estimate_truncation:
        return with_estimate(*differences(step, 2 * step))
    (near,) = differences(step)
    return DirectionalDerivatives(directions, tuple(near), (noise,) * count,
                                  estimated=functools.cache(lambda: with_estimate(near, *differences(2 * step))))


def finite_differences(spec: LayerSpec, inputs: Arrays, upstream: Arrays, rng: np.random.Generator,
                       limit: int = ELEMENTWISE_LIMIT, estimate_truncation: bool = True) -> FiniteDifferences:
    """Element-wise gradients of the inputs of at most ``limit`` elements, directional derivatives of the others.

    ``estimate_truncation``: as :func:`directional_derivatives` takes it.
    """
    return finite_differences_later(spec, inputs, upstream, rng, limit, estimate_truncation)()


def finite_differences_later(spec: LayerSpec, inputs: Arrays, upstream: Arrays, rng: np.random.Generator,
                             limit: int = ELEMENTWISE_LIMIT,
                             estimate_truncation: bool = True) -> Callable[[], FiniteDifferences]:
    """:func:`finite_differences` as a function that returns them.

    The element-wise differences of a layer in a worker process start at once, so that the worker
    computes them while the judge computes the twin; the directional ones run when it is called.
    """
    small = tuple(name for name in spec.grads if np.size(inputs[name]) <= limit)
    elementwise = numeric_gradients_later(spec, inputs, upstream, names=small)

    def finish() -> FiniteDifferences:
        found: FiniteDifferences = dict(elementwise())
        large = [name for name in spec.grads if name not in small]
        scale = objective_scale(spec, as_float64(inputs), as_float64(upstream)) if large else 0.0
        for name in large:
            found[name] = directional_derivatives(spec, inputs, upstream, name, rng, scale=scale,
                                                  estimate_truncation=estimate_truncation)
        return {name: found[name] for name in spec.grads}

    return finish


def allowed_element_error(grad: np.ndarray, tolerance: Tolerance, spread: np.ndarray | None = None) -> float:
    """``DIRECTIONAL_SIGMAS * sqrt(sum t_i^2)``: what element-wise errors within tolerance may add up to along ``u``."""
    per_element = tolerance.atol + tolerance.rtol * np.abs(grad)
    if spread is not None:
        per_element = per_element + ROUNDING_FACTOR * np.abs(spread)
    return DIRECTIONAL_SIGMAS * float(np.sqrt(np.sum(np.square(per_element))))


def compare_directional(grad: np.ndarray, derivatives: DirectionalDerivatives, tolerance: Tolerance, *,
                        layer: str, quantity: str, reference: str,
                        spread: np.ndarray | None = None) -> Comparison:
    """Compare ``<grad, u>`` with the finite difference along each direction ``u`` (values only, not dtype).

    ``max_abs`` is the worst ``|<grad, u> - d(h)|``, ``max_rel`` that over
    ``|d(h)|``, ``ratio`` the worst of it over what is allowed. Where the
    truncation estimate was put off and the smaller allowance does not settle
    the check, it is computed and the check made with the full allowance.
    """
    grad = np.asarray(grad)
    g = grad.astype(np.float64)
    if g.shape != derivatives.directions[0].shape:
        return Comparison.unmeasured(layer, quantity, grad.dtype.name, reference, grad.shape, tolerance,
                                     f"shape {grad.shape} where the input has {derivatives.directions[0].shape}")
    element = allowed_element_error(g, tolerance, spread)
    diffs = [abs(float(np.vdot(g, u)) - value) for u, value in zip(derivatives.directions, derivatives.values,
                                                                      strict=True)]
    # A NaN or infinity anywhere (in the gradient or a difference) is a failure, never a silent pass.
    diffs = [diff if np.isfinite(diff) and np.all(np.isfinite(g)) else np.inf for diff in diffs]
    ratios = [_ratio(diff, error + element) for diff, error in zip(diffs, derivatives.errors, strict=True)]
    worst = int(np.argmax(ratios))
    failed = ratios[worst] > 1.0
    if failed and derivatives.estimated is not None:
        return compare_directional(grad, derivatives.complete(), tolerance, layer=layer, quantity=quantity,
                                   reference=reference, spread=spread)
    relative = [diff / abs(value) if value else 0.0 for diff, value in zip(diffs, derivatives.values, strict=True)]
    unestimated = "" if derivatives.estimated is None else (
        " without the finite difference's truncation error (not estimated: not needed)")
    what = (f"directional check along {len(diffs)} random +-1 directions (input of {g.size} elements): worst "
            f"|<grad, u> - finite difference| {diffs[worst]:.3e} where {derivatives.errors[worst] + element:.3e} "
            f"is allowed{unestimated}")
    return Comparison(layer, quantity, grad.dtype.name, reference, grad.shape, max(diffs), max(relative),
                      max(ratios), tolerance, what if failed else "", "" if failed else what)


def _ratio(diff: float, allowed: float) -> float:
    """``diff / allowed``: 0 for equal values (even when nothing is allowed), inf where it is not a number."""
    if diff == 0.0:
        return 0.0
    return diff / allowed if np.isfinite(allowed) and allowed > 0 else np.inf


def element_slice(spec: LayerSpec, inputs: Arrays, upstream: Arrays, name: str, grad: np.ndarray,
                  tolerance: Tolerance, suspects: np.ndarray | None = None,
                  count: int = SLICE_ELEMENTS) -> tuple[str, Localization]:
    """Element-wise differences on ``count`` elements of ``name``, after a failed directional check.

    The elements are those where ``grad`` and ``suspects`` (the other
    oracle's gradient) differ most, else those of largest ``|grad|``.

    Returns
    -------
    (text, Localization)
        A sentence listing the worst element, and its index.
    """
    g = np.asarray(grad, dtype=np.float64)
    score = np.abs(g - np.asarray(suspects, dtype=np.float64)) if suspects is not None else np.abs(g)
    chosen = np.argsort(np.where(np.isnan(score), np.inf, score), axis=None)[::-1][:count]
    point, upstream64 = as_float64(inputs), as_float64(upstream)
    numeric = central_differences(
        lambda changes: objectives(spec, point, [{name: change} for change in changes], upstream64), point[name],
        indices=chosen)
    flat = g.reshape(-1)[chosen]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.abs(flat - numeric) / (tolerance.atol + tolerance.rtol * np.abs(numeric))
    worst = int(np.argmax(np.where(np.isnan(ratio), np.inf, ratio)))
    index = tuple(int(i) for i in np.unravel_index(int(chosen[worst]), g.shape))
    outside = int(np.count_nonzero(~(ratio <= 1.0)))
    which = "where the two oracles differ most" if suspects is not None else "of largest gradient"
    text = (f"element-wise differences on the {len(chosen)} elements {which}: "
            f"{outside} outside tolerance, worst at index {index}: gradient {flat[worst]:.6g}, "
            f"finite difference {numeric[worst]:.6g}")
    return text, Localization(index)
