"""Threads and machine: thread pinning, the machine/software record, and other processes' CPU use.

Nothing here changes the environment variables; :data:`ENV_VARS` are only recorded.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

#: Environment variables recorded (never changed) in the report.
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")


@contextlib.contextmanager
def pinned_threads(threads: int, torch_too: bool = True) -> Iterator[bool]:
    """Pin torch's intra-op threads and (with threadpoolctl) every BLAS/OpenMP pool; yields whether BLAS is pinned."""
    previous = None
    if torch_too:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield False
        else:
            with threadpool_limits(limits=threads):
                yield True
    finally:
        if previous is not None:
            import torch

            torch.set_num_threads(previous)


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info(threads_pinned: bool) -> dict[str, Any]:
    """The machine and software the numbers come from (see the :mod:`oracle.bench` docstring for the keys)."""
    import torch

    try:
        from threadpoolctl import threadpool_info

        blas = [{key: info.get(key) for key in ("user_api", "internal_api", "version", "num_threads", "architecture",
                                                "threading_layer", "filepath")} for info in threadpool_info()]
    except ImportError:
        blas = []
    libraries = [entry for entry in blas if entry["user_api"] == "blas"]
    summary = ", ".join(f"{entry['internal_api']} {entry['version']} ({entry['architecture']}, "
                        f"{entry['num_threads']} threads)" for entry in libraries) or "unknown (threadpoolctl missing)"
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        capability = None
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "blas": blas,
        "blas_summary": summary,
        "threads_pinned": threads_pinned,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": capability,
        "mkldnn_enabled": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "env": {name: os.environ.get(name) for name in ENV_VARS},
    }


class OtherCpuMeter:
    """How busy *other* processes kept the CPUs during the spans measured with :meth:`span` (Linux).

    All CPUs' busy time from ``/proc/stat`` minus this process's own CPU time
    (and that of its waited-for children), summed over the spans, as a
    fraction of ``wall time x CPUs``: 0 on a quiet machine, about 1 when
    other processes kept every core busy. Unlike the load average it covers
    exactly the timed blocks (not the pauses between them). Resolution: one
    clock tick (usually 10 ms) per span end, which averages out over many.
    """

    def __init__(self) -> None:
        self.wall = 0.0
        self.others = 0.0
        self.available = True

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as stat:
                fields = [int(value) for value in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal, less idle and iowait
        own = sum(os.times()[:4])  # user + system, of this process and its children
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own

    @contextlib.contextmanager
    def span(self) -> Iterator[None]:
        """Count the time inside the ``with`` block."""
        begin = self._sample()
        yield
        end = self._sample()
        if begin is None or end is None:
            self.available = False
            return
        self.wall += end[0] - begin[0]
        self.others += (end[1] - begin[1]) - (end[2] - begin[2])

    def share(self) -> float | None:
        """The others' share of the CPUs over all spans, or ``None`` where it cannot be measured."""
        if not self.available or self.wall <= 0:
            return None
        return round(min(1.0, max(0.0, self.others / (self.wall * (os.cpu_count() or 1)))), 3)


def loadavg() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None
