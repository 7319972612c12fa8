"""``rnn-oracle bench``: time impl's numpy layers against PyTorch on the CPU, in one process.

Every row (a *case*) pits one numpy computation from :mod:`impl` against the
equivalent PyTorch computation, both in the same dtype, on the same arrays and
with the same number of threads, and reports the medians, the numpy/torch
ratio, its target and whether it was met.

Cases
-----
=======================  =====================================================  ======
case                     what is timed (both sides)                             target
=======================  =====================================================  ======
``lstm_f32_large``       LSTM forward + backward, N=64 T=50 D=128 H=256, f32    0.8
``lstm_f64_large``       the same in float64                                    0.9
``lstm_f32_small``       LSTM forward + backward, N=16 T=20 D=64 H=64, f32      1.5
``rnn_f32_large``        tanh RNN forward + backward at the large shape, f32    0.8
``rnn_f32_small``        tanh RNN forward + backward at the small shape, f32    1.0
``embedding_bwd_f32``    word-embedding backward only, V=10000 D=256 N*T=6400   1.0
``captioning_lstm_f32``  ``CaptioningRNN.loss`` (forward + backward), LSTM      none
=======================  =====================================================  ======

The torch side is an honest baseline:

- recurrent rows: ``nn.LSTM`` / ``nn.RNN`` (``batch_first=True``) built by
  :func:`oracle.twins.modules.build_module` with impl's parameters (gates
  reordered; ``bias_hh`` a frozen zero, as impl has one bias), ``x`` and
  ``h0`` leaves with ``requires_grad``, ``c0`` a constant zero; one timed run
  is forward, then ``out.backward(dh)`` with a random upstream ``dh`` (not
  ``.sum()``), then the gradients are collected and every ``.grad`` is set to
  ``None``, so no run accumulates into the previous one's buffers. The numpy
  side is ``lstm_forward`` then ``lstm_backward(dh, cache)`` (resp. ``rnn_*``).
- ``embedding_bwd_f32``: *backward only*. The forward pass (a gather, the
  same trivial copy on both sides) is run once outside the timer; numpy times
  ``word_embedding_backward(dout, cache)`` and torch times
  ``torch.autograd.grad(out, weight, dout, retain_graph=True)`` through the
  graph of one ``nn.Embedding`` forward. Both produce a fresh dense ``(V, D)``
  gradient from the same ``dout``; indices are uniform in ``[0, V)``. This is
  the fairest reading of "embedding backward": the row measures the
  scatter-add and nothing else.
- ``captioning_lstm_f32``: ``CaptioningRNN.loss(features, captions)`` against
  :class:`oracle.twins.CaptioningTwin` (``nn.Linear``, ``nn.Embedding``,
  ``nn.LSTM``, ``nn.Linear``, masked ``F.cross_entropy``) built from the numpy
  model's parameters: forward, ``loss.backward()``, gradients collected and
  reset. COCO-like sizes: N=64, T=16, input 512, word vectors 256, hidden 512,
  V=1004; captions padded with ``<NULL>`` after a random length.

Before timing, each case runs both sides once and compares outputs and
gradients (in impl's layout, relative to the largest magnitude; float32
1e-3, float64 1e-8) and the float dtype of impl's results: a row whose two
sides do not compute the same thing is reported as ``mismatch``, never
``pass``.

Timing
------
- Threads are pinned for the whole run (default 2): ``torch.set_num_threads``
  and ``threadpoolctl.threadpool_limits`` (numpy's BLAS and any OpenMP
  runtime). Without threadpoolctl, numpy's BLAS is left as it is and the
  report says so.
- ``--warmup`` rounds of one call per side are discarded; then ``--repeat``
  rounds are measured. A round is one *block* of calls per side (as many
  calls as fill ``--block-time`` seconds, at most 100, so millisecond cases
  get enough samples), and the side that goes first alternates between
  rounds, so slow drifts in machine load hit both sides alike. Each call is
  timed with ``time.perf_counter`` with the garbage collector disabled;
  results are released outside the timer.
- Before every block the process sleeps ``--settle`` seconds (default
  0.15). Both libraries leave their worker threads busy-waiting for more
  work after a call: OpenBLAS for about 2**28 cycles (~0.1 s), libgomp
  (torch) for a shorter spin. On a 2-core machine those spinning threads
  take a core from the other library if it runs at once: measured here on
  the captioning row, torch timed right after numpy took 135 ms instead of
  66 ms, numpy right after torch 86 ms instead of 77 ms; a 0.1-0.3 s pause
  removes the effect. Neither library meets the other's spinning threads in
  real use, so the pause makes the comparison fair rather than flattering.
- ``ratio`` is ``median(impl) / median(torch)`` over all calls (the figure
  compared with the target); ``paired`` is the median and interquartile
  range of the per-round ratios of the two block medians, and ``best`` is
  ``min(impl) / min(torch)``. On a loaded machine the minimum is the closest
  to the uncontended speed; a wide paired interquartile range means the run
  was noisy (such rows are flagged ``*``). ``other CPU`` is the share of
  the machine that other processes used while the row was timed; above 10%
  the table warns that the row's timings are unreliable.
- GFLOP/s (recurrent rows) counts only the matrix products, 2 flops per
  multiply-add: forward ``x @ Wx`` and ``h @ Wh`` over all steps, i.e.
  ``F = 2 N T (D + H) G H`` with ``G = 4`` gates for the LSTM and 1 for the
  RNN; backward needs two products of the same size per forward product (the
  input gradient and the weight gradient), so forward + backward counts
  ``3 F``. GFLOP/s is ``3 F / median``.

Memory
------
Two methods, reported side by side; both give the *increase* over what the
inputs, parameters and upstream gradients already occupy, including the
results of the call (outputs and gradients), for one forward + backward after
warmup.

``alloc``
    Peak of live array/tensor bytes requested from the allocator.
    numpy: :mod:`tracemalloc` (numpy reports every array buffer to it),
    peak minus the traced size before the call. torch: the profiler's
    memory events (``torch.profiler.profile(profile_memory=True)``, every
    allocation and free of ATen's CPU allocator, in time order), peak of
    the running sum. Limits: buffers a library allocates outside the array
    or tensor allocator (OpenBLAS's work buffers, oneDNN scratchpads not
    backed by a tensor) are invisible, and Python objects count on the numpy
    side only (a few kB). Kineto's start/stop lines are kept off stderr.
``rss``
    Peak resident-set growth in a fresh subprocess per side (the numpy side
    never imports torch): build the inputs, run twice, reset the kernel's
    high-water mark (``/proc/self/clear_refs``), run once, report
    ``VmHWM - VmRSS``. The child runs with ``MALLOC_MMAP_THRESHOLD_=65536``
    so that glibc returns large freed blocks to the kernel instead of
    recycling warmup memory, which would hide it. Limits: Linux only,
    page-granular (transparent huge pages round up to 2 MiB), counts every
    library's buffers and pages actually touched, not bytes requested.
    Measured for the LSTM rows only (a subprocess per side costs a torch
    import).

JSON (``--json PATH``)
----------------------
``{"schema": "rnn-oracle-bench/1", "created": ISO time, "settings": {...},
"machine": {...}, "results": [row, ...]}`` where ``settings`` holds
``threads``, ``repeat``, ``warmup``, ``block_time``, ``settle``, ``quick``,
``memory``, ``seed``, ``cases``; ``machine`` holds ``cpu_model``, ``logical_cpus``,
``usable_cpus``, ``platform``, ``python``, ``numpy``, ``torch``, ``blas``
(threadpoolctl's view after pinning, a list), ``blas_summary``,
``threads_pinned``, ``torch_threads``, ``torch_cpu_capability``,
``mkldnn_enabled``, ``env`` (``OPENBLAS_CORETYPE`` and the thread variables,
``None`` when unset; never changed), ``loadavg_start`` and ``loadavg_end``;
and each row holds ``case``, ``description``, ``kind``, ``dtype``, ``dims``,
``rounds``, ``block`` (``{"impl": calls, "torch": calls}`` per block),
``impl`` and ``torch`` (each ``{"median_s", "min_s", "q25_s",
"q75_s", "mean_s", "times_s"}``), ``ratio``, ``paired_ratio``
(``{"median", "q25", "q75"}``), ``best_ratio``, ``target``, ``status``
(``"pass"``, ``"miss"``, ``"-"`` without target, ``"mismatch"``,
``"error"``), ``check`` (``{"ok", "max_rel_err", "tol", "detail"}``),
``matmul_flops``, ``impl_gflops``, ``torch_gflops``, ``noisy`` (the per-round ratios' interquartile range
exceeds half their median; marked ``*`` in the table), ``other_cpu``
(share of the CPUs other processes used while the row was timed, from
``/proc/stat`` less this process's CPU time; ``null`` off Linux), ``memory`` (``{"alloc":
{"impl_bytes", "torch_bytes", "ratio", "error"}, "rss": {...}}`` for the
methods that ran) and ``error``. Absent figures are ``null``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CASES", "Case", "add_arguments", "run", "main", "matmul_flops", "run_benchmarks", "format_table"]

SCHEMA = "rnn-oracle-bench/1"

#: Relative tolerance of the pre-timing agreement check, by dtype.
CHECK_TOL = {"float32": 1e-3, "float64": 1e-8}

#: Environment variables recorded (never changed) in the report.
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")

#: Most calls of one side in one block, however fast a case is.
MAX_BLOCK = 100

#: Defaults of the timing options (full run, ``--quick``).
DEFAULT_REPEAT, QUICK_REPEAT = 15, 3
DEFAULT_WARMUP, QUICK_WARMUP = 2, 1
DEFAULT_BLOCK_TIME, QUICK_BLOCK_TIME = 0.05, 0.0
DEFAULT_SETTLE, QUICK_SETTLE = 0.15, 0.0

#: Share of the CPUs used by other processes above which a row's timings are called unreliable.
BUSY_SHARE = 0.1

#: A row is flagged noisy when the interquartile range of its per-round ratios
#: exceeds this fraction of their median.
NOISY_SPREAD = 0.5

_LARGE = {"N": 64, "T": 50, "D": 128, "H": 256}
_SMALL = {"N": 16, "T": 20, "D": 64, "H": 64}
_QUICK_LARGE = {"N": 4, "T": 6, "D": 12, "H": 16}
_QUICK_SMALL = {"N": 3, "T": 4, "D": 8, "H": 8}


@dataclass(frozen=True)
class Case:
    """One benchmark row.

    Attributes
    ----------
    name
        Key for ``--cases`` and in the JSON.
    kind
        ``"lstm"``, ``"rnn"``, ``"embedding"`` or ``"captioning"``.
    dtype
        ``"float32"`` or ``"float64"``.
    dims
        The sizes of the full run (``N, T, D, H``; ``V, D, N, T`` for the
        embedding; ``N, T, input_dim, wordvec_dim, hidden_dim, V`` for the
        captioning model).
    quick_dims
        Tiny sizes of the same kind for ``--quick``.
    target
        Highest acceptable ``median(impl) / median(torch)``, or ``None``.
    description
        One line for the table.
    rss
        Whether ``--memory rss``/``both`` measures this case in subprocesses.
    """

    name: str
    kind: str
    dtype: str
    dims: Mapping[str, int]
    quick_dims: Mapping[str, int]
    target: float | None
    description: str
    rss: bool = False


CASES: tuple[Case, ...] = (
    Case("lstm_f32_large", "lstm", "float32", _LARGE, _QUICK_LARGE, 0.8, "LSTM fwd+bwd", rss=True),
    Case("lstm_f64_large", "lstm", "float64", _LARGE, _QUICK_LARGE, 0.9, "LSTM fwd+bwd", rss=True),
    Case("lstm_f32_small", "lstm", "float32", _SMALL, _QUICK_SMALL, 1.5, "LSTM fwd+bwd", rss=True),
    Case("rnn_f32_large", "rnn", "float32", _LARGE, _QUICK_LARGE, 0.8, "RNN fwd+bwd"),
    Case("rnn_f32_small", "rnn", "float32", _SMALL, _QUICK_SMALL, 1.0, "RNN fwd+bwd"),
    Case("embedding_bwd_f32", "embedding", "float32", {"V": 10_000, "D": 256, "N": 128, "T": 50},
         {"V": 50, "D": 8, "N": 4, "T": 6}, 1.0, "embedding bwd only"),
    Case("captioning_lstm_f32", "captioning", "float32",
         {"N": 64, "T": 16, "input_dim": 512, "wordvec_dim": 256, "hidden_dim": 512, "V": 1004},
         {"N": 4, "T": 6, "input_dim": 12, "wordvec_dim": 8, "hidden_dim": 10, "V": 30}, None,
         "captioning loss fwd+bwd"),
)

_CASES_BY_NAME = {case.name: case for case in CASES}

#: A side of a case: ``step()`` runs the timed computation once and returns its
#: results; ``collect(results)`` turns them into named numpy arrays in impl's layout.
Step = Callable[[], Any]
Collect = Callable[[Any], dict[str, np.ndarray]]


# --------------------------------------------------------------------------- inputs


def matmul_flops(dims: Mapping[str, int], gates: int) -> float:
    """Matrix-product flops of one recurrent forward + backward pass.

    Parameters
    ----------
    dims
        ``N, T, D, H``.
    gates
        4 for the LSTM, 1 for the vanilla RNN.

    Returns
    -------
    float
        ``3 * 2 * N * T * (D + H) * gates * H``: forward ``x @ Wx`` and
        ``h @ Wh`` at every step (2 flops per multiply-add), and twice that
        for backward (input and weight gradients of each product).
    """
    n, t, d, h = (int(dims[key]) for key in ("N", "T", "D", "H"))
    return 3.0 * 2.0 * n * t * (d + h) * gates * h


def _word_to_idx(vocab_size: int) -> dict[str, int]:
    words = {"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3}
    words.update({f"w{index}": index for index in range(len(words), vocab_size)})
    return words


def make_data(case: Case, dims: Mapping[str, int], seed: int) -> dict[str, Any]:
    """The inputs of ``case`` at ``dims``: the same arrays for both sides, from ``seed``.

    Returns
    -------
    dict
        recurrent: ``x, h0, Wx, Wh, b, dh``; embedding: ``x`` (int64),
        ``W``, ``dout``; captioning: ``features``, ``captions`` (int64),
        ``word_to_idx``. Float arrays have the case's dtype.
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(case.dtype)

    def normal(shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(dtype)

    if case.kind in ("lstm", "rnn"):
        n, t, d, h = (dims[key] for key in ("N", "T", "D", "H"))
        g = 4 if case.kind == "lstm" else 1
        return {
            "x": normal((n, t, d)),
            "h0": normal((n, h), 0.5),
            "Wx": normal((d, g * h), 1.0 / math.sqrt(d)),
            "Wh": normal((h, g * h), 1.0 / math.sqrt(h)),
            "b": normal((g * h,), 0.1),
            "dh": normal((n, t, h)),
        }
    if case.kind == "embedding":
        v, d, n, t = (dims[key] for key in ("V", "D", "N", "T"))
        return {"x": rng.integers(0, v, size=(n, t), dtype=np.int64), "W": normal((v, d)), "dout": normal((n, t, d))}
    if case.kind == "captioning":
        n, t, v = dims["N"], dims["T"], dims["V"]
        words = _word_to_idx(v)
        captions = np.full((n, t + 1), words["<NULL>"], dtype=np.int64)
        captions[:, 0] = words["<START>"]
        for row in range(n):
            length = int(rng.integers(max(1, t // 2), t + 1))  # words after <START>, <END> included
            captions[row, 1:length] = rng.integers(4, v, size=length - 1)
            captions[row, length] = words["<END>"]
        return {"features": normal((n, dims["input_dim"])), "captions": captions, "word_to_idx": words}
    raise ValueError(f"unknown case kind {case.kind!r}")


# --------------------------------------------------------------------------- the two sides


def _impl_side(case: Case, dims: Mapping[str, int], data: Mapping[str, Any], seed: int) -> tuple[Step, Collect]:
    import impl  # impl never imports torch

    if case.kind in ("lstm", "rnn"):
        forward = getattr(impl, f"{case.kind}_forward")
        backward = getattr(impl, f"{case.kind}_backward")
        x, h0, wx, wh, b, dh = (data[key] for key in ("x", "h0", "Wx", "Wh", "b", "dh"))

        def step() -> Any:
            h, cache = forward(x, h0, wx, wh, b)
            return (h, *backward(dh, cache))

        def collect(results: Any) -> dict[str, np.ndarray]:
            return dict(zip(("h", "dx", "dh0", "dWx", "dWh", "db"), map(np.asarray, results), strict=True))

        return step, collect
    if case.kind == "embedding":
        _, cache = impl.word_embedding_forward(data["x"], data["W"])
        dout = data["dout"]

        def step() -> Any:
            return impl.word_embedding_backward(dout, cache)

        return step, lambda results: {"dW": np.asarray(results)}
    if case.kind == "captioning":
        model = _impl_captioning_model(case, dims, data, seed)
        features, captions = data["features"], data["captions"]

        def step() -> Any:
            return model.loss(features, captions)

        def collect(results: Any) -> dict[str, np.ndarray]:
            loss, grads = results
            return {"loss": np.asarray(loss), **{f"d{name}": np.asarray(value) for name, value in grads.items()}}

        return step, collect
    raise ValueError(f"unknown case kind {case.kind!r}")


def _impl_captioning_model(case: Case, dims: Mapping[str, int], data: Mapping[str, Any], seed: int) -> Any:
    import impl

    return impl.CaptioningRNN(data["word_to_idx"], input_dim=dims["input_dim"], wordvec_dim=dims["wordvec_dim"],
                              hidden_dim=dims["hidden_dim"], cell_type="lstm", dtype=np.dtype(case.dtype), seed=seed)


def _tensor(array: np.ndarray, requires_grad: bool = False) -> Any:
    """A CPU tensor holding a copy of ``array`` (same dtype), optionally a leaf that requires grad."""
    import torch

    return torch.from_numpy(np.array(array, copy=True, order="C")).requires_grad_(requires_grad)


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy().copy()


def _torch_recurrent_module(kind: str, data: Mapping[str, Any], input_size: int, hidden_size: int) -> Any:
    """``nn.LSTM``/``nn.RNN`` (batch first) holding impl's ``Wx, Wh, b``; ``bias_hh`` a frozen zero."""
    import torch
    from torch import nn

    from oracle.gate_order import bias_to_torch, weight_to_torch

    factory = nn.LSTM if kind == "lstm" else nn.RNN
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[data["Wx"].dtype]
    module: Any
    with torch.random.fork_rng(devices=[]):  # the discarded random init leaves the global torch RNG alone
        module = factory(input_size, hidden_size, batch_first=True, dtype=dtype)
    with torch.no_grad():
        module.weight_ih_l0.copy_(_tensor(weight_to_torch(data["Wx"], kind)))
        module.weight_hh_l0.copy_(_tensor(weight_to_torch(data["Wh"], kind)))
        module.bias_ih_l0.copy_(_tensor(bias_to_torch(data["b"], kind)))
        module.bias_hh_l0.zero_()
    module.bias_hh_l0.requires_grad_(False)
    return module


def _torch_side(case: Case, dims: Mapping[str, int], data: Mapping[str, Any], seed: int) -> tuple[Step, Collect]:
    import torch
    from torch import nn

    if case.kind in ("lstm", "rnn"):
        from oracle.gate_order import bias_from_torch, weight_from_torch

        n, h = dims["N"], dims["H"]
        module = _torch_recurrent_module(case.kind, data, dims["D"], h)
        x, h0, dh = _tensor(data["x"], True), _tensor(data["h0"], True), _tensor(data["dh"])
        c0 = torch.zeros((1, n, h), dtype=x.dtype)
        weights = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0)
        leaves = (x, h0, *weights)
        is_lstm = case.kind == "lstm"

        def step() -> Any:
            state = (h0.unsqueeze(0), c0) if is_lstm else h0.unsqueeze(0)
            out, _ = module(x, state)
            out.backward(dh)
            grads = tuple(t.grad for t in leaves)
            for t in leaves:
                t.grad = None
            return (out.detach(), *grads)

        def collect(results: Any) -> dict[str, np.ndarray]:
            out, dx, dh0, dw_ih, dw_hh, db_ih = results
            return {"h": _numpy(out), "dx": _numpy(dx), "dh0": _numpy(dh0),
                    "dWx": weight_from_torch(_numpy(dw_ih), case.kind),
                    "dWh": weight_from_torch(_numpy(dw_hh), case.kind),
                    "db": bias_from_torch(_numpy(db_ih), case.kind)}

        return step, collect
    if case.kind == "embedding":
        embedding = nn.Embedding.from_pretrained(_tensor(data["W"]), freeze=False)
        out = embedding(_tensor(data["x"]))
        weight, dout = embedding.weight, _tensor(data["dout"])

        def step() -> Any:
            return torch.autograd.grad(out, weight, dout, retain_graph=True)[0]

        return step, lambda results: {"dW": _numpy(results)}
    if case.kind == "captioning":
        from oracle.twins import CaptioningTwin, captioning_grads_to_params

        numpy_model = _impl_captioning_model(case, dims, data, seed)
        params = {name: np.asarray(value) for name, value in numpy_model.params.items()}
        model = CaptioningTwin("lstm", params, null=data["word_to_idx"]["<NULL>"])
        features, captions = _tensor(data["features"]), _tensor(data["captions"])
        trainable = [p for p in model.parameters() if p.requires_grad]

        def step() -> Any:
            loss = model(features, captions)
            loss.backward()
            grads = tuple(p.grad for p in trainable)
            for parameter in trainable:
                parameter.grad = None
            return (loss.detach(), *grads)

        def collect(results: Any) -> dict[str, np.ndarray]:
            loss, *grads = results
            for parameter, grad in zip(trainable, grads, strict=True):
                parameter.grad = grad
            try:
                mapped = captioning_grads_to_params(model)
            finally:
                for parameter in trainable:
                    parameter.grad = None
            return {"loss": _numpy(loss), **{f"d{name}": value for name, value in mapped.items()}}

        return step, collect
    raise ValueError(f"unknown case kind {case.kind!r}")


def _agreement(case: Case, ours: Mapping[str, np.ndarray], theirs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Compare impl's results with torch's: names, shapes, impl's float dtype, values."""
    tol = CHECK_TOL[case.dtype]
    problems: list[str] = []
    worst = 0.0
    if set(ours) != set(theirs):
        problems.append(f"impl returned {sorted(ours)}, torch {sorted(theirs)}")
    for name in sorted(set(ours) & set(theirs)):
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        if a.shape != b.shape:
            problems.append(f"{name}: shape {a.shape} vs torch {b.shape}")
            continue
        if a.ndim and np.issubdtype(a.dtype, np.floating) and a.dtype != np.dtype(case.dtype):
            problems.append(f"{name}: impl returned {a.dtype} in a {case.dtype} case")
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if not (np.isfinite(a64).all() and np.isfinite(b64).all()):
            problems.append(f"{name}: non-finite values")
            continue
        scale = max(float(np.max(np.abs(b64), initial=0.0)), np.finfo(np.float64).tiny)
        err = float(np.max(np.abs(a64 - b64), initial=0.0)) / scale
        worst = max(worst, err)
        if err > tol:
            problems.append(f"{name}: relative error {err:.2e} > {tol:.0e}")
    return {"ok": not problems, "max_rel_err": worst, "tol": tol, "detail": "; ".join(problems) or None}


# --------------------------------------------------------------------------- timing


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
        ``impl`` and ``torch`` summaries over all their calls (see the module
        docstring), ``rounds``, ``block`` (calls per block by side) and
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


# --------------------------------------------------------------------------- memory


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


def _memory_alloc(impl_step: Step, torch_step: Step) -> dict[str, Any]:
    row: dict[str, Any] = {"impl_bytes": None, "torch_bytes": None, "ratio": None, "error": None}
    errors = []
    try:
        row["impl_bytes"] = numpy_peak_bytes(impl_step)
    except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
        errors.append(f"impl: {type(exc).__name__}: {exc}")
    try:
        row["torch_bytes"] = torch_peak_bytes(torch_step)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"torch: {type(exc).__name__}: {exc}")
    if row["impl_bytes"] is not None and row["torch_bytes"]:
        row["ratio"] = row["impl_bytes"] / row["torch_bytes"]
    row["error"] = "; ".join(errors) or None
    return row


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
    case = _CASES_BY_NAME[spec["case"]]
    dims = case.quick_dims if spec["quick"] else case.dims
    with _pinned_threads(spec["threads"], torch_too=spec["side"] == "torch"):
        data = make_data(case, dims, spec["seed"])
        builder = _impl_side if spec["side"] == "impl" else _torch_side
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


def _memory_rss(case: Case, *, quick: bool, threads: int, seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {"impl_bytes": None, "torch_bytes": None, "ratio": None, "error": None}
    if not sys.platform.startswith("linux"):
        row["error"] = "rss method needs Linux /proc"
        return row
    env = dict(os.environ)
    # The child imports the same impl and oracle as this process: give it this process's module path.
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry or os.curdir) for entry in sys.path)
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    code = "import sys; from oracle.bench import _rss_child_main; sys.exit(_rss_child_main(sys.argv[1:]))"
    errors = []
    for side in ("impl", "torch"):
        spec = json.dumps({"case": case.name, "side": side, "quick": quick, "threads": threads, "seed": seed})
        try:
            done = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True, env=env,
                                  timeout=600, check=False)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"child exited {done.returncode}: {tail}")
            row[f"{side}_bytes"] = int(json.loads(done.stdout.strip().splitlines()[-1])["bytes"])
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{side}: {type(exc).__name__}: {exc}")
    if row["impl_bytes"] is not None and row["torch_bytes"]:
        row["ratio"] = row["impl_bytes"] / row["torch_bytes"]
    row["error"] = "; ".join(errors) or None
    return row


