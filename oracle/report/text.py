"""Rendering an audit: the text table, the summary, failure details, and the JSON document.

Text table
----------
One row per layer x dtype x quantity (``output NAME``, ``grad NAME``,
``sample captions``, or ``error in STAGE`` when something raised), with three
column groups, one per pair of oracles:

- ``impl vs torch[DEVICE]``: impl against its torch twin, same dtype;
- ``impl vs finite diff``: impl's gradients against float64 central finite
  differences (:mod:`oracle.references.finite_diff`);
- ``torch vs finite diff``: the twin's gradients against the same finite
  differences.

Each group gives the worst absolute error, the worst relative error (over
elements whose reference is nonzero, so it can be large where the reference
is tiny), the tolerance ``rtol/atol`` and ``pass``/``FAIL``; ``-`` where the
pair does not apply (outputs have no finite differences). A value passes when
``|actual - expected| <= atol + rtol * |expected|`` elementwise (see
:mod:`oracle.specs.tolerances`); a row of the table passes when it passed in every
case.

JSON document (``--json PATH``)
-------------------------------
A single object; :data:`JSON_SCHEMA` is its JSON Schema. Fields:

``schema_version`` (int)
    :data:`SCHEMA_VERSION`; bumped on any incompatible change.
``tool`` (str)
    ``"rnn-oracle audit"``.
``passed`` (bool)
    Whether every check passed (exit status 0).
``summary`` (object)
    ``checks``, ``passed``, ``failed`` (ints: counts of rows of ``results``)
    and ``seconds`` (float: wall time of the audit).
``seed`` (int)
    The master seed (also in ``options``).
``options`` (object)
    The selection actually audited: ``layers`` (list of str), ``dtypes``
    (list of str), ``cases`` (int), ``seed`` (int), ``device`` (str),
    ``specs`` (list of the ``--spec`` targets), ``profile`` (str) and
    ``dims`` (object: the ``--dims`` sizes by dimension name).
``command_line`` (list of str)
    The arguments the command was given (after the program name).
``environment`` (object)
    ``python``, ``numpy``, ``torch``, ``platform`` (str), ``torch_threads``
    (int) and ``precision`` (object: :func:`oracle.references.twins.precision_settings`,
    e.g. ``cuda_matmul_allow_tf32``, ``cudnn_allow_tf32``,
    ``float32_matmul_precision``, ``device``).
``results`` (list of object)
    One per check (layer x dtype x quantity x subject x reference):
    ``layer``, ``dtype``, ``quantity``, ``subject`` (``"impl"`` or
    ``"torch[DEVICE]"``), ``reference`` (``"torch[DEVICE]"`` or
    ``"finite_difference"``), ``rtol``, ``atol``, ``cases`` (int),
    ``max_abs``, ``max_rel``, ``worst_ratio`` (worst error over its allowance;
    at most 1 when passing; numbers, or null when not finite, e.g. a shape
    mismatch or NaN), ``passed`` (bool) and ``failures`` (list of objects
    ``case`` (int, the case index), ``inputs`` (str: layer, dtype and input
    shapes), ``message`` (str), ``rerun`` (str: a command line auditing
    just that layer, dtype and seed, up to that case) and ``localization``
    (null, or an object: ``worst_index`` (list of int), ``steps`` (null, or
    the worst error over its allowance at each time step t = 0..T-1),
    ``first_failing_step_from_end`` (null or int: the last step t whose
    error exceeds its allowance), ``gates`` (null, or the worst error over
    its allowance per gate block, e.g. ``{"i": 0.1, "f": 0.2, "o": 40,
    "g": 38}``); :mod:`oracle.judge.localize`)).

Version history: 1, the first; 2, ``options.profile``, ``options.dims`` and
``failures[].localization`` added.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence

from oracle.judge.audit import FINITE_DIFFERENCE, IMPL, AuditConfig, AuditResult, CheckResult
from oracle.judge.checks import torch_name
from oracle.specs.profiles import format_dims

#: Version of the JSON document's layout.
SCHEMA_VERSION = 2

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_LOCALIZATION_SCHEMA = {
    "type": ["object", "null"],
    "properties": {"worst_index": {"type": "array", "items": {"type": "integer"}},
                   "steps": {"type": ["array", "null"], "items": _NUMBER_OR_NULL},
                   "first_failing_step_from_end": {"type": ["integer", "null"]},
                   "gates": {"type": ["object", "null"]}},
}
_FAILURE_SCHEMA = {
    "type": "object",
    "required": ["case", "inputs", "message", "rerun", "localization"],
    "properties": {"case": {"type": "integer"}, "inputs": {"type": "string"}, "message": {"type": "string"},
                   "rerun": {"type": "string"}, "localization": _LOCALIZATION_SCHEMA},
}
_RESULT_SCHEMA = {
    "type": "object",
    "required": ["layer", "dtype", "quantity", "subject", "reference", "rtol", "atol", "cases", "max_abs",
                 "max_rel", "worst_ratio", "passed", "failures"],
    "properties": {
        "layer": {"type": "string"}, "dtype": {"type": "string", "enum": ["float32", "float64"]},
        "quantity": {"type": "string"}, "subject": {"type": "string"}, "reference": {"type": "string"},
        "rtol": {"type": "number"}, "atol": {"type": "number"}, "cases": {"type": "integer"},
        "max_abs": _NUMBER_OR_NULL, "max_rel": _NUMBER_OR_NULL, "worst_ratio": _NUMBER_OR_NULL,
        "passed": {"type": "boolean"}, "failures": {"type": "array", "items": _FAILURE_SCHEMA},
    },
}

#: JSON Schema (draft 2020-12) of the document :func:`to_json` builds.
JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "rnn-oracle audit results",
    "type": "object",
    "required": ["schema_version", "tool", "passed", "summary", "seed", "options", "command_line", "environment",
                 "results"],
    "properties": {
        "schema_version": {"type": "integer", "enum": [SCHEMA_VERSION]},
        "tool": {"type": "string"},
        "passed": {"type": "boolean"},
        "summary": {
            "type": "object", "required": ["checks", "passed", "failed", "seconds"],
            "properties": {"checks": {"type": "integer"}, "passed": {"type": "integer"},
                           "failed": {"type": "integer"}, "seconds": {"type": "number"}},
        },
        "seed": {"type": "integer"},
        "options": {
            "type": "object", "required": ["layers", "dtypes", "cases", "seed", "device", "specs", "profile", "dims"],
            "properties": {
                "layers": {"type": "array", "items": {"type": "string"}},
                "dtypes": {"type": "array", "items": {"type": "string"}},
                "cases": {"type": "integer"}, "seed": {"type": "integer"}, "device": {"type": "string"},
                "specs": {"type": "array", "items": {"type": "string"}}, "profile": {"type": "string"},
                "dims": {"type": "object"},
            },
        },
        "command_line": {"type": "array", "items": {"type": "string"}},
        "environment": {
            "type": "object", "required": ["python", "numpy", "torch", "platform", "torch_threads", "precision"],
            "properties": {"python": {"type": "string"}, "numpy": {"type": "string"}, "torch": {"type": "string"},
                           "platform": {"type": "string"}, "torch_threads": {"type": "integer"},
                           "precision": {"type": "object"}},
        },
        "results": {"type": "array", "items": _RESULT_SCHEMA},
    },
}

#: Printed under the table: how to read it.
LEGEND = ("A value passes when |actual - reference| <= atol + rtol * |reference| elementwise; max rel is over "
          "nonzero reference elements,\nso it can exceed rtol where the reference is tiny. Rows pass when every case "
          "passed; '-': not compared (outputs have no finite differences).")

#: Finite differences, as the table's headers call them.
_FD_LABEL = "finite diff"


def pairs(device: str) -> list[tuple[str, str]]:
    """The (subject, reference) pairs of the table's column groups, in order."""
    twin = torch_name(device)
    return [(IMPL, twin), (IMPL, FINITE_DIFFERENCE), (twin, FINITE_DIFFERENCE)]


