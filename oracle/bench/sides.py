"""The two sides of a case: impl's numpy computation and the PyTorch baseline, and their agreement check.

Each builder returns a :data:`Step` (one timed run) and a :data:`Collect`
(its results as named numpy arrays in impl's layout). torch is imported only
inside the torch builder, so the numpy side never loads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from oracle.bench.cases import Case
from oracle.specs.tolerances import TOLERANCES

#: Normwise relative tolerance of the pre-timing agreement check, by dtype: rows ``bench_<dtype>`` of the table.
CHECK_TOL = {dtype: TOLERANCES[f"bench_{dtype}"].rtol for dtype in ("float32", "float64")}

#: A side of a case: ``step()`` runs the timed computation once and returns its
#: results; ``collect(results)`` turns them into named numpy arrays in impl's layout.
Step = Callable[[], Any]
Collect = Callable[[Any], dict[str, np.ndarray]]


def impl_side(case: Case, dims: Mapping[str, int], data: Mapping[str, Any], seed: int) -> tuple[Step, Collect]:
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


def torch_side(case: Case, dims: Mapping[str, int], data: Mapping[str, Any], seed: int) -> tuple[Step, Collect]:
    import torch
    from torch import nn

    if case.kind in ("lstm", "rnn"):
        from oracle.references.gate_order import bias_from_torch, weight_from_torch
        from oracle.references.twins.recurrent import torch_cell_module

        n, h = dims["N"], dims["H"]
        module = torch_cell_module(case.kind, data, sequence=True)
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
        from oracle.references.twins import CaptioningTwin, captioning_grads_to_params

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


def agreement(case: Case, ours: Mapping[str, np.ndarray], theirs: Mapping[str, np.ndarray]) -> dict[str, Any]:
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
