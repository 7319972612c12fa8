"""Peak memory of one call per side, two ways: ``alloc`` (tracemalloc / torch profiler) and ``rss``.

The ``rss`` method runs each side in a fresh subprocess (entry point :func:`_rss_child_main`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from oracle.bench.cases import CASES_BY_NAME, Case, make_data
from oracle.bench.machine import pinned_threads
from oracle.bench.sides import Step, impl_side, torch_side


def numpy_peak_bytes(step: Step) -> int:
    """Peak bytes that ``step`` holds at once above what existed before it, by :mod:`tracemalloc`.

    ``step`` should have run before (warm). Works whether or not tracemalloc
    is already tracing; if not, it is started and stopped around the call.
    """
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = step()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return int(peak - before)


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (Kineto prints profiler start/stop lines there from C++)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def torch_peak_bytes(step: Step) -> int:
    """Peak bytes of CPU tensors that ``step`` holds at once, from the profiler's memory events.

    ``step`` should have run before (warm) and hold no tensor from before
    the call that it frees during it (the running sum starts at zero).
    """
    from torch.profiler import ProfilerActivity, profile

    gc.collect()
    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = step()
        del result
    events = [event for event in prof.profiler.kineto_results.events() if event.name() == "[memory]"]
    events = [event for event in events if "CPU" in str(event.device_type())]
    events.sort(key=lambda event: event.start_ns())
    current = peak = 0
    for event in events:
        current += int(event.nbytes())
        peak = max(peak, current)
    return peak


def _memory_row(measure: Callable[[str], int]) -> dict[str, Any]:
    """The memory part of a report row: ``measure(side)`` for ``"impl"`` and ``"torch"``, their ratio, and
    the errors of a side that could not be measured (reported, never raised: benchmarking goes on)."""
    row: dict[str, Any] = {"impl_bytes": None, "torch_bytes": None, "ratio": None, "error": None}
    errors = []
    for side in ("impl", "torch"):
        try:
            row[f"{side}_bytes"] = measure(side)
        except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
            errors.append(f"{side}: {type(exc).__name__}: {exc}")
    if row["impl_bytes"] is not None and row["torch_bytes"]:
        row["ratio"] = row["impl_bytes"] / row["torch_bytes"]
    row["error"] = "; ".join(errors) or None
    return row


def memory_alloc(impl_step: Step, torch_step: Step) -> dict[str, Any]:
    return _memory_row(lambda side: numpy_peak_bytes(impl_step) if side == "impl" else torch_peak_bytes(torch_step))


def _proc_status_kib(*keys: str) -> dict[str, int]:
    values = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in keys:
                values[key] = int(rest.split()[0])
    return values


def _rss_child_main(argv: Sequence[str]) -> int:
    """Entry point of the memory subprocess: one side of one case; prints one JSON line."""
    spec = json.loads(argv[0])
    case = CASES_BY_NAME[spec["case"]]
    dims = case.quick_dims if spec["quick"] else case.dims
    with pinned_threads(spec["threads"], torch_too=spec["side"] == "torch"):
        data = make_data(case, dims, spec["seed"])
        builder = impl_side if spec["side"] == "impl" else torch_side
        step, _ = builder(case, dims, data, spec["seed"])
        for _ in range(2):
            result = step()
            del result
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
        before = _proc_status_kib("VmRSS")["VmRSS"]
        result = step()
        peak = _proc_status_kib("VmHWM")["VmHWM"]
        del result
    print(json.dumps({"rss_before_kib": before, "hwm_kib": peak, "bytes": (peak - before) * 1024}))
    return 0


def memory_rss(case: Case, *, quick: bool, threads: int, seed: int) -> dict[str, Any]:
    if not sys.platform.startswith("linux"):
        return {"impl_bytes": None, "torch_bytes": None, "ratio": None, "error": "rss method needs Linux /proc"}
    env = dict(os.environ)
    # The child imports the same impl and oracle as this process: give it this process's module path.
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry or os.curdir) for entry in sys.path)
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    code = "import sys; from oracle.bench.memory import _rss_child_main; sys.exit(_rss_child_main(sys.argv[1:]))"

    def measure(side: str) -> int:
        spec = json.dumps({"case": case.name, "side": side, "quick": quick, "threads": threads, "seed": seed})
        done = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True, env=env,
                              timeout=600, check=False)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"child exited {done.returncode}: {tail}")
        return int(json.loads(done.stdout.strip().splitlines()[-1])["bytes"])

    return _memory_row(measure)