def rerun_command(config: AuditConfig, layer: str, dtype: str, case_index: int, prog: str = "rnn-oracle") -> str:
    """The command line that audits only ``layer`` in ``dtype`` with ``config``'s seed, through case ``case_index``.

    Cases are seeded independently (see :func:`oracle.judge.audit.case_rng`), so
    case ``k`` of this command is exactly case ``k`` of the original run.
    """
    words = [*shlex.split(prog), "audit", "--layers", layer, "--dtypes", dtype, "--seed", str(config.seed),
             "--cases", str(case_index + 1)]
    for target in config.spec_targets:
        words += ["--spec", target]
    if config.impl_target:
        words += ["--impl", config.impl_target, *config.impl_options]
    if config.device != "cpu":
        words += ["--device", config.device]
    if config.profile != "default":
        words += ["--profile", config.profile]
    if config.dims:
        words += ["--dims", format_dims(config.dims)]
    return shlex.join(words)


def _number(value: float) -> str:
    return f"{value:7.1e}" if math.isfinite(value) else f"{value:>7}"


def _tolerance(check: CheckResult) -> str:
    return f"{check.tolerance.rtol:.0e}/{check.tolerance.atol:.0e}"


_GROUP_WIDTH = 35
_EMPTY_GROUP = f"{'-':>7}  {'-':>7}  {'-':>11}  {'-':<4}"


