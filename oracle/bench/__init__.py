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

``--audit-timings`` times the audit itself instead of these cases
(:mod:`oracle.bench.audit_timing`): the default audit and the LSTM at a
realistic size, against their budgets of 30 s and 60 s, and the ``--impl``
audit of a course folder through the worker processes (6 s for one with the
course's API only, 30 s for one with every function).

The torch side is an honest baseline:

- recurrent rows: ``nn.LSTM`` / ``nn.RNN`` (``batch_first=True``) built by
  :func:`oracle.references.twins.recurrent.torch_cell_module` with impl's parameters
  (gates reordered; ``bias_hh`` a frozen zero, as impl has one bias), ``x`` and
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
  :class:`oracle.references.twins.CaptioningTwin` (``nn.Linear``, ``nn.Embedding``,
  ``nn.LSTM``, ``nn.Linear``, masked ``F.cross_entropy``) built from the numpy
  model's parameters: forward, ``loss.backward()``, gradients collected and
  reset. COCO-like sizes: N=64, T=16, input 512, word vectors 256, hidden 512,
  V=1004; captions padded with ``<NULL>`` after a random length.

Before timing, each case runs both sides once and compares outputs and
gradients (in impl's layout, relative to the largest magnitude; rows
``bench_float32`` and ``bench_float64`` of :mod:`oracle.specs.tolerances`) and the
float dtype of impl's results: a row whose two sides do not compute the same
thing is reported as ``mismatch``, never ``pass``.

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

Modules
-------
:mod:`~oracle.bench.cases` (the rows and their inputs),
:mod:`~oracle.bench.sides` (impl's and torch's computations, agreement check),
:mod:`~oracle.bench.timing`, :mod:`~oracle.bench.memory`,
:mod:`~oracle.bench.machine` (thread pinning, machine record, other CPU use),
:mod:`~oracle.bench.driver` (one case, all cases: the report),
:mod:`~oracle.bench.table` (the printed table), :mod:`~oracle.bench.cli`;
``python -m oracle.bench`` runs :func:`main`.
"""

from oracle.bench.cases import CASES, Case, make_data, matmul_flops
from oracle.bench.cli import add_arguments, main, run
from oracle.bench.driver import SCHEMA, bench_case, run_benchmarks
from oracle.bench.machine import ENV_VARS, OtherCpuMeter, machine_info
from oracle.bench.memory import numpy_peak_bytes, torch_peak_bytes
from oracle.bench.sides import CHECK_TOL, Collect, Step
from oracle.bench.table import BUSY_SHARE, format_table
from oracle.bench.timing import (
    DEFAULT_BLOCK_TIME,
    DEFAULT_REPEAT,
    DEFAULT_SETTLE,
    DEFAULT_WARMUP,
    MAX_BLOCK,
    NOISY_SPREAD,
    QUICK_BLOCK_TIME,
    QUICK_REPEAT,
    QUICK_SETTLE,
    QUICK_WARMUP,
    time_pair,
)

__all__ = [
    "BUSY_SHARE",
    "CASES",
    "CHECK_TOL",
    "DEFAULT_BLOCK_TIME",
    "DEFAULT_REPEAT",
    "DEFAULT_SETTLE",
    "DEFAULT_WARMUP",
    "ENV_VARS",
    "MAX_BLOCK",
    "NOISY_SPREAD",
    "QUICK_BLOCK_TIME",
    "QUICK_REPEAT",
    "QUICK_SETTLE",
    "QUICK_WARMUP",
    "SCHEMA",
    "Case",
    "Collect",
    "OtherCpuMeter",
    "Step",
    "add_arguments",
    "bench_case",
    "format_table",
    "machine_info",
    "main",
    "make_data",
    "matmul_flops",
    "numpy_peak_bytes",
    "run",
    "run_benchmarks",
    "time_pair",
    "torch_peak_bytes",
]
