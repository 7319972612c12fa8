"""``rnn-oracle references build``: fill a reference store ahead of time, so that an audit only calls and compares.

``rnn-oracle references build --out DIR [--family F] [--layers ...] [--cases N] [--seed S] [--dims ...]
[--dtypes ...] [--profile P]`` draws every case the audit with the same options draws
(:func:`oracle.judge.audit.case_source`), runs impl on it for its upstream gradients, and keeps in ``DIR``
(:mod:`oracle.references.store`) the torch twin's outputs and gradients, the finite differences of the
spec's own forward pass (:mod:`oracle.judge.reference_differences`) and, for every float32 case, the
float32 rounding rule's float64 result and spread, whether or not impl needed them. ``rnn-oracle audit
--references DIR`` (or ``--impl ... --references DIR``) with the same options then reads them instead of
computing them. A case whose upstream gradients differ (a target whose outputs have other shapes) misses
and is computed as before. Exit status 0, or 2 on bad usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from oracle.cli import (
    DEFAULT_CASES,
    DEFAULT_SEED,
    UsageError,
    _cases,
    _device,
    _dims,
    _names,
    _seed,
    check_dims,
    check_dtypes,
    select_specs,
    single_threaded_torch,
)
from oracle.judge.audit import AuditConfig, case_rng, case_source
from oracle.judge.checks import run_case
from oracle.judge.reference_differences import reference_finite_differences
from oracle.references.store import ReferenceStore, rounding_result, twin_result, using
from oracle.specs.families import FAMILIES
from oracle.specs.profiles import PROFILES
from oracle.specs.spec import CALL_ERRORS, LayerSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("build",), help="build: compute the references of the cases and keep them")
    parser.add_argument("--out", required=True, metavar="DIR", help="the store's folder (made if absent; "
                                                                     "what it already holds is kept)")
    parser.add_argument("--family", choices=tuple(FAMILIES), default=None,
                        help="only the layers of one course family (as audit --family)")
    parser.add_argument("--layers", action="extend", nargs="+", metavar="NAME",
                        help="the layers (space- or comma-separated; default: every built-in layer)")
    parser.add_argument("--dtypes", action="extend", nargs="+", metavar="DTYPE",
                        help="float64 and/or float32 (default both)")
    parser.add_argument("--cases", type=_cases, default=DEFAULT_CASES, metavar="N",
                        help=f"cases per layer and dtype, as the audit's --cases (default {DEFAULT_CASES})")
    parser.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="N",
                        help=f"the audit's --seed (default {DEFAULT_SEED})")
    parser.add_argument("--device", type=_device, default="cpu", help="where the twins run, as the audit's --device")
    parser.add_argument("--dims", type=_dims, default={}, metavar="NAME=SIZE,...", help="the audit's --dims")
    parser.add_argument("--profile", choices=tuple(PROFILES), default="default", help="the audit's --profile")


def build(specs: list[LayerSpec], config: AuditConfig, store: ReferenceStore) -> int:
    """Keep the references of every case of ``config`` in ``store``; the number of cases done."""
    done = 0
    with using(store):
        for spec in specs:
            as_bound = dataclasses.replace(spec, reference_forward=spec.forward_reference)  # as bind leaves it
            for dtype in (dtype for dtype in config.dtypes if dtype in spec.dtypes):
                for case_index in range(config.cases):
                    source = case_source(spec, np.dtype(dtype), config.seed, case_index, config.setting(case_index))
                    try:
                        case = run_case(spec, source, np.dtype(dtype))
                        twin_result(spec, case.inputs, case.upstream, config.device)
                        if spec.grads:  # as a target's forward pass that agrees with the twin is judged
                            reference_finite_differences(as_bound, case.inputs, case.upstream,
                                                         case_rng(config.seed, spec.name, dtype, case_index, 1))
                        if np.dtype(dtype) == np.float32:
                            rounding_result(spec, case.inputs, case.upstream)
                    except CALL_ERRORS as error:  # a reference that cannot run on a case: the audit will say so
                        print(f"references build: {spec.name} {dtype} case {case_index}: {error}", file=sys.stderr)
                        continue
                    done += 1
    return done


def run(args: argparse.Namespace) -> int:
    specs = select_specs(_names(args.layers), [])
    if args.family:
        specs = [spec for spec in specs if spec.family == args.family]
    if not specs:
        raise UsageError(f"no layer of the {args.family} family among those given")
    config = AuditConfig(layers=tuple(spec.name for spec in specs), dtypes=check_dtypes(_names(args.dtypes)),
                         cases=args.cases, seed=args.seed, device=args.device, profile=args.profile, dims=args.dims)
    check_dims(specs, config)
    started = time.perf_counter()
    store = ReferenceStore.open(args.out)
    with single_threaded_torch():  # as the audit runs the twins: the thread count is part of every key
        done = build(specs, config, store)
    print(f"{args.prog} references: {done} cases of {len(specs)} layers in {args.out} "
          f"({store.misses} computed, {store.hits} already there, {time.perf_counter() - started:.1f} s)")
    return 0