def _group(check: CheckResult | None) -> str:
    if check is None:
        return _EMPTY_GROUP
    verdict = "pass" if check.passed else "FAIL"
    if check.quantity.startswith("error in "):  # a call that gave no result: nothing compared, no figures
        return f"{'-':>7}  {'-':>7}  {'-':>11}  {verdict:<4}"
    return f"{_number(check.max_abs)}  {_number(check.max_rel)}  {_tolerance(check):>11}  {verdict:<4}"


def checks_by_row(result: AuditResult) -> dict[tuple[str, str, str], dict[tuple[str, str], CheckResult]]:
    """Checks by (layer, dtype, quantity), then by (subject, reference); in audit order."""
    rows: dict[tuple[str, str, str], dict[tuple[str, str], CheckResult]] = {}
    for check in result.checks:
        rows.setdefault((check.layer, check.dtype, check.quantity), {})[(check.subject, check.reference)] = check
    return rows


def render_table(result: AuditResult) -> str:
    """The fixed-width table of every check (see the module docstring)."""
    rows = checks_by_row(result)
    layer_width = max([len("layer"), *(len(layer) for layer, _, _ in rows)])
    quantity_width = max([len("quantity"), *(len(quantity) for _, _, quantity in rows)])
    lead = f"{'':<{layer_width}}  {'':<7}  {'':<{quantity_width}}"
    titles = [f"{subject.split('[')[0]} vs {reference.replace(FINITE_DIFFERENCE, _FD_LABEL)}"
              for subject, reference in pairs(result.config.device)]
    header = "  ".join([lead, *(f"{title:<{_GROUP_WIDTH}}" for title in titles)]).rstrip()
    columns = "  ".join([f"{'layer':<{layer_width}}  {'dtype':<7}  {'quantity':<{quantity_width}}",
                         *([f"{'max abs':>7}  {'max rel':>7}  {'rtol/atol':>11}  {'ok':<4}"] * len(titles))])
    columns = columns.rstrip()
    lines = [header, columns, "-" * len(columns)]
    for (layer, dtype, quantity), checks in rows.items():
        groups = [_group(checks.get(pair)) for pair in pairs(result.config.device)]
        off_table = [check for pair, check in checks.items() if pair not in pairs(result.config.device)]
        if off_table:  # e.g. "input x unchanged": impl against its own arguments, shown in the first group
            groups[0] = _group(off_table[0])
        lines.append("  ".join([f"{layer:<{layer_width}}  {dtype:<7}  {quantity:<{quantity_width}}", *groups]).rstrip())
    return "\n".join(lines)


