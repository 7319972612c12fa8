"""Output: the report as a markdown table, followed by the machine, the method and any warnings.

Only formatting; the JSON document itself is built by :mod:`oracle.bench.driver`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oracle.bench.timing import NOISY_SPREAD

#: Share of the CPUs used by other processes above which a row's timings are called unreliable.
BUSY_SHARE = 0.1


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.2f}"


def dims_text(dims: Mapping[str, int]) -> str:
    return " ".join(f"{key}={value}" for key, value in dims.items())


def format_table(report: Mapping[str, Any]) -> str:
    """The report as a markdown table, followed by the machine and the method in a few lines."""
    header = ("| case | shape | dtype | impl ms | torch ms | ratio | paired median [IQR] | best | target | status "
              "| GFLOP/s impl / torch | peak MiB impl / torch (alloc) | peak MiB impl / torch (RSS) | other CPU |")
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for row in report["results"]:
        impl_ms = row["impl"]["median_s"] * 1e3 if row["impl"] else None
        torch_ms = row["torch"]["median_s"] * 1e3 if row["torch"] else None
        paired = row["paired_ratio"]
        paired_text = f"{paired['median']:.2f} [{paired['q25']:.2f}-{paired['q75']:.2f}]" if paired else "-"
        gflops = ("-" if row["impl_gflops"] is None
                  else f"{row['impl_gflops']:.1f} / {row['torch_gflops']:.1f}")
        memory = []
        for method in ("alloc", "rss"):
            entry = row["memory"].get(method)
            memory.append("-" if not entry else f"{_mib(entry['impl_bytes'])} / {_mib(entry['torch_bytes'])}")
        target = "-" if row["target"] is None else f"<= {row['target']:g}"
        other = "-" if row["other_cpu"] is None else f"{row['other_cpu']:.0%}"
        lines.append(
            f"| {row['case']} | {dims_text(row['dims'])} | {row['dtype']} | {_fmt(impl_ms, '.2f')} "
            f"| {_fmt(torch_ms, '.2f')} | {_fmt(row['ratio'], '.2f')} | {paired_text} "
            f"| {_fmt(row['best_ratio'], '.2f')} | {target} | {row['status']}{'*' if row['noisy'] else ''} "
            f"| {gflops} | {memory[0]} | {memory[1]} | {other} |"
        )
    machine, settings = report["machine"], report["settings"]
    env = ", ".join(f"{key}={value}" for key, value in machine["env"].items() if value is not None) or "none set"
    lines += [
        "",
        f"Machine: {machine['cpu_model']}, {machine['usable_cpus']} usable of {machine['logical_cpus']} logical CPUs "
        f"(torch CPU capability {machine['torch_cpu_capability']}); {machine['platform']}",
        f"Software: Python {machine['python']}, numpy {machine['numpy']} (BLAS: {machine['blas_summary']}), "
        f"torch {machine['torch']} (mkldnn {'on' if machine['mkldnn_enabled'] else 'off'})",
        f"Threads: {settings['threads']} (torch {machine['torch_threads']}; BLAS pinned: {machine['threads_pinned']}); "
        f"env: {env}; load average start {machine['loadavg_start']}, end {machine['loadavg_end']}",
        f"Method: {settings['warmup']} warmup rounds, {settings['repeat']} rounds alternating which side goes first, "
        f"blocks of ~{settings['block_time']} s per side, {settings['settle']} s pause before each block; "
        "ratio = median(impl) / median(torch); paired = per-round ratios of block medians; best = min / min; "
        "GFLOP/s counts matmuls only (3 x forward).",
    ]
    busy = [row["case"] for row in report["results"] if (row["other_cpu"] or 0) > BUSY_SHARE]
    if busy:
        lines.append(f"WARNING: other processes used more than {BUSY_SHARE:.0%} of the CPUs while timing "
                     f"{', '.join(busy)} ('other CPU'): those timings are unreliable.")
    if any(row["noisy"] for row in report["results"]):
        lines.append(f"* noisy: the per-round ratios' interquartile range exceeds {NOISY_SPREAD:.0%} of their median "
                     "(machine load); rerun on a quiet machine or trust 'best' more than the medians.")
    if settings["quick"]:
        lines.append("QUICK RUN: tiny shapes, few rounds; the numbers are not meaningful.")
    for row in report["results"]:
        problems = [row["error"]] if row["error"] else []
        if row["check"] and row["check"]["detail"]:
            problems.append(f"check: {row['check']['detail']}")
        problems += [f"memory {method}: {entry['error']}" for method, entry in row["memory"].items() if entry["error"]]
        if problems:
            lines.append(f"{row['case']}: " + " | ".join(problems))
    return "\n".join(lines)
