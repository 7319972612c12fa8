"""Likely causes: the known mistakes (:mod:`oracle.specs.mistakes`) that reproduce a finding exactly.

After the verdicts (:mod:`oracle.judge.verdicts`), every function with a
``wrong_value`` finding in a dtype is explained, or not, from its spec's
error models (:attr:`oracle.specs.spec.LayerSpec.mistakes`):

1. **The cases.** Every case of that dtype on which the function returned a
   result (the drawn cases, recorded by the audit: :attr:`oracle.judge.audit.LayerRun.records`)
   and its minimal case (:mod:`oracle.judge.shrink`), run once more. Its
   quantities: the outputs of a forward function, the gradients of a
   backward function, both for a loss, the greedy captions for sampling.
2. **One model.** Each model of the function is run on every case (on the
   float64 inputs, :mod:`oracle.specs.mistakes` says how) and compared with the
   user's result under the audit's own rule: the dtype's tolerance row, and
   for float32 the rounding rule against the variant's float64 result with
   the rounding spread of the correct computation at that case
   (:mod:`oracle.specs.tolerances`), never a float32 run of the variant.
   Captions must be equal word for word (a decode that stops at
   ``<END>`` and pads with ``<NULL>`` counts as equal, as in the audit;
   a near-tie is not forgiven: that can only hide a cause, never make one).
   A model that agrees on every case is a likely cause. All such are listed.
3. **Two models.** When none agrees alone, every pair of models of the
   function that share their variant (:meth:`~oracle.specs.mistakes.ErrorModel.composes_with`)
   is tried together.
4. **The target's own step functions.** A sequence model (one with
   ``step``) is also run on the target's own step functions, bound as the
   loop-of-steps relation binds them, when those have a finding of their
   own: the sequence equal to the plain loop of them is *inherited*,
   ``inherited.lstm_step_backward`` ("fix it first", with the step's own
   cause in the text when it has one); a model that agrees only there is
   that mistake on top of the wrong step, the pair with the step's cause
   (``lstm.h_not_carried+lstm_step.dwh_uses_next_h``), or with
   ``inherited.lstm_step_backward`` when the step's mistake is not known. Steps are explained
   before their sequences (the registry's order). A sequence written
   without calling its step functions, with a step mistake copied into it,
   is not run this way: its pair is not found.
   Why the spread of the *correct* computation: the rounding rule bounds how
   far any float32 evaluation of a computation may be from its float64
   value by the problem's sensitivity at these inputs, which Monte Carlo
   arithmetic samples on the twin (:mod:`oracle.specs.tolerances`). A
   variant is the same computation with a term dropped, moved or scaled: its
   sums have the same terms or fewer, of the same sizes, so its rounding is
   of the same size, and no float32 run (the variant's or another
   implementation's) decides. Where a variant is less well conditioned than
   the reference, the allowance is too tight and the cause is missed, never
   invented; a different mistake is off by a fixed fraction of the value,
   many spreads, as a wrong formula is for the audit itself. Every float32
   case must agree, as every float64 case must agree under its tight row.
5. **A wrong forward pass.** A backward function whose gradients are the
   exact gradient of the target's own forward pass (they agreed with the
   finite differences of that forward pass on every case) while the forward
   pass is wrong is *inherited* from it: "fix ``lstm_forward`` first". So is
   one whose gradients are the reference's on every case (they agreed with
   the twin), whose finding is only that they are not the gradient of the
   wrong forward pass (``lstm_cell_forward`` without its output gate: its
   backward reads only right values from the cache). A sequence over a step
   whose forward pass is wrong inherits that forward pass first (step 4).

Nothing is stated for a function that passes, that has no ``wrong_value``
finding, whose values agree with the twin's on every case (a finding of a
metamorphic relation alone: :func:`reference_disagrees`), or that no model
reproduces on every case: exact, or nothing. So the correct reference
disagrees where a cause is stated, and every variant with no mistake applied
equals the reference (``tests/test_error_models.py`` checks it for every
catalogue entry).

Cost: nothing for a target without ``wrong_value`` findings; otherwise a few
float64 numpy runs of each model per case (the user's code is only called
again for the minimal case, sampling, and a wrong step's loop). ``rnn-oracle bench
--audit-timings`` reports it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracle.judge.audit import FINITE_DIFFERENCE, IMPL, AuditResult, LayerRun, case_source
from oracle.judge.checks import Case, RoundingRule, run_case, spec_tolerance, torch_name
from oracle.judge.compare import compare_evaluations
from oracle.judge.sampling import stopped_at_end_as_twin
from oracle.judge.verdicts import function_of, functions_of
from oracle.references.finite_diff import as_float64
from oracle.specs.calls import MODEL_CLASS, vocabulary
from oracle.specs.mistakes import ErrorModel
from oracle.specs.spec import CALL_ERRORS, Evaluation, LayerSpec

#: The prefix of the id of an inherited cause: ``"inherited.lstm_step_backward"``.
INHERITED = "inherited"


@dataclass(frozen=True)
class Cause:
    """A likely cause of one function's finding in one dtype: what it is and on how many cases it reproduced it."""

    id: str
    text: str
    cases: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "cases": self.cases}