# --------------------------------------------------------------------------- threads and machine


@contextlib.contextmanager
def _pinned_threads(threads: int, torch_too: bool = True) -> Iterator[bool]:
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
    """The machine and software the numbers come from (see the module docstring for the keys)."""
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


def _loadavg() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# --------------------------------------------------------------------------- driver


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
        impl_step, impl_collect = _impl_side(case, dims, data, seed)
        torch_step, torch_collect = _torch_side(case, dims, data, seed)
        row["check"] = _agreement(case, impl_collect(impl_step()), torch_collect(torch_step()))
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
        flops = matmul_flops(dims, 4 if case.kind == "lstm" else 1)
        row["matmul_flops"] = flops
        row["impl_gflops"] = flops / impl_median / 1e9 if impl_median > 0 else None
        row["torch_gflops"] = flops / torch_median / 1e9 if torch_median > 0 else None
    row["status"] = _status(row["ratio"], case.target, row["check"]["ok"])
    if memory in ("alloc", "both"):
        row["memory"]["alloc"] = _memory_alloc(impl_step, torch_step)
    if memory in ("rss", "both") and case.rss:
        row["memory"]["rss"] = _memory_rss(case, quick=quick, threads=threads, seed=seed)
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
    load_start = _loadavg()
    results = []
    with _pinned_threads(threads) as pinned:
        machine = machine_info(pinned)
        for case in cases:
            if progress:
                progress(f"[bench] {case.name} ...")
            results.append(bench_case(case, quick=quick, warmup=warmup, repeat=repeat, block_time=block_time,
                                      settle=settle, memory=memory, threads=threads, seed=seed))
    machine["loadavg_start"], machine["loadavg_end"] = load_start, _loadavg()
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {"schema": SCHEMA, "created": created, "settings": settings, "machine": machine, "results": results}


