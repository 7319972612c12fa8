"""A class's grades: Gradescope's ``results.json``, a CSV for the gradebook, shards of a class and their merge.

``--shard K/N`` audits the K-th of N slices of the targets (every N-th one,
starting at the K-th, in the order given; each entry keeps its ``index`` in the
whole list), so a CI matrix, a Slurm array or GNU parallel spreads a class over
machines. ``rnn-oracle merge A.json B.json ...`` (:func:`merge_documents`)
combines the shards' JSON into what one run would have written; it refuses
documents made with other options (:func:`options_of`) or another schema
version, and says which.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracle.judge.verdicts import FINDINGS
from oracle.report.text import cause_lines
from oracle.targets.rubric import DEFAULT_DIGEST, Rubric
from oracle.targets.sandbox import summary as sandbox_summary


class MergeError(ValueError):
    """Shards that cannot be merged; the message says why (the option that differs, a missing shard)."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``; ``ValueError`` unless ``1 <= K <= N``."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ValueError(f"--shard must be K/N with 1 <= K <= N, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def shard_of(targets: Sequence[str], shard: tuple[int, int] | None) -> list[tuple[int, str]]:
    """``(index in the whole list, target)`` of the targets in ``shard`` (every target without one)."""
    indexed = list(enumerate(targets))
    if shard is None:
        return indexed
    number, count = shard
    return indexed[number - 1::count]


def options_of(config: Any, rubric: Rubric | None, extra: dict[str, Any]) -> dict[str, Any]:
    """What a class's verdicts and points depend on: shards made with other options cannot be merged.

    ``rubric``: the ``--rubric`` given, ``None`` for each family's default (:func:`oracle.targets.rubric.rubric_for`).
    """
    return {"layers": list(config.layers), "dtypes": list(config.dtypes), "cases": config.cases, "seed": config.seed,
            "device": config.device, "profile": config.profile, "dims": dict(config.dims),
            "rubric": rubric.digest if rubric is not None else DEFAULT_DIGEST, **extra}


def function_cells(entries: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """``(functions, one row per entry)``: each function's findings over the dtypes, ``+``-joined (``-``: none)."""
    functions = list(dict.fromkeys(function for entry in entries for function in entry["verdicts"]))
    rows = []
    for entry in entries:
        cells = []
        for function in functions:
            dtypes = entry["verdicts"].get(function)
            found = {finding for findings in (dtypes or {}).values() for finding in findings}
            cells.append("-" if dtypes is None else "+".join(sorted(found - {"pass"} or {"pass"}, key=FINDINGS.index)))
        rows.append(cells)
    return functions, rows


def write_csv(path: str | Path, entries: Sequence[dict]) -> None:
    """One row per target: the target, its points and their maximum, its findings per function, its error."""
    functions, rows = function_cells(entries)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["target", "points", "max_points", *functions, "error"])
        for entry, cells in zip(entries, rows, strict=True):
            writer.writerow([entry["target"], entry["points"]["total"], entry["points"]["max"], *cells,
                             entry["error"] or ""])


def gradescope_results(entry: dict, rubric: Rubric) -> dict[str, Any]:
    """Gradescope's ``results.json`` of one target: its score, time, and one test per function of the rubric."""
    tests = []
    for function, points in rubric.points.items():
        dtypes = entry["verdicts"].get(function, {})
        if entry["error"]:
            output = f"could not be audited: {entry['error']}"
        elif not dtypes:
            output = "not audited"
        else:
            lines = [f"{dtype}: {', '.join(findings)}" for dtype, findings in dtypes.items()]
            lines += cause_lines(entry.get("causes", {}), function, indent="")
            lines += [text for texts in entry["evidence"].get(function, {}).values() for text in texts]
            output = "\n".join(lines)
        tests.append({"name": function, "score": entry["points"]["functions"].get(function, 0.0),
                      "max_score": points, "output": output, "visibility": rubric.visibility.get(function, "visible")})
    summary = (f"could not be audited: {entry['error']}" if entry["error"] else
               f"{entry['points']['total']:g} of {entry['points']['max']:g} points (rnn-oracle)")
    return {"score": entry["points"]["total"], "execution_time": entry["seconds"], "output": summary,
            "tests": tests}


def write_gradescope(path: str | Path, entry: dict, rubric: Rubric) -> None:
    Path(path).write_text(json.dumps(gradescope_results(entry, rubric), indent=2) + "\n", encoding="utf-8")


def merge_documents(documents: Sequence[dict], schema_version: str) -> dict[str, Any]:
    """One document of every shard's targets, in the order of the whole class; :class:`MergeError` if not mergeable.

    Every document must have ``schema_version`` and the same ``options``; together their shards must be
    1/N ... N/N exactly once.
    """
    if not documents:
        raise MergeError("nothing to merge")
    for number, document in enumerate(documents, start=1):
        if document.get("schema_version") != schema_version:
            raise MergeError(f"document {number} has schema version {document.get('schema_version')!r}, "
                             f"not {schema_version!r}")
    first = documents[0].get("options", {})
    for number, document in enumerate(documents[1:], start=2):
        options = document.get("options", {})
        differing = sorted(key for key in set(first) | set(options) if first.get(key) != options.get(key))
        if differing:
            key = differing[0]
            raise MergeError(f"document {number} was made with other options than document 1: {key} is "
                             f"{options.get(key)!r} there and {first.get(key)!r} in document 1")
    shards = [tuple(document.get("shard") or (1, 1)) for document in documents]
    count = shards[0][1]
    if any(total != count for _, total in shards) or sorted(number for number, _ in shards) != list(
            range(1, count + 1)):
        raise MergeError(f"the documents are shards {', '.join(f'{k}/{n}' for k, n in shards)}; a merge needs "
                         f"each of 1/{count} ... {count}/{count} once")
    entries = sorted((entry for document in documents for entry in document["targets"]),
                     key=lambda entry: entry["index"])
    return {"schema_version": schema_version, "options": first, "shard": None,
            "sandbox": sandbox_summary([entry.get("sandbox") for entry in entries]), "targets": entries}
