"""The oracle's layout read from its own imports: rooms, the direction of their imports, and the diagram of it.

``python tools/architecture.py`` prints the diagram of ``docs/architecture.md``;
``--write`` puts it there (between the markers), ``--check`` exits 1 when the
page's diagram differs from the code's. ``tests/test_architecture.py`` runs
the same functions: a module that imports against the direction, an import
circle, or a page that no longer matches the code fails it.

Rooms, from the bottom up (a module may import its own room and the rooms
below it, and :mod:`impl`; :mod:`impl` imports none of them):
``specs``, ``references``, ``judge``, ``layers``, ``report``, ``targets``,
then the command line (``oracle/cli.py``, ``oracle/__main__.py``,
``oracle/bench/`` and the package's own ``__init__``). The old import paths
kept for one release (:data:`DEPRECATED`) forward to the new ones and stand
outside the rooms.
"""

from __future__ import annotations

import argparse
import ast
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

from oracle._deprecated import MOVED

ROOT = Path(__file__).resolve().parents[1]

#: The rooms, bottom first; "impl" is the numpy package under them all, "cli" the top.
ROOMS = ("impl", "specs", "references", "judge", "layers", "report", "targets", "cli")

#: Old paths kept for one release (:data:`oracle._deprecated.MOVED`), and the helper they share: outside the rooms.
DEPRECATED = (*MOVED, "oracle._deprecated")

BEGIN, END = "<!-- architecture: begin (tools/architecture.py --write) -->", "<!-- architecture: end -->"


def module_name(path: Path) -> str:
    """``oracle/judge/audit.py`` -> ``oracle.judge.audit``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of ``impl`` and ``oracle`` by dotted name."""
    return {module_name(path): path for package in ("impl", "oracle") for path in sorted((ROOT / package).rglob("*.py"))
            if "__pycache__" not in path.parts}


def room_of(module: str) -> str | None:
    """The room of a dotted module name (``None``: a deprecated path)."""
    if module in DEPRECATED:
        return None
    parts = module.split(".")
    if parts[0] == "impl":
        return "impl"
    if len(parts) > 1 and parts[1] in ROOMS:
        return parts[1]
    return "cli"


def imports(path: Path, known: Iterable[str], top_level_only: bool = False) -> set[str]:
    """The modules of ``known`` that the file imports (anywhere in it, or only at its top level)."""
    known = set(known)
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return {module for module in found if module in known}


def graph(top_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of ``impl`` and ``oracle`` it imports.

    An import of a module's own package counts: the package's ``__init__`` may import the module back
    (``oracle.bench.cli`` once read ``oracle.bench``'s docstring that way, a circle).
    """
    found = modules()
    return {name: imports(path, found, top_level_only) - {name} for name, path in found.items()}


def against_direction(edges: Mapping[str, set[str]]) -> list[str]:
    """``"a -> b (room -> higher room)"`` for each import of a higher room (deprecated paths left out)."""
    wrong = []
    for source, targets in sorted(edges.items()):
        here = room_of(source)
        for target in sorted(targets):
            there = room_of(target)
            if here is None or there is None:
                continue
            if ROOMS.index(there) > ROOMS.index(here):
                wrong.append(f"{source} -> {target} ({here} imports {there}, which is above it)")
    return wrong


def circles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The import circles of a graph, each as the modules around it (empty: none)."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if state.get(other) == "open":
                found.append(stack[stack.index(other):] + [other])
            elif other not in state:
                visit(other)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def diagram(edges: Mapping[str, set[str]]) -> str:
    """The rooms from the top down, each with its modules and the rooms it imports: the page's diagram."""
    lines = []
    for room in reversed(ROOMS):
        members = sorted(name for name in edges if room_of(name) == room)
        rooms = {room_of(target) for name in members for target in edges[name]}
        uses = sorted((other for other in rooms if other is not None and other != room), key=ROOMS.index,
                      reverse=True)
        short = [name.removeprefix(f"oracle.{room}.").removeprefix("oracle.").removeprefix("impl.")
                 for name in members]
        lines.append(f"{room:<11} imports: {', '.join(uses) or '-'}")
        lines += textwrap.wrap(", ".join(short), width=100, initial_indent=" " * 12, subsequent_indent=" " * 12)
        if room != ROOMS[0]:
            lines.append(f"{'':<11} |")
            lines.append(f"{'':<11} v")
    return "```text\n" + "\n".join(lines) + "\n```"


def page_diagram(page: str) -> str:
    """The diagram between the markers of ``docs/architecture.md``."""
    return page.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write the diagram into docs/architecture.md")
    action.add_argument("--check", action="store_true", help="exit 1 when docs/architecture.md's diagram is stale")
    args = parser.parse_args(argv)
    current = diagram(graph())
    page_path = ROOT / "docs" / "architecture.md"
    if args.write:
        page = page_path.read_text()
        before, rest = page.split(BEGIN, 1)
        page_path.write_text(before + BEGIN + "\n" + current + "\n" + END + rest.split(END, 1)[1])
        return 0
    if args.check:
        stale = page_diagram(page_path.read_text()) != current
        if stale:
            print("docs/architecture.md's diagram differs from the code's: run python tools/architecture.py --write",
                  file=sys.stderr)
        return 1 if stale else 0
    print(current)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