# --------------------------------------------------------------------------- output


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.2f}"


def _dims_text(dims: Mapping[str, int]) -> str:
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
            f"| {row['case']} | {_dims_text(row['dims'])} | {row['dtype']} | {_fmt(impl_ms, '.2f')} "
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


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to ``parser`` (used by ``rnn-oracle bench`` and ``python -m oracle.bench``)."""
    parser.add_argument("--cases", action="append", metavar="NAMES",
                        help="comma-separated case names (repeatable); default all. See --list.")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--repeat", type=int, default=None,
                        help=f"measured rounds, each one block per side, alternating which side goes first "
                             f"(default {DEFAULT_REPEAT}; {QUICK_REPEAT} with --quick)")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"discarded warmup rounds (default {DEFAULT_WARMUP}; {QUICK_WARMUP} with --quick)")
    parser.add_argument("--block-time", type=float, default=None,
                        help=f"seconds of calls per block: fast cases repeat their call up to {MAX_BLOCK} times per "
                             f"block (default {DEFAULT_BLOCK_TIME}; {QUICK_BLOCK_TIME} with --quick)")
    parser.add_argument("--settle", type=float, default=None,
                        help="seconds to sleep before each block, so the other library's spinning worker threads "
                             f"go idle (default {DEFAULT_SETTLE}; {QUICK_SETTLE} with --quick)")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and numpy's BLAS (default 2)")
    parser.add_argument("--memory", choices=("alloc", "rss", "both", "none"), default=None,
                        help="peak-memory method(s): alloc (tracemalloc / torch profiler), rss (peak RSS in a fresh "
                             "subprocess per side, LSTM rows), both, none (default both; alloc with --quick)")
    parser.add_argument("--json", metavar="PATH", help="also write the full report as JSON to PATH")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and few rounds: a smoke run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    parser.add_argument("--fail-on-miss", action="store_true",
                        help="exit with status 2 when a row misses its target or mismatches")


def _select(names: Sequence[str] | None) -> list[Case]:
    if not names:
        return list(CASES)
    wanted = [name.strip() for group in names for name in group.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in _CASES_BY_NAME]
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(_CASES_BY_NAME)}")
    return [_CASES_BY_NAME[name] for name in dict.fromkeys(wanted)]


def _option(value: Any, default: Any) -> Any:
    return default if value is None else value


def run(args: argparse.Namespace) -> int:
    """Run ``bench`` with parsed ``args``; print the table (and write JSON). Returns the exit status.

    Returns
    -------
    int
        0 when every case ran, 1 when one failed to run (``status: error``),
        2 for bad options or, with ``--fail-on-miss``, a missed target or a
        mismatch.
    """
    if args.list:
        for case in CASES:
            target = "-" if case.target is None else f"<= {case.target:g}"
            print(f"{case.name:22s} {case.description:26s} {case.dtype:8s} {_dims_text(case.dims):45s} {target}")
        return 0
    try:
        cases = _select(args.cases)
    except ValueError as exc:
        print(f"rnn-oracle bench: {exc}", file=sys.stderr)
        return 2
    negative = [value for value in (args.warmup, args.block_time, args.settle) if value is not None and value < 0]
    if args.threads < 1 or (args.repeat is not None and args.repeat < 1) or negative:
        print("rnn-oracle bench: --threads and --repeat must be >= 1; --warmup, --block-time, --settle >= 0",
              file=sys.stderr)
        return 2
    quick = bool(args.quick)
    report = run_benchmarks(
        cases,
        threads=args.threads,
        warmup=_option(args.warmup, QUICK_WARMUP if quick else DEFAULT_WARMUP),
        repeat=_option(args.repeat, QUICK_REPEAT if quick else DEFAULT_REPEAT),
        block_time=_option(args.block_time, QUICK_BLOCK_TIME if quick else DEFAULT_BLOCK_TIME),
        settle=_option(args.settle, QUICK_SETTLE if quick else DEFAULT_SETTLE),
        quick=quick,
        memory=args.memory or ("alloc" if quick else "both"),
        seed=args.seed,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_table(report))
    if args.json:
        path = Path(args.json)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"rnn-oracle bench: cannot write --json {path}: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path}", file=sys.stderr)
    statuses = [row["status"] for row in report["results"]]
    if "error" in statuses:
        return 1
    if args.fail_on_miss and ("miss" in statuses or "mismatch" in statuses):
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m oracle.bench [options]``: the same as ``rnn-oracle bench``."""
    parser = argparse.ArgumentParser(prog="rnn-oracle bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
