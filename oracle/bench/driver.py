"""The driver: run one case (check, timing, memory) and all of them into the report (the JSON document).

:data:`SCHEMA` names the report's format.
"""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from impl.cell_layouts import gate_count
from oracle.bench.cases import Case, make_data, matmul_flops
from oracle.bench.machine import OtherCpuMeter, loadavg, machine_info, pinned_threads
from oracle.bench.memory import memory_alloc, memory_rss
from oracle.bench.sides import agreement, impl_side, torch_side
from oracle.bench.timing import (
    DEFAULT_BLOCK_TIME,
    DEFAULT_REPEAT,
    DEFAULT_SETTLE,
    DEFAULT_WARMUP,
    NOISY_SPREAD,
    time_pair,
)

SCHEMA = "rnn-oracle-bench/1"


def _status(ratio: float | None, target: float | None, check_ok: bool) -> str:
    if not check_ok:
        return "mismatch"
    if target is None or ratio is None:
        return "-"
    return "pass" if ratio <= target else "miss"


def bench_case(case: Case, *, quick: bool, warmup: int, repeat: int, block_time: float, settle: float, memory: str,
               threads: int, seed: int) -> dict[str, Any]:
    """Run one case: agreement check, alternating timing, memory. Never raises; failures become ``status: error``."""
    dims = dict(case.quick_dims if quick else case.dims)
    row: dict[str, Any] = {
        "case": case.name, "description": case.description, "kind": case.kind, "dtype": case.dtype, "dims": dims,
        "rounds": None, "block": None, "impl": None, "torch": None, "ratio": None, "paired_ratio": None,
        "best_ratio": None, "target": case.target, "status": "error", "check": None, "matmul_flops": None,
        "impl_gflops": None, "torch_gflops": None, "noisy": False, "other_cpu": None, "memory": {}, "error": None,
    }
    try:
        data = make_data(case, dims, seed)
        impl_step, impl_collect = impl_side(case, dims, data, seed)
        torch_step, torch_collect = torch_side(case, dims, data, seed)
        row["check"] = agreement(case, impl_collect(impl_step()), torch_collect(torch_step()))
        meter = OtherCpuMeter()
        timing = time_pair(impl_step, torch_step, warmup=warmup, repeat=repeat, block_time=block_time,
                           settle=settle, meter=meter)
        row["other_cpu"] = meter.share()
    except Exception as exc:  # noqa: BLE001 - one broken case must not stop the others
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    impl_median, torch_median = timing["impl"]["median_s"], timing["torch"]["median_s"]
    row.update(rounds=timing["rounds"], block=timing["block"], impl=timing["impl"], torch=timing["torch"])
    row["ratio"] = impl_median / torch_median if torch_median > 0 else None
    if timing["torch"]["min_s"] > 0:
        row["best_ratio"] = timing["impl"]["min_s"] / timing["torch"]["min_s"]
    if timing["paired"]:
        q25, _, q75 = (statistics.quantiles(timing["paired"], n=4, method="inclusive")
                       if len(timing["paired"]) >= 2 else [timing["paired"][0]] * 3)
        median = statistics.median(timing["paired"])
        row["paired_ratio"] = {"median": median, "q25": q25, "q75": q75}
        row["noisy"] = median > 0 and (q75 - q25) / median > NOISY_SPREAD
    if case.kind in ("lstm", "rnn"):
        flops = matmul_flops(dims, gate_count(case.kind))
        row["matmul_flops"] = flops
        row["impl_gflops"] = flops / impl_median / 1e9 if impl_median > 0 else None
        row["torch_gflops"] = flops / torch_median / 1e9 if torch_median > 0 else None
    row["status"] = _status(row["ratio"], case.target, row["check"]["ok"])
    if memory in ("alloc", "both"):
        row["memory"]["alloc"] = memory_alloc(impl_step, torch_step)
    if memory in ("rss", "both") and case.rss:
        row["memory"]["rss"] = memory_rss(case, quick=quick, threads=threads, seed=seed)
    return row


def run_benchmarks(cases: Sequence[Case], *, threads: int = 2, warmup: int = DEFAULT_WARMUP,
                   repeat: int = DEFAULT_REPEAT, block_time: float = DEFAULT_BLOCK_TIME,
                   settle: float = DEFAULT_SETTLE, quick: bool = False, memory: str = "both", seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Benchmark ``cases`` with pinned threads and return the report (the JSON document).

    Parameters
    ----------
    cases
        Rows to run, in order.
    threads
        Threads for torch and for numpy's BLAS.
    warmup, repeat, block_time, settle
        See :func:`time_pair`.
    quick
        Use each case's tiny ``quick_dims`` (a smoke run; its numbers mean nothing).
    memory
        ``"alloc"``, ``"rss"``, ``"both"`` or ``"none"``.
    seed
        Seed of the inputs (and of impl's captioning model).
    progress
        Called with one line per case as it starts.

    Returns
    -------
    dict
        ``schema``, ``created``, ``settings``, ``machine``, ``results``.
    """
    settings = {"threads": threads, "repeat": repeat, "warmup": warmup, "block_time": block_time, "settle": settle,
                "quick": quick, "memory": memory, "seed": seed, "cases": [case.name for case in cases]}
    load_start = loadavg()
    results = []
    with pinned_threads(threads) as pinned:
        machine = machine_info(pinned)
        for case in cases:
            if progress:
                progress(f"[bench] {case.name} ...")
            results.append(bench_case(case, quick=quick, warmup=warmup, repeat=repeat, block_time=block_time,
                                      settle=settle, memory=memory, threads=threads, seed=seed))
    machine["loadavg_start"], machine["loadavg_end"] = load_start, loadavg()
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {"schema": SCHEMA, "created": created, "settings": settings, "machine": machine, "results": results}