@dataclass
class Observed:
    """One case of a function: the float64 case the variants run on, and what the user's code returned."""

    inputs: dict[str, np.ndarray]
    upstream: dict[str, np.ndarray]
    user: Evaluation
    dtype: np.dtype
    rule: RoundingRule | None = None
    runs: dict[tuple, Evaluation | None] = field(default_factory=dict)


def kind_of(spec: LayerSpec, function: str) -> str:
    """What a function's findings are about: ``"forward"``, ``"backward"``, ``"loss"`` or ``"sample"``."""
    names = functions_of(spec)
    if spec.public_names == (MODEL_CLASS,):
        return "sample" if function == names[-1] else "loss"
    if len(names) == 1:
        return "loss" if spec.is_loss else "forward"
    return "backward" if function == names[1] else "forward"


def quantities(evaluation: Evaluation, kind: str) -> Evaluation:
    """The part of ``evaluation`` a function of ``kind`` is judged on."""
    if kind == "backward":
        return Evaluation({}, dict(evaluation.grads))
    if kind in ("forward", "sample"):
        return Evaluation(dict(evaluation.outputs), {})
    return evaluation


def observed(case: Case, kind: str) -> Observed | None:
    """The case as the variants see it, or ``None`` when the function gave no result on it."""
    if kind in ("backward", "loss") and case.spec.grads and (case.backward_error is not None
                                                             or not case.result.grads):
        return None
    rule = RoundingRule(case.spec, case.inputs, case.upstream) if case.dtype == np.float32 else None
    return Observed(as_float64(case.inputs), as_float64(case.upstream), quantities(case.result, kind), case.dtype,
                    rule)


def agrees(spec: LayerSpec, seen: Observed, expected: Evaluation) -> bool:
    """Whether the user's result agrees with a variant's under the audit's rule (see the module docstring)."""
    if "captions" in expected.outputs:
        return _same_captions(seen, expected.outputs["captions"])
    tolerance = spec_tolerance(spec, seen.dtype.name)
    compared = compare_evaluations(seen.user, expected, tolerance, layer=spec.name, reference="", check_dtype=False)
    if all(comparison.passed for comparison in compared):
        return True
    if seen.rule is None or not seen.rule.needed(compared):
        return False
    # Against the rounding spread of the correct computation at these inputs.
    compared = seen.rule.settle(lambda spread: compare_evaluations(seen.user, expected, tolerance, layer=spec.name,
                                                                   reference="", check_dtype=False,
                                                                   precise=expected, spread=spread))
    return all(comparison.passed for comparison in compared)


