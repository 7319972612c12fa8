"""The smallest failing case of a finding: smaller sizes first, then simpler values, with the same finding.

A documented search of its own (Hypothesis's shrinker needs a Hypothesis
test; the audit's cases come from a seeded :class:`oracle.specs.sources.RandomSource`).
Starting from the first case that gave the finding:

1. **Sizes.** Each size dimension of the spec (the names of
   :attr:`~oracle.specs.spec.LayerSpec.zero_size`: ``N``, ``T``, ``D``, ``H``, ...)
   is tried at 1, 2, ... up to its current size, the others fixed, and the
   first that still gives the finding is kept; passes repeat until none
   shrinks.
2. **Values.** Each float array the case draws (inputs, then upstream
   gradients, in order) is tried as all zeros, all ones, then small integers
   (:class:`~oracle.specs.sources.RandomSource` ``values``); the first that keeps the
   finding is kept.

Every try reruns the whole case (:func:`oracle.judge.audit.audit_case`: impl, twin,
finite differences) and asks whether the function still has the same finding. The
observations of each try are kept for the other findings of the same layer and dtype
(:func:`minimal_cases`), whose searches try the same cases: a forward and a backward
pass that both fail shrink at the cost of one.
The search stops at its time budget (:data:`BUDGET_SECONDS` a finding) and
keeps the smallest case found so far; the case is always one that fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from oracle.judge.audit import IMPL, Observation, aggregate, audit_case, case_source
from oracle.judge.verdicts import finding_of, function_of
from oracle.specs.profiles import Setting
from oracle.specs.spec import Arrays, LayerSpec

#: Seconds of search per finding.
BUDGET_SECONDS = 2.0

#: Simpler values tried for each float array, in order.
SIMPLER_VALUES = ("zeros", "ones", "integers")

#: Arrays of at most this many elements have their values shown in the evidence.
SHOWN_ELEMENTS = 12


@dataclass(frozen=True)
class MinimalCase:
    """The smallest case found: its setting (sizes and simpler values), its inputs, and how many tries it took."""

    setting: Setting
    sizes: dict[str, int]
    inputs: Arrays
    tries: int
    complete: bool
    names: dict[int, str] = field(default_factory=dict)

    def describe(self) -> str:
        """``"N=1, T=3, D=1, H=1; x zeros, b ones; x = [[0.]] ..."``: sizes, simpler values, small values."""
        sizes = ", ".join(f"{name}={size}" for name, size in self.sizes.items())
        simpler = ", ".join(f"{self.names.get(index, f'draw {index}')} {mode}"
                            for index, mode in sorted(self.setting.values.items()))
        shown = "; ".join(f"{name} = {np.array2string(array, precision=4, separator=', ')}".replace("\n", "")
                          for name, array in self.inputs.items() if array.size <= SHOWN_ELEMENTS)
        return "; ".join(part for part in (sizes, simpler, shown) if part) + ("" if self.complete else
                                                                              " (search stopped at its time budget)")


def shrink(spec: LayerSpec, dtype: str, seed: int, case_index: int, setting: Setting, device: str,
           fails: Callable[[list[Observation]], bool], budget: float = BUDGET_SECONDS,
           tried: dict[tuple, list[Observation] | None] | None = None) -> MinimalCase:
    """The smallest case (see the module docstring) for which ``fails(observations of the case)`` holds.

    ``case_index`` and ``setting`` name a case that fails. ``tried``: the observations of cases already
    run (``None`` for one whose run raised), by :func:`trial_key`; the tries of this search are added.
    """
    tried = {} if tried is None else tried
    deadline = time.monotonic() + budget
    tries = 0
    probe = case_source(spec, np.dtype(dtype), seed, case_index, setting)
    inputs = spec.make_inputs(probe, np.dtype(dtype))
    sizes = {name: probe.sizes[name] for name in spec.zero_size if name in probe.sizes}
    names = _draw_names(inputs, probe.float_arrays, spec)
    draws = len(probe.float_arrays) + len(spec.upstream_outputs)  # the upstream gradients are drawn after the inputs

    def still_fails(trial: Setting) -> bool:
        nonlocal tries
        if time.monotonic() > deadline:
            return False
        tries += 1
        key = trial_key(spec, dtype, seed, case_index, device, trial)
        if key not in tried:
            try:
                tried[key] = audit_case(spec, dtype, seed, case_index, device, trial)
            except Exception:  # a size the spec cannot draw, or a reference that cannot run there
                tried[key] = None
        observations = tried[key]
        return observations is not None and fails(observations)

    current = replace(setting, dims={**setting.dims, **sizes})
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        for name, size in sizes.items():
            for smaller in range(1, size):
                trial = replace(current, dims={**current.dims, name: smaller})
                if still_fails(trial):
                    current, sizes[name], changed = trial, smaller, True
                    break
    for index in range(draws):
        for mode in SIMPLER_VALUES:
            trial = replace(current, values={**current.values, index: mode})
            if still_fails(trial):
                current = trial
                break
    final = spec.make_inputs(case_source(spec, np.dtype(dtype), seed, case_index, current), np.dtype(dtype))
    return MinimalCase(current, sizes, final, tries, time.monotonic() <= deadline, names)


def trial_key(spec: LayerSpec, dtype: str, seed: int, case_index: int, device: str, setting: Setting) -> tuple:
    """What names one try of a search: the case and every part of its setting."""
    return (spec.name, dtype, seed, case_index, device, setting.name, tuple(sorted(setting.dims.items())),
            setting.scale, tuple(sorted(setting.values.items())))


def _draw_names(inputs: Arrays, drawn: list[np.ndarray], spec: LayerSpec) -> dict[int, str]:
    """Which input each float draw made (by identity), then the upstream gradients, drawn after them."""
    names = {index: name for index, array in enumerate(drawn) for name, value in inputs.items() if value is array}
    names.update({len(drawn) + number: f"upstream {name}" for number, name in enumerate(spec.upstream_outputs)})
    return names


def has_finding(spec: LayerSpec, function: str, finding: str) -> Callable[[list[Observation]], bool]:
    """``fails(observations)``: whether impl's checks of ``function`` in one case give ``finding``."""
    def fails(observations: list[Observation]) -> bool:
        checks = aggregate([observation for observation in observations if observation.subject == IMPL])
        return any(function_of(spec, check) == function and finding_of(check) == finding for check in checks)

    return fails


