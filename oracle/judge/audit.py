"""The gradient-correctness audit: every layer against two independent oracles, pairwise.

For each layer spec, dtype and generated case the audit runs

- impl (forward and backward, :func:`oracle.judge.checks.run_case`),
- the layer's torch twin on the same inputs in the same dtype,
- float64 central finite differences (:mod:`oracle.references.finite_diff`) of the same
  objective at the same point,

and compares them pairwise: impl against torch (outputs and gradients, the
dtype's tolerance row), impl against finite differences and torch against
finite differences (gradients, :func:`oracle.specs.tolerances.finite_difference_tolerance`).
A bug in a twin therefore cannot hide a bug in impl: the two would have to
agree with each other *and* with finite differences, which share no code
with either. impl gets copies of its arguments, so a layer that writes into
one (``dnext_c += ...``) is reported for that (``"upstream gradient next_c
unchanged"`` fails) and never corrupts what the references see. It then runs
the spec's own checks (:attr:`LayerSpec.extra_checks`),
such as the captioning models' greedy sampling (:mod:`oracle.judge.sampling`).

Every comparison of one case is an :class:`Observation`; the observations of
all cases of one layer and dtype are folded into one :class:`CheckResult`
per quantity (``"output h"``, ``"grad Wx"``, ``"sample captions"``) and pair
(subject, reference). A check passes when it passed in every case.

Reproducibility: case ``k`` of layer ``L`` in dtype ``d`` draws everything
from ``numpy.random.default_rng([seed, crc32(L), index of d in DTYPES, k])``
(:func:`case_rng`), so it does not depend on which other layers, dtypes or
how many cases were selected.

The functions here are pure apart from running the layers; rendering is in
:mod:`oracle.report.text`, the command line in :mod:`oracle.cli`.
"""

from __future__ import annotations

import functools
import platform
import time
import traceback
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from oracle.judge.checks import (
    Case,
    against_finite_differences,
    mutation_comparisons,
    placeholders,
    run_case,
    spec_tolerance,
    stage_of,
    torch_name,
    twin_comparisons,
)
from oracle.judge.compare import NO_RESULT, Comparison
from oracle.judge.directional import FiniteDifferences, finite_differences
from oracle.judge.localize import Localization
from oracle.judge.metamorphic import metamorphic_comparisons
from oracle.judge.reference_differences import reference_finite_differences
from oracle.references import twins
from oracle.references.store import twin_result as stored_twin_result
from oracle.specs.calls import CellTypeRefused
from oracle.specs.profiles import DEFAULT, Setting, case_setting
from oracle.specs.sources import RandomSource
from oracle.specs.spec import CALL_ERRORS, CallFailed, Evaluation, ExtraCheck, LayerSpec, NotImplementedLayer
from oracle.specs.tolerances import Tolerance

T = TypeVar("T")

#: The oracle package's folder, whose frames a failure location skips.
ORACLE_DIR = Path(__file__).resolve().parents[1]

#: Exit statuses of ``rnn-oracle audit``: every check passed, a check failed, bad usage (or a target not imported).
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: The dtypes the audit knows, in the order that fixes their index in the case seed.
DTYPES: tuple[str, ...] = ("float64", "float32")

#: Reference name of finite differences (the ``reference`` of :func:`oracle.judge.checks.against_finite_differences`).
FINITE_DIFFERENCE = "finite_difference"

#: Subject name of impl.
IMPL = "impl"

#: Stage name of the metamorphic checks (:mod:`oracle.judge.metamorphic`), in error rows.
METAMORPHIC = "metamorphic checks"


def case_rng(seed: int, layer: str, dtype: str, case_index: int, stream: int = 0) -> np.random.Generator:
    """The generator of case ``case_index`` of ``layer`` in ``dtype``: independent of every other selection.

    ``zlib.crc32`` (not ``hash``) gives the layer a stable integer across
    processes and Python versions. ``stream`` 0 draws the case's inputs, 1
    the directions of its directional checks.
    """
    key = [seed, zlib.crc32(layer.encode()), DTYPES.index(np.dtype(dtype).name), case_index]
    return np.random.default_rng(key + [stream] * (stream > 0))


