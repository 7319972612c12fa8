"""Where a failing output or gradient is wrong, in the layer's own terms: gate blocks, time steps, element.

A comparison that fails on values has an elementwise *error ratio*
``|actual - reference| / (atol + rtol * |reference|)`` (above 1: outside
the tolerance). :func:`localize` reduces it along what the spec says the
quantity's axes mean (:func:`quantity_axes`):

- gate blocks: for a gated parameter (``Wx``, ``Wh``, ``b``, ``bh`` of a
  cell, :attr:`oracle.specs.spec.LayerSpec.gates`), the worst ratio in each gate's
  columns (``i, f, o, g``; ``z, r, n``), so an o/g swap reads "o, g";
- time steps: for a quantity with a ``T`` axis (``h (N, T, H)``, ``x (N, T,
  D)``: the contract's layouts), the worst ratio at each step, and the first
  step, counting back from ``T``, where it exceeds 1. "Only at t = 0", "from
  the last step on" and "grows backwards in time" (a backpropagation-through-
  time bug) are then visible at a glance;
- the index of the worst element, always.

Weight gradients sum over time, so they have no time axis of their own: a
BPTT bug shows in the per-step errors of ``grad x`` (and of the outputs for a
forward bug), beside the gate blocks of ``grad Wx``/``Wh``/``b``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: The axis symbol of time in the specs' layouts.
TIME = "T"


@dataclass(frozen=True)
class QuantityAxes:
    """What the axes of one output or gradient mean, for :func:`localize`.

    Attributes
    ----------
    time_axis
        The axis indexed by time step, or ``None``.
    gate_blocks
        Gate name -> the slice of the last axis it owns (gate order), or
        ``None`` for a quantity not laid out in gate blocks.
    """

    time_axis: int | None = None
    gate_blocks: Mapping[str, slice] | None = None


@dataclass(frozen=True)
class Localization:
    """Where one failing comparison is wrong.

    Attributes
    ----------
    worst_index
        Index of the element with the greatest error ratio.
    steps
        Worst error ratio at each time step ``t = 0 .. T-1`` (empty: the
        quantity has no time axis).
    gates
        ``(gate, worst error ratio)`` per gate block, in gate order (empty:
        not a gated parameter).
    """

    worst_index: tuple[int, ...]
    steps: tuple[float, ...] = ()
    gates: tuple[tuple[str, float], ...] = ()

    @property
    def failing_gates(self) -> tuple[str, ...]:
        """The gates whose block holds an element outside the tolerance."""
        return tuple(gate for gate, ratio in self.gates if ratio > 1.0)

    @property
    def failing_steps(self) -> tuple[int, ...]:
        """The time steps holding an element outside the tolerance, in increasing order."""
        return tuple(t for t, ratio in enumerate(self.steps) if ratio > 1.0)

    @property
    def first_failing_step_from_end(self) -> int | None:
        """The last failing step ``t`` (the first met counting back from ``T``), or ``None``."""
        failing = self.failing_steps
        return failing[-1] if failing else None

    def step_pattern(self) -> str:
        """A phrase naming the shape of the per-step error (``""`` when there is no time axis or no failure)."""
        failing, count = self.failing_steps, len(self.steps)
        if not failing:
            return ""
        if failing == (0,) and count > 1:
            return "wrong only at t = 0"
        parts = []
        if failing[-1] == count - 1:
            parts.append("wrong from the last step on")
        else:
            parts.append(f"right at the last {count - 1 - failing[-1]} step(s), wrong from t = {failing[-1]} back")
        ratios = np.array([self.steps[t] for t in failing])
        if (len(failing) >= 3 and np.all(np.isfinite(ratios)) and np.ptp(ratios) > 0 and ratios[0] > 2 * ratios[-1]
                and np.corrcoef(failing, np.log(ratios))[0, 1] < -0.5):
            parts.append("error grows backwards in time")
        return ", ".join(parts)

    def describe(self) -> str:
        """One clause for a failure message, e.g. ``worst at index (0, 3); gate blocks o, g wrong (...)``."""
        parts = [f"worst at index {self.worst_index}"]
        if self.gates:
            ratios = ", ".join(f"{gate} {ratio:.3g}" for gate, ratio in self.gates)
            wrong = ", ".join(self.failing_gates) or "none"
            parts.append(f"gate blocks outside tolerance: {wrong} (worst err/allowed per gate: {ratios})")
        if self.steps:
            failing = self.failing_steps
            spans = _spans(failing)
            parts.append(f"time steps outside tolerance: {spans or 'none'} of t = 0..{len(self.steps) - 1}"
                         + (f", {self.step_pattern()}" if failing else ""))
        return "; ".join(parts)

    def to_json(self) -> dict:
        """``worst_index``, ``steps`` (list or null), ``first_failing_step_from_end``, ``gates`` (object or null)."""
        return {
            "worst_index": list(self.worst_index),
            "steps": [_finite_or_none(ratio) for ratio in self.steps] if self.steps else None,
            "first_failing_step_from_end": self.first_failing_step_from_end,
            "gates": {gate: _finite_or_none(ratio) for gate, ratio in self.gates} if self.gates else None,
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _spans(steps: tuple[int, ...]) -> str:
    """``(0, 1, 2, 5)`` -> ``"0-2, 5"``."""
    spans: list[list[int]] = []
    for step in steps:
        if spans and step == spans[-1][1] + 1:
            spans[-1][1] = step
        else:
            spans.append([step, step])
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in spans)


def localize(ratio: np.ndarray, axes: QuantityAxes | None = None) -> Localization:
    """Reduce an elementwise error ratio (see the module docstring) to a :class:`Localization`.

    Parameters
    ----------
    ratio
        ``|actual - reference| / allowed`` elementwise, any shape (NaN is
        treated as infinitely wrong).
    axes
        What the axes mean; ``None``: only the worst element is located.
    """
    ratio = np.where(np.isnan(ratio), np.inf, np.asarray(ratio, dtype=np.float64))
    if ratio.size == 0:
        return Localization(())
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
    axes = axes or QuantityAxes()
    steps: tuple[float, ...] = ()
    if axes.time_axis is not None and ratio.ndim > axes.time_axis:
        others = tuple(axis for axis in range(ratio.ndim) if axis != axes.time_axis)
        steps = tuple(float(value) for value in np.max(ratio, axis=others))
    gates: tuple[tuple[str, float], ...] = ()
    if axes.gate_blocks and ratio.ndim:
        gates = tuple((gate, float(np.max(ratio[..., columns], initial=0.0)))
                      for gate, columns in axes.gate_blocks.items())
    return Localization(worst, steps, gates)


def quantity_axes(spec, inputs: Mapping[str, np.ndarray]) -> dict[str, QuantityAxes]:
    """``{quantity: QuantityAxes}`` of a spec's outputs and gradients (``"output h"``, ``"grad Wx"``) for ``inputs``.

    Time axes come from the spec's contract (input and output layouts),
    gate blocks from its :class:`~oracle.specs.contract.GateLayout`.
    """
    axes: dict[str, QuantityAxes] = {}
    layouts: dict[str, tuple[str, ...]] = {}
    if spec.contract is not None:
        layouts.update({f"grad {name}": tuple(symbols) for name, symbols in spec.contract.layout(inputs).items()})
        layouts.update({f"output {name}": tuple(symbols) for name, symbols in spec.contract.outputs.items()})
    blocks = spec.gates.blocks(inputs) if spec.gates is not None else {}
    for quantity in [*(f"output {name}" for name in spec.outputs), *(f"grad {name}" for name in spec.grads)]:
        symbols = layouts.get(quantity, ())
        time_axis = symbols.index(TIME) if TIME in symbols else None
        gate_blocks = blocks.get(quantity.removeprefix("grad ")) if quantity.startswith("grad ") else None
        if time_axis is not None or gate_blocks is not None:
            axes[quantity] = QuantityAxes(time_axis, gate_blocks)
    return axes
