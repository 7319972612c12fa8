"""The site's reference tables, made from the code when the site is built (an mkdocs hook).

A page under ``docs/`` holds a marker ``<!-- generated: NAME -->`` where a
table belongs; :func:`on_page_markdown` (mkdocs calls it for every page, as
``hooks: [tools/docs_reference.py]`` in ``mkdocs.yml`` says) puts in its place
what :data:`GENERATORS` ``[NAME]`` makes from the code that decides it:

``cli``
    every subcommand of ``rnn-oracle`` from :func:`oracle.cli.build_parser`:
    its usage, each option with its argument, default, choices and help;
``findings``
    :data:`oracle.judge.verdicts.FINDINGS`, what each means (the module's
    docstring), whether it fails the run, the share each default rubric keeps;
``audit-json`` / ``impl-json``
    :data:`oracle.report.text.JSON_SCHEMA` and
    :data:`oracle.targets.impl_audit.IMPL_JSON_SCHEMA`;
``rubrics``
    the default rubrics' points and shares (``oracle/targets/rubrics/*.toml``);
``tolerances``
    :data:`oracle.specs.tolerances.TOLERANCES` and the rounding rule's constants;
``gate-layouts``
    :data:`impl.cell_layouts.GATE_ORDER` against
    :data:`oracle.references.gate_order.TORCH_GATE_ORDER` and the permutation
    between them.

Nothing of these is copied by hand, so a page cannot fall behind the code. A
marker with no generator fails the build, and ``tests/test_docs.py`` checks
that each table names everything its source holds.
``python tools/docs_reference.py NAME`` prints one of them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

#: ``<!-- generated: NAME -->`` on a line of its own.
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", flags=re.MULTILINE)

#: The width argparse formats usage lines to, so a build does not depend on the terminal.
HELP_WIDTH = 78


def _cell(text: object) -> str:
    """Text for one cell of a Markdown table: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _markdown(rst: str) -> str:
    """A docstring's reStructuredText roles and literals as Markdown code: ``:mod:`a.b``` and ````x```` -> ```x```."""
    return re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", rst).replace("``", "`")


def _code(text: object) -> str:
    return f"`{text}`"


def _argument(action: argparse.Action) -> str:
    """What follows an option on the command line, as argparse prints it: ``N``, ``NAME [NAME ...]``, or nothing."""
    if action.nargs == 0:
        return ""
    metavar = action.metavar or (action.dest.upper() if action.option_strings else action.dest)
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(map(str, action.choices)) + "}"
    if action.nargs == "+":
        return f"{metavar} [{metavar} ...]"
    if action.nargs == "*":
        return f"[{metavar} ...]"
    if action.nargs == "?":
        return f"[{metavar}]"
    return str(metavar)


def _default(action: argparse.Action) -> str:
    empty = action.default is None or action.default is False or action.default == argparse.SUPPRESS
    if empty or action.default in ([], {}) or action.nargs == 0:
        return ""
    return _code(action.default)


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    """``rnn-oracle``'s subcommands and their parsers, as :func:`oracle.cli.main` builds them."""
    from oracle.cli import build_parser

    parser = build_parser("rnn-oracle")
    for action in parser._actions:  # argparse keeps its subparsers here and nowhere public
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise RuntimeError("rnn-oracle's parser has no subcommands")


def cli() -> str:
    """Every subcommand: usage, description, one table row per option, epilog."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH)
    try:
        parts = []
        for name, parser in subcommand_parsers().items():
            parts += [f"## `rnn-oracle {name}`", "", parser.description or "", "",
                      "```text", parser.format_usage().strip(), "```", "",
                      "| option | argument | default | what it does |", "|---|---|---|---|"]
            for action in parser._actions:
                if isinstance(action, argparse._HelpAction):
                    continue
                names = ", ".join(_code(option) for option in action.option_strings) or _code(action.dest)
                argument = _argument(action)
                parts.append(f"| {names} | {_code(argument) if argument else ''} | {_default(action)} "
                             f"| {_cell(action.help or '')} |")
            if parser.epilog:
                parts += ["", "```text", parser.epilog.strip(), "```"]
            parts.append("")
        return "\n".join(parts)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def finding_meanings() -> dict[str, str]:
    """Finding -> its meaning, from the definition list of :mod:`oracle.judge.verdicts`'s docstring."""
    import oracle.judge.verdicts as verdicts

    meanings: dict[str, str] = {}
    current = None
    for line in (verdicts.__doc__ or "").splitlines():
        term = re.fullmatch(r"``([a-z_]+)``", line.strip())
        if term and not line.startswith(" "):
            current = term.group(1)
            meanings[current] = ""
        elif current and line.startswith("    "):
            meanings[current] += " " + line.strip()
        elif line.strip():
            current = None
    return {name: _markdown(text.strip().rstrip(";.")) for name, text in meanings.items()}


def findings() -> str:
    """One row per finding: its meaning, whether the run fails, and the share of points the default rubrics keep."""
    from oracle.judge.verdicts import FINDINGS, NO_FAILURE
    from oracle.targets.rubric import DEFAULT_RUBRICS, load_rubric

    meanings = finding_meanings()
    rubrics = {family: load_rubric(path) for family, path in DEFAULT_RUBRICS.items()}
    header = " | ".join(f"{family} share" for family in rubrics)
    rows = [f"| finding | fails the run | {header} | meaning |", "|---|---|" + "---|" * len(rubrics) + "---|"]
    for name in FINDINGS:
        shares = " | ".join(f"{rubric.shares.get(name, 1.0 if name == 'pass' else 0.0):g}"
                            for rubric in rubrics.values())
        fails = "no" if name in NO_FAILURE else "yes"
        rows.append(f"| `{name}` | {fails} | {shares} | {_cell(meanings.get(name, ''))} |")
    return "\n".join(rows) + "\n"


def _json_block(document: Any) -> str:
    return "```json\n" + json.dumps(document, indent=2, ensure_ascii=False) + "\n```\n"


def audit_json() -> str:
    """The JSON Schema of ``rnn-oracle audit --json`` (without ``--impl``)."""
    from oracle.report.text import JSON_SCHEMA, SCHEMA_VERSION

    return f"Schema version **{SCHEMA_VERSION}** (`oracle.report.text.SCHEMA_VERSION`).\n\n" + _json_block(JSON_SCHEMA)


def impl_json() -> str:
    """The fields of ``rnn-oracle audit --impl ... --json``, one row per field."""
    from oracle.targets.impl_audit import IMPL_JSON_SCHEMA

    rows = [f"Schema version **{IMPL_JSON_SCHEMA['schema_version']}**.", "",
            "| field | what it holds |", "|---|---|"]
    schema: dict[str, Any] = IMPL_JSON_SCHEMA
    for key, value in schema.items():
        if key == "targets":
            rows.append("| `targets` | one object per target, in the order given, with the fields below |")
            rows += [f"| `targets[].{field}` | {_cell(text)} |" for field, text in value[0].items()]
        elif key != "schema_version":
            rows.append(f"| `{key}` | {_cell(value)} |")
    return "\n".join(rows) + "\n"


def rubrics() -> str:
    """The default rubrics: points per function and the share of them each finding keeps."""
    from oracle.judge.verdicts import FINDINGS
    from oracle.targets.rubric import DEFAULT_RUBRICS, VISIBILITIES, load_rubric

    parts = []
    for family, path in DEFAULT_RUBRICS.items():
        rubric = load_rubric(path)
        parts += [f"### `{family}`: `oracle/targets/rubrics/{path.name}`", "",
                  f"{len(rubric.points)} functions, {sum(rubric.points.values()):g} points in all.", "",
                  "| function | points |", "|---|---|"]
        parts += [f"| `{function}` | {points:g} |" for function, points in rubric.points.items()]
        parts += ["", "| finding | share kept |", "|---|---|"]
        parts += [f"| `{name}` | {rubric.shares.get(name, 1.0 if name == 'pass' else 0.0):g} |" for name in FINDINGS]
        parts.append("")
    parts.append(f"Visibilities on Gradescope: {', '.join(_code(name) for name in VISIBILITIES)}.")
    return "\n".join(parts) + "\n"


def tolerances() -> str:
    """The table of :mod:`oracle.specs.tolerances` and the constants of the rounding rule."""
    from oracle.specs import tolerances as table

    rows = ["| row | rtol | atol |", "|---|---|---|"]
    rows += [f"| `{name}` | {tol.rtol:g} | {tol.atol:g} |" for name, tol in table.TOLERANCES.items()]
    rows += ["", "| constant | value | what it is |", "|---|---|---|",
             f"| `UNIT_ROUNDOFF` | {table.UNIT_ROUNDOFF:g} (2⁻²⁴) | float32's unit roundoff `u` |",
             f"| `ROUNDING_RUNS` | {table.ROUNDING_RUNS} | perturbed float64 runs behind one rounding spread |",
             f"| `ROUNDING_FACTOR` | {table.ROUNDING_FACTOR:g} | spreads a float32 value may be from float64 |",
             f"| `DIRECTIONAL_SIGMAS` | {table.DIRECTIONAL_SIGMAS:g} | a directional check's allowance, in root "
             "sums of squares of the element-wise tolerances |"]
    return "\n".join(rows) + "\n"


def gate_layouts() -> str:
    """impl's gate blocks against torch's, with the permutation between them and the parameters' shapes."""
    from impl.cell_layouts import CELL_PARAMETERS, CELL_TYPES, GATE_ORDER, cell_parameter_layouts
    from oracle.references.gate_order import IMPL_TO_TORCH, TORCH_GATE_ORDER

    rows = ["| cell | impl's gate blocks (columns) | torch's gate blocks (rows) | torch block k = impl block | "
            "parameters |", "|---|---|---|---|---|"]
    for cell in CELL_TYPES:
        layouts = cell_parameter_layouts(cell)
        parameters = ", ".join(f"`{name} {layouts[name]}`" for name in CELL_PARAMETERS[cell])
        rows.append(f"| {cell} | {', '.join(GATE_ORDER[cell])} | {', '.join(TORCH_GATE_ORDER[cell])} "
                    f"| `{IMPL_TO_TORCH[cell]}` | {parameters} |")
    return "\n".join(rows) + "\n"


#: Marker name -> the function that makes its Markdown.
GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli, "findings": findings, "audit-json": audit_json, "impl-json": impl_json, "rubrics": rubrics,
    "tolerances": tolerances, "gate-layouts": gate_layouts,
}


def expand(markdown: str, where: str = "") -> str:
    """``markdown`` with every marker replaced by its table; ``ValueError`` naming an unknown marker."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{where}: no generator for <!-- generated: {name} --> (known: {', '.join(GENERATORS)})")
        return GENERATORS[name]().rstrip("\n")

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs hook: the page's markers expanded."""
    return expand(markdown, page.file.src_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print one of the site's generated reference tables.")
    parser.add_argument("name", choices=tuple(GENERATORS))
    args = parser.parse_args(argv)
    print(GENERATORS[args.name]())
    return 0


if __name__ == "__main__":
    sys.exit(main())
