"""deeplearning.ai's "Building your Recurrent Neural Network - Step by Step" API, in numpy, on impl's kernels.

The second course API the oracle audits (specs in :mod:`oracle.layers.dlai`).
Its conventions differ from the seed's:

- arrays are column-major: ``xt (n_x, m)``, ``a_prev``/``c_prev`` ``(n_a, m)``,
  sequences ``x (n_x, m, T_x)``, ``a (n_a, m, T_x)``, ``y (n_y, m, T_x)``;
- parameters come in a dict: the RNN's ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``,
  ``Wya (n_y, n_a)``, ``ba (n_a, 1)``, ``by (n_y, 1)``; the LSTM's gate
  weights ``Wf``, ``Wi``, ``Wc``, ``Wo`` ``(n_a, n_a + n_x)``, acting on
  ``concat = [a_prev; xt]``, their biases ``bf``, ``bi``, ``bc``, ``bo``
  ``(n_a, 1)``, and ``Wy (n_y, n_a)``, ``by (n_y, 1)``;
- the forward functions also return the predictions ``softmax(Wy a + by)``,
  the softmax over axis 0; the backward functions take the upstream
  gradients of the hidden states (and of the cell state) only, the
  predictions being no part of them, and return dicts of gradients named
  ``"d" + argument``; bias gradients have the biases' shape ``(n_a, 1)``.

The cells are the seed's cells in another layout, so each function here
transposes its arguments, maps the gate weights onto impl's ``Wx``, ``Wh``,
``b`` (:func:`cell_parameters`, gate ``c`` being impl's candidate ``g``),
runs impl's kernels and maps the results back (:func:`course_gradients`).
The maps are written once, for numpy and torch alike (the oracle's twins use
them on tensors). Arguments are validated as impl validates its own
(:mod:`impl._checks`), with the course's names for the axes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from impl import lstm as seed_lstm
from impl import rnn as seed_rnn
from impl._checks import check_ndim, check_shape, check_upstream, common_float_dtype, ieee_quiet
from impl.cell_layouts import GATE_ORDER

__all__ = ["rnn_cell_forward", "rnn_cell_backward", "rnn_forward", "rnn_backward", "lstm_cell_forward",
           "lstm_cell_backward", "lstm_forward", "lstm_backward", "softmax", "sigmoid"]

#: The course's parameter names of each cell, in the order the oracle passes them.
COURSE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "rnn": ("Wax", "Waa", "Wya", "ba", "by"),
    "lstm": ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy", "by"),
}

#: The course's letter for each of impl's LSTM gates (:data:`impl.cell_layouts.GATE_ORDER`): its candidate is ``c``.
COURSE_GATES: dict[str, str] = {"i": "i", "f": "f", "o": "o", "g": "c"}

#: The course's name of each axis symbol (the oracle's contracts use the symbols; messages print the names).
AXIS_NAMES: dict[str, str] = {"N": "m", "D": "n_x", "H": "n_a", "V": "n_y", "T": "T_x", "H+D": "n_a + n_x", "1": "1"}

#: The symbolic layout of every argument of the API (the output ``y``'s too).
LAYOUTS: dict[str, tuple[str, ...]] = {
    "xt": ("D", "N"), "a_prev": ("H", "N"), "c_prev": ("H", "N"), "x": ("D", "N", "T"), "a0": ("H", "N"),
    "Wax": ("H", "D"), "Waa": ("H", "H"), "Wya": ("V", "H"), "ba": ("H", "1"), "by": ("V", "1"),
    **{f"W{gate}": ("H", "H+D") for gate in "fico"}, **{f"b{gate}": ("H", "1") for gate in "fico"},
    "Wy": ("V", "H"), "da_next": ("H", "N"), "dc_next": ("H", "N"), "da": ("H", "N", "T"),
}

#: ``join(blocks)``: the blocks concatenated along their last axis (``np.concatenate`` or ``torch.cat``).
Join = Callable[[Sequence[Any]], Any]


def layout_text(name: str) -> str:
    """The layout of argument ``name`` as messages print it, e.g. ``"(n_a, n_a + n_x)"``."""
    return "(" + ", ".join(AXIS_NAMES[symbol] for symbol in LAYOUTS[name]) + ")"


def _join(blocks: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(blocks, axis=-1)


def cell_parameters(cell: str, parameters: Mapping[str, Any], join: Join = _join) -> dict[str, Any]:
    """The course's parameters of ``cell`` as impl's ``Wx (D, G*H)``, ``Wh (H, G*H)``, ``b (G*H,)``.

    Works on numpy arrays and on torch tensors alike (``join`` concatenates along the last axis); the
    results are views or new arrays, never the arguments modified. The predictions' ``Wy``/``by`` are
    not among them.
    """
    if cell == "rnn":
        return {"Wx": parameters["Wax"].T, "Wh": parameters["Waa"].T, "b": parameters["ba"][:, 0]}
    n_a = parameters["Wf"].shape[0]
    weights = [parameters["W" + COURSE_GATES[gate]] for gate in GATE_ORDER["lstm"]]
    return {"Wx": join([weight[:, n_a:].T for weight in weights]),
            "Wh": join([weight[:, :n_a].T for weight in weights]),
            "b": join([parameters["b" + COURSE_GATES[gate]][:, 0] for gate in GATE_ORDER["lstm"]])}


def course_gradients(cell: str, dWx: np.ndarray, dWh: np.ndarray, db: np.ndarray) -> dict[str, np.ndarray]:
    """impl's parameter gradients as the course's: ``dWax``, ``dWaa``, ``dba`` or ``dWf``, ``dbf``, ... ``dbo``."""
    if cell == "rnn":
        return {"dWax": dWx.T.copy(), "dWaa": dWh.T.copy(), "dba": db[:, None].copy()}
    n_a = dWh.shape[0]
    grads = {}
    for k, gate in enumerate(GATE_ORDER["lstm"]):
        columns = slice(k * n_a, (k + 1) * n_a)
        grads["dW" + COURSE_GATES[gate]] = np.concatenate([dWh[:, columns].T, dWx[:, columns].T], axis=1)
        grads["db" + COURSE_GATES[gate]] = db[columns][:, None].copy()
    return grads


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over axis 0 (each column of ``z`` sums to 1), shifted by the column maxima so it never overflows."""
    e = np.exp(z - np.max(z, axis=0, keepdims=True)) if z.shape[0] else np.exp(z)
    return e / np.sum(e, axis=0, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` elementwise."""
    return 1.0 / (1.0 + np.exp(-z))


def _predictions(Wy: np.ndarray, by: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``softmax(Wy a + by)`` over axis 0 for ``a (n_a, m)`` or every step of ``a (n_a, m, T_x)``."""
    # einsum, not a BLAS product: a NaN times a zero weight stays NaN (IEEE), whatever the BLAS.
    logits = np.einsum("ya,a...->y...", Wy, a) + (by if a.ndim == 2 else by[:, :, None])
    return softmax(logits)


def _checked(cell: str, arrays: Mapping[str, Any], parameters: Any) -> tuple[np.dtype, dict[str, np.ndarray]]:
    """Validate the arrays and ``parameters`` of a forward call; ``(dtype, the cell's parameters by name)``.

    Every array must be float32 or float64, one dtype in all; each must have the number of dimensions
    of its layout, and the axes that share a symbol (``n_a + n_x`` being the sum of two) one size.
    """
    if not isinstance(parameters, Mapping):
        raise TypeError(f"argument 'parameters' must be a dict, got {type(parameters).__name__}")
    lacking = [name for name in COURSE_PARAMETERS[cell] if name not in parameters]
    if lacking:
        raise ValueError(f"argument 'parameters' lacks {', '.join(map(repr, lacking))}")
    params = {name: parameters[name] for name in COURSE_PARAMETERS[cell]}
    named = {**arrays, **params}
    dtype = common_float_dtype(**named)
    for name, array in named.items():
        check_ndim(name, array, len(LAYOUTS[name]), layout_text(name))
    sizes = {"1": 1}
    for name, array in named.items():
        for symbol, size in zip(LAYOUTS[name], array.shape, strict=True):
            if "+" not in symbol:
                sizes.setdefault(symbol, size)
    for name, array in named.items():
        expected = [sum(sizes[part] for part in symbol.split("+")) for symbol in LAYOUTS[name]]
        check_shape(name, array, expected, layout_text(name))
    return dtype, params


def _cache_of(cache: Any, length: int, backward: str, forward: str) -> tuple:
    """A forward pass's cache tuple of ``length`` items, else a ``TypeError`` naming the forward it needs."""
    if not (isinstance(cache, tuple) and len(cache) == length and isinstance(cache[-1], Mapping)):
        raise TypeError(f"{backward} needs the cache returned by {forward}, got {type(cache).__name__}")
    return cache


def rnn_cell_forward(xt: np.ndarray, a_prev: np.ndarray, parameters: Mapping[str, np.ndarray]) -> tuple:
    """One step of the tanh RNN, with its prediction.

    Parameters
    ----------
    xt : (n_x, m)
    a_prev : (n_a, m)
    parameters
        ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)``, ``ba (n_a, 1)``, ``by (n_y, 1)``.

    Returns
    -------
    a_next : (n_a, m)
        ``tanh(Wax xt + Waa a_prev + ba)``.
    yt_pred : (n_y, m)
        ``softmax(Wya a_next + by)``.
    cache
        ``(a_next, a_prev, xt, parameters)``.
    """
    with ieee_quiet():
        _, params = _checked("rnn", {"xt": xt, "a_prev": a_prev}, parameters)
        next_h, _ = seed_rnn.rnn_step_forward(xt.T, a_prev.T, **cell_parameters("rnn", params))
        a_next = np.ascontiguousarray(next_h.T)
        return a_next, _predictions(params["Wya"], params["by"], a_next), (a_next, a_prev, xt, parameters)


def rnn_cell_backward(da_next: np.ndarray, cache: tuple) -> dict[str, np.ndarray]:
    """Gradients of one RNN step given ``da_next (n_a, m)``: ``dxt``, ``da_prev``, ``dWax``, ``dWaa``, ``dba``."""
    with ieee_quiet():
        a_next, a_prev, xt, parameters = _cache_of(cache, 4, "rnn_cell_backward", "rnn_cell_forward")
        check_upstream("da_next", da_next, a_next.dtype, a_next.shape, layout_text("da_next"))
        _, step = seed_rnn.rnn_step_forward(xt.T, a_prev.T, **cell_parameters("rnn", parameters))
        dx, dprev, dWx, dWh, db = seed_rnn.rnn_step_backward(da_next.T, step)
        return {"dxt": dx.T.copy(), "da_prev": dprev.T.copy(), **course_gradients("rnn", dWx, dWh, db)}


def _check_steps(x: np.ndarray) -> None:
    if x.shape[2] == 0:
        raise ValueError(f"argument 'x' has T_x = 0 (shape {x.shape}): the course's caches need one step at least")


def rnn_forward(x: np.ndarray, a0: np.ndarray, parameters: Mapping[str, np.ndarray]) -> tuple:
    """The tanh RNN over a sequence ``x (n_x, m, T_x)`` from ``a0 (n_a, m)``.

    Returns
    -------
    a : (n_a, m, T_x)
        The hidden state after each step.
    y_pred : (n_y, m, T_x)
        Each step's prediction.
    caches
        ``(list of the steps' caches, x)``.
    """
    with ieee_quiet():
        _, params = _checked("rnn", {"x": x, "a0": a0}, parameters)
        _check_steps(x)
        h, _ = seed_rnn.rnn_forward(x.transpose(1, 2, 0), a0.T, **cell_parameters("rnn", params))
        a = np.ascontiguousarray(h.transpose(2, 0, 1))
        before = [a0, *(a[:, :, t] for t in range(x.shape[2] - 1))]
        caches = [(a[:, :, t], before[t], x[:, :, t], parameters) for t in range(x.shape[2])]
        return a, _predictions(params["Wya"], params["by"], a), (caches, x)


def rnn_backward(da: np.ndarray, caches: tuple) -> dict[str, np.ndarray]:
    """Gradients of the RNN over a sequence given ``da (n_a, m, T_x)``: ``dx``, ``da0``, ``dWax``, ``dWaa``, ``dba``.

    ``da[:, :, t]`` is the upstream gradient of the hidden state of step ``t``; each step also receives
    what the next one sends back.
    """
    with ieee_quiet():
        steps, x = _sequence_cache(caches, "rnn_backward", "rnn_forward")
        a0, parameters = steps[0][1], steps[0][3]
        check_upstream("da", da, a0.dtype, (*a0.shape, x.shape[2]), layout_text("da"))
        _, cache = seed_rnn.rnn_forward(x.transpose(1, 2, 0), a0.T, **cell_parameters("rnn", parameters))
        dx, dh0, dWx, dWh, db = seed_rnn.rnn_backward(da.transpose(1, 2, 0), cache)
        return {"dx": np.ascontiguousarray(dx.transpose(2, 0, 1)), "da0": dh0.T.copy(),
                **course_gradients("rnn", dWx, dWh, db)}


def _sequence_cache(caches: Any, backward: str, forward: str) -> tuple[list, np.ndarray]:
    if not (isinstance(caches, tuple) and len(caches) == 2 and isinstance(caches[0], list) and caches[0]):
        raise TypeError(f"{backward} needs the caches returned by {forward}, got {type(caches).__name__}")
    return caches[0], caches[1]


def lstm_cell_forward(xt: np.ndarray, a_prev: np.ndarray, c_prev: np.ndarray,
                      parameters: Mapping[str, np.ndarray]) -> tuple:
    """One LSTM step, with its prediction.

    Parameters
    ----------
    xt : (n_x, m)
    a_prev, c_prev : (n_a, m)
    parameters
        ``Wf``, ``Wi``, ``Wc``, ``Wo`` ``(n_a, n_a + n_x)`` on ``[a_prev; xt]``, ``bf``, ``bi``, ``bc``,
        ``bo`` ``(n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.

    Returns
    -------
    a_next, c_next : (n_a, m)
        ``ot * tanh(c_next)`` and ``ft * c_prev + it * cct``.
    yt_pred : (n_y, m)
        ``softmax(Wy a_next + by)``.
    cache
        ``(a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)``.
    """
    with ieee_quiet():
        _, params = _checked("lstm", {"xt": xt, "a_prev": a_prev, "c_prev": c_prev}, parameters)
        next_h, next_c, _ = seed_lstm.lstm_step_forward(xt.T, a_prev.T, c_prev.T, **cell_parameters("lstm", params))
        a_next, c_next = np.ascontiguousarray(next_h.T), np.ascontiguousarray(next_c.T)
        gates = _gates(params, a_prev, xt)
        cache = (a_next, c_next, a_prev, c_prev, gates["f"], gates["i"], gates["c"], gates["o"], xt, parameters)
        return a_next, c_next, _predictions(params["Wy"], params["by"], a_next), cache


def _gates(params: Mapping[str, np.ndarray], a_prev: np.ndarray, xt: np.ndarray) -> dict[str, np.ndarray]:
    """The gate activations ``ft``, ``it``, ``cct``, ``ot`` ``(n_a, m)`` that the course's cache holds."""
    concat = np.concatenate([a_prev, xt], axis=0)
    return {gate: (np.tanh if gate == "c" else sigmoid)(params["W" + gate] @ concat + params["b" + gate])
            for gate in "fico"}


def lstm_cell_backward(da_next: np.ndarray, dc_next: np.ndarray, cache: tuple) -> dict[str, np.ndarray]:
    """Gradients of one LSTM step given ``da_next``, ``dc_next`` ``(n_a, m)``.

    Returns ``dxt``, ``da_prev``, ``dc_prev`` and ``dWf``, ``dbf``, ``dWi``, ``dbi``, ``dWc``, ``dbc``,
    ``dWo``, ``dbo`` in the parameters' shapes.
    """
    with ieee_quiet():
        a_next, _, a_prev, c_prev, *_, xt, parameters = _cache_of(
            cache, 10, "lstm_cell_backward", "lstm_cell_forward")
        for name, upstream in (("da_next", da_next), ("dc_next", dc_next)):
            check_upstream(name, upstream, a_next.dtype, a_next.shape, layout_text(name))
        *_, step = seed_lstm.lstm_step_forward(xt.T, a_prev.T, c_prev.T, **cell_parameters("lstm", parameters))
        dx, dprev_h, dprev_c, dWx, dWh, db = seed_lstm.lstm_step_backward(da_next.T, dc_next.T, step)
        return {"dxt": dx.T.copy(), "da_prev": dprev_h.T.copy(), "dc_prev": dprev_c.T.copy(),
                **course_gradients("lstm", dWx, dWh, db)}


def lstm_forward(x: np.ndarray, a0: np.ndarray, parameters: Mapping[str, np.ndarray]) -> tuple:
    """The LSTM over a sequence ``x (n_x, m, T_x)`` from ``a0 (n_a, m)`` and a zero cell state.

    Returns
    -------
    a : (n_a, m, T_x)
    y : (n_y, m, T_x)
    c : (n_a, m, T_x)
        The hidden state, the prediction and the cell state of each step.
    caches
        ``(list of the steps' caches, x)``.
    """
    with ieee_quiet():
        _, params = _checked("lstm", {"x": x, "a0": a0}, parameters)
        _check_steps(x)
        a, c = np.zeros((2, *a0.shape, x.shape[2]), dtype=a0.dtype)
        a_next, c_next, caches = a0, np.zeros_like(a0), []
        for t in range(x.shape[2]):
            a_next, c_next, _, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
            a[:, :, t], c[:, :, t] = a_next, c_next
            caches.append(cache)
        return a, _predictions(params["Wy"], params["by"], a), c, (caches, x)


def lstm_backward(da: np.ndarray, caches: tuple) -> dict[str, np.ndarray]:
    """Gradients of the LSTM over a sequence given ``da (n_a, m, T_x)`` (no upstream gradient of ``c``).

    Returns ``dx (n_x, m, T_x)``, ``da0 (n_a, m)`` and the gate weights' and biases' gradients.
    """
    with ieee_quiet():
        steps, x = _sequence_cache(caches, "lstm_backward", "lstm_forward")
        a0 = steps[0][2]
        check_upstream("da", da, a0.dtype, (*a0.shape, x.shape[2]), layout_text("da"))
        dx = np.zeros_like(x)
        carry_a, carry_c, totals = np.zeros_like(a0), np.zeros_like(a0), None
        for t in range(x.shape[2] - 1, -1, -1):
            grads = lstm_cell_backward(da[:, :, t] + carry_a, carry_c, steps[t])
            dx[:, :, t], carry_a, carry_c = grads.pop("dxt"), grads.pop("da_prev"), grads.pop("dc_prev")
            totals = grads if totals is None else {name: totals[name] + grads[name] for name in totals}
        assert totals is not None  # the caches hold one step at least
        return {"dx": dx, "da0": carry_a, **totals}


def positional(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (this API's ``name``) called the seed's way: every array positional, gradients a tuple.

    A forward pass ``f(*arrays, parameters)`` becomes ``f(*arrays, *parameter arrays)`` (the dict built
    from the same arrays, so writing into an entry writes into the argument); a backward pass's dict
    becomes the tuple of :data:`GRADIENTS`\\ ``[name]``. A ``None`` (a stub) stays ``None``; an empty
    dict (the template's) is a ``NotImplementedError``; a dict without one of the gradients is a
    ``TypeError`` naming it.
    """
    if name in GRADIENTS:
        def backward(*args: Any) -> Any:
            grads = function(*args)
            if grads is None:
                return None
            if not isinstance(grads, Mapping):
                raise TypeError(f"{name} returned {type(grads).__name__}, not a dict of gradients")
            if not grads:  # the template's ``gradients = {}``, never filled in
                raise NotImplementedError(f"{name} returned an empty dict of gradients (still the template's?)")
            lacking = [key for key in GRADIENTS[name] if key not in grads]
            if lacking:
                raise TypeError(f"{name} returned a dict without {', '.join(map(repr, lacking))} "
                                f"(it has {', '.join(map(repr, grads)) or 'nothing'})")
            return tuple(grads[key] for key in GRADIENTS[name])

        backward.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
        return backward
    cell, arrays = FORWARDS[name]
    names = COURSE_PARAMETERS[cell]

    def forward(*args: Any) -> Any:
        given = args[:len(arrays)]
        return function(*given, dict(zip(names, args[len(arrays):], strict=True)))

    forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD) for arg in (*arrays, *names)])
    return forward


#: Each forward function: its cell and its array arguments before ``parameters``.
FORWARDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "rnn_cell_forward": ("rnn", ("xt", "a_prev")), "rnn_forward": ("rnn", ("x", "a0")),
    "lstm_cell_forward": ("lstm", ("xt", "a_prev", "c_prev")), "lstm_forward": ("lstm", ("x", "a0")),
}

#: Each backward function's gradients, by their keys, in the order of the forward's arguments.
GRADIENTS: dict[str, tuple[str, ...]] = {
    "rnn_cell_backward": ("dxt", "da_prev", "dWax", "dWaa", "dba"),
    "rnn_backward": ("dx", "da0", "dWax", "dWaa", "dba"),
    "lstm_cell_backward": ("dxt", "da_prev", "dc_prev", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"),
    "lstm_backward": ("dx", "da0", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"),
}