def _same_captions(seen: Observed, expected: np.ndarray) -> bool:
    words = np.asarray(seen.user.outputs.get("captions"))
    expected = np.asarray(expected)
    if words.shape != expected.shape:
        return False
    size = seen.inputs["W_embed"].shape[0]
    null = int(seen.inputs["null"])
    end = vocabulary(size, null)["<END>"]
    return bool(np.array_equal(stopped_at_end_as_twin(words, expected, end, null), expected))


def run_variant(model: ErrorModel, mistakes: frozenset[str], step: LayerSpec | None, kernel: str, seen: Observed,
                kind: str) -> Evaluation | None:
    """The variant's result on one case (``None`` when it raised), computed once per case, mistakes and kernel."""
    key = (id(model.variant), mistakes, kernel)
    if key not in seen.runs:
        try:
            seen.runs[key] = model.variant(seen.inputs, seen.upstream, mistakes, step)
        except CALL_ERRORS:  # a user's step function that raises, or a variant that cannot run at these sizes
            seen.runs[key] = None
    found = seen.runs[key]
    return None if found is None else quantities(found, kind)


def reproduces(spec: LayerSpec, model: ErrorModel, mistakes: frozenset[str], step: LayerSpec | None, kernel: str,
               cases: Sequence[Observed], kind: str) -> bool:
    """Whether the variant with ``mistakes`` agrees with the user on every case (stops at the first that does not)."""
    for seen in cases:
        expected = run_variant(model, mistakes, step, kernel, seen, kind)
        if expected is None or not agrees(spec, seen, expected):
            return False
    return bool(cases)


@dataclass(frozen=True)
class WrongStep:
    """The target's own step spec, which has a finding: the function to fix first, and its likely causes (if any)."""

    spec: LayerSpec
    fix: str
    causes: tuple[Cause, ...] = ()


@dataclass(frozen=True)
class Kernels:
    """The step specs sequence variants are built on: the reference's by name, and the target's own wrong ones."""

    reference: Mapping[str, LayerSpec]
    wrong: Mapping[str, WrongStep] = field(default_factory=dict)


def explain(spec: LayerSpec, function: str, cases: Sequence[Observed], kernels: Kernels) -> list[Cause]:
    """The likely causes of ``function``'s finding on ``cases`` (steps 2 to 4 of the module docstring)."""
    kind = kind_of(spec, function)
    models = [model for model in spec.mistakes if function in model.functions]
    if not models or not cases:
        return []
    count = len(cases)

    def reference_step(model: ErrorModel) -> LayerSpec | None:
        return kernels.reference.get(model.step) if model.step else None

    causes = [Cause(model.id, model.text, count) for model in models
              if reproduces(spec, model, frozenset({model.id}), reference_step(model), "reference", cases, kind)]
    if causes:
        return causes
    for first, second in itertools.combinations(models, 2):
        if first.composes_with(second) and reproduces(spec, first, frozenset({first.id, second.id}),
                                                      reference_step(first), "reference", cases, kind):
            causes.append(Cause(f"{first.id}+{second.id}", f"{first.text}; and {second.text}", count))
    if causes:
        return causes
    for step_name, wrong in kernels.wrong.items():
        on_own = [model for model in models if model.step == step_name]
        if not on_own:
            continue
        if reproduces(spec, on_own[0], frozenset(), wrong.spec, "target", cases, kind):
            return [inherited_from_step(wrong, count)]
        causes += [on_wrong_step(model, wrong, count) for model in on_own
                   if reproduces(spec, model, frozenset({model.id}), wrong.spec, "target", cases, kind)]
    return causes


def inherited_from_step(wrong: WrongStep, count: int) -> Cause:
    """The cause of a sequence that is the plain loop of the target's own wrong step (``inherited.<step function>``)."""
    known = f" ({wrong.causes[0].text} [{wrong.causes[0].id}])" if len(wrong.causes) == 1 else ""
    return Cause(f"{INHERITED}.{wrong.fix}", f"inherited: it loops over your own {wrong.fix}, which is "
                                             f"wrong{known}; fix {wrong.fix} first", count)


