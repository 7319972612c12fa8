"""Auditing a user's own implementation: ``rnn-oracle audit --impl TARGET``.

A target is a ``.py`` file, a package folder (a course folder ``cs231n/``
holding ``rnn_layers.py``, and ``classifiers/rnn.py`` for the model; any
other package folder is imported as the package) or a dotted module name.
Its folder's parent (a file's own folder) is made importable, so the
target's own imports (``from cs231n.layers import *``) work. Every built-in
spec is then bound to the target's function of the same public name
(:attr:`oracle.spec.LayerSpec.public_names`; the captioning specs to its
``CaptioningRNN``), and a name the target lacks becomes a stub that reports
``not_implemented``.

The audit's checks are folded into one verdict per function and dtype
(:func:`verdicts`): a list of finding identifiers, ``["pass"]`` when clean.

``pass``
    every check of the function passed;
``wrong_value``
    an output or gradient disagrees with the references (after casting, for
    a promoted dtype), greedy sampling disagrees with the twin's, or a
    metamorphic relation fails (:mod:`oracle.metamorphic`: a sequence that
    disagrees with its own step, a batch row that depends on the others);
``nondeterministic``
    a second call on fresh copies of the same arguments gave other results;
``dtype_changed``
    an output or gradient came back in another dtype than the inputs';
``mutates_input``
    the function wrote into an argument (an input or an upstream gradient);
``crash``
    it raised; the evidence names the exception and the smallest case;
``not_implemented``
    the target has no such function, it returned ``None`` (a stub), or it
    raised ``NotImplementedError``;
``untested``
    it could not be run because the function it needs failed (a backward
    pass whose forward pass crashed or is missing).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from oracle.audit import FINITE_DIFFERENCE, AuditResult, CheckResult
from oracle.metamorphic import LOOP_OF_STEPS, REPEATED_CALL, split_relation
from oracle.registry import import_file
from oracle.spec import LayerSpec, NotImplementedLayer

FINDINGS = ("pass", "wrong_value", "nondeterministic", "dtype_changed", "mutates_input", "crash", "not_implemented",
            "untested")

#: Modules of a course folder that hold the layer functions and the model, in lookup order.
COURSE_MODULES = ("rnn_layers", "classifiers.rnn")


class TargetError(Exception):
    """A target that cannot be imported; the message is one line (what, file, line)."""


def describe_error(error: BaseException) -> str:
    """``"SyntaxError at path/file.py:3: ..."``: the error and where in the user's code it was raised."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{type(error).__name__} at {error.filename}:{error.lineno}: {error.msg}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if "importlib" not in frame.filename]
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}: {error}"


@dataclass(frozen=True)
class Target:
    """A user's implementation: where its public names are looked up, in order."""

    label: str
    modules: tuple[ModuleType, ...]

    def find(self, name: str) -> Any | None:
        """The target's attribute ``name`` (``"CaptioningRNN"``, ``"lstm_forward"``), or ``None``.

        A module that defines it wins over one that only imports it (``rnn_layers.py`` may re-export
        a model that ``classifiers/rnn.py`` subclasses); otherwise the first module that has it.
        """
        holders = [module for module in self.modules if hasattr(module, name)]
        defining = [module for module in holders
                    if getattr(getattr(module, name), "__module__", None) == module.__name__]
        return getattr((defining or holders)[0], name) if holders else None


def _importable(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def load_target(text: str) -> Target:
    """Import the target named by ``text`` (file, package folder or dotted name); :class:`TargetError` if it fails."""
    path = Path(text)
    try:
        if path.suffix == ".py" and path.is_file():
            module = import_file(path, "_rnn_oracle_target_" + re.sub(r"\W", "_", path.stem))
            return Target(text, (module,))
        if path.is_dir():
            folder = path.resolve()
            _importable(folder.parent)
            for name in [name for name in sys.modules if name == folder.name or name.startswith(folder.name + ".")]:
                del sys.modules[name]  # a package of the same name imported earlier must not stand in for this one
            found = [name for name in COURSE_MODULES if (folder / (name.replace(".", "/") + ".py")).is_file()]
            if not found:  # a package exporting the API itself (its __init__.py)
                return Target(text, (importlib.import_module(folder.name),))
            return Target(text, tuple(importlib.import_module(f"{folder.name}.{name}") for name in found))
        if path.suffix == ".py" or "/" in text:
            raise TargetError(f"{text}: no such file or folder")
        _importable(Path.cwd())
        return Target(text, (importlib.import_module(text),))
    except TargetError:
        raise
    except Exception as error:  # anything the user's code raises while importing
        raise TargetError(f"cannot import {text}: {describe_error(error)}") from error


def missing(name: str, target: Target) -> Callable[..., Any]:
    """A stand-in for a function the target lacks: it raises :class:`NotImplementedLayer`."""

    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedLayer(f"{target.label} has no {name}")

    stub.__name__ = name
    return stub


def bind(spec: LayerSpec, target: Target) -> LayerSpec:
    """``spec`` with its functions taken from ``target`` by their public names (see the module docstring)."""
    bound = _bind_functions(spec, _found(spec.public_names, target))
    checks = tuple(check if check.binder is None else check.binder(_found(check.public_names, target))
                   for check in bound.extra_checks)
    return dataclasses.replace(bound, extra_checks=checks)


def _found(names: Iterable[str], target: Target) -> dict[str, Any]:
    return {name: target.find(name) or missing(name, target) for name in names}


def _bind_functions(spec: LayerSpec, found: dict[str, Any]) -> LayerSpec:
    if spec.binder is not None:
        return spec.binder(spec, found)
    if spec.is_loss:
        return dataclasses.replace(spec, forward=found[spec.public_names[0]])
    forward, backward = spec.public_names
    return dataclasses.replace(spec, forward=found[forward], backward=found[backward])


def bound_specs(specs: Iterable[LayerSpec], target: Target) -> list[LayerSpec]:
    """The specs that name public functions, bound to ``target``."""
    return [bind(spec, target) for spec in specs if spec.public_names]


# --------------------------------------------------------------------------- verdicts


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


def _finding(check: CheckResult) -> str:
    if check.passed:
        return "pass"
    if check.quantity.startswith("error in"):
        text = " ".join(failure.message for failure in check.failures)
        return "not_implemented" if "NotImplemented" in text else "crash"
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


def verdicts(result: AuditResult, specs: Sequence[LayerSpec]) -> tuple[dict, dict]:
    """``(verdicts, evidence)``: ``verdicts[function][dtype]`` finding ids, ``evidence[function][dtype]`` texts.

    Evidence is the failure description of the smallest failing case of each
    failed check (for a crash, the smallest generated shapes that trigger it).
    """
    by_name = {spec.name: spec for spec in specs}
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
        nondeterministic = any(_finding(check) == "nondeterministic" for other in result.runs
                               if other.layer == run.layer for check in other.checks)  # checked in float64 only
        for check in run.checks:
            function, finding = function_of(spec, check), _finding(check)
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
        forward_failed = any(finding in ("crash", "not_implemented") for finding in found[names[0]][run.dtype])
        if len(names) == 2 and names[1] != names[0] and forward_failed and not found[names[1]][run.dtype]:
            found[names[1]][run.dtype].append("untested")
            evidence[names[1]][run.dtype].append(f"untested: {names[0]} failed, so {names[1]} could not run")
    for dtypes in found.values():
        for dtype, findings in dtypes.items():
            dtypes[dtype] = sorted(findings, key=FINDINGS.index) or ["pass"]
    return found, evidence
