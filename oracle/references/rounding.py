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
``(-1, 1)`` and ``u = 2**-24`` the unit roundoff of float32. That is the
standard model of IEEE-754 arithmetic (each operation is exact on operands
and a result perturbed by at most ``u``), with the perturbations drawn at
random instead of by one machine's evaluation order. Perturbing the operands
of a matrix product or a sum perturbs each of its terms, so the cancellation
inside a long sum shows up in the spread as it does in a float32 sum.

The RMS deviation of :data:`oracle.specs.tolerances.ROUNDING_RUNS` such runs from
the plain float64 result is the *rounding spread* of each output and gradient
element: ``s = sqrt(sum_k d_k**2 / ROUNDING_RUNS)``, where a run's squared
deviation ``d_k**2`` counts as 0 at an element where it is not finite (where
the plain result is not finite, ``s`` is therefore 0, and the value is judged
by its tolerance row alone). :mod:`oracle.specs.tolerances` says how it enters
the float32 rule.

A spread made a stage at a time. Every term of the sum is 0 or more, so the
sum over the runs made so far, divided by the number of all the runs, is a
lower bound of ``s**2`` that only grows as runs are added
(:func:`spread_of`). The rule allows more for a larger ``s``, so a value within
what that bound allows is within what ``s`` allows: the judge
(:class:`oracle.judge.checks.RoundingRule`) makes the runs
:data:`RUNS_PER_STAGE` at a time (:class:`StagedSpread`) and stops once every
value it judges passes, or all are made. A verdict is the full spread's, and
a failure's evidence too, which is always computed with every run.

Operators that return a view or write into an argument are left alone: they
round nothing, and a perturbed copy would break their aliasing.

How the perturbations are drawn. By definition they are one stream of
numpy's PCG64 generator seeded with ``seed``, run after run, operator after
operator, as if the runs came one after another. A tensor of ``n`` values
takes the next ``ceil(n / 4)`` 64-bit outputs, and value ``i`` the 16-bit
field ``i % 4`` (lowest first) of output ``i // 4``, read as a signed integer
``k``, with its lowest bit set: ``xi = (k | 1) / 2**15``. That is uniform on
the 32,768 odd multiples of ``2**-15`` in ``(-1, 1)``: symmetric, of mean 0
and variance ``(1 - 2**-30) / 3``, against ``1 / 3`` for the continuous
uniform, so the spread is the same up to its sampling error. Four values
take one output, not a double each, because the generator's work would
otherwise be most of a run's time on large tensors (a run of the large LSTM
audit perturbs 186 million values). For ``u`` a power of two from ``2**-37``
to 1, ``1 + u * xi`` is exact in float64.