@dataclass(frozen=True)
class AuditConfig:
    """What to audit and how; also everything needed to rerun one layer/dtype.

    Attributes
    ----------
    layers
        Names of the specs audited, in order.
    dtypes
        Names from :data:`DTYPES`.
    cases
        Generated cases per layer and dtype.
    seed
        Non-negative master seed.
    device
        Where the torch twins run (``"cpu"``, ``"cuda"``, ``"cuda:K"``).
    spec_targets
        The ``--spec`` targets the extra specs were loaded from.
    impl_target
        The ``--impl`` target the built-in specs were bound to (``""``: impl).
    impl_options
        The options that say how that target runs (``--backend torch``, ``--autograd``), for a rerun.
    profile
        A name from :data:`oracle.specs.profiles.PROFILES`.
    dims
        Sizes fixed for every case, by dimension name (``--dims``).
    """

    layers: tuple[str, ...]
    dtypes: tuple[str, ...]
    cases: int
    seed: int
    device: str = "cpu"
    spec_targets: tuple[str, ...] = ()
    impl_target: str = ""
    impl_options: tuple[str, ...] = ()
    profile: str = "default"
    dims: Mapping[str, int] = field(default_factory=dict)

    def setting(self, case_index: int) -> Setting:
        """How case ``case_index`` is drawn (:func:`oracle.specs.profiles.case_setting`)."""
        return case_setting(self.profile, self.dims, case_index)


@dataclass(frozen=True)
class Observation:
    """One comparison in one case, with who was compared and where the case came from."""

    subject: str
    comparison: Comparison
    case_index: int
    inputs: str


@dataclass(frozen=True)
class CaseFailure:
    """A case in which a check failed: enough to reproduce and read it, and where it is wrong."""

    case_index: int
    inputs: str
    message: str
    localization: Localization | None = None
    cause: str = ""


