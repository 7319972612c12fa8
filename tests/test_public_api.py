"""The public API: the names a user imports from ``oracle``, which layout moves cannot break.

The names are pinned here; ``import oracle`` stays light (each name is
imported on first use); every documented example imports only from there;
and every import path of the previous release's README and examples still
works for one release, with a DeprecationWarning naming the new path
(:mod:`oracle._deprecated`), down to that release's leaky-RNN example loaded
by ``rnn-oracle audit --spec``.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import oracle
from oracle._deprecated import MOVED, replacement
from oracle.cli import main

ROOT = Path(__file__).resolve().parents[1]

#: The public names. Adding one is a decision: it is documented in docs/reference/python-api.md and kept.
PUBLIC = ["Arrays", "ErrorInput", "ExtraCheck", "GateLayout", "InputContract", "InputSource", "LayerSpec", "Limits",
          "RESULT", "Tolerance", "TorchTwin", "audit_here", "impl_tests", "register"]

#: Where the documented examples are: the example files, and the code blocks of the documentation pages.
EXAMPLE_FILES = sorted((ROOT / "examples").rglob("*.py"))
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: The reference page of the public names and the deprecated paths.
API_PAGE = ROOT / "docs" / "reference" / "python-api.md"

#: A page's python code block.
CODE_BLOCK = re.compile(r"^```(?:python|py)\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)

#: The previous release's leaky-RNN example, as it shipped (tests/previous_release/leaky_rnn.py).
PREVIOUS_EXAMPLE = ROOT / "tests" / "previous_release" / "leaky_rnn.py"


def test_the_public_names_are_pinned_and_each_is_the_object_of_its_home():
    assert oracle.__all__ == PUBLIC == sorted(oracle.HOMES)
    for name in PUBLIC:
        assert getattr(oracle, name) is getattr(importlib.import_module(oracle.HOMES[name]), name)
    assert set(PUBLIC) <= set(dir(oracle))
    with pytest.raises(AttributeError, match="no attribute 'LayerSpecs'"):
        oracle.LayerSpecs  # noqa: B018


def test_the_reference_page_documents_every_public_name_and_every_old_path():
    page = API_PAGE.read_text()
    assert [name for name in PUBLIC if f"| `{name}` |" not in page] == []
    assert [old for old in MOVED if f"| `{old}` | {replacement(old)} |" not in page] == []


def test_import_oracle_imports_neither_torch_nor_the_judge():
    code = ("import sys, oracle; heavy = [m for m in sys.modules if m == 'torch' or m.startswith('oracle.')]; "
            "print(heavy); from oracle import InputSource; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "False"]  # InputSource's room (specs) needs numpy alone


def python_of(path: Path) -> list[tuple[str, str]]:
    """``(where, code)`` of each documented example in ``path``: the file itself, or a page's ``python`` blocks."""
    text = path.read_text()
    if path.suffix == ".py":
        return [(str(path.relative_to(ROOT)), text)]
    return [(f"{path.relative_to(ROOT)}, python block {number}", block)
            for number, block in enumerate(CODE_BLOCK.findall(text), 1)]


def oracle_imports(code: str) -> list[str]:
    """The import statements of ``code`` that reach into ``oracle`` other than ``from oracle import PUBLIC``."""
    wrong = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            wrong += [f"import {alias.name}" for alias in node.names if alias.name.startswith("oracle.")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "oracle":
            names = [alias.name for alias in node.names]
            if node.module != "oracle" or not set(names) <= set(PUBLIC):
                wrong.append(f"from {node.module} import {', '.join(names)}")
    return wrong


@pytest.mark.parametrize("path", EXAMPLE_FILES + DOC_PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_documented_example_imports_only_public_names(path):
    wrong = {where: found for where, code in python_of(path) if (found := oracle_imports(code))}
    assert not wrong, f"import these from oracle itself (oracle.__all__): {wrong}"


def test_the_import_check_is_not_vacuous():
    code = "import oracle\nfrom oracle import LayerSpec\nfrom oracle.specs.spec import LayerSpec\nimport oracle.cli\n"
    assert oracle_imports(code) == ["from oracle.specs.spec import LayerSpec", "import oracle.cli"]
    page = "text\n```python\nfrom oracle import Limits, changed\n```\n```text\nfrom oracle.spec import x\n```\n"
    assert CODE_BLOCK.findall(page) == ["from oracle import Limits, changed\n"]
    assert oracle_imports(CODE_BLOCK.findall(page)[0]) == ["from oracle import Limits, changed"]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_each_old_import_path_still_works_with_a_warning_naming_the_new_one(old):
    sys.modules.pop(old, None)
    module = importlib.import_module(old)
    for home, names in MOVED[old].items():
        for name in names:
            new = f"oracle.{name} (from oracle import {name})" if oracle.HOMES.get(name) == home else f"{home}.{name}"
            with pytest.warns(DeprecationWarning, match=re.escape(f"{old}.{name} has moved to {new};")):
                found = getattr(module, name)
            assert found is getattr(importlib.import_module(home), name), f"{old}.{name}"
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_the_previous_releases_spec_file_loads_and_passes_with_warnings(tmp_path, capsys):
    for old in ("oracle.spec", "oracle.sources", "oracle.twins"):
        sys.modules.pop(old, None)
    sys.modules.pop("leaky_rnn", None)
    with pytest.warns(DeprecationWarning) as warned:
        status = main(["audit", "--spec", f"{PREVIOUS_EXAMPLE}:SPECS", "--cases", "2", "--dtypes", "float64"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "leaky_rnn" in out and "grad leak" in out
    messages = {str(warning.message).split(";")[0] for warning in warned}
    assert messages == {f"oracle.{old}.{name} has moved to oracle.{name} (from oracle import {name})"
                        for old, name in (("sources", "InputSource"), ("spec", "Arrays"), ("spec", "LayerSpec"),
                                          ("twins", "TorchTwin"))}