def on_wrong_step(model: ErrorModel, wrong: WrongStep, count: int) -> Cause:
    """A sequence mistake on top of the target's own wrong step: the pair with the step's cause, when it has one."""
    if len(wrong.causes) == 1:
        step = wrong.causes[0]
        return Cause(f"{model.id}+{step.id}", f"{model.text}; and it loops over your own {wrong.fix}, which is "
                                              f"wrong: {step.text}", count)
    return Cause(f"{model.id}+{INHERITED}.{wrong.fix}", f"{model.text}; and it loops over your own {wrong.fix}, "
                                                         f"which is wrong: fix {wrong.fix} first", count)


def reference_disagrees(spec: LayerSpec, function: str, run: LayerRun) -> bool:
    """Whether the user's values of ``function`` disagree with the twin's in some case of ``run``.

    A ``wrong_value`` that only a metamorphic relation found (the values agree with the twin on every case)
    has nothing for a model to reproduce that the reference does not: no cause is stated for it.
    """
    return any(check.subject == IMPL and check.reference.startswith("torch[") and not check.passed
               and not check.quantity.endswith((" dtype", " unchanged"))
               and check.quantity.startswith(("output ", "grad ", "sample captions"))
               and function_of(spec, check) == function
               and any(failure.cause in ("", "wrong_value") for failure in check.failures)
               for check in run.checks)


def inherited_from_forward(spec: LayerSpec, function: str, run: LayerRun, found: Mapping) -> Cause | None:
    """Step 5 of the module docstring: a backward pass that is the exact gradient of its own wrong forward pass,
    or that gives the reference's gradients and fails only against the finite differences of its wrong forward."""
    names = functions_of(spec)
    if kind_of(spec, function) != "backward" or "wrong_value" not in found.get(names[0], {}).get(run.dtype, []):
        return None
    forward = names[0]
    grads = [check for check in run.checks if check.subject == IMPL and check.quantity.startswith("grad ")]
    # Exactly the gradient of the target's wrong forward pass, or exactly the reference's gradients (a right
    # backward that reads a right cache, judged against the finite differences of a wrong forward pass).
    twin = torch_name("")[:-1]  # "torch[": the twin, on whichever device
    for against_it, said in ((lambda reference: reference == FINITE_DIFFERENCE,
                              f"this is the exact gradient of your {forward}, whose results are wrong"),
                             (lambda reference: reference.startswith(twin),
                              f"these are the reference's gradients; they differ only from the finite differences of "
                              f"your {forward}, whose results are wrong")):
        against = [check for check in grads if against_it(check.reference)]
        others = [check for check in grads if check not in against
                  and (check.reference == FINITE_DIFFERENCE or check.reference.startswith(twin))]
        # Agreeing with one reference everywhere, and failing against the other somewhere: that is the finding.
        if against and all(check.passed for check in against) and any(not check.passed for check in others):
            return Cause(f"{INHERITED}.{forward}", f"inherited: {said}; fix {forward} first",
                         min(check.cases for check in against))
    return None


