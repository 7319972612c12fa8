"""How far float32 rounding can move a layer's results, measured on the float64 twin.

A float32 result can be far from the float64 result and still be right: where
a gradient is a small difference of large terms, the rounding of the terms
is large compared with the difference. How far is "still right" depends on
the problem, not on any one float32 implementation, so it is measured on the
problem: the twin is run in float64 under *Monte Carlo arithmetic* (Parker,
1997; the ``mca`` mode of the verificarlo tool). Every operation the twin
performs, forward and backward (every ATen operator, intercepted with a
:class:`torch.utils._python_dispatch.TorchDispatchMode`), gets its float
operands and its results multiplied by ``1 + u * xi`` with ``xi`` uniform in
``[-1, 1]`` and ``u = 2**-24`` the unit roundoff of float32. That is the
standard model of IEEE-754 arithmetic (each operation is exact on operands
and a result perturbed by at most ``u``), with the perturbations drawn at
random instead of by one machine's evaluation order. Perturbing the operands
of a matrix product or a sum perturbs each of its terms, so the cancellation
inside a long sum shows up in the spread as it does in a float32 sum.

The RMS deviation of :data:`oracle.specs.tolerances.ROUNDING_RUNS` such runs from
the plain float64 result is the *rounding spread* of each output and gradient
element. :mod:`oracle.specs.tolerances` says how it enters the float32 rule.

Operators that return a view or write into an argument are left alone: they
round nothing, and a perturbed copy would break their aliasing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from oracle.references.finite_diff import as_float64
from oracle.specs.spec import Arrays, Evaluation, LayerSpec
from oracle.specs.tolerances import ROUNDING_RUNS, UNIT_ROUNDOFF

#: The seed of the perturbations by default, so that a verdict is reproducible (part of a stored spread's key).
SPREAD_SEED = 0


class RoundingNoise(TorchDispatchMode):
    """Multiply every float64 operand and result of every operator by ``1 + amplitude * U(-1, 1)``.

    Parameters
    ----------
    rng
        Source of the perturbations (numpy's generators give the same draws
        on every machine).
    amplitude
        Relative size of each perturbation; float32's unit roundoff by default.
    """

    def __init__(self, rng: np.random.Generator, amplitude: float = UNIT_ROUNDOFF) -> None:
        super().__init__()
        self.rng = rng
        self.amplitude = amplitude

    def _perturb(self, value: Any) -> Any:
        if not (isinstance(value, torch.Tensor) and value.dtype == torch.float64 and value.device.type == "cpu"
                and value.numel()):
            return value
        # In place, the same operations as 1 + amplitude * U: the same factors, without two temporaries.
        factor = np.asarray(self.rng.uniform(-1.0, 1.0, tuple(value.shape)))
        factor *= self.amplitude
        factor += 1.0
        return value * torch.from_numpy(factor)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        schema = func._schema
        if schema.is_mutable or any(result.alias_info is not None for result in schema.returns):
            return func(*args, **kwargs)
        args, kwargs = tree_map(self._perturb, (args, kwargs))
        return tree_map(self._perturb, func(*args, **kwargs))


def rounding_spread(spec: LayerSpec, inputs: Arrays, upstream: Arrays, seed: int = SPREAD_SEED,
                    runs: int = ROUNDING_RUNS) -> tuple[Evaluation, Evaluation]:
    """The twin's float64 result on a case, and each element's spread under float32-sized rounding.

    Parameters
    ----------
    spec
        The layer; its twin is run on the CPU.
    inputs, upstream
        The case, in any float dtype (cast to float64 first; never modified).
    seed
        Seed of the perturbations, so that a verdict is reproducible.
    runs
        Number of perturbed runs.

    Returns
    -------
    precise : Evaluation
        The twin's plain float64 outputs and gradients.
    spread : Evaluation
        Same names and shapes: the RMS over ``runs`` perturbed float64 runs
        of their deviation from ``precise``, elementwise (0 where a value is
        not finite, so that non-finite values are judged by the row alone).
    """
    inputs64, upstream64 = as_float64(inputs), as_float64(upstream)
    precise = spec.twin(inputs64, upstream64, "cpu")
    rng = np.random.default_rng(seed)
    runs_done = []
    for _ in range(runs):
        with RoundingNoise(rng):
            runs_done.append(spec.twin(inputs64, upstream64, "cpu"))

    def rms_deviation(part: str) -> Arrays:
        result = {}
        for name, value in getattr(precise, part).items():
            deviations = np.stack([getattr(run, part)[name] - value for run in runs_done])
            with np.errstate(invalid="ignore"):
                rms = np.sqrt(np.mean(np.square(deviations), axis=0))
            result[name] = np.where(np.isfinite(rms), rms, 0.0)
        return result

    return precise, Evaluation(rms_deviation("outputs"), rms_deviation("grads"))
