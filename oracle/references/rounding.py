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

How the runs are drawn and run. By definition the perturbations are one
stream of numpy's PCG64 generator seeded with ``seed``: one double (one 64-bit
output) per perturbed value, run after run, operator after operator, as if the
runs came one after another. Every run perturbs the same operators on tensors
of the same shapes, so each takes the same number ``D`` of doubles, and run
``k``'s draws begin ``k * D`` into the stream. :func:`rounding_spread` runs
the first run counting them; where the tensors are large, it then runs the
plain run and the others :func:`runs_at_once` at a time on threads, run ``k``
from the generator advanced by ``k * D`` (:meth:`numpy.random.PCG64.advance`;
torch's operators and numpy's draws and arithmetic release the GIL, and
torch's dispatch modes are per thread). Otherwise, and should any run take
another number of doubles, the other runs go one after another from the
first run's generator. Either way every run gets the definition's draws and
the runs are combined in their order: the spread is the same, bit for bit,
and does not depend on the machine's CPUs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from oracle.references.finite_diff import as_float64
from oracle.specs.spec import Arrays, Evaluation, LayerSpec
from oracle.specs.tolerances import ROUNDING_RUNS, UNIT_ROUNDOFF

#: The seed of the perturbations by default, so that a verdict is reproducible (part of a stored spread's key).
SPREAD_SEED = 0

#: At most this many perturbed runs at once: each holds the twin's intermediate tensors.
MAX_PARALLEL_RUNS = 8

#: Runs go in parallel only where they perturb this many values per tensor on average. Below it the dispatch in
#: Python, which holds the GIL, takes much of a run's time: two LSTM runs at once, 1 torch thread each on 2 cores,
#: took 1.4 times as long as one after another at 3,000 values a tensor, 1.1 times at 12,000, 0.9 at 24,000.
PARALLEL_MIN_VALUES = 2**14


def shifts_exactly(amplitude: float) -> bool:
    """Whether ``(1 - a) + 2a * d`` equals ``1 + a * (2d - 1)`` in float64 for every draw ``d`` of ``random()``.

    True for a power of two ``a`` from ``2**-53`` to 1: ``d`` is a multiple of
    ``2**-53`` in [0, 1), so ``2d - 1``, ``a * (2d - 1)``, ``2a * d`` and
    ``1 - a`` are all exact, and both sums are one rounding of the same number.
    """
    mantissa, exponent = math.frexp(amplitude)
    return mantissa == 0.5 and -52 <= exponent <= 1


class RoundingNoise(TorchDispatchMode):
    """Multiply every float64 operand and result of every operator by ``1 + amplitude * U(-1, 1)``.

    One double of ``rng`` per perturbed value, as ``rng.uniform(-1, 1)`` takes
    it; for an amplitude that :func:`shifts_exactly` (float32's unit roundoff
    does) the factors are drawn as ``(1 - amplitude) + 2 * amplitude * rng.random()``
    into a buffer kept for the next operator: the same factors, bit for bit,
    with one rounding and no new array each time.

    Parameters
    ----------
    rng
        Source of the perturbations (numpy's generators give the same draws
        on every machine).
    amplitude
        Relative size of each perturbation; float32's unit roundoff by default.

    Attributes
    ----------
    draws
        Values perturbed so far, i.e. doubles taken from ``rng``.
    tensors
        Tensors perturbed so far.
    """

    def __init__(self, rng: np.random.Generator, amplitude: float = UNIT_ROUNDOFF) -> None:
        super().__init__()
        self.rng = rng
        self.amplitude = amplitude
        self.draws = 0
        self.tensors = 0
        self._shifted = shifts_exactly(amplitude)
        self._buffer = np.empty(0)

    def _factors(self, shape: tuple[int, ...], count: int) -> np.ndarray:
        """``count`` factors ``1 + amplitude * U(-1, 1)`` shaped ``shape``, valid until the next call."""
        self.draws += count
        self.tensors += 1
        if not self._shifted:
            factor = np.asarray(self.rng.uniform(-1.0, 1.0, shape))
            factor *= self.amplitude
            factor += 1.0
            return factor
        if self._buffer.size < count:
            self._buffer = np.empty(count)
        factor = self._buffer[:count]
        self.rng.random(out=factor)
        factor *= 2 * self.amplitude
        factor += 1 - self.amplitude
        return factor.reshape(shape)

    def _perturb(self, value: Any) -> Any:
        if not (isinstance(value, torch.Tensor) and value.dtype == torch.float64 and value.device.type == "cpu"
                and value.numel()):
            return value
        # The product is a new tensor, so the factors' buffer is free again when it returns.
        return value * torch.from_numpy(self._factors(tuple(value.shape), value.numel()))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        schema = func._schema
        if schema.is_mutable or any(result.alias_info is not None for result in schema.returns):
            return func(*args, **kwargs)
        args, kwargs = tree_map(self._perturb, (args, kwargs))
        return tree_map(self._perturb, func(*args, **kwargs))


class PerturbedRun(NamedTuple):
    """One run of the twin under :class:`RoundingNoise`."""

    evaluation: Evaluation
    #: Doubles taken from the generator.
    draws: int
    #: Tensors perturbed (operands and results).
    tensors: int


def perturbed_run(twin: Callable[[], Evaluation], rng: np.random.Generator) -> PerturbedRun:
    """``twin()`` under :class:`RoundingNoise` drawing from ``rng``, counting what it draws."""
    noise = RoundingNoise(rng)
    with noise:
        evaluation = twin()
    return PerturbedRun(evaluation, noise.draws, noise.tensors)


def generator_after(seed: int, draws: int) -> np.random.Generator:
    """``np.random.default_rng(seed)`` as it is once ``draws`` doubles are taken (PCG64: one output each)."""
    bit_generator = np.random.PCG64(seed)
    bit_generator.advance(draws)
    return np.random.Generator(bit_generator)


def runs_at_once(first: PerturbedRun) -> int:
    """How many runs like ``first`` to run at once, from 1 to :data:`MAX_PARALLEL_RUNS`.

    The CPUs this process may use per torch thread, where the run's tensors
    are large enough (:data:`PARALLEL_MIN_VALUES`) for its time to be spent
    outside Python; on small tensors threads would only wait for the GIL.
    """
    if not first.tensors or first.draws < PARALLEL_MIN_VALUES * first.tensors:
        return 1
    return max(1, min(usable_cpus() // torch.get_num_threads(), MAX_PARALLEL_RUNS))


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_runs(twin: Callable[[], Evaluation], seed: int, draws: int, runs: range,
                  pool: Executor) -> list[PerturbedRun] | None:
    """The runs ``runs`` of the sequence seeded ``seed``, on ``pool``, if each run takes ``draws`` doubles.

    Run ``k`` draws from the generator advanced by ``k * draws``, which is
    where its draws begin in the sequential order if the runs before it took
    ``draws`` each. ``None`` if some run took another number (then a later run's
    draws would not begin where the sequential ones do).
    """
    futures = [pool.submit(perturbed_run, twin, generator_after(seed, run * draws)) for run in runs]
    done = [future.result() for future in futures]
    return done if all(run.draws == draws for run in done) else None


def rounding_spread(spec: LayerSpec, inputs: Arrays, upstream: Arrays, seed: int = SPREAD_SEED,
                    runs: int = ROUNDING_RUNS) -> tuple[Evaluation, Evaluation]:
    """The twin's float64 result on a case, and each element's spread under float32-sized rounding.

    The first perturbed run counts its draws; the others run :func:`runs_at_once`
    at a time, on threads where that is more than one, each from the generator
    advanced past the runs before it (see the module's docstring): the same
    draws, bit for bit, as one after another. torch's thread count, as the
    caller set it, is each run's.

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

    Raises
    ------
    ValueError
        If ``runs`` is less than 1.
    """
    if runs < 1:
        raise ValueError(f"a rounding spread needs at least one perturbed run, not {runs}")
    inputs64, upstream64 = as_float64(inputs), as_float64(upstream)

    def twin() -> Evaluation:
        return spec.twin(inputs64, upstream64, "cpu")

    rng = np.random.default_rng(seed)
    first = perturbed_run(twin, rng)
    later: list[PerturbedRun] | None = None
    at_once = runs_at_once(first)
    if at_once > 1 and runs > 1:
        with ThreadPoolExecutor(at_once, thread_name_prefix="rounding-spread") as pool:
            plain = pool.submit(twin)
            later = parallel_runs(twin, seed, first.draws, range(1, runs), pool)
            precise = plain.result()
    else:
        precise = twin()
    if later is None:  # one after another from the first run's generator, as the definition goes
        later = [perturbed_run(twin, rng) for _ in range(1, runs)]
    evaluations = [first.evaluation] + [run.evaluation for run in later]
    return precise, Evaluation(rms_deviation(precise.outputs, [run.outputs for run in evaluations]),
                               rms_deviation(precise.grads, [run.grads for run in evaluations]))


def rms_deviation(precise: Arrays, runs: list[Arrays]) -> Arrays:
    """Each array's RMS deviation over ``runs`` from ``precise``, stacked in run order; 0 where not finite."""
    result = {}
    for name, value in precise.items():
        deviations = np.stack([run[name] - value for run in runs])
        with np.errstate(invalid="ignore"):
            rms = np.sqrt(np.mean(np.square(deviations), axis=0))
        result[name] = np.where(np.isfinite(rms), rms, 0.0)
    return result
