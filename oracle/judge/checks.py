"""One case of one layer: run impl, run its twin, compare. Shared by the tests and the audit."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from oracle.judge.compare import Comparison, compare_evaluations
from oracle.judge.directional import DirectionalDerivatives, FiniteDifferences, compare_directional, element_slice
from oracle.judge.localize import quantity_axes
from oracle.references.store import rounding_staged, twin_result
from oracle.specs.sources import InputSource
from oracle.specs.spec import (
    CALL_ERRORS,
    Arrays,
    Evaluation,
    LayerSpec,
    changed,
    copies,
    make_upstream,
    run_backward,
    run_forward,
)
from oracle.specs.tolerances import TOLERANCES, Tolerance, finite_difference_tolerance

if TYPE_CHECKING:
    from oracle.references.rounding import StagedSpread


def spec_tolerance(spec: LayerSpec, row: str) -> Tolerance:
    """Row ``row`` of the tolerance table, or the spec's override of it."""
    return spec.tolerances.get(row, TOLERANCES[row])


def float_dtype(inputs: Arrays) -> np.dtype:
    """The floating dtype of a case (the dtype of its float inputs)."""
    dtypes = {array.dtype for array in inputs.values() if np.issubdtype(array.dtype, np.floating)}
    if len(dtypes) != 1:
        raise ValueError(f"a case must have exactly one float dtype, found {sorted(map(str, dtypes))}")
    return dtypes.pop()


@dataclass(frozen=True)
class Case:
    """Inputs, upstream gradients and impl's results for one generated example.

    ``inputs`` and ``upstream`` are the arrays as drawn: impl was given copies,
    so a layer that writes into its arguments never changes what the
    references see. ``mutated`` lists the arguments impl changed, as
    ``(kind, name)`` with kind ``"input"`` or ``"upstream gradient"``.
    ``backward_error``: what the backward pass raised, when the forward pass
    is judged alone (``result`` then has no gradients).
    """

    spec: LayerSpec
    inputs: Arrays
    upstream: Arrays
    result: Evaluation
    mutated: tuple[tuple[str, str], ...] = ()
    backward_error: BaseException | None = None

    @property
    def dtype(self) -> np.dtype:
        return float_dtype(self.inputs)

    def describe(self) -> str:
        """Layer, dtype and every input's shape, for failure messages and reproduction."""
        shapes = ", ".join(f"{name}{tuple(array.shape)}" for name, array in self.inputs.items())
        return f"layer {self.spec.name}, dtype {self.dtype}, inputs {shapes}"


