"""The documentation site stays true to the code: generated tables name everything, links and paths resolve.

The site (``mkdocs.yml``, ``docs/``) is built strictly by ``tox -e docs``; these tests are the cheap part that
needs no mkdocs: the reference tables that ``tools/docs_reference.py`` makes at build time cover everything their
source holds, every marker a page uses has a generator, every path a page or the README names exists, and the
README's output blocks are the excerpts that ``tools/docs_examples.py`` wrote from real runs.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tools import docs_examples, docs_reference

ROOT = Path(__file__).resolve().parent.parent

PAGES = sorted((ROOT / "docs").rglob("*.md"))
DOCUMENTS = [ROOT / "README.md", *PAGES]

#: A repository path as the pages cite it in backticks: `oracle/judge/shrink.py`, `tests/test_grading.py`.
REPO_PATH = re.compile(r"`((?:impl|oracle|tests|tools|examples|docs)/[\w./-]*\w)`")


def test_the_cli_page_holds_every_option_of_every_subcommand():
    page = docs_reference.cli()
    for name, parser in docs_reference.subcommand_parsers().items():
        assert f"## `rnn-oracle {name}`" in page
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert f"`{option}`" in page, (name, option)
            if action.help and action.help != argparse.SUPPRESS:
                assert " ".join(action.help.split()).replace("|", "\\|") in page, (name, action.dest)


def test_the_findings_table_gives_every_finding_its_meaning():
    from oracle.judge.verdicts import FINDINGS

    meanings = docs_reference.finding_meanings()
    assert set(meanings) == set(FINDINGS)
    assert all(len(text) > 20 for text in meanings.values()), meanings
    rows = [line for line in docs_reference.findings().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(FINDINGS)


def test_the_tolerance_and_gate_tables_are_the_codes():
    from impl.cell_layouts import GATE_ORDER
    from oracle.references.gate_order import IMPL_TO_TORCH
    from oracle.specs.tolerances import TOLERANCES

    table = docs_reference.tolerances()
    for name, tolerance in TOLERANCES.items():
        assert f"| `{name}` | {tolerance.rtol:g} | {tolerance.atol:g} |" in table
    layouts = docs_reference.gate_layouts()
    for cell, order in GATE_ORDER.items():
        assert f"| {cell} | {', '.join(order)} |" in layouts and str(IMPL_TO_TORCH[cell]) in layouts


def test_the_json_and_rubric_pages_follow_the_schemas_and_the_default_rubrics():
    from oracle.targets.impl_audit import IMPL_JSON_SCHEMA
    from oracle.targets.rubric import DEFAULT_RUBRICS, load_rubric

    impl_json = docs_reference.impl_json()
    assert all(f"`targets[].{field}`" in impl_json for field in IMPL_JSON_SCHEMA["targets"][0])
    assert '"results"' in docs_reference.audit_json()
    rubrics = docs_reference.rubrics()
    for path in DEFAULT_RUBRICS.values():
        assert all(f"| `{function}` |" in rubrics for function in load_rubric(path).points)


def test_every_marker_on_a_page_has_a_generator_and_every_generator_is_used():
    used = {name for page in PAGES for name in docs_reference.MARKER.findall(page.read_text(encoding="utf-8"))}
    assert used == set(docs_reference.GENERATORS)
    with pytest.raises(ValueError, match="no generator for <!-- generated: nonsense -->"):
        docs_reference.expand("<!-- generated: nonsense -->", "page.md")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_path_a_page_names_exists(document):
    text = document.read_text(encoding="utf-8")
    missing = [path for path in REPO_PATH.findall(text) if not (ROOT / path).exists()]
    assert not missing, f"{document.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    text = document.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (document.parent / target).exists(), f"{document.relative_to(ROOT)} links to {target}"


def test_the_readme_is_a_short_front_page_whose_outputs_come_from_real_runs(capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    blocks = docs_examples.README_BLOCK.findall(readme)
    assert blocks, "README.md has no output block"
    snippets = docs_examples.snippet_files()
    assert all(name in snippets for _, name, _, _ in blocks)
    assert not docs_examples.readme_blocks_stale(), capsys.readouterr().out


def test_every_snippet_a_page_includes_is_one_the_script_writes():
    written = {name for example in docs_examples.EXAMPLES_RUN for name in example.excerpts}
    included = {name for page in PAGES
                for name in re.findall(r'--8<-- "([\w-]+)\.txt"', page.read_text(encoding="utf-8"))}
    assert included <= written, included - written
    assert {path.stem for path in docs_examples.SNIPPETS.glob("*.txt")} == written
