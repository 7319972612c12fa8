"""The catalogue of known mistakes as a page: ``docs/reference/error-models.md``, made from the specs' error models.

``python tools/error_models.py`` prints the page; ``--write`` writes it;
``--check`` exits 1 when the page differs from what the catalogue gives
(``tests/test_error_models.py`` runs the same check). The table lists every
:class:`oracle.specs.mistakes.ErrorModel` of every registered spec, by course
family and layer: its id, the functions it explains, the mistake (its text,
what the learner reads) and what the evidence of such a finding shows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "error-models.md"

INTRO = """# Known mistakes (error models)

`rnn-oracle audit --impl` says what is wrong *and*, when it is one of the
mistakes below, which one: the **likely cause**. Each mistake is a variant of
the layer's float64 reference with that mistake in it
(`oracle/specs/mistakes.py` says how one is written). A cause is stated only
when its variant reproduces the target's results on **every** case the
function ran (the drawn cases and the minimal case), under the audit's own
tolerance (for float32, the rounding rule against the variant's float64
result), while the correct reference does not: exact, or nothing
(`oracle/judge/causes.py`). Two mistakes of one function are found as a pair
(`a+b`). A sequence that is only the loop of the target's own wrong step
function is *inherited* (`inherited.lstm_step_backward`: fix that first), and
a sequence mistake on top of a wrong step is found as the pair of the two
mistakes (`lstm.h_not_carried+lstm_step.dwh_uses_next_h`), or as
`<id>+inherited.<step function>` when the step's mistake is not in the table. A
backward pass that is exactly the gradient of the target's own wrong forward
pass, or that gives the reference's gradients and fails only against the
finite differences of a wrong forward pass, is `inherited.<forward>`; a
sequence over a step whose forward pass is wrong inherits that forward pass
first (`inherited.lstm_cell_forward`). A finding no entry reproduces gets no
cause.

The cause appears under the finding in the text report, in the JSON as
`causes[function][dtype]` (a list of `{"id", "text", "cases"}`), beside the
finding on the HTML page, in the Gradescope test's output and in the first
lines of the `--repro` script.

For example (a course folder whose `rnn_backward` never adds the gradient
from step t+1; `rnn-oracle audit --impl cs231n --layers rnn_step,rnn --cases 6`,
the end of its output):

```text
verdicts for cs231n (CS231n API, 13.2 s):
  rnn_step_forward   float64 pass, float32 pass
  rnn_step_backward  float64 pass, float32 pass
  rnn_forward        float64 pass, float32 pass
  rnn_backward       float64 wrong_value, float32 wrong_value
EXAMPLE_CAUSE
```

This page is made from the catalogue by `python tools/error_models.py --write`.
""".replace("EXAMPLE_CAUSE", "    likely cause (reproduced exactly on all 7 float64 and 7 float32 cases): "
            "in rnn_backward, the gradient dprev_h from step t+1 is never added to dh[:, t]: "
            "pass dh[:, t] + dprev_h to the step's backward [rnn.h_not_carried]")


def page() -> str:
    """The page's markdown (see the module docstring)."""
    from oracle.layers import all_specs
    from oracle.specs.families import COURSE_NAMES

    parts = [INTRO]
    for family, course in COURSE_NAMES.items():
        specs = [spec for spec in all_specs() if spec.family == family and spec.mistakes]
        parts.append(f"## {course}\n")
        if not specs:
            parts.append("No entries yet.\n")
            continue
        for spec in specs:
            parts.append(f"### `{spec.name}`\n")
            parts.append("| id | explains | mistake | what the evidence shows |")
            parts.append("|---|---|---|---|")
            for model in spec.mistakes:
                functions = ", ".join(f"`{function}`" for function in model.functions)
                parts.append(f"| `{model.id}` | {functions} | {_cell(model.text)} | {_cell(model.evidence)} |")
            parts.append("")
    return "\n".join(parts).rstrip("\n") + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {PAGE.relative_to(ROOT)}")
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is not current")
    args = parser.parse_args(argv)
    text = page()
    if args.write:
        PAGE.parent.mkdir(parents=True, exist_ok=True)
        PAGE.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE.relative_to(ROOT)} is not current: run python tools/error_models.py --write",
                  file=sys.stderr)
            return 1
        return 0
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
