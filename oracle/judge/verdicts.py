"""Folding an audit's checks into findings: one verdict per public function and dtype.

The audit's checks (of impl, or of a user's code bound to the specs:
:mod:`oracle.targets.binding`) are folded into one verdict per function and dtype
(:func:`verdicts`): a list of finding identifiers, ``["pass"]`` when clean.

``pass``
    every check of the function passed;
``wrong_value``
    an output or gradient disagrees with the references (after casting, for
    a promoted dtype), greedy sampling disagrees with the twin's, a
    metamorphic relation fails (:mod:`oracle.judge.metamorphic`: a sequence that
    disagrees with its own step, a batch row that depends on the others), or
    it returned something that is not numeric data (a torch tensor, a
    generator);
``nondeterministic``
    a second call on fresh copies of the same arguments gave other results;
``dtype_changed``
    an output or gradient came back in another dtype than the inputs';
``mutates_input``
    the function wrote into an argument (an input or an upstream gradient);
``crash``
    it raised, exited (``sys.exit``, ``os._exit``), died from a signal or ran
    out of memory; the evidence names which, and the smallest case;
``timeout``
    a call gave no result within the time limit (``--timeout``): the worker
    was killed, and the function's later calls are recorded as ``timeout``
    without being run;
``not_implemented``
    the target has no such function, it returned ``None`` (a stub), or it
    raised ``NotImplementedError``;
``untested``
    it could not be run because the function it needs failed (a backward
    pass whose forward pass crashed, timed out or is missing); a backward
    pass the target does not define, or whose source is still a stub, is
    ``not_implemented`` all the same;
``not_supported``
    outside the course's API (:attr:`oracle.specs.spec.LayerSpec.requirement`: the
    GRU, the LSTM with a given cell state) and not offered: the target
    defines none of the layer's functions, or its model refuses the cell
    type with a ``ValueError``. No failure, unless ``--require`` names it
    (then ``not_implemented``).

``not_implemented`` also covers a function that returned its placeholder
untouched (all zeros where the reference is not, ``<NULL>`` captions) and a
model whose ``__init__`` never created its parameters; a function found
``not_implemented`` gets no other finding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

from oracle.judge.audit import FINITE_DIFFERENCE, AuditResult, CheckResult
from oracle.judge.metamorphic import LOOP_OF_STEPS, REPEATED_CALL, split_relation
from oracle.specs.calls import MODEL_CLASS
from oracle.specs.spec import LayerSpec

FINDINGS = ("pass", "wrong_value", "nondeterministic", "dtype_changed", "mutates_input", "crash", "timeout",
            "not_implemented", "untested", "not_supported")

#: Findings that are no failure: the exit status is 0 when every function has only these.
NO_FAILURE = ("pass", "not_supported")

#: Findings of a call that gave no result: the function that needs it is ``untested``.
NO_RESULT = ("crash", "timeout", "not_implemented")


def functions_of(spec: LayerSpec) -> tuple[str, ...]:
    """The public functions a spec's findings are filed under (the model's per method and cell)."""
    if spec.public_names == ("CaptioningRNN",) and spec.gates is not None:
        return (f"CaptioningRNN.loss[{spec.gates.cell}]", f"CaptioningRNN.sample[{spec.gates.cell}]")
    return spec.public_names


def function_of(spec: LayerSpec, check: CheckResult) -> str:
    """Which of the spec's functions a check is about: forward (outputs, inputs), backward, or sampling."""
    names = functions_of(spec)
    quantity = check.quantity
    if len(names) == 1:
        return names[0]
    if quantity in ("sample captions", "error in sample"):
        return names[-1]
    if spec.public_names == ("CaptioningRNN",):
        return names[0]
    backward = quantity.startswith(("grad", "upstream gradient ", "error in backward"))
    return names[1] if backward else names[0]


def finding_of(check: CheckResult) -> str:
    """The finding of a failed check; for a call that gave no result, the worst of its cases' causes."""
    if check.passed:
        return "pass"
    causes = {failure.cause for failure in check.failures}
    if check.quantity.startswith("error in"):
        return min({cause or "crash" for cause in causes}, key=FINDINGS.index)
    if causes == {"not_implemented"}:  # a placeholder returned as it was
        return "not_implemented"
    if check.quantity.endswith(" dtype"):
        return "dtype_changed"
    if check.quantity.endswith(" unchanged"):
        return "mutates_input"
    if split_relation(check.quantity)[1] == REPEATED_CALL:
        return "nondeterministic"
    return "wrong_value"


def _size(inputs: str) -> int:
    """Total number of elements of the shapes a case description lists (``x(1, 2), W(3,)``)."""
    return sum(math.prod(int(size) for size in shape.replace(" ", "").split(",") if size)
               for shape in re.findall(r"\(([\d, ]*)\)", inputs))