def causes(result: AuditResult, specs: Sequence[LayerSpec], found: Mapping, minimal: Mapping,
           references: Mapping[str, LayerSpec]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{function: {dtype: [{"id", "text", "cases"}, ...]}}`` for every function and dtype of ``found``.

    Parameters
    ----------
    result
        The audit (with its cases recorded).
    specs
        The specs audited, bound to the target.
    found
        The verdicts, ``found[function][dtype]`` (:func:`oracle.judge.verdicts.verdicts`).
    minimal
        The minimal cases (:func:`oracle.judge.shrink.minimal_cases`, their ``"minimal"`` still in).
    references
        The reference specs by name (impl's), for the step functions sequence variants are built on.
    """
    by_name = {spec.name: spec for spec in specs}
    explained: dict[str, dict[str, list[dict[str, Any]]]] = {
        function: {dtype: [] for dtype in dtypes} for function, dtypes in found.items()}
    for run in result.runs:
        spec = by_name[run.layer]
        for function in functions_of(spec):
            if "wrong_value" not in found.get(function, {}).get(run.dtype, []):
                continue
            if not reference_disagrees(spec, function, run):
                # The reference's values everywhere: a cause only when the finding is that they are not the gradient
                # of the target's own wrong forward pass (step 5); a relation's finding alone gets none.
                inherited = inherited_from_forward(spec, function, run, found)
                explained[function][run.dtype] = [inherited.to_json()] if inherited is not None else []
                continue
            kind = kind_of(spec, function)
            cases = function_cases(spec, run, kind, minimal.get(function, {}).get(run.dtype), result.config)
            kernels = step_kernels(spec, specs, found, references, kind, explained, run.dtype)
            listed = explain(spec, function, cases, kernels)
            if not listed:
                inherited = inherited_from_forward(spec, function, run, found)
                listed = [inherited] if inherited is not None else []
            explained[function][run.dtype] = [cause.to_json() for cause in listed]
    return explained


def step_kernels(spec: LayerSpec, specs: Sequence[LayerSpec], found: Mapping, references: Mapping[str, LayerSpec],
                 kind: str, explained: Mapping | None = None, dtype: str = "float64") -> Kernels:
    """The kernels of ``spec``'s sequence models: the reference steps, and the target's own where they are wrong.

    ``explained``: the causes found so far (``[function][dtype]``, as :func:`causes` returns them), which name
    a wrong step's mistake.
    """
    wrong = {}
    for name in {model.step for model in spec.mistakes if model.step}:
        own = next((other for other in specs if other.name == name), None)
        if own is None:
            continue
        names = functions_of(own)
        flagged = [function for function in names
                   if any(set(findings) - {"pass"} for findings in found.get(function, {}).values())]
        if flagged:
            # The step's forward first: a wrong forward pass leaves its backward judged on a wrong cache.
            preferred = flagged[0]
            listed = (explained or {}).get(preferred, {}).get(dtype, [])
            wrong[name] = WrongStep(own, preferred, tuple(Cause(**cause) for cause in listed))
    return Kernels(references, wrong)


def function_cases(spec: LayerSpec, run: LayerRun, kind: str, minimal: Mapping | None, config: Any) -> list[Observed]:
    """The cases a function ran in one dtype, its minimal case first (see the module docstring)."""
    dtype = np.dtype(run.dtype)
    if kind == "sample":
        draws = [(index, config.setting(index)) for index in range(config.cases)]
        if minimal is not None:
            draws.insert(0, (minimal["case"], minimal["minimal"].setting))
        return [seen for index, setting in draws
                if (seen := _sampled(spec, dtype, config.seed, index, setting)) is not None]
    cases = list(run.records)
    if minimal is not None:
        try:
            cases.insert(0, run_case(spec, case_source(spec, dtype, config.seed, minimal["case"],
                                                       minimal["minimal"].setting), dtype, keep_forward=True))
        except CALL_ERRORS:  # it does not run on its own minimal case (a crash is another finding)
            pass
    return [seen for case in cases if (seen := observed(case, kind)) is not None]


def _sampled(spec: LayerSpec, dtype: np.dtype, seed: int, index: int, setting: Any) -> Observed | None:
    subject: Callable | None = next((check.subject for check in spec.extra_checks if check.subject is not None), None)
    if subject is None:
        return None
    try:
        inputs = spec.make_inputs(case_source(spec, dtype, seed, index, setting), dtype)
        words = subject(inputs)
    except CALL_ERRORS:
        return None
    return Observed(as_float64(inputs), {}, words, dtype)
