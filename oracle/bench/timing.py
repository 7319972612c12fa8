"""Timing: alternating rounds of blocks of calls per side, with a settle pause, summarised per side.

Also the defaults of the timing options and the threshold above which a row is flagged noisy.
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

from oracle.bench.machine import OtherCpuMeter
from oracle.bench.sides import Step

#: Most calls of one side in one block, however fast a case is.
MAX_BLOCK = 100

#: Defaults of the timing options (full run, ``--quick``).
DEFAULT_REPEAT, QUICK_REPEAT = 15, 3
DEFAULT_WARMUP, QUICK_WARMUP = 2, 1
DEFAULT_BLOCK_TIME, QUICK_BLOCK_TIME = 0.05, 0.0
DEFAULT_SETTLE, QUICK_SETTLE = 0.15, 0.0

#: A row is flagged noisy when the interquartile range of its per-round ratios
#: exceeds this fraction of their median.
NOISY_SPREAD = 0.5


def _timed(step: Step) -> float:
    """Seconds of one call of ``step`` with the garbage collector off; the result is dropped after the clock stops."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = step()
        elapsed = time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
    del result
    return elapsed


def _summary(times: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(times)
    if len(ordered) >= 2:
        q25, _, q75 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q25 = q75 = ordered[0]
    return {"median_s": statistics.median(ordered), "min_s": ordered[0], "q25_s": q25, "q75_s": q75,
            "mean_s": statistics.fmean(ordered), "times_s": list(times)}


def _order(index: int) -> tuple[str, str]:
    """Which side goes first in round ``index``: impl in even rounds, torch in odd ones."""
    return ("impl", "torch") if index % 2 == 0 else ("torch", "impl")


def time_pair(impl_step: Step, torch_step: Step, *, warmup: int, repeat: int, block_time: float = 0.0,
              settle: float = 0.0, meter: OtherCpuMeter | None = None) -> dict[str, Any]:
    """Time two steps in alternating rounds of blocks, with a pause whenever the side changes.

    Parameters
    ----------
    impl_step, torch_step
        The computations; each call is one measurement.
    warmup
        Rounds of one call per side, run first and discarded; the last one
        sizes the blocks.
    repeat
        Number of measured rounds. A round is one block of calls per side;
        impl's block comes first in even rounds, torch's in odd ones.
    block_time
        Seconds of calls a block should hold: a side whose call took ``t`` in
        the last warmup round gets ``ceil(block_time / t)`` calls per block
        (at most ``MAX_BLOCK``; 1 when ``block_time`` or ``warmup`` is 0).
    settle
        Seconds to sleep before every block (and every warmup call), so that
        the worker threads of the library that ran before have stopped
        busy-waiting for work before the other library is timed.
    meter
        Measures the other processes' CPU use during the measured blocks.

    Returns
    -------
    dict
        ``impl`` and ``torch`` summaries over all their calls (see the
        :mod:`oracle.bench` docstring), ``rounds``, ``block`` (calls per block by side) and
        ``paired`` (per round, the ratio of the block medians impl/torch).
    """
    steps = {"impl": impl_step, "torch": torch_step}
    last = {"impl": 0.0, "torch": 0.0}
    for index in range(warmup):
        for side in _order(index):
            _pause(settle)
            last[side] = _timed(steps[side])
    block = {side: 1 if block_time <= 0 or last[side] <= 0 else min(MAX_BLOCK, math.ceil(block_time / last[side]))
             for side in steps}
    times: dict[str, list[float]] = {"impl": [], "torch": []}
    paired = []
    rounds = max(1, repeat)
    for index in range(rounds):
        medians = {}
        for side in _order(index):
            _pause(settle)
            with meter.span() if meter else contextlib.nullcontext():
                calls = [_timed(steps[side]) for _ in range(block[side])]
            times[side] += calls
            medians[side] = statistics.median(calls)
        if medians["torch"] > 0:
            paired.append(medians["impl"] / medians["torch"])
    return {"impl": _summary(times["impl"]), "torch": _summary(times["torch"]), "rounds": rounds, "block": block,
            "paired": paired}


def _pause(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