def verdicts(result: AuditResult, specs: Sequence[LayerSpec], absent: Iterable[str] = (),
             required: Iterable[str] = (), unfinished: Mapping[str, str] | None = None) -> tuple[dict, dict]:
    """``(verdicts, evidence)``: ``verdicts[function][dtype]`` finding ids, ``evidence[function][dtype]`` texts.

    Evidence is the failure description of the smallest failing case of each
    failed check (for a crash, the smallest generated shapes that trigger it).
    ``absent``: the public names the target does not define; ``required``:
    the requirements (``--require``) whose absence fails; ``unfinished``: what
    shows a public function a stub as written, by name. A backward pass that
    could not run is ``not_implemented`` when it is absent or such a stub,
    ``untested`` otherwise.
    """
    unfinished = unfinished or {}
    by_name = {spec.name: spec for spec in specs}
    absent = set(absent)
    found: dict[str, dict[str, list[str]]] = {}
    evidence: dict[str, dict[str, list[str]]] = {}
    for run in result.runs:
        spec = by_name[run.layer]
        for function in functions_of(spec):
            found.setdefault(function, {}).setdefault(run.dtype, [])
            evidence.setdefault(function, {}).setdefault(run.dtype, [])
        referenced_ok = {function: all(check.passed for check in run.checks if function_of(spec, check) == function
                                       and split_relation(check.quantity)[1] != LOOP_OF_STEPS)
                         for function in functions_of(spec)}
        nondeterministic = any(finding_of(check) == "nondeterministic" for other in result.runs
                               if other.layer == run.layer for check in other.checks)  # checked in float64 only
        for check in run.checks:
            function, finding = function_of(spec, check), finding_of(check)
            if finding == "pass":
                continue
            if split_relation(check.quantity)[1] == LOOP_OF_STEPS and referenced_ok[function]:
                # The sequence agrees with its twin and finite differences: the step functions are what is
                # wrong, and their own checks report it.
                continue
            if nondeterministic and check.reference == FINITE_DIFFERENCE:
                # Finite differences of a forward pass that changes from call to call say nothing about
                # the backward pass; the nondeterminism is the finding.
                continue
            if finding not in found[function][run.dtype]:
                found[function][run.dtype].append(finding)
            smallest = min(check.failures, key=lambda failure: _size(failure.inputs))
            evidence[function][run.dtype].append(f"{finding}: {smallest.message} [{smallest.inputs}]")
    for run in result.runs:
        names = functions_of(by_name[run.layer])
        forward_failed = any(finding in NO_RESULT for finding in found[names[0]][run.dtype]) or any(
            check.quantity == "error in forward" and not check.passed for check in run.checks)
        independent = by_name[run.layer].public_names == (MODEL_CLASS,)  # sample is judged whatever loss does
        if (len(names) == 2 and not independent and forward_failed and not found[names[1]][run.dtype]):
            if names[1] in absent or names[1] in unfinished:  # nothing to run, whatever the forward pass did
                found[names[1]][run.dtype].append("not_implemented")
                evidence[names[1]][run.dtype].append(
                    f"not_implemented: {names[1]} is unfinished: {unfinished[names[1]]}" if names[1] in unfinished
                    else f"not_implemented: the target defines no {names[1]}")
            else:
                found[names[1]][run.dtype].append("untested")
                evidence[names[1]][run.dtype].append(f"untested: {names[0]} failed, so {names[1]} could not run")
    for spec in specs:
        _offered_or_not(spec, found, evidence, set(absent), set(required))
    for function, dtypes in found.items():
        for dtype, findings in dtypes.items():
            if "not_implemented" in findings:  # a stub: what else went wrong follows from that
                dtypes[dtype] = ["not_implemented"]
                evidence[function][dtype] = [text for text in evidence[function][dtype]
                                             if text.startswith("not_implemented")]
                seen = f"not_implemented: {function} is unfinished: {unfinished.get(function)}"
                if function in unfinished and seen not in evidence[function][dtype]:
                    evidence[function][dtype].append(seen)
            dtypes[dtype] = sorted(dtypes[dtype], key=FINDINGS.index) or ["pass"]
    return found, evidence


def _offered_or_not(spec: LayerSpec, found: dict, evidence: dict, absent: set[str], required: set[str]) -> None:
    """``not_supported`` for a layer outside the course's API that the target does not offer (see the docstring)."""
    if not spec.requirement:
        return
    names = functions_of(spec)
    undefined = all(name in absent for name in spec.public_names)
    why = (f"the target defines none of {', '.join(spec.public_names)}" if undefined else
           f"{names[0]} refuses this cell type")
    for function in names:
        for dtype, findings in found.get(function, {}).items():
            refused = "not_supported" in findings or (function != names[0] and "untested" in findings
                                                      and "not_supported" in found[names[0]][dtype])
            if not (undefined or refused):
                continue
            if spec.requirement in required:
                found[function][dtype] = ["not_implemented"]
                evidence[function][dtype] = [f"not_implemented: {why}, and --require names {spec.requirement}"]
            else:
                found[function][dtype] = ["not_supported"]
                evidence[function][dtype] = [f"not_supported: {why} (outside the course's API; "
                                             f"--require {spec.requirement} makes it a failure)"]
