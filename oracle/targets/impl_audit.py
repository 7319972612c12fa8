"""``rnn-oracle audit --impl TARGET [TARGET ...]``: audit users' own implementations, one or a class of them.

Each target is imported and called only in a worker process of its own
(:mod:`oracle.targets.boundary`), with a time limit on every call (``--timeout``), a
limit on its memory (``--memory``) and a sandbox (``--sandbox``,
:mod:`oracle.targets.sandbox`: it cannot read its classmates, write outside its
scratch folder, use the network or leave a process behind); this process judges
it from what crossed the boundary, and the report says which protections held
(a line ``sandbox: ...``; with several targets, on stderr after the grid). One
target: the usual table and failures, then its verdicts, one line per function
and dtype (:func:`oracle.judge.verdicts.verdicts`), each wrong value followed by
its likely cause when a known mistake reproduces it exactly
(:mod:`oracle.judge.causes`, ``docs/reference/error-models.md``). Several
targets: each is judged in a judge process of its own (a pool of ``-j N``),
which never imports a target either and hands its entry back to this process
directly (never through a file a target could write), and they are
summarised in a grid (:func:`grader_grid`): one row per target, its seconds,
and one column per function with its findings. ``--json PATH`` writes
:data:`IMPL_JSON_SCHEMA`; ``--html PATH`` the page of :mod:`oracle.report.html`
(one target: its audit and verdicts; several: the grader's grid of targets x
functions). Exit status: 0 when every function of every target passed, 1 when
any has a finding, 2 when a target could not be imported (the others still
run) or the page could not be written. Nothing a target does decides it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from oracle.judge.audit import EXIT_FAILED, EXIT_OK, EXIT_USAGE, AuditConfig, AuditResult, run_audit, run_in_order
from oracle.judge.causes import causes
from oracle.judge.shrink import minimal_cases
from oracle.judge.verdicts import FINDINGS, NO_FAILURE, verdicts
from oracle.layers import all_specs
from oracle.references import store as reference_store
from oracle.report.progress import ClassProgress
from oracle.report.repro import write_reproducers
from oracle.report.text import cause_lines, render
from oracle.specs.families import COURSE_NAMES
from oracle.targets.backends import PortOptions
from oracle.targets.binding import bound_specs, family_of, public_names
from oracle.targets.boundary import Limits, harden_judge, open_target
from oracle.targets.forked_lane import forked_runner
from oracle.targets.grading import function_cells, options_of, shard_of, write_csv, write_gradescope
from oracle.targets.loading import TargetError
from oracle.targets.rubric import Rubric, rubric_for
from oracle.targets.sandbox import summary as sandbox_summary
from oracle.targets.sandbox import text_of

#: Seconds for shrinking the cases of one target's findings, in all (each finding: oracle.judge.shrink.BUDGET_SECONDS).
SHRINK_BUDGET = 60.0

#: The ``--json`` document of an ``--impl`` audit.
IMPL_JSON_SCHEMA = {
    "schema_version": "3",
    "version_history": "2: the first with this layout; 3: 'causes' added to each target",
    "options": "what the verdicts and points depend on (layers, dtypes, cases, seed, device, profile, dims, the "
               "rubric's digest, require, cells): shards made with other options are not merged",
    "shard": "[K, N] for a run of --shard K/N, else null",
    "sandbox": "{mode, held: {protection: how}, missing: [protection, ...], notes}: what held for every target of "
               "the run (files, network, processes; oracle/targets/sandbox.py); null when no target's worker started",
    "findings": f"the finding identifiers, in order: {', '.join(FINDINGS)} (oracle/judge/verdicts.py says what each "
                "means)",
    "targets": [{
        "target": "the TARGET as given",
        "family": "the course API it was audited as: 'cs231n' or 'dlai' (detected, or --family); null when it "
                  "could not be imported and no --family was given",
        "index": "its position among all the targets of the run (before sharding)",
        "points": "{total, max, functions: {function: points}} under the rubric (oracle/targets/rubric.py)",
        "seconds": "wall time of its audit",
        "error": "why it could not be imported (file, line, error), or null",
        "verdicts": "{function: {dtype: [finding, ...]}}: ['pass'] when clean; functions by the seed's public "
                    "names, the model's as 'CaptioningRNN.loss[lstm]' and 'CaptioningRNN.sample[rnn]'",
        "evidence": "{function: {dtype: [text, ...]}}: per finding, the failure and the smallest case it occurs in",
        "causes": "{function: {dtype: [{id, text, cases}, ...]}}: the likely causes of a wrong_value finding, the "
                  "known mistakes (error models, docs/reference/error-models.md) that reproduce the function's "
                  "results on every case it ran, 'cases' of them (oracle/judge/causes.py); an id 'a+b' is a pair of "
                  "mistakes, 'inherited.F' a result that follows from F being wrong; [] when nothing reproduces "
                  "them, and for a function that passes",
        "output": "{function: {bytes: n, tail: text}}: what the target printed (and 'import' while importing), "
                  "the last 4 KB of it per function; never part of a verdict",
        "notes": "[text, ...]: a notebook's cells that were left out (did not parse, failed, hung), each cited; the "
                 "library a port ran with; each backward function that --autograd supplied",
        "sandbox": "{mode, held, missing, notes}: what held of its workers' sandbox (--sandbox; "
                   "oracle/targets/sandbox.py); null when no worker started",
        "backend": "the library the target's functions were given arrays of and returned: 'numpy', 'torch', 'jax' "
                   "or 'cupy' (oracle/targets/backends.py); null when it could not be imported",
        "minimal": "{function: {dtype: {finding, case, sizes, values}}}: the smallest failing case found for the "
                   "function's first finding (oracle/judge/shrink.py): its case index, sizes and the float arrays made "
                   "zeros, ones or small integers; also the last evidence line",
        "reproducers": "{function: {dtype: path}}: with --repro DIR, the script that reruns the minimal case with "
                       "numpy alone (oracle/report/repro.py)",
    }],
}


def audit_one(target_text: str, config: AuditConfig, layers: Sequence[str], prog: str,
              progress: object = None, limits: Limits | None = None, parallel: int = 1,
              cells: str = "definitions", pickled: bytes | None = None, required: Sequence[str] = (),
              shrink_budget: float = SHRINK_BUDGET, repro: str | None = None,
              family: str | None = None, classmates: Sequence[str] = (),
              timings: dict[str, float] | None = None,
              port: PortOptions | None = None, fork: bool = True) -> tuple[dict, str, AuditResult | None]:
    """Audit one target through its worker: ``(its JSON entry, the text report, the audit)`` (no audit: not imported).

    The target is audited as one course family (:attr:`oracle.specs.spec.LayerSpec.family`): ``family``, or the
    one its public names show (:func:`oracle.targets.binding.family_of`).
    A relative target is found from the current folder; ``parallel`` workers share batches of calls;
    ``cells`` and ``pickled`` as :func:`oracle.targets.boundary.open_target` takes them; ``required``: the
    requirements outside the course's API whose absence fails (``--require``); ``shrink_budget``: seconds
    for shrinking the findings' cases (:mod:`oracle.judge.shrink`; 0: none); ``repro``: the folder of the
    reproducers (:mod:`oracle.report.repro`; ``None``: none); ``classmates``: the run's other targets, which
    the target's workers may not read (:mod:`oracle.targets.sandbox`); ``timings``, when given, gets the seconds
    spent finding the likely causes (``"causes"``, :mod:`oracle.judge.causes`), for ``bench --audit-timings``.
    ``port``: how a port's arrays cross (:mod:`oracle.targets.backends`). ``fork``: with two workers, share the
    layers with a copy of this judge process (:mod:`oracle.targets.forked_lane`).
    """
    started = time.perf_counter()
    chosen = [spec for spec in all_specs() if not layers or spec.name in layers]
    limits = limits or Limits()
    sandbox: dict[str, Any] | None = None
    try:
        with open_target(target_text, public_names(chosen), limits or Limits(), base=Path.cwd(),
                         parallel=parallel, cells=cells, pickled=pickled, classmates=classmates,
                         port=port or PortOptions()) as target:
            sandbox = target.sandbox()
            family = family or family_of(target)
            audited = [spec for spec in chosen if spec.family == family]
            if chosen and not audited:
                raise TargetError(f"{target_text} is written for the {COURSE_NAMES[family]} API, and none of the "
                                  f"layers given is of it ({', '.join(spec.name for spec in chosen)}); give "
                                  f"--family {chosen[0].family} to audit it as {COURSE_NAMES[chosen[0].family]}'s")
            specs = bound_specs(audited, target)
            config = dataclasses.replace(config, layers=tuple(spec.name for spec in specs), impl_target=target_text,
                                         impl_options=port.flags() if port else ())
            runner = forked_runner(target.session) if fork else run_in_order
            result = run_audit(specs, config, progress=progress, runner=runner)  # type: ignore[arg-type]
            absent = {name for name in public_names(audited) if target.find(name) is None}
            found, evidence = verdicts(result, specs, absent, required, target.unfinished())
            minimal = minimal_cases(result, specs, found, total_budget=shrink_budget) if shrink_budget else {}
            explaining = time.perf_counter()
            likely = causes(result, specs, found, minimal, {spec.name: spec for spec in all_specs()})
            if timings is not None:
                timings["causes"] = time.perf_counter() - explaining
            reproducers = ({} if repro is None
                           else write_reproducers(Path(repro), target_text, specs, minimal, result.config, likely,
                                                  library=target.session.backend,
                                                  autograd=dict(target.session.autograd)))
            output, notes, backend = target.output(), target.notes(), target.session.backend
    except TargetError as error:
        entry: dict[str, Any] = {"target": target_text, "family": family,
                                 "seconds": round(time.perf_counter() - started, 2), "error": str(error),
                                 "verdicts": {}, "evidence": {}, "causes": {}, "output": {}, "notes": [],
                                 "backend": None, "minimal": {}, "reproducers": {}, "sandbox": sandbox}
        return entry, "", None
    for function, dtypes in minimal.items():
        for dtype, case in dtypes.items():
            evidence[function][dtype].append(f"minimal case ({case['finding']}): {case.pop('text')}")
            case.pop("minimal")
    entry = {"target": target_text, "family": family, "seconds": round(time.perf_counter() - started, 2), "error": None,
             "verdicts": found, "evidence": evidence, "causes": likely, "minimal": minimal, "reproducers": reproducers,
             "output": output, "notes": notes, "sandbox": sandbox, "backend": backend}
    return entry, render(result, prog), result


def audit_entry(target_text: str, config: AuditConfig, layers: Sequence[str], limits: Limits, base: str,
                parallel: int, cells: str, required: Sequence[str], repro: str | None, family: str | None,
                classmates: Sequence[str], references: reference_store.ReferenceStore | None = None,
                port: PortOptions | None = None) -> dict:
    """The JSON entry of one target, judged in a pool process (``-j``); ``base``: the folder targets are found from.

    ``references``: the run's reference store (:mod:`oracle.references.store`), shared by its judge processes.
    """
    import torch

    os.chdir(base)
    torch.set_num_threads(1)
    with reference_store.using(references or reference_store.active()):
        return audit_one(target_text, config, layers, "rnn-oracle", limits=limits, parallel=parallel, cells=cells,
                         required=required, repro=repro, family=family, classmates=classmates, port=port)[0]


def workers_per_target(jobs: int) -> int:
    """2 workers per target (sharing its finite differences) when the CPUs outnumber the targets run at once."""
    return 2 if (os.cpu_count() or 1) >= 2 * jobs else 1


def render_verdicts(entry: dict) -> str:
    """One line per function: its findings per dtype."""
    if entry["error"]:
        return "\n".join([f"{entry['target']}: cannot be audited: {entry['error']}",
                          *([text_of(entry["sandbox"])] if entry.get("sandbox") else [])])
    width = max((len(function) for function in entry["verdicts"]), default=8)
    lines = [f"note: {note}" for note in entry.get("notes", [])]
    if entry.get("sandbox"):
        lines.append(text_of(entry["sandbox"]))
    lines.append(f"verdicts for {entry['target']} ({COURSE_NAMES[entry.get('family') or 'cs231n']} API, "
                 f"{entry['seconds']:.1f} s):")
    for function, dtypes in entry["verdicts"].items():
        cells = ", ".join(f"{dtype} {' '.join(findings)}" for dtype, findings in dtypes.items())
        lines.append(f"  {function:<{width}}  {cells}")
        lines += cause_lines(entry.get("causes", {}), function)
    return "\n".join(lines)


def grader_grid(entries: Sequence[dict]) -> str:
    """The grader's summary, tab-separated: one row per target, its seconds, points, then one column per function.

    A cell holds the function's findings over both dtypes joined by ``+``
    (``pass`` when clean, ``-`` when not audited); a target that could not be
    imported gets ``ERROR`` and its message in the last column. Points are
    ``earned/maximum`` under the rubric (:mod:`oracle.targets.rubric`).
    """
    functions, rows = function_cells(entries)
    lines = ["\t".join(["target", "seconds", "points", *functions, "error"])]
    for entry, cells in zip(entries, rows, strict=True):
        points = f"{entry['points']['total']:g}/{entry['points']['max']:g}"
        if entry["error"]:
            lines.append("\t".join([entry["target"], "-", points, *(["ERROR"] * len(functions)), entry["error"]]))
            continue
        lines.append("\t".join([entry["target"], f"{entry['seconds']:.1f}", points, *cells, ""]))
    return "\n".join(lines)


def status(entries: Sequence[dict]) -> int:
    """2 when a target could not be imported, else 0 when every finding is no failure (:data:`NO_FAILURE`), else 1."""
    if any(entry["error"] for entry in entries):
        return EXIT_USAGE
    clean = all(set(findings) <= set(NO_FAILURE) for entry in entries for dtypes in entry["verdicts"].values()
                for findings in dtypes.values())
    return EXIT_OK if clean else EXIT_FAILED


def run_impl_audit(args: argparse.Namespace, config: AuditConfig, layers: Sequence[str], progress: object) -> int:
    """The ``--impl`` audit of ``args.impl`` (see the module docstring)."""
    harden_judge()
    args.port = getattr(args, "port", None) or PortOptions(device=config.device)
    targets = list(dict.fromkeys(args.impl))
    chosen = shard_of(targets, args.shard)
    rubric = args.rubric
    if len(targets) == 1:
        entry, report, result = audit_one(targets[0], config, layers, args.prog, progress, args.limits,
                                          workers_per_target(1), args.cells, required=args.require, repro=args.repro,
                                          family=args.family, port=args.port)
        entries = [{**entry, "index": 0, "points": rubric_for(rubric, entry["family"]).score(entry["verdicts"])}]
        if report:
            print(report)
        print(render_verdicts(entries[0]))
    else:
        result = None
        entries = audit_class(args, config, layers, chosen, rubric, targets)
        print(grader_grid(entries))
        print(text_of(sandbox_summary([entry.get("sandbox") for entry in entries])), file=sys.stderr)
    for entry in entries:
        if entry["error"]:
            print(f"{args.prog} audit: error: {entry['target']}: {entry['error']}", file=sys.stderr)
    options = options_of(config, rubric, {"require": sorted(args.require), "cells": args.cells,
                                          "family": args.family, "backend": args.port.backend,
                                          "autograd": args.port.autograd})
    document = {"schema_version": IMPL_JSON_SCHEMA["schema_version"], "options": options,
                "shard": list(args.shard) if args.shard else None,
                "sandbox": sandbox_summary([entry.get("sandbox") for entry in entries]), "targets": entries}
    return write_outputs(args, document, rubric, result.config if result is not None else config, result)


def audit_class(args: argparse.Namespace, config: AuditConfig, layers: Sequence[str],
                chosen: Sequence[tuple[int, str]], rubric: Rubric | None, targets: Sequence[str]) -> list[dict]:
    """Several targets, each judged in a pool process, ``-j`` at a time, with progress on stderr.

    The judge processes share one reference store (``--references DIR``, else a temporary one for the run).
    """
    context = multiprocessing.get_context("spawn")  # a fresh judge: no state, no threads inherited
    entries = []
    with reference_store.shared() as references, \
            ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool, ClassProgress(len(chosen)) as shown:
        folders = {index: None if args.repro is None else str(Path(args.repro) / f"{index + 1}-{Path(target).name}")
                   for index, target in chosen}  # one folder of reproducers per target
        futures = {pool.submit(audit_entry, target, config, layers, args.limits, str(Path.cwd()),
                               workers_per_target(args.jobs), args.cells, args.require, folders[index],
                               args.family, targets, references, args.port): index
                   for index, target in chosen}
        for future in as_completed(futures):
            entry = {**future.result(), "index": futures[future]}
            entry["points"] = rubric_for(rubric, entry["family"]).score(entry["verdicts"])
            entries.append(entry)
            shown.done(entry, status([entry]) != EXIT_OK)
    return sorted(entries, key=lambda entry: entry["index"])


def write_outputs(args: argparse.Namespace, document: dict, rubric: Rubric | None, config: AuditConfig,
                  result: AuditResult | None) -> int:
    """Write ``--json``, ``--csv``, ``--gradescope`` and ``--html`` of a document; its exit status."""
    entries = document["targets"]
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    if getattr(args, "csv", None):
        write_csv(args.csv, entries)
    if getattr(args, "gradescope", None):
        write_gradescope(args.gradescope, entries[0], rubric_for(rubric, entries[0].get("family")))
    if args.html and not write_html(args, config, entries, result):
        return EXIT_USAGE
    return status(entries)


def write_html(args: argparse.Namespace, config: AuditConfig, entries: Sequence[dict],
               result: AuditResult | None) -> bool:
    """Write the ``--html`` page of ``entries`` (and of ``result``, one target's audit); ``False`` when it cannot."""
    from oracle.report.html import write_report  # the optional extra rnn-oracle[report], only when asked for

    try:
        write_report(args.html, config, args.command_line, result=result, entries=entries, prog=args.prog)
    except OSError as error:
        print(f"{args.prog} audit: error: cannot write --html {args.html}: {error}", file=sys.stderr)
        return False
    return True
