"""The layout guards itself: imports run one way through the rooms, with no circle, as docs/architecture.md draws.

The rules and the diagram come from ``tools/architecture.py``, which reads
the code's own imports. The old import paths kept for one release stand outside
the rooms; tests/test_public_api.py tests them.
"""

from __future__ import annotations

import importlib

from tools import architecture


def test_no_module_imports_a_room_above_its_own():
    assert architecture.against_direction(architecture.graph()) == []


def test_no_modules_import_each_other_in_a_circle():
    assert architecture.circles(architecture.graph()) == []


def test_the_checks_catch_a_wrong_way_import_and_a_circle():
    """The two rules above are not vacuous: a judge module importing a target, and two modules in a circle."""
    edges = {"oracle.judge.audit": {"oracle.targets.boundary", "oracle.specs.spec"},
             "oracle.targets.boundary": {"oracle.judge.audit"}, "oracle.specs.spec": {"impl.rnn"},
             "impl.rnn": {"oracle.specs.spec"}}
    wrong = architecture.against_direction(edges)
    assert "oracle.judge.audit -> oracle.targets.boundary (judge imports targets, which is above it)" in wrong
    assert "impl.rnn -> oracle.specs.spec (impl imports specs, which is above it)" in wrong
    assert ["oracle.judge.audit", "oracle.targets.boundary", "oracle.judge.audit"] in architecture.circles(edges)


def test_every_module_has_a_room_and_each_room_says_what_it_holds():
    rooms = {architecture.room_of(name) for name in architecture.modules()} - {None}
    assert rooms == set(architecture.ROOMS)
    for room in architecture.ROOMS[1:-1]:
        doc = importlib.import_module(f"oracle.{room}").__doc__ or ""
        assert f"Room ``{room}``" in doc and "import" in doc, f"oracle/{room}/__init__.py must say what it holds"


def test_the_architecture_page_shows_the_code_as_it_is():
    page = (architecture.ROOT / "docs" / "architecture.md").read_text()
    assert architecture.page_diagram(page) == architecture.diagram(architecture.graph()), (
        "docs/architecture.md is stale: run python tools/architecture.py --write")
