"""Points from verdicts: a rubric (``--rubric rubric.toml``) for the gradebook, the grid and Gradescope.

A rubric is a TOML file (read with the standard ``tomllib``) of two tables:

``[functions]``
    the points of each function, by its public name (``rnn_step_backward``,
    ``"CaptioningRNN.loss[lstm]"``), as a number or as a table
    ``{points = 3, visibility = "hidden"}`` (Gradescope's visibility:
    ``visible``, ``hidden``, ``after_due_date``, ``after_published``; default
    ``visible``). A function the rubric does not list earns no points.
``[findings]``
    the share of a function's points that each finding keeps, from 0 to 1
    (:data:`oracle.judge.verdicts.FINDINGS`); a function keeps the smallest share
    among its findings over every dtype. A finding the table does not list
    keeps nothing, except ``pass``, which keeps everything.

Without ``--rubric``, each target is graded with the default rubric of its
course family (:data:`DEFAULT_RUBRICS`): ``oracle/targets/rubrics/course.toml``
covers the CS231n course's API, ``oracle/targets/rubrics/dlai.toml``
deeplearning.ai's (:func:`rubric_for`).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracle.judge.verdicts import FINDINGS

#: The rubric of each course family (:attr:`oracle.specs.spec.LayerSpec.family`) used when ``--rubric`` is not given.
DEFAULT_RUBRICS = {"cs231n": Path(__file__).resolve().parent / "rubrics" / "course.toml",
                   "dlai": Path(__file__).resolve().parent / "rubrics" / "dlai.toml"}

#: The CS231n course's rubric.
DEFAULT_RUBRIC = DEFAULT_RUBRICS["cs231n"]

#: What the options of a run (:func:`~oracle.targets.grading.options_of`) say of the rubric without ``--rubric``.
DEFAULT_DIGEST = "default"

#: Gradescope's visibilities of a test.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class RubricError(ValueError):
    """A rubric file that cannot be read or says something that makes no sense; the message says where."""


@dataclass(frozen=True)
class Rubric:
    """Points per function, their visibility, and the share of the points each finding keeps."""

    points: dict[str, float]
    shares: dict[str, float]
    visibility: dict[str, str] = field(default_factory=dict)
    source: str = ""
    digest: str = ""

    def share(self, findings: list[str]) -> float:
        """The share of its points a function keeps with ``findings`` (over every dtype)."""
        return min((self.shares.get(finding, 1.0 if finding == "pass" else 0.0) for finding in findings),
                   default=0.0)

    def score(self, verdicts: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
        """``{"total", "max", "functions": {function: points}}`` of one target's verdicts.

        A function of the rubric that the target's audit did not reach (not audited, or the target could
        not be imported) earns nothing.
        """
        functions = {}
        for function, points in self.points.items():
            dtypes = verdicts.get(function)
            findings = [finding for found in (dtypes or {}).values() for finding in found]
            functions[function] = round(points * self.share(findings), 6) if dtypes else 0.0
        return {"total": round(sum(functions.values()), 6), "max": sum(self.points.values()), "functions": functions}


def rubric_for(given: Rubric | None, family: str | None) -> Rubric:
    """The ``--rubric`` given, else the default rubric of ``family`` (``None``: not known, the CS231n course's)."""
    return given if given is not None else load_rubric(DEFAULT_RUBRICS.get(family or "cs231n", DEFAULT_RUBRIC))


def load_rubric(path: str | Path | None = None) -> Rubric:
    """The rubric at ``path`` (default: :data:`DEFAULT_RUBRIC`); :class:`RubricError` if it makes no sense."""
    path = Path(DEFAULT_RUBRIC if path is None else path)
    try:
        raw = path.read_bytes()
        document = tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise RubricError(f"cannot read the rubric {path}: {error}") from error
    unknown = sorted(set(document) - {"functions", "findings"})
    if unknown:
        raise RubricError(f"{path}: unknown table(s) {', '.join(unknown)}; a rubric has [functions] and [findings]")
    points, visibility = {}, {}
    for function, value in document.get("functions", {}).items():
        entry = value if isinstance(value, dict) else {"points": value}
        if not isinstance(entry.get("points"), int | float) or isinstance(entry.get("points"), bool) \
                or entry["points"] < 0:
            raise RubricError(f"{path}: [functions] {function}: points must be a number of at least 0")
        if entry.get("visibility", "visible") not in VISIBILITIES:
            raise RubricError(f"{path}: [functions] {function}: visibility must be one of {', '.join(VISIBILITIES)}")
        points[function] = float(entry["points"])
        visibility[function] = entry.get("visibility", "visible")
    shares = {}
    for finding, share in document.get("findings", {}).items():
        if finding not in FINDINGS:
            raise RubricError(f"{path}: [findings] {finding}: not a finding; the findings are {', '.join(FINDINGS)}")
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 1:
            raise RubricError(f"{path}: [findings] {finding}: the share must be a number from 0 to 1")
        shares[finding] = float(share)
    if not points:
        raise RubricError(f"{path}: [functions] gives no function any points")
    return Rubric(points, shares, visibility, str(path), hashlib.sha256(raw).hexdigest()[:16])