#: Findings whose cases are shrunk: not a stub, a timeout (it would cost its limit each try), nor what follows.
SHRUNK = ("wrong_value", "dtype_changed", "mutates_input", "crash")


def first_failure(result, spec: LayerSpec, function: str, dtype: str, finding: str) -> int | None:
    """The index of the first case in which impl's checks of ``function`` gave ``finding``."""
    cases = [failure.case_index for run in result.runs if run.layer == spec.name and run.dtype == dtype
             for check in run.checks if check.subject == IMPL and function_of(spec, check) == function
             and finding_of(check) == finding for failure in check.failures]
    return min(cases) if cases else None


def minimal_cases(result, specs: list[LayerSpec], found: dict, total_budget: float = 60.0,
                  budget: float | None = None) -> dict[str, dict[str, dict]]:
    """``{function: {dtype: {"finding", "setting", "case", "text"}}}``: the minimal case of each finding shrunk.

    ``found`` holds the verdicts (:func:`oracle.judge.verdicts.verdicts`); each function and dtype's first finding
    of :data:`SHRUNK` is shrunk within ``budget`` seconds (:data:`BUDGET_SECONDS` when ``None``, read at the
    call), all of them within ``total_budget``.
    """
    from oracle.judge.verdicts import functions_of

    budget = BUDGET_SECONDS if budget is None else budget

    config = result.config
    started = time.monotonic()
    minimal: dict[str, dict[str, dict]] = {}
    tried: dict[tuple, list[Observation] | None] = {}  # shared by the searches: the same cases, run once
    for spec in specs:
        for function in functions_of(spec):
            for dtype, findings in found.get(function, {}).items():
                finding = next((item for item in findings if item in SHRUNK), None)
                case_index = None if finding is None else first_failure(result, spec, function, dtype, finding)
                left = total_budget - (time.monotonic() - started)
                if finding is None or case_index is None or left <= 0:
                    continue
                case = shrink(spec, dtype, config.seed, case_index, config.setting(case_index), config.device,
                              has_finding(spec, function, finding), min(budget, left), tried)
                minimal.setdefault(function, {})[dtype] = {
                    "finding": finding, "case": case_index, "sizes": case.sizes,
                    "values": {case.names.get(index, f"draw {index}"): mode
                               for index, mode in sorted(case.setting.values.items())},
                    "text": case.describe(), "minimal": case}
    return minimal