How the runs are run. Every run perturbs the same operators on tensors of
the same shapes, so each takes the same number ``D`` of outputs, and run
``k``'s begin ``k * D`` into the stream. :func:`plain_run` runs the twin
under the mode with nothing perturbed, counting ``D`` (that run is the plain
run, whose result the spread is measured from: the mode passes every value
through unchanged). Where the tensors are large, :func:`next_stage` then runs
a stage's perturbed runs :func:`runs_at_once` at a time on threads, run ``k``
from the generator advanced by ``k * D`` (:meth:`numpy.random.PCG64.advance`;
torch's operators and numpy's draws and arithmetic release the GIL, and
torch's dispatch modes are per thread). Otherwise, and should any run take
another number of outputs, the stage's runs go one after another from the
generator advanced to where the runs before them ended. Either way every run
gets the definition's draws and the squares are added in the runs' order:
the spread is the same, bit for bit, however many stages are made at once
and on whatever CPUs (the fields are read as little-endian on every
machine).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
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

#: Perturbed runs made at a time, as far as a verdict needs them (:class:`oracle.judge.checks.RoundingRule`). Two:
#: a verdict that needs 2 more runs does not wait for 4, and 2 at a time keep 2 CPUs busy. The large LSTM audit's
#: float32 cases settled after 10 and 6 runs with stages of 2, after 12 and 8 with stages of 4.
RUNS_PER_STAGE = 2

#: Runs go in parallel only where they perturb this many values per tensor on average. Below it the dispatch in
#: Python, which holds the GIL, takes much of a run's time: two LSTM runs at once, 1 torch thread each on 2 cores,
#: took 1.4 times as long as one after another at 3,000 values a tensor, 1.1 times at 12,000, 0.9 at 24,000.
PARALLEL_MIN_VALUES = 2**14


#: Perturbed values per 64-bit output of the generator: one 16-bit field each (see the module's docstring).
VALUES_PER_OUTPUT = 4

#: ``xi`` is an odd 16-bit integer times this.
FIELD_UNIT = 2.0**-15


def outputs_for(values: int) -> int:
    """64-bit generator outputs that ``values`` perturbed values take: ``ceil(values / 4)``."""
    return -(-values // VALUES_PER_OUTPUT)


def odd_fields(outputs: np.ndarray, values: int) -> np.ndarray:
    """The first ``values`` signed 16-bit fields of ``outputs`` (uint64), lowest first, each with its lowest bit set.

    Made in place where the machine is little-endian: ``outputs`` is then overwritten.
    """
    fields = outputs.astype("<u8", copy=False).view("<i2")[:values]
    np.bitwise_or(fields, 1, out=fields)
    return fields


#: Outputs drawn at once for tensors of up to this many outputs, which then take theirs from the block in turn.
BLOCK_OUTPUTS = 2**14


def map_leaves(function: Callable[[Any], Any], value: Any) -> Any:
    """``torch.utils._pytree.tree_map(function, value)``, the same leaves in the same order, faster on plain containers.

    An operator's arguments are tuples, lists and dicts of tensors and
    scalars: this walks those itself and leaves any other container
    (a named tuple, an ordered dict) to ``tree_map``.
    """
    kind = type(value)
    if kind is tuple or kind is list:
        return kind(map_leaves(function, item) for item in value)
    if kind is dict:
        return {key: map_leaves(function, item) for key, item in value.items()}
    if isinstance(value, (tuple, list, dict)):
        return tree_map(function, value)
    return function(value)


class RoundingNoise(TorchDispatchMode):
    """Multiply every float64 operand and result of every operator by ``1 + amplitude * xi``.

    ``xi`` uniform on the odd multiples of ``2**-15`` in ``(-1, 1)``, a 16-bit
    field of ``rng``'s outputs per perturbed value (see the module's
    docstring). The factors of a large tensor go into a buffer kept for the
    next one; a small tensor takes its outputs' factors from a block of
    :data:`BLOCK_OUTPUTS` outputs drawn and scaled at once, the next tensor
    the outputs after them. Either way each tensor gets the outputs the
    definition gives it, and when the mode is left the generator stands
    where the draws of the definition end, not at the end of the block.

    Parameters
    ----------
    rng
        Source of the perturbations: its bit generator's raw outputs (numpy's
        generators give the same outputs on every machine). A PCG64 one
        (``np.random.default_rng``), whose ``advance`` puts it back after a block.
        ``None``: nothing is perturbed or drawn; the mode only counts what it would
        draw.
    amplitude
        Relative size of each perturbation; float32's unit roundoff by default.

    Attributes
    ----------
    draws
        64-bit outputs taken from ``rng`` so far (or that would have been).
    values
        Values perturbed so far (or that would have been).
    tensors
        Tensors perturbed so far (or that would have been).
    """

    def __init__(self, rng: np.random.Generator | None, amplitude: float = UNIT_ROUNDOFF) -> None:
        super().__init__()
        self.rng = rng
        self.amplitude = amplitude
        self.draws = 0
        self.values = 0
        self.tensors = 0
        self._buffer = np.empty(0)
        self._block = np.empty(0)  # factors of the block's outputs, VALUES_PER_OUTPUT per output
        self._block_used = 0  # outputs of the block given out
        self._block_state: Mapping[str, Any] | None = None  # the generator's state before the block

    def _settle(self) -> None:
        """Put the generator after the block's outputs given out, and forget the block."""
        if self._block_state is not None and self.rng is not None:
            bit_generator = self.rng.bit_generator
            bit_generator.state = self._block_state
            bit_generator.advance(self._block_used)  # type: ignore[attr-defined]
            self._block_state, self._block, self._block_used = None, np.empty(0), 0

    def _scaled(self, outputs: np.ndarray, count: int, out: np.ndarray) -> np.ndarray:
        """The factors ``1 + amplitude * xi`` of the first ``count`` values of ``outputs``, into ``out``."""
        np.multiply(odd_fields(outputs, count), self.amplitude * FIELD_UNIT, out=out)
        out += 1.0
        return out

    def _count(self, count: int) -> int:
        """Count a tensor of ``count`` values; the outputs it takes."""
        outputs = outputs_for(count)
        self.draws += outputs
        self.values += count
        self.tensors += 1
        return outputs

    def _factors(self, shape: tuple[int, ...]) -> np.ndarray:
        """Factors ``1 + amplitude * xi`` shaped ``shape``, valid until the next call."""
        assert self.rng is not None
        count = math.prod(shape)
        outputs = self._count(count)
        if outputs > BLOCK_OUTPUTS:
            self._settle()
            if self._buffer.size < count:
                self._buffer = np.empty(count)
            factor = self._scaled(self.rng.bit_generator.random_raw(outputs), count, self._buffer[:count])
            return factor.reshape(shape)
        if self._block_used + outputs > BLOCK_OUTPUTS or self._block_state is None:
            self._settle()
            self._block_state = self.rng.bit_generator.state
            size = VALUES_PER_OUTPUT * BLOCK_OUTPUTS
            self._block = self._scaled(self.rng.bit_generator.random_raw(BLOCK_OUTPUTS), size, np.empty(size))
        start = VALUES_PER_OUTPUT * self._block_used
        self._block_used += outputs
        return self._block[start : start + count].reshape(shape)

    def _perturb(self, value: Any) -> Any:
        if not (isinstance(value, torch.Tensor) and value.dtype == torch.float64 and value.device.type == "cpu"
                and value.numel()):
            return value
        if self.rng is None:
            self._count(value.numel())
            return value
        # The product is a new tensor, so the factors' buffer is free again when it returns.
        return value * torch.from_numpy(self._factors(tuple(value.shape)))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        schema = func._schema
        if schema.is_mutable or any(result.alias_info is not None for result in schema.returns):
            return func(*args, **kwargs)
        args, kwargs = map_leaves(self._perturb, args), map_leaves(self._perturb, kwargs)
        return map_leaves(self._perturb, func(*args, **kwargs))

    def __exit__(self, *exc_info: Any) -> Any:
        self._settle()
        return super().__exit__(*exc_info)


class PerturbedRun(NamedTuple):
    """One run of the twin under :class:`RoundingNoise`."""

    evaluation: Evaluation
    #: 64-bit outputs taken from the generator.
    draws: int
    #: Values perturbed.
    values: int
    #: Tensors perturbed (operands and results).
    tensors: int


def perturbed_run(twin: Callable[[], Evaluation], rng: np.random.Generator | None) -> PerturbedRun:
    """``twin()`` under :class:`RoundingNoise` drawing from ``rng``, counting what it draws.

    ``rng=None``: the plain run, nothing perturbed, counting what a perturbed run would draw.
    """
    noise = RoundingNoise(rng)
    with noise:
        evaluation = twin()
    return PerturbedRun(evaluation, noise.draws, noise.values, noise.tensors)


def generator_after(seed: int, draws: int) -> np.random.Generator:
    """``np.random.default_rng(seed)`` as it is once ``draws`` 64-bit outputs are taken."""
    bit_generator = np.random.PCG64(seed)
    bit_generator.advance(draws)
    return np.random.Generator(bit_generator)


def runs_at_once(first: PerturbedRun) -> int:
    """How many runs like ``first`` to run at once, from 1 to :data:`MAX_PARALLEL_RUNS`.

    The CPUs this process may use per torch thread, where the run's tensors
    are large enough (:data:`PARALLEL_MIN_VALUES`) for its time to be spent
    outside Python; on small tensors threads would only wait for the GIL.
    """
    if not first.tensors or first.values < PARALLEL_MIN_VALUES * first.tensors:
        return 1
    return max(1, min(usable_cpus() // torch.get_num_threads(), MAX_PARALLEL_RUNS))


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_runs(twin: Callable[[], Evaluation], seed: int, start: int, draws: int, count: int,
                  pool: Executor) -> list[PerturbedRun] | None:
    """``count`` runs whose draws begin ``start`` outputs into the sequence seeded ``seed``, on ``pool``.

    Run ``i`` draws from the generator advanced by ``start + i * draws``, which is
    where its draws begin in the sequential order if the runs before it took
    ``draws`` each. ``None`` if some run took another number (then a later run's
    draws would not begin where the sequential ones do).
    """
    futures = [pool.submit(perturbed_run, twin, generator_after(seed, start + run * draws)) for run in range(count)]
    done = [future.result() for future in futures]
    return done if all(run.draws == draws for run in done) else None


class Stage(NamedTuple):
    """The perturbed runs of a spread made so far, a stage of :data:`RUNS_PER_STAGE` at a time."""

    #: Each element's sum, over the runs so far in their order, of the squared deviation from the plain result
    #: (a run's term counts where it is finite, see :func:`add_squares`).
    squares: Evaluation
    #: Runs so far.
    runs: int
    #: 64-bit outputs the runs so far took: where the next run's draws begin.
    position: int


def stages(runs: int = ROUNDING_RUNS) -> list[range]:
    """The runs of each stage: :data:`RUNS_PER_STAGE` at a time, the last stage the rest."""
    return [range(first, min(first + RUNS_PER_STAGE, runs)) for first in range(0, runs, RUNS_PER_STAGE)]


def float64_twin(spec: LayerSpec, inputs: Arrays, upstream: Arrays) -> Callable[[], Evaluation]:
    """A function that runs the twin on the CPU on the case cast to float64 (cast once)."""
    inputs64, upstream64 = as_float64(inputs), as_float64(upstream)
    return lambda: spec.twin(inputs64, upstream64, "cpu")


def plain_run(spec: LayerSpec, inputs: Arrays, upstream: Arrays) -> PerturbedRun:
    """The twin's plain float64 run on a case, counting what a perturbed run draws (``rng=None``)."""
    return perturbed_run(float64_twin(spec, inputs, upstream), None)


def next_stage(spec: LayerSpec, inputs: Arrays, upstream: Arrays, plain: PerturbedRun, before: Stage | None,
               runs: range, seed: int = SPREAD_SEED) -> Stage:
    """``before`` (``None``: no run yet) with the perturbed runs ``runs`` added, the next ones in the sequence.

    They run :func:`runs_at_once` at a time, on threads where that is more
    than one, each from the generator advanced to where its draws begin, or
    one after another from where the runs before them ended should one take
    another number of outputs than ``plain`` counted: either way, the draws
    of the definition (see the module's docstring). torch's thread count, as
    the caller set it, is each run's.
    """
    assert runs.start == (0 if before is None else before.runs), "stages follow one another"
    twin = float64_twin(spec, inputs, upstream)
    start = 0 if before is None else before.position
    done: list[PerturbedRun] | None = None
    at_once = min(runs_at_once(plain), len(runs))
    if at_once > 1:
        with ThreadPoolExecutor(at_once, thread_name_prefix="rounding-spread") as pool:
            done = parallel_runs(twin, seed, start, plain.draws, len(runs), pool)
    if done is None:  # one after another from where the runs before ended, as the definition goes
        rng = generator_after(seed, start)
        done = [perturbed_run(twin, rng) for _ in runs]
    precise, evaluations = plain.evaluation, [run.evaluation for run in done]
    squares = Evaluation(
        add_squares(precise.outputs, None if before is None else before.squares.outputs,
                    [run.outputs for run in evaluations]),
        add_squares(precise.grads, None if before is None else before.squares.grads,
                    [run.grads for run in evaluations]))
    return Stage(squares, runs.stop, start + sum(run.draws for run in done))


def add_squares(precise: Arrays, before: Arrays | None, runs: list[Arrays]) -> Arrays:
    """``before`` (or nothing) plus each run's squared deviation from ``precise``, added in run order.

    A run's term is 0 where it is not finite (the precise value or the run's
    is not, or the square overflows): the sums only grow from run to run.
    """
    result = {}
    for name, value in precise.items():
        total = None if before is None else before[name]
        for run in runs:
            with np.errstate(invalid="ignore", over="ignore"):
                square = np.square(run[name] - value)
            square = np.where(np.isfinite(square), square, 0.0)
            total = square if total is None else total + square
        result[name] = np.asarray(total)
    return result


def spread_of(stage: Stage, runs: int = ROUNDING_RUNS) -> Evaluation:
    """``sqrt(squares / runs)`` of ``stage``: the spread of ``runs`` runs once it holds them all, else a lower bound.

    Each run adds a term of 0 or more to the sums, so the spread of the runs
    made so far, over the number of all of them, can only grow as runs are added.
    """
    def spread(squares: Arrays) -> Arrays:
        return {name: np.asarray(np.sqrt(total / runs)) for name, total in squares.items()}

    return Evaluation(spread(stage.squares.outputs), spread(stage.squares.grads))


class StagedSpread:
    """A case's precise result and rounding spread, the runs made a stage at a time, only as far as asked.

    Parameters
    ----------
    plain
        Makes the plain run (:func:`plain_run`), once, when first needed.
    stage
        ``stage(plain, before, runs)``: ``before`` with the runs ``runs`` added (:func:`next_stage`).
    runs
        Perturbed runs of the full spread.
    """

    def __init__(self, plain: Callable[[], PerturbedRun],
                 stage: Callable[[PerturbedRun, Stage | None, range], Stage], runs: int = ROUNDING_RUNS) -> None:
        if runs < 1:
            raise ValueError(f"a rounding spread needs at least one perturbed run, not {runs}")
        self._plain, self._stage, self.runs = plain, stage, runs
        self._made: PerturbedRun | None = None
        self._stages: list[Stage] = []
        #: The runs of each stage.
        self.stages = stages(runs)

    @property
    def precise(self) -> Evaluation:
        """The twin's plain float64 outputs and gradients."""
        return self._plain_run().evaluation

    def _plain_run(self) -> PerturbedRun:
        if self._made is None:
            self._made = self._plain()
        return self._made

    def spread(self, stage_count: int | None = None) -> Evaluation:
        """The spread of the runs of the first ``stage_count`` stages (all by default) over :attr:`runs`.

        The spread itself once they are all made; before, a lower bound of it,
        element by element (:func:`spread_of`). Stages not made yet are made.
        """
        count = len(self.stages) if stage_count is None else stage_count
        if not 1 <= count <= len(self.stages):
            raise ValueError(f"a spread of {count} stages, where there are 1 to {len(self.stages)}")
        while len(self._stages) < count:
            before = self._stages[-1] if self._stages else None
            self._stages.append(self._stage(self._plain_run(), before, self.stages[len(self._stages)]))
        return spread_of(self._stages[count - 1], self.runs)


def rounding_spread(spec: LayerSpec, inputs: Arrays, upstream: Arrays, seed: int = SPREAD_SEED,
                    runs: int = ROUNDING_RUNS) -> tuple[Evaluation, Evaluation]:
    """The twin's float64 result on a case, and each element's spread under float32-sized rounding.

    The plain run (:func:`plain_run`), then every stage (:func:`next_stage`): :class:`StagedSpread`.

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
        Same names and shapes: the root of the mean over ``runs`` perturbed
        float64 runs of their squared deviation from ``precise``, elementwise,
        where a run's deviation counts as 0 where it is not finite (so that
        a value that is not finite is judged by the row alone).

    Raises
    ------
    ValueError
        If ``runs`` is less than 1.
    """
    staged = StagedSpread(lambda: plain_run(spec, inputs, upstream),
                          lambda plain, before, batch: next_stage(spec, inputs, upstream, plain, before, batch, seed),
                          runs)
    return staged.precise, staged.spread()