_STAGE_NOTE = "rnn-oracle stage: "


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Tag an exception raised inside with the stage (``"forward"``, ``"backward"``) it came from."""
    try:
        yield
    except CALL_ERRORS as error:
        error.add_note(_STAGE_NOTE + name)
        raise


def stage_of(error: BaseException, default: str) -> str:
    """The stage :func:`stage` tagged ``error`` with, else ``default``."""
    notes = [note for note in getattr(error, "__notes__", []) if note.startswith(_STAGE_NOTE)]
    return notes[-1].removeprefix(_STAGE_NOTE) if notes else default


def run_case(spec: LayerSpec, source: InputSource, dtype: np.dtype, keep_forward: bool = False) -> Case:
    """Draw inputs and upstream gradients from ``source`` and run impl forward and backward on copies of them.

    ``keep_forward``: a backward pass that raises gives a case with the forward's results and
    ``backward_error`` (so the forward is still judged) instead of raising.
    """
    inputs = spec.make_inputs(source, np.dtype(dtype))
    given = copies(inputs)
    with stage("forward"):
        outputs, state = run_forward(spec, given)
    mutated = [("input", name) for name in changed(inputs, given)]
    # In the case's dtype, whatever the forward returned: a promoting forward must not make a right backward fail.
    upstream = make_upstream(spec, outputs, source, np.dtype(dtype))
    given_upstream = copies(upstream)
    try:
        with stage("backward"):
            grads = run_backward(spec, given_upstream, state)
    except CALL_ERRORS as error:
        if not keep_forward:
            raise
        return Case(spec, inputs, upstream, Evaluation(outputs, {}), tuple(mutated), backward_error=error)
    mutated += [("upstream gradient", name) for name in changed(upstream, given_upstream)]
    return Case(spec, inputs, upstream, Evaluation(outputs, grads), tuple(mutated))


def placeholders(comparisons: list[Comparison], result: Evaluation, expected: Evaluation) -> list[Comparison]:
    """``comparisons``, those of a placeholder left as it was marked ``not_implemented``.

    When every output (or every gradient) of ``result`` is all zeros and the
    reference's are not, the function returned its placeholder (``np.zeros``
    of the right shape, still a stub): its failed comparisons of that kind get
    the cause ``"not_implemented"`` and say so.
    """
    marked = set()
    for kind, actual, reference in (("output", result.outputs, expected.outputs),
                                    ("grad", result.grads, expected.grads)):
        values = [np.asarray(value) for value in actual.values()]
        if (values and all(value.dtype.kind in "biufc" and not np.any(value) for value in values)
                and any(np.any(np.asarray(value)) for value in reference.values())):
            marked.add(kind)
    return [replace(comparison, cause="not_implemented",
                    problem=f"{comparison.problem}; every {comparison.quantity.split()[0]} is all zeros where the "
                            "reference's are not: a placeholder left as it was")
            if not comparison.passed and comparison.quantity.split()[0] in marked else comparison
            for comparison in comparisons]


#: The reference of the comparisons that say whether impl left its arguments alone.
ARGUMENTS = "its arguments"


def mutation_comparisons(case: Case) -> list[Comparison]:
    """One failed comparison per argument impl modified in place (none when it left them all alone)."""
    tolerance = spec_tolerance(case.spec, case.dtype.name)
    drawn = {"input": case.inputs, "upstream gradient": case.upstream}
    return [Comparison.unmeasured(case.spec.name, f"{kind} {name} unchanged", case.dtype.name, ARGUMENTS,
                                  np.shape(drawn[kind][name]), tolerance,
                                  f"modified its {kind} {name!r} in place (the caller's array)")
            for kind, name in case.mutated]


def torch_name(device: str) -> str:
    """Subject/reference name of the torch twin on ``device`` in comparisons and reports, e.g. ``"torch[cpu]"``."""
    return f"torch[{device}]"


def against_twin(case: Case, device: str = "cpu") -> list[Comparison]:
    """Compare every output and gradient of ``case`` with the torch twin run in the same dtype."""
    return twin_comparisons(case.spec, case.inputs, case.upstream, case.result, device)


def finite_disagreement(comparisons: list[Comparison]) -> bool:
    """Whether a comparison failed on values it measured (finite errors): what a larger spread might accept."""
    return any(not c.passed and np.isfinite(c.max_abs) for c in comparisons)


class RoundingRule:
    """The float32 rounding rule's reference for one case (:mod:`oracle.specs.tolerances`), computed when needed.

    ``rule.needed(comparisons)`` says whether some float32 value fell outside
    its tolerance row (a finite disagreement in a float32 case). ``rule.settle``
    then judges the comparisons against the twin's float64 result and each
    element's rounding spread (:func:`oracle.references.rounding.rounding_spread`),
    with only as many of the spread's perturbed runs as the verdict needs:
    the runs are made a stage at a time (:func:`oracle.references.store.rounding_staged`,
    kept in the reference store for the case's other comparisons), and the spread of
    the runs made so far is a lower bound of the full spread, so a value within
    what the bound allows is within what the full spread allows.
    """

    def __init__(self, spec: LayerSpec, inputs: Arrays, upstream: Arrays) -> None:
        self._spec, self._inputs, self._upstream = spec, inputs, upstream
        self._float32 = float_dtype(inputs) == np.float32
        self._staged: StagedSpread | None = None

    def needed(self, comparisons: list[Comparison]) -> bool:
        return self._float32 and finite_disagreement(comparisons)

    def _spread_stages(self) -> StagedSpread:
        if self._staged is None:
            self._staged = rounding_staged(self._spec, self._inputs, self._upstream)
        return self._staged

    @property
    def precise(self) -> Evaluation:
        """The twin's float64 outputs and gradients."""
        return self._spread_stages().precise

    @property
    def spread(self) -> Evaluation:
        """Each element's rounding spread, all its runs made."""
        return self._spread_stages().spread()

    def settle(self, compare: Callable[[Evaluation], list[Comparison]]) -> list[Comparison]:
        """``compare(spread)`` with the spread of the first stages, as many as it takes for every value to pass.

        Each stage adds runs until a comparison's values all pass (and
        then pass with the full spread too), or all the runs are made: a
        comparison that fails, fails against the full spread, its evidence
        the same as with every run made at once. A passing one accepted
        against a partial spread says so in its note.
        """
        staged = self._spread_stages()
        for count in range(1, len(staged.stages)):
            found = compare(staged.spread(count))
            if not finite_disagreement(found):
                runs = staged.stages[count - 1].stop
                return [replace(c, note=f"{c.note} (the spread of the first {runs} of its {staged.runs} perturbed "
                                        "runs: a lower bound, so the full spread allows at least as much)")
                        if c.note else c for c in found]
        return compare(staged.spread())

    def judge(self, compare: Callable[[Evaluation | None], list[Comparison]]) -> list[Comparison]:
        """``compare(None)`` (the tolerance rows alone), settled by the rule where it is needed (:meth:`settle`)."""
        found = compare(None)
        return self.settle(compare) if self.needed(found) else found


def twin_comparisons(spec: LayerSpec, inputs: Arrays, upstream: Arrays, result: Evaluation, device: str = "cpu",
                     expected: Evaluation | None = None,
                     view: Callable[[Evaluation], Evaluation] = lambda evaluation: evaluation) -> list[Comparison]:
    """Compare impl's ``result`` on ``inputs`` with the twin's, under the tolerance of the inputs' dtype.

    ``expected`` is the twin's evaluation when already computed; ``view`` maps a twin evaluation onto
    what ``result`` holds (e.g. a slice of a padded case). Where a float32 value falls outside the
    tolerance, the twin is also run in float64 on the CPU, plainly and under rounding noise, and the
    float32 rounding rule of :func:`oracle.judge.compare.compare_arrays` decides: impl passes if its distance
    from the float64 result is what float32 rounding of this problem can explain. float64 results have
    no such rule.
    """
    dtype = float_dtype(inputs)
    expected = view(twin_result(spec, inputs, upstream, device) if expected is None else expected)
    tolerance = spec_tolerance(spec, dtype.name)
    label = torch_name(device)
    axes = quantity_axes(spec, inputs)
    rule = RoundingRule(spec, inputs, upstream)

    def compare(spread: Evaluation | None) -> list[Comparison]:
        return compare_evaluations(result, expected, tolerance, layer=spec.name, reference=label, axes=axes,
                                   precise=None if spread is None else view(rule.precise),
                                   spread=None if spread is None else view(spread))

    return rule.judge(compare)


def against_finite_differences(case: Case, numeric: FiniteDifferences,
                               suspects: Arrays | None = None) -> list[Comparison]:
    """Compare the gradients of ``case`` with float64 finite differences (values only, not dtype).

    ``numeric`` holds element-wise gradients or, for large inputs, directional derivatives
    (:func:`oracle.judge.directional.finite_differences`). A float32 value outside the tolerance is judged by
    the float32 rounding rule against the finite difference (which is a float64 result), as
    :func:`twin_comparisons` judges it against the float64 twin. A failed directional check is followed by
    element-wise differences on the elements where the gradient and ``suspects`` (the other oracle's
    gradients) differ most, which locate the error.
    """
    tolerance = finite_difference_tolerance(case.dtype)
    if "finite_difference" in case.spec.tolerances:
        tolerance = spec_tolerance(case.spec, "finite_difference").loosest(tolerance)
    rule = RoundingRule(case.spec, case.inputs, case.upstream)
    # Element-wise references, and a placeholder of its input's shape for a directional one whose gradient
    # the result lacks (compare_evaluations reports it missing).
    elementwise = {name: reference if isinstance(reference, np.ndarray) else np.zeros(reference.directions[0].shape)
                   for name, reference in numeric.items()
                   if isinstance(reference, np.ndarray) or name not in case.result.grads}

    def compare(rounding: Evaluation | None) -> list[Comparison]:
        return compare_evaluations(Evaluation({}, case.result.grads), Evaluation({}, elementwise), tolerance,
                                   layer=case.spec.name, reference="finite_difference", check_dtype=False,
                                   axes=quantity_axes(case.spec, case.inputs),
                                   precise=None if rounding is None else Evaluation({}, elementwise), spread=rounding)

    # The float32 rounding rule, against the float64 finite differences (see oracle.specs.tolerances).
    comparisons = rule.judge(compare)
    for name, reference in numeric.items():
        if isinstance(reference, np.ndarray) or name in elementwise:  # compared above
            continue
        grad = case.result.grads[name]
        comparison = directional_comparison(case, name, reference, tolerance, rule)
        if not comparison.passed and np.isfinite(comparison.max_abs):
            text, where = element_slice(case.spec, case.inputs, case.upstream, name, grad, tolerance,
                                        None if suspects is None else suspects.get(name))
            comparison = replace(comparison, problem=f"{comparison.problem}; {text}", localization=where)
        comparisons.append(comparison)
    return comparisons


def directional_comparison(case: Case, name: str, derivatives: DirectionalDerivatives, tolerance: Tolerance,
                           rule: RoundingRule) -> Comparison:
    """Compare the gradient ``name`` of ``case`` along ``derivatives``' directions, a float32 one under ``rule``."""

    def compare(spread: Evaluation | None) -> list[Comparison]:
        return [compare_directional(case.result.grads[name], derivatives, tolerance, layer=case.spec.name,
                                    quantity=f"grad {name}", reference="finite_difference",
                                    spread=None if spread is None else spread.grads[name])]

    return rule.judge(compare)[0]


def failures_report(case: Case, comparisons: list[Comparison]) -> str:
    """A message listing the failed comparisons of ``case``, or ``""`` when all passed."""
    failed = [comparison.describe() for comparison in comparisons if not comparison.passed]
    if not failed:
        return ""
    return f"{case.describe()}\n  " + "\n  ".join(failed)
