"""The benchmark's inputs: the :class:`Case` rows, their shapes, and the arrays both sides get.

Also :func:`matmul_flops`, the matrix-product flop count behind the GFLOP/s column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from impl.cell_layouts import cell_parameter_shapes

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

CASES_BY_NAME = {case.name: case for case in CASES}


def matmul_flops(dims: Mapping[str, int], gates: int) -> float:
    """Matrix-product flops of one recurrent forward + backward pass.

    Parameters
    ----------
    dims
        ``N, T, D, H``.
    gates
        ``G``, the cell's gate count (:func:`impl.cell_layouts.gate_count`):
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
        shapes = cell_parameter_shapes(case.kind, d, h)
        return {
            "x": normal((n, t, d)),
            "h0": normal((n, h), 0.5),
            "Wx": normal(shapes["Wx"], 1.0 / math.sqrt(d)),
            "Wh": normal(shapes["Wh"], 1.0 / math.sqrt(h)),
            "b": normal(shapes["b"], 0.1),
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
