"""``rnn-oracle audit ... --html PATH``: the audit as one self-contained HTML page with plots.

The page (Jinja2 template ``oracle/report/templates/audit.html.j2``, plots from
:mod:`oracle.report.plots` as inline SVG) holds

- the summary line and the selection: layers, dtypes, cases, seed, device,
  precision settings and versions (:func:`oracle.report.text.summary_line`,
  :func:`oracle.report.text.selection`);
- one row per layer x dtype (``id="layer-LAYER-DTYPE"``), failing rows
  marked and linked to their details;
- the ratio plot (``id="ratio-plot"``): the worst error over allowance of
  every layer x dtype x quantity and oracle pair, log scale, pass line at 1,
  failures in red;
- for each failure: the evidence of each failing pair (first failing case,
  its shapes, the message, where it is wrong), the diagnosis, the rerun
  command, the worst ratio per time step (``id="steps-LAYER-DTYPE-QUANTITY"``,
  for a quantity with a time axis), and per layer x dtype a heatmap of the
  gated parameters' worst ratio per gate (``id="heatmap-LAYER-DTYPE"``),
  from the failures' :class:`oracle.judge.localize.Localization`;
- with ``--impl``, the grader's grid: targets x functions, each cell
  coloured by its finding and linking to its evidence (``id="grid"``),
  where the likely causes of a finding (:mod:`oracle.judge.causes`) stand
  beside it (``class="cause"``).

Nothing on the page is loaded from the network: styles are inline, plots
are inline SVG with text drawn as paths, and there is no script.

jinja2 and matplotlib are the optional extra ``rnn-oracle[report]``; this
module imports them, so callers import it only when a page is asked for
(:func:`oracle.cli.check_html_path` says first whether it can be).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from oracle.judge.audit import AuditConfig, AuditResult, CheckResult, environment
from oracle.judge.localize import Localization
from oracle.judge.metamorphic import split_relation
from oracle.judge.verdicts import FINDINGS, NO_FAILURE
from oracle.report.plots import RatioPoint, StepSeries, gate_heatmap, ratio_plot, steps_plot
from oracle.report.text import cause_lines, checks_by_row, diagnosis, pairs, rerun_command, selection, summary_line
from oracle.specs.families import COURSE_NAMES


def anchor(*parts: str) -> str:
    """An HTML id from ``parts``: ``anchor("heatmap", "lstm", "float32")`` -> ``"heatmap-lstm-float32"``."""
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", part).strip("_") for part in parts)


def pair_label(check: CheckResult) -> str:
    """``"impl vs torch[cpu]"``."""
    return f"{check.subject} vs {check.reference}"


def _ratio_text(ratio: float) -> str:
    return f"{ratio:.3g}" if math.isfinite(ratio) else str(ratio)


# --------------------------------------------------------------------------- the audit's parts


@dataclass(frozen=True)
class LayerRow:
    """A row of the layer table: one layer in one dtype."""

    id: str
    layer: str
    dtype: str
    checks: int
    failed: int
    worst: str
    seconds: float
    details: str


@dataclass(frozen=True)
class Evidence:
    """One failing oracle pair of a quantity: how often, and its first failing case."""

    pair: str
    failed: int
    cases: int
    case_index: int
    inputs: str
    message: str
    where: str


@dataclass(frozen=True)
class FailureBlock:
    """One failing layer x dtype x quantity."""

    id: str
    quantity: str
    evidence: tuple[Evidence, ...]
    diagnosis: str
    rerun: str
    steps_plot: str = ""


@dataclass(frozen=True)
class LayerFailures:
    """The failures of one layer in one dtype, with its gate heatmap."""

    id: str
    layer: str
    dtype: str
    heatmap: str
    failing_gates: str
    blocks: tuple[FailureBlock, ...]


def layer_rows(result: AuditResult) -> list[LayerRow]:
    """One :class:`LayerRow` per run, in audit order."""
    return [LayerRow(anchor("layer", run.layer, run.dtype), run.layer, run.dtype, len(run.checks),
                     sum(not check.passed for check in run.checks),
                     _ratio_text(max((check.ratio for check in run.checks), default=0.0)), run.seconds,
                     "" if run.passed else anchor("failures", run.layer, run.dtype))
            for run in result.runs]


def ratio_points(result: AuditResult) -> tuple[list[RatioPoint], list[str]]:
    """Every check as a :class:`RatioPoint`, and the oracle pairs in legend order (the table's, then others).

    A check of a quantity under a variant of its case (``"grad x [repeated call]"``) shares the
    quantity's row, as a pair of its own (``"impl vs its first call [repeated call]"``), so the plot
    keeps one row per layer x quantity however many variants are checked.
    """
    points = []
    for check in result.checks:
        quantity, relation = split_relation(check.quantity)
        variant = f" [{relation}]" if relation else ""
        points.append(RatioPoint(f"{check.layer}: {quantity}", check.dtype, pair_label(check) + variant,
                                 check.ratio, check.passed))
    known = [f"{subject} vs {reference}" for subject, reference in pairs(result.config.device)]
    return points, list(dict.fromkeys([*known, *(point.pair for point in points)]))


def step_series(failed: Sequence[CheckResult]) -> list[StepSeries]:
    """Per failing pair, the per-step ratios of its first failing case that has a time axis."""
    series = []
    for check in failed:
        for failure in check.failures:
            where = failure.localization  # None for a crash or a dtype mismatch; no steps without a time axis
            if where is not None and where.steps:
                series.append(StepSeries(f"{pair_label(check)}, case {failure.case_index}", where.steps))
                break
    return series


def gate_table(checks: Sequence[CheckResult]) -> tuple[list[str], list[str], list[list[float]]]:
    """``(rows, gates, values)`` of the gate heatmap: worst ratio per gated quantity and gate over the failures.

    Rows are the failing quantities with gate blocks (``grad Wx``, ``grad Wh``, ...), in audit order;
    a gate a row was not measured in is ``nan``.
    """
    worst: dict[str, dict[str, float]] = {}
    for check in checks:
        for failure in check.failures:
            for gate, ratio in failure.localization.gates if failure.localization is not None else ():
                row = worst.setdefault(check.quantity, {})
                row[gate] = max(row.get(gate, 0.0), ratio)
    gates = list(dict.fromkeys(gate for row in worst.values() for gate in row))
    return list(worst), gates, [[row.get(gate, math.nan) for gate in gates] for row in worst.values()]


def outside_tolerance(rows: Sequence[str], gates: Sequence[str], values: Sequence[Sequence[float]]) -> str:
    """``"grad Wx o, g; grad b o"``: the gates of each row of :func:`gate_table` whose worst ratio exceeds 1."""
    found = [(row, [gate for gate, value in zip(gates, row_values, strict=True) if value > 1.0])
             for row, row_values in zip(rows, values, strict=True)]
    return "; ".join(f"{row} {', '.join(wrong)}" for row, wrong in found if wrong) or "none"


def failure_sections(result: AuditResult, prog: str) -> list[LayerFailures]:
    """The failure details, grouped by layer x dtype, in audit order."""
    grouped: dict[tuple[str, str], list[FailureBlock]] = {}
    failed_checks: dict[tuple[str, str], list[CheckResult]] = {}
    for (layer, dtype, quantity), checks in checks_by_row(result).items():
        failed = [check for check in checks.values() if not check.passed]
        if not failed:
            continue
        failed_checks.setdefault((layer, dtype), []).extend(failed)
        evidence = tuple(Evidence(pair_label(check), len(check.failures), check.cases, first.case_index,
                                  first.inputs, first.message, _describe(first.localization))
                         for check in failed for first in check.failures[:1])
        block_id = anchor("failure", layer, dtype, quantity)
        series = step_series(failed)
        plot = steps_plot(series, f"{layer} {dtype} {quantity}: error per time step",
                          anchor("steps", layer, dtype, quantity)) if series else ""
        first_case = min(check.failures[0].case_index for check in failed)
        grouped.setdefault((layer, dtype), []).append(FailureBlock(
            block_id, quantity, evidence, diagnosis(result, layer, dtype, quantity),
            rerun_command(result.config, layer, dtype, first_case, prog), plot))
    sections = []
    for (layer, dtype), blocks in grouped.items():
        rows, gates, values = gate_table(failed_checks[(layer, dtype)])
        heatmap = gate_heatmap(rows, gates, values, f"{layer} {dtype}: error per gate",
                               anchor("heatmap", layer, dtype)) if rows else ""
        sections.append(LayerFailures(anchor("failures", layer, dtype), layer, dtype, heatmap,
                                      outside_tolerance(rows, gates, values), tuple(blocks)))
    return sections


def _describe(where: Localization | None) -> str:
    return where.describe() if where is not None else ""


# --------------------------------------------------------------------------- the grader's grid


@dataclass(frozen=True)
class GridCell:
    """One target x function: its findings (``"pass"`` when clean), per dtype, and where its evidence is."""

    id: str
    function: str
    finding: str
    label: str
    per_dtype: str
    evidence: tuple[str, ...]
    links: tuple[tuple[str, str], ...] = ()
    causes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GridRow:
    """One target of the grid: its cells by function (``None``: not audited there), or why it could not run."""

    id: str
    target: str
    seconds: float
    error: str
    cells: tuple[GridCell | None, ...] = field(default_factory=tuple)
    points: str = "-"
    course: str = ""


#: Background colour of a grid cell by finding; a finding not listed gets :data:`OTHER_FINDING_COLOUR`.
FINDING_COLOURS = {"pass": "#d9f0d9", "wrong_value": "#f4a6a6", "dtype_changed": "#f9d49b",
                   "mutates_input": "#d7c1ef", "crash": "#e07b7b", "timeout": "#c98fd6", "not_implemented": "#c8c8c8",
                   "untested": "#ececec", "not_supported": "#eef3f8"}
OTHER_FINDING_COLOUR = "#f6c6a0"


def finding_colours() -> dict[str, str]:
    """Every finding of :data:`oracle.judge.verdicts.FINDINGS` with its cell colour, in that order."""
    return {finding: FINDING_COLOURS.get(finding, OTHER_FINDING_COLOUR) for finding in FINDINGS}


def findings_of(dtypes: Mapping[str, Sequence[str]]) -> list[str]:
    """The distinct findings over the dtypes, most important first (:data:`oracle.judge.verdicts.FINDINGS` order)."""
    found = {finding for findings in dtypes.values() for finding in findings}
    problems = sorted(found - {"pass"}, key=FINDINGS.index)
    return problems or ["pass"]


def entry_passed(entry: Mapping[str, Any]) -> bool:
    """Whether an ``--impl`` entry was audited and every function passed (or is not supported) in every dtype."""
    return not entry["error"] and all(set(findings_of(dtypes)) <= set(NO_FAILURE)
                                      for dtypes in entry["verdicts"].values())


def grid(entries: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[GridRow]]:
    """``(functions, rows)`` of the grid from ``--impl`` entries (``oracle.targets.impl_audit.IMPL_JSON_SCHEMA``)."""
    functions = list(dict.fromkeys(function for entry in entries for function in entry["verdicts"]))
    rows = []
    for index, entry in enumerate(entries):
        cells: list[GridCell | None] = []
        for function in functions:
            dtypes = entry["verdicts"].get(function)
            if dtypes is None:
                cells.append(None)
                continue
            found = findings_of(dtypes)
            evidence = tuple(f"{dtype}: {text}" for dtype, texts in entry["evidence"].get(function, {}).items()
                             for text in texts)
            links = tuple((f"reproducer ({dtype})", path)
                          for dtype, path in entry.get("reproducers", {}).get(function, {}).items())
            cells.append(GridCell(anchor("cell", str(index), function), function, found[0], " + ".join(found),
                                  ", ".join(f"{dtype} {' '.join(findings)}" for dtype, findings in dtypes.items()),
                                  evidence, links, tuple(cause_lines(entry.get("causes", {}), function, indent=""))))
        points = entry.get("points")
        rows.append(GridRow(anchor("target", str(index)), entry["target"], float(entry["seconds"]),
                            entry["error"] or "", tuple(cells),
                            f"{points['total']:g}/{points['max']:g}" if points else "-",
                            COURSE_NAMES[entry["family"]] + " API" if entry.get("family") else ""))
    return functions, rows


# --------------------------------------------------------------------------- the page


def _template() -> jinja2.Template:
    loader = jinja2.PackageLoader("oracle.report", "templates")
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("audit.html.j2")


def _settings(config: AuditConfig, env: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The selection, the precision settings and the versions: (table title, (name, value) rows) each."""
    chosen = [(item.name, _setting(getattr(config, item.name))) for item in dataclasses.fields(config)]
    return [
        ("selection", [(name, value) for name, value in chosen if value]),  # an unused option (no --spec) left out
        ("precision settings", [(key, str(value)) for key, value in env.get("precision", {}).items()]),
        ("versions", [(key, str(env[key])) for key in ("python", "numpy", "torch", "platform", "torch_threads")
                      if key in env]),
    ]


def _setting(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, tuple | list):
        return ", ".join(map(str, value))
    return str(value)


def render_page(config: AuditConfig, command_line: Sequence[str], *, result: AuditResult | None = None,
                entries: Sequence[Mapping[str, Any]] = (), prog: str = "rnn-oracle") -> str:
    """The page's HTML (see the module docstring).

    Parameters
    ----------
    config
        The selection audited.
    command_line
        The arguments the command was run with, shown on the page.
    result
        The audit of impl or of one ``--impl`` target (``None`` for a
        grader's page of several targets, audited in other processes).
    entries
        ``--impl`` entries, for the grader's grid (empty: no grid).
    """
    functions, grid_rows = grid(entries)
    if result is not None:
        points, legend = ratio_points(result)
        summary = summary_line(result)
        env = result.environment
    else:
        points, legend = [], []
        clean = sum(entry_passed(entry) for entry in entries)
        summary = f"{clean} of {len(entries)} targets passed every check: {selection(config)}"
        env = environment(config.device)
    return _template().render(
        title=f"{prog} audit", summary=summary,
        passed=(result is None or result.passed) and all(entry_passed(entry) for entry in entries),
        settings=_settings(config, env), command=" ".join([prog, *command_line]),
        layer_rows=layer_rows(result) if result is not None else [],
        ratio_plot=ratio_plot(points, legend) if points else "",
        failures=failure_sections(result, prog) if result is not None else [],
        functions=functions, grid_rows=grid_rows, findings=finding_colours(),
    )


def write_report(path: str | Path, config: AuditConfig, command_line: Sequence[str], *,
                 result: AuditResult | None = None, entries: Sequence[Mapping[str, Any]] = (),
                 prog: str = "rnn-oracle") -> None:
    """Render the page (:func:`render_page`) and write it to ``path`` as UTF-8; ``OSError`` when it cannot be."""
    Path(path).write_text(render_page(config, command_line, result=result, entries=entries, prog=prog),
                          encoding="utf-8")