@dataclass(frozen=True)
class CheckResult:
    """One quantity of one layer and dtype, one subject against one reference, over all cases.

    Attributes
    ----------
    layer, dtype, quantity
        E.g. ``"lstm"``, ``"float32"``, ``"grad Wx"``.
    subject, reference
        ``"impl"`` or ``"torch[cpu]"`` against ``"torch[cpu]"`` or ``"finite_difference"``.
    tolerance
        The tolerance applied (the same in every case).
    cases
        Number of cases in which it was compared.
    max_abs, max_rel, ratio
        Worst over the cases of :class:`oracle.judge.compare.Comparison`'s fields.
    failures
        The cases where it failed, in case order.
    """

    layer: str
    dtype: str
    quantity: str
    subject: str
    reference: str
    tolerance: Tolerance
    cases: int
    max_abs: float
    max_rel: float
    ratio: float
    failures: tuple[CaseFailure, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class LayerRun:
    """The checks of one layer in one dtype."""

    layer: str
    dtype: str
    cases: int
    seconds: float
    checks: tuple[CheckResult, ...]
    #: The cases whose forward pass gave a result, as run (inputs, upstream gradients and the results): what
    #: error models are matched against (:mod:`oracle.judge.causes`); kept only when a check failed (nothing
    #: is explained in a run that passed). Not part of any report.
    records: tuple[Case, ...] = field(default=(), repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


@dataclass(frozen=True)
class AuditResult:
    """Everything one audit found, with the configuration and environment that produced it."""

    config: AuditConfig
    runs: tuple[LayerRun, ...]
    environment: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def checks(self) -> list[CheckResult]:
        return [check for run in self.runs for check in run.checks]

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs)


@dataclass(frozen=True)
class Progress:
    """A progress event: layer/dtype ``index`` of ``total`` is starting (``run`` None) or done.

    ``alone``: a layer done with no event of its start before it (one audited in another process).
    """

    index: int
    total: int
    layer: str
    dtype: str
    cases: int
    run: LayerRun | None = None
    alone: bool = False


def error_comparison(spec: LayerSpec, dtype: np.dtype, stage: str, reference: str,
                     error: BaseException, trigger: str = "") -> Comparison:
    """A failed comparison standing for an exception raised while running ``stage``.

    It is filed against ``reference`` (the comparison the crash prevented), so
    it appears in that column of the report. ``trigger`` says which sizes
    make it raise (:func:`size_one_trigger`), when known.
    """
    if isinstance(error, CallFailed):  # the user's code ran in a worker: the judge wrote the evidence
        text, cause = error.evidence, error.cause
        if error.output:
            text += f" (its last output: {error.output[-300:]!r})"
    else:
        # Where in the code under test: the oracle's own frames (which only call it) are left out.
        frames = [frame for frame in traceback.extract_tb(error.__traceback__)
                  if not Path(frame.filename).resolve().is_relative_to(ORACLE_DIR)]
        location = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        # A stub's result, as the judge found it: what it returned, not something it raised.
        text = (str(error) if isinstance(error, NotImplementedLayer)
                else f"raised {type(error).__name__}: {error}{location}")
        cause = ("not_supported" if isinstance(error, CellTypeRefused)
                 else "not_implemented" if isinstance(error, NotImplementedError) else "crash")
    return Comparison.unmeasured(spec.name, f"{NO_RESULT}{stage}", dtype.name, reference, (),
                                 spec_tolerance(spec, dtype.name), f"{text}{f'; {trigger}' if trigger else ''}", cause)


def case_source(spec: LayerSpec, dtype: np.dtype, seed: int, case_index: int, setting: Setting) -> RandomSource:
    """The source case ``case_index`` of ``spec`` in ``dtype`` draws its inputs and upstream gradients from."""
    return RandomSource(case_rng(seed, spec.name, dtype.name, case_index), setting.dims, setting.scale, setting.values)


def describe_inputs(spec: LayerSpec, seed: int, dtype: np.dtype, case_index: int, setting: Setting = DEFAULT[0]) -> str:
    """The layer, dtype and input shapes of a case, drawn again (for a case whose run raised)."""
    try:
        inputs = spec.make_inputs(case_source(spec, dtype, seed, case_index, setting), dtype)
    except Exception:  # the spec's own input generator failed: name what is known
        return f"layer {spec.name}, dtype {dtype.name}"
    shapes = ", ".join(f"{name}{tuple(array.shape)}" for name, array in inputs.items())
    return f"layer {spec.name}, dtype {dtype.name}, inputs {shapes}"


def size_one_trigger(spec: LayerSpec, dtype: np.dtype, seed: int, case_index: int, setting: Setting,
                     failing: Callable[[Case], object], drawn_only: bool = False) -> str:
    """Which size of 1 makes a crash happen: ``"it raises only when N = 1"``, or ``""`` when none alone does.

    The case is drawn again with every size dimension of the spec
    (:attr:`~oracle.specs.spec.LayerSpec.zero_size`) at ``max(2, its size)``, then
    with one of them at 1 at a time; ``failing(case)`` runs the stage that
    raised (run on the drawn case itself, for a crash in forward or backward;
    ``drawn_only``: on a case of the drawn inputs alone, impl not run).
    """
    probe = case_source(spec, dtype, seed, case_index, setting)
    try:
        spec.make_inputs(probe, dtype)
    except Exception:  # the spec cannot even draw this case: nothing to learn
        return ""
    sizes = {name: probe.sizes[name] for name in spec.zero_size if name in probe.sizes}
    base = {name: max(2, size) for name, size in sizes.items()}

    def raises(dims: dict[str, int]) -> bool:
        trial = replace(setting, dims={**setting.dims, **dims})
        try:
            source = case_source(spec, dtype, seed, case_index, trial)
            failing(Case(spec, spec.make_inputs(source, dtype), {}, Evaluation({}, {})) if drawn_only
                    else run_case(spec, source, dtype))
        except CALL_ERRORS:
            return True
        return False

    if not sizes or raises(base):
        return ""
    triggers = [name for name in sizes if raises({**base, name: 1})]
    return f"it raises only when {' or '.join(f'{name} = 1' for name in triggers)}" if triggers else ""


def audit_case(spec: LayerSpec, dtype_name: str, seed: int, case_index: int,
               device: str = "cpu", setting: Setting = DEFAULT[0],
               records: list[Case] | None = None) -> list[Observation]:
    """Run case ``case_index`` of ``spec`` in ``dtype_name`` and compare impl, torch and finite differences pairwise.

    ``setting`` says how the case is drawn (:mod:`oracle.specs.profiles`); ``records``, when given, gets the
    case as run (when its forward pass gave a result).

    Returns
    -------
    list of Observation
        impl vs torch for every output and gradient, impl vs finite
        differences and torch vs finite differences for every gradient, the
        spec's extra checks (the sampling of a captioning model), and a failed observation for
        each stage that raised (a crash fails the audit; it never stops it).
    """
    dtype = np.dtype(dtype_name)
    twin_label = torch_name(device)
    try:
        case = run_case(spec, case_source(spec, dtype, seed, case_index, setting), dtype, keep_forward=True)
    except CALL_ERRORS as error:  # a crashing layer is a finding, not a reason to stop the audit
        trigger = size_one_trigger(spec, dtype, seed, case_index, setting, lambda case: None)
        failed = error_comparison(spec, dtype, stage_of(error, IMPL), twin_label, error, trigger)
        described = describe_inputs(spec, seed, dtype, case_index, setting) + _setting_note(setting)
        return [Observation(IMPL, failed, case_index, described),
                *independent_checks(spec, dtype, seed, case_index, device, setting, described)]
    if records is not None:
        records.append(case)
    observations: list[Observation] = []
    described = case.describe() + _setting_note(setting)

    def record(subject: str, comparisons: Sequence[Comparison], into: list[Observation] = observations) -> None:
        into.extend(Observation(subject, comparison, case_index, described) for comparison in comparisons)

    def attempt(stage: str, reference: str, action: Callable[[], T],
                rerun: Callable[[Case], object] | None = None, into: list[Observation] = observations) -> T | None:
        """``action()``, or ``None`` after recording its exception as a failed check against ``reference``.

        ``rerun(case)`` repeats the failing stage on another case, to find which size of 1 triggers it.
        """
        try:
            return action()
        except CALL_ERRORS as error:
            trigger = "" if rerun is None else size_one_trigger(spec, dtype, seed, case_index, setting, rerun)
            record(IMPL, [error_comparison(spec, dtype, stage_of(error, stage), reference, error, trigger)], into)
            return None

    def judged(evaluation: Evaluation) -> Evaluation:
        """What impl's result can be compared on: its outputs alone when its backward pass failed."""
        return evaluation if case.backward_error is None else Evaluation(evaluation.outputs, {})

    def against_twin(into: list[Observation]) -> Evaluation | None:
        """The twin's results, with impl compared against them (recorded ``into``)."""
        twin_result = attempt(twin_label, twin_label,
                              lambda: stored_twin_result(spec, case.inputs, case.upstream, device), into=into)
        if twin_result is not None:
            comparisons = attempt(twin_label + " (float64)", twin_label,
                                  lambda: placeholders(twin_comparisons(spec, case.inputs, case.upstream, case.result,
                                                                        device, expected=twin_result, view=judged),
                                                       case.result, judged(twin_result)), into=into)
            if comparisons is not None:
                record(IMPL, comparisons, into)
        return twin_result

    record(IMPL, mutation_comparisons(case))
    if case.backward_error is not None:
        # The backward pass failed: its failure is the finding, and the forward pass is still judged in full.
        failure = case.backward_error
        trigger = size_one_trigger(spec, dtype, seed, case_index, setting, lambda case: None)
        record(IMPL, [error_comparison(spec, dtype, stage_of(failure, "backward"), twin_label, failure, trigger)])

        against_twin(observations)
        return observations + independent_checks(spec, dtype, seed, case_index, device, setting, described)

    twin_result = against_twin(observations)
    numeric_rows: list[Observation] = []
    numeric: FiniteDifferences | None = None
    if spec.grads:
        agrees = spec.reference_forward is not None and twin_result is not None and outputs_agree(observations)
        numeric = attempt(FINITE_DIFFERENCE, FINITE_DIFFERENCE, into=numeric_rows,
                          action=lambda: case_differences(case, seed, case_index, agrees))
    observations.extend(numeric_rows)
    if numeric is not None:
        # Comparing may still call the forward pass: the truncation estimates put off, the element-wise
        # differences that locate a failed directional check. What it raises is the stage's finding.
        twin_grads = None if twin_result is None else twin_result.grads
        found = attempt(FINITE_DIFFERENCE, FINITE_DIFFERENCE,
                        lambda: against_finite_differences(case, numeric, suspects=twin_grads))
        if found is not None:
            record(IMPL, found)
        if twin_result is not None:
            twin_case = replace(case, result=Evaluation({}, twin_result.grads))
            found = attempt(FINITE_DIFFERENCE, FINITE_DIFFERENCE,
                            lambda: against_finite_differences(twin_case, numeric, suspects=case.result.grads))
            if found is not None:
                record(twin_label, found)
    for extra in spec.extra_checks:

        def run_extra(drawn: Case, check: ExtraCheck = extra) -> list[Comparison]:
            return check.run(spec, drawn, device)

        found = attempt(extra.name, twin_label, functools.partial(run_extra, case), rerun=run_extra)
        if found is not None:
            record(IMPL, found)
    relations = attempt(METAMORPHIC, METAMORPHIC,
                        lambda: metamorphic_comparisons(spec, case.inputs, case.upstream, case.result))
    if relations is not None:
        record(IMPL, relations)
    return observations


def case_differences(case: Case, seed: int, case_index: int, agrees: bool) -> FiniteDifferences:
    """The finite differences a case's gradients are judged against (:mod:`oracle.judge.reference_differences`).

    ``agrees``: impl's forward pass agreed with the twin on the case, so those of the spec's reference forward
    pass (kept in the store) stand for its own; else, or when the reference cannot give them, impl's own.
    """
    def directions() -> np.random.Generator:
        return case_rng(seed, case.spec.name, case.dtype.name, case_index, stream=1)

    if agrees:
        try:
            return reference_finite_differences(case.spec, case.inputs, case.upstream, directions())
        except Exception:  # noqa: BLE001  the reference's own failure is nobody's finding: impl's own are taken
            pass
    return finite_differences(case.spec, case.inputs, case.upstream, directions(), estimate_truncation=False)


def outputs_agree(observations: Sequence[Observation]) -> bool:
    """Whether every output of impl's forward pass agreed with the twin's (each ``"output ..."`` comparison)."""
    return all(observation.comparison.passed for observation in observations
               if observation.subject == IMPL and observation.comparison.quantity.startswith("output "))


def independent_checks(spec: LayerSpec, dtype: np.dtype, seed: int, case_index: int, device: str, setting: Setting,
                       described: str) -> list[Observation]:
    """The spec's extra checks that need no result of impl's (:attr:`ExtraCheck.independent`), on a fresh draw.

    They run when impl's own forward pass failed: sampling needs only the parameters, which the audit sets.
    """
    checks = [extra for extra in spec.extra_checks if extra.independent]
    if not checks:
        return []
    try:
        inputs = spec.make_inputs(case_source(spec, dtype, seed, case_index, setting), dtype)
    except Exception:  # the spec cannot draw this case: nothing to run
        return []
    case = Case(spec, inputs, {}, Evaluation({}, {}))
    observations = []
    for extra in checks:
        def rerun(drawn: Case, check: ExtraCheck = extra) -> list[Comparison]:
            return check.run(spec, drawn, device)

        try:
            comparisons = extra.run(spec, case, device)
        except CALL_ERRORS as error:
            trigger = size_one_trigger(spec, dtype, seed, case_index, setting, rerun, drawn_only=True)
            comparisons = [error_comparison(spec, dtype, stage_of(error, extra.name), torch_name(device), error,
                                            trigger)]
        observations += [Observation(IMPL, comparison, case_index, described) for comparison in comparisons]
    return observations


def _setting_note(setting: Setting) -> str:
    """``" (setting: long sequence)"`` for a case of a named profile setting, else ``""``."""
    return "" if setting.name == DEFAULT[0].name else f" (setting: {setting.name})"


def aggregate(observations: Sequence[Observation]) -> tuple[CheckResult, ...]:
    """Fold observations into one :class:`CheckResult` per (quantity, subject, reference), in first-seen order."""
    groups: dict[tuple[str, str, str], list[Observation]] = {}
    for observation in observations:
        key = (observation.comparison.quantity, observation.subject, observation.comparison.reference)
        groups.setdefault(key, []).append(observation)
    return tuple(_fold(group) for group in groups.values())


def _fold(group: Sequence[Observation]) -> CheckResult:
    first = group[0].comparison
    comparisons = [observation.comparison for observation in group]
    failures = tuple(CaseFailure(observation.case_index, observation.inputs, observation.comparison.describe(),
                                 observation.comparison.localization, observation.comparison.cause)
                     for observation in group if not observation.comparison.passed)
    return CheckResult(
        layer=first.layer, dtype=first.dtype, quantity=first.quantity, subject=group[0].subject,
        reference=first.reference, tolerance=first.tolerance, cases=len(group),
        max_abs=max(c.max_abs for c in comparisons), max_rel=max(c.max_rel for c in comparisons),
        ratio=max(c.ratio for c in comparisons), failures=failures,
    )


def audit_layer(spec: LayerSpec, dtype: str, config: AuditConfig) -> LayerRun:
    """Every case of ``spec`` in ``dtype``, folded into checks."""
    started = time.perf_counter()
    records: list[Case] = []
    observations = [observation for case_index in range(config.cases)
                    for observation in audit_case(spec, dtype, config.seed, case_index, config.device,
                                                  config.setting(case_index), records)]
    # The dtype of a check is the case's dtype even where a comparison recorded another (an error row).
    checks = tuple(replace(check, dtype=np.dtype(dtype).name) for check in aggregate(observations))
    failed = not all(check.passed for check in checks)
    return LayerRun(spec.name, np.dtype(dtype).name, config.cases, time.perf_counter() - started, checks,
                    tuple(records) if failed else ())


def environment(device: str = "cpu") -> dict:
    """Versions and precision settings in force: what a reader needs to trust or reproduce the numbers."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "precision": twins.precision_settings(device),
    }


#: A layer and dtype to audit, with the layer's position among those audited.
Unit = tuple[int, LayerSpec, str]

#: ``runner(units, config, progress) -> runs``: audits units, each run in the units' order.
Runner = Callable[[Sequence[Unit], AuditConfig, Callable[[Progress], None] | None], list[LayerRun]]


def run_in_order(units: Sequence[Unit], config: AuditConfig, progress: Callable[[Progress], None] | None = None,
                 among: Sequence[Unit] | None = None) -> list[LayerRun]:
    """Audit ``units`` one after the other, here, with a :class:`Progress` before and after each.

    ``among``: the units of the whole audit, which progress numbers them among (default: ``units``).
    """
    among = units if among is None else among
    numbers = {id(unit): number for number, unit in enumerate(among, start=1)}
    runs = []
    for unit in units:
        _, spec, dtype = unit
        if progress:
            progress(Progress(numbers[id(unit)], len(among), spec.name, dtype, config.cases))
        runs.append(audit_layer(spec, dtype, config))
        if progress:
            progress(Progress(numbers[id(unit)], len(among), spec.name, dtype, config.cases, runs[-1]))
    return runs


def run_audit(specs: Sequence[LayerSpec], config: AuditConfig,
              progress: Callable[[Progress], None] | None = None, runner: Runner = run_in_order) -> AuditResult:
    """Audit ``specs`` (in the order given) in every dtype of ``config``; report progress to ``progress``.

    Parameters
    ----------
    specs
        The specs to audit; their names should be ``config.layers``.
    config
        Dtypes, cases, seed and device.
    progress
        Called with a :class:`Progress` before and after each layer/dtype.
    runner
        What audits the layers and dtypes: :func:`run_in_order` here, or shared with another process
        (:mod:`oracle.targets.forked_lane`); the runs are the same.
    """
    started = time.perf_counter()
    units = [(index, spec, dtype) for index, spec in enumerate(specs) for dtype in config.dtypes
             if dtype in spec.dtypes]
    runs = runner(units, config, progress)
    return AuditResult(config, tuple(runs), environment(config.device), time.perf_counter() - started)
