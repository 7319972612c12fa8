"""``rnn-oracle merge``: combine the --json of a class's shards into what one run would have written.

``rnn-oracle audit --impl ... --shard K/N --json part-K.json`` on N machines,
then ``rnn-oracle merge part-*.json --json class.json [--html class.html]
[--csv grades.csv]`` prints the grader's grid of the whole class and writes its
JSON, page and gradebook. Shards made with other options (seed, cases,
layers, rubric, ...) or another schema version are refused, naming what
differs (:func:`oracle.targets.grading.merge_documents`). Exit status as the audit's:
0 when every target passed, 1 when any has a finding, 2 when a target could
not be imported or the documents cannot be merged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from oracle.judge.audit import EXIT_USAGE, AuditConfig
from oracle.targets.grading import MergeError, merge_documents
from oracle.targets.impl_audit import IMPL_JSON_SCHEMA, grader_grid, write_outputs
from oracle.targets.rubric import DEFAULT_DIGEST, RubricError, load_rubric


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("documents", nargs="+", metavar="SHARD.json", help="the --json of every shard")
    parser.add_argument("--json", metavar="PATH", help="write the merged document")
    parser.add_argument("--html", metavar="PATH", help="write the grader's page (needs rnn-oracle[report])")
    parser.add_argument("--csv", metavar="PATH", help="write one row per target: points and findings")
    parser.add_argument("--rubric", metavar="TOML",
                        help="the rubric the shards were graded with, for --gradescope (default: each course family's)")
    parser.add_argument("--gradescope", metavar="PATH", help="with one target: write Gradescope's results.json")


def run(args: argparse.Namespace) -> int:
    documents = []
    for path in args.documents:
        try:
            documents.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as error:
            print(f"{args.prog} merge: error: cannot read {path}: {error}", file=sys.stderr)
            return EXIT_USAGE
    try:
        merged = merge_documents(documents, str(IMPL_JSON_SCHEMA["schema_version"]))
        rubric = load_rubric(args.rubric) if args.rubric else None
    except (MergeError, RubricError) as error:
        print(f"{args.prog} merge: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if (rubric.digest if rubric else DEFAULT_DIGEST) != merged["options"].get("rubric"):
        given = rubric.source if rubric else "the default rubrics (give the one they were graded with: --rubric)"
        print(f"{args.prog} merge: error: the shards were graded with another rubric than {given}", file=sys.stderr)
        return EXIT_USAGE
    if args.gradescope and len(merged["targets"]) != 1:
        print(f"{args.prog} merge: error: --gradescope writes the results of one submission, and there are "
              f"{len(merged['targets'])}", file=sys.stderr)
        return EXIT_USAGE
    print(grader_grid(merged["targets"]))
    options = merged["options"]
    config = AuditConfig(layers=tuple(options.get("layers", ())), dtypes=tuple(options.get("dtypes", ())),
                         cases=options.get("cases", 0), seed=options.get("seed", 0),
                         device=options.get("device", "cpu"), profile=options.get("profile", "default"),
                         dims=options.get("dims", {}))
    args.command_line = ["merge", *args.documents]
    return write_outputs(args, merged, rubric, config, None)