def count(number: int, noun: str) -> str:
    """``"1 layer"``, ``"2 layers"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def selection(config: AuditConfig) -> str:
    """``"15 layers x 2 dtypes x 16 cases, seed 0, device cpu"`` (and the profile and ``--dims`` when given)."""
    extra = (f", profile {config.profile}" if config.profile != "default" else "") + (
        f", dims {format_dims(config.dims)}" if config.dims else "")
    return (f"{count(len(config.layers), 'layer')} x {count(len(config.dtypes), 'dtype')} x "
            f"{count(config.cases, 'case')}, seed {config.seed}, device {config.device}{extra}")


def summary_line(result: AuditResult) -> str:
    """``"N of M checks passed"`` with the selection that produced it."""
    checks = result.checks
    passed = sum(check.passed for check in checks)
    config = result.config
    verdict = "all passed" if passed == len(checks) else f"{len(checks) - passed} FAILED"
    return f"{passed} of {len(checks)} checks passed ({verdict}): {selection(config)}, {result.seconds:.1f} s"


def diagnosis(result: AuditResult, layer: str, dtype: str, quantity: str) -> str:
    """Which side is most likely wrong, from which of the three pairs agree (``""`` when it cannot tell).

    Finite differences differentiate *impl's* forward pass, so they judge
    impl's backward against impl's forward; only the twin judges the forward.
    """
    rows = checks_by_row(result)
    impl_vs_torch = pairs(result.config.device)[0]
    impl_torch, impl_fd, torch_fd = (rows.get((layer, dtype, quantity), {}).get(pair)
                                     for pair in pairs(result.config.device))
    if quantity.startswith("output") and impl_torch is not None and not impl_torch.passed:
        return "impl's forward pass disagrees with the twin's"
    if impl_torch is None or impl_fd is None or torch_fd is None:
        return ""
    output_checks = [checks.get(impl_vs_torch) for (row_layer, row_dtype, row_quantity), checks in rows.items()
                     if (row_layer, row_dtype) == (layer, dtype) and row_quantity.startswith("output")]
    forward_differs = any(check is not None and not check.passed for check in output_checks)
    verdicts = (impl_torch.passed, impl_fd.passed, torch_fd.passed)
    if verdicts == (False, True, False):
        return ("impl's backward is the gradient of impl's forward, but that forward disagrees with the twin's"
                if forward_differs else
                "impl agrees with finite differences of its forward; the torch twin's gradient is suspect")
    return {
        (False, False, True): "impl's backward is wrong: torch and finite differences agree with each other",
        (False, False, False): "impl's backward is not the gradient of its forward, and impl disagrees with the twin",
        (True, False, False): "impl and torch agree but finite differences do not: a shared mistake, "
                              "or a point where the objective is not smooth",
    }.get(verdicts, "")


def render_failures(result: AuditResult, prog: str = "rnn-oracle") -> str:
    """Details of every failed row: which pairs failed, the first failing case, its shapes, and how to rerun it."""
    blocks = []
    for (layer, dtype, quantity), checks in checks_by_row(result).items():
        failed = [check for check in checks.values() if not check.passed]
        if not failed:
            continue
        lines = [f"FAIL {layer} {dtype} {quantity}: " + _failed_pairs(quantity, failed)]
        shown_case = None
        for check in failed:
            first = check.failures[0]
            if first.case_index != shown_case:  # the pairs usually fail in the same case: name it once
                lines.append(f"  case {first.case_index} (seed {result.config.seed}): {first.inputs}")
                shown_case = first.case_index
            lines.append(f"    {check.subject}: {first.message}")
        reason = diagnosis(result, layer, dtype, quantity)
        if reason:
            lines.append(f"  diagnosis: {reason}")
        first_case = min(check.failures[0].case_index for check in failed)
        lines.append(f"  rerun: {rerun_command(result.config, layer, dtype, first_case, prog)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _failed_pairs(quantity: str, failed: list[CheckResult]) -> str:
    """What failed in a row: the pairs that disagree, or, for a call that gave no result, no comparison at all."""
    if quantity.startswith("error in "):  # nothing was compared: the call raised, crashed or timed out
        subjects = dict.fromkeys(check.subject for check in failed)
        return ", ".join(f"{subject} gave no result in {max(len(check.failures) for check in failed)} of "
                         f"{failed[0].cases} cases" for subject in subjects)
    return ", ".join(f"{check.subject} vs {check.reference} in {len(check.failures)} of {check.cases} cases"
                     for check in failed)


def render(result: AuditResult, prog: str = "rnn-oracle") -> str:
    """Table, failure details (if any), precision settings and summary: the text the command prints."""
    precision = result.environment.get("precision", {})
    settings = ", ".join(f"{key}={value}" for key, value in precision.items())
    parts = [render_table(result) + "\n" + LEGEND]
    failures = render_failures(result, prog)
    if failures:
        parts.append(failures)
    parts.append(f"precision settings: {settings}")
    parts.append(summary_line(result))
    return "\n\n".join(parts)


def _finite_or_none(value: float) -> float | None:
    # Standard JSON has no Infinity or NaN; null marks them (the failure message says which).
    return value if math.isfinite(value) else None


def _check_json(check: CheckResult, config: AuditConfig, prog: str) -> dict:
    return {
        "layer": check.layer, "dtype": check.dtype, "quantity": check.quantity, "subject": check.subject,
        "reference": check.reference, "rtol": check.tolerance.rtol, "atol": check.tolerance.atol,
        "cases": check.cases, "max_abs": _finite_or_none(check.max_abs), "max_rel": _finite_or_none(check.max_rel),
        "worst_ratio": _finite_or_none(check.ratio), "passed": check.passed,
        "failures": [{"case": failure.case_index, "inputs": failure.inputs, "message": failure.message,
                      "rerun": rerun_command(config, check.layer, check.dtype, failure.case_index, prog),
                      "localization": None if failure.localization is None else failure.localization.to_json()}
                     for failure in check.failures],
    }


def to_json(result: AuditResult, command_line: Sequence[str], prog: str = "rnn-oracle") -> dict:
    """The JSON document of ``result`` (see :data:`JSON_SCHEMA`); serialise with ``json.dump(..., allow_nan=False)``."""
    config = result.config
    checks = result.checks
    passed = sum(check.passed for check in checks)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "rnn-oracle audit",
        "passed": result.passed,
        "summary": {"checks": len(checks), "passed": passed, "failed": len(checks) - passed,
                    "seconds": result.seconds},
        "seed": config.seed,
        "options": {"layers": list(config.layers), "dtypes": list(config.dtypes), "cases": config.cases,
                    "seed": config.seed, "device": config.device, "specs": list(config.spec_targets),
                    "profile": config.profile, "dims": dict(config.dims)},
        "command_line": list(command_line),
        "environment": result.environment,
        "results": [_check_json(check, config, prog) for check in checks],
    }


def cause_lines(causes: dict, function: str, indent: str = "    ") -> list[str]:
    """Each likely cause of a function's findings (``causes[function][dtype]``, :mod:`oracle.judge.causes`): a line.

    ``"likely cause (reproduced exactly on all 7 float64 and 7 float32 cases): <text> [<id>]"``; a cause found
    in both dtypes is said once. Nothing for a function without one.
    """
    said: dict[tuple[str, str], list[str]] = {}
    for dtype, listed in causes.get(function, {}).items():
        for cause in listed:
            said.setdefault((cause["id"], cause["text"]), []).append(f"{cause['cases']} {dtype}")
    return [f"{indent}likely cause (reproduced exactly on all {' and '.join(cases)} cases): {text} [{cause_id}]"
            for (cause_id, text), cases in said.items()]

