"""The known mistakes of deeplearning.ai's course API: error models of the ``dlai_*`` specs.

Each entry is an :class:`oracle.specs.mistakes.ErrorModel` (how a variant is
written and judged: :mod:`oracle.specs.mistakes`), attached to its spec with
:func:`oracle.specs.registry.attach_mistakes` below. The catalogue of the
seed's layers is :mod:`oracle.layers.cs231n_mistakes`.

Where the catalogue comes from
------------------------------
The course's forum and the public copies of "Building your RNN step by
step": the threads whose ``lstm_backward`` or ``lstm_cell_backward`` prints
other numbers than the notebook's expected ones, and the versions on GitHub.
Most wrong ``lstm_backward``\\ s never add ``da_prevt`` to ``da[:, :, t]``
(the forum's numbers agree with the expected ones in the last step only);
some never carry ``dc_prevt``; others post a right ``lstm_backward`` with
wrong numbers (thread 8480 below), the mistake being in the cell functions it
calls, which the judge reports as inherited. In the cell,
learners take derivatives of values that are already activated
(``sigmoid(ot) * (1 - sigmoid(ot))``), of the wrong value (``1 - c_next **
2``), or leave them out; they drop the forget factor or the path through
``a_next`` from ``dc_prev``, or the path through ``a_next`` from the gates
(``dc_next`` where ``dc`` is meant: a forum post whose ``dc_prev`` and
``dWo`` are right and every other gate wrong). Learners of the
specialisation's first course write ``1 / m`` in front of weight gradients,
where this API sums over the batch.

Threads read (December 2026): community.deeplearning.ai ``c5w1a1-wrong-results-of-lstm-backward``
(8480), ``lstm-backward-wrong-output`` (67533), ``c5w1-exercise-8-lstm-backward`` (28690),
``dls-5-week-1-exercise-7-lstm-cell-backward-output-is-not-an-expected-one`` (22398),
``dls-c5-week-1-ex7-lstm-cell-backward`` (405415, a shape mistake: the whole ``Wf`` where
``Wf[:, :n_a]`` is meant); GitHub issues sagarnildass/andrew_ng_deep_learning#1 ("da_prevt never
get update, always zeros") and jinzishuai/learn2deeplearn#44 (the notebook's own ``dcct`` equation).
Mistakes that only change a shape (a bias gradient summed without ``keepdims`` or over
``axis=0``, ``dba = dz``, the whole ``W`` where a slice is meant) are shape findings, never
value models: they have no variant here.

The variants
------------
One switchable reference per spec, a textbook numpy transcription of the
course's equations (:func:`rnn_cell_variant`, :func:`lstm_cell_variant`) or
the loop of the step functions the judge passes (:func:`sequence_variant`),
with one ``if`` per mistake at the line the learner gets wrong. Ids are
``"<spec>.<mistake>"``; :func:`_on` reads them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from impl.dlai import COURSE_PARAMETERS, sigmoid, softmax
from oracle.specs.mistakes import ErrorModel, Variant
from oracle.specs.registry import attach_mistakes
from oracle.specs.spec import Arrays, Evaluation, LayerSpec, run_backward, run_forward


def _on(spec: str, mistakes: frozenset[str]) -> Callable[[str], bool]:
    """``on(name)``: whether ``"<spec>.<name>"`` is among ``mistakes``."""
    return lambda name: f"{spec}.{name}" in mistakes


def _batch_scale(on: Callable[[str], bool], m: int) -> float:
    """1, or ``1 / m`` where the learner averages the parameters' gradients over the batch."""
    return 1.0 / max(m, 1) if on("averaged_over_batch") else 1.0


def _sigmoid_derivative(gate: np.ndarray, on: Callable[[str], bool]) -> np.ndarray:
    """The derivative of a sigmoid gate written with its activation, ``gate * (1 - gate)``, or the learner's."""
    if on("sigmoid_derivatives_missing"):
        return np.ones_like(gate)
    if on("sigmoid_derivatives_of_activated"):  # gate is already sigmoid(...)
        return sigmoid(gate) * (1 - sigmoid(gate))
    return gate * (1 - gate)


def rnn_cell_variant(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: LayerSpec | None = None,
                     ) -> Evaluation:
    """``rnn_cell_forward`` and ``rnn_cell_backward`` (spec ``dlai_rnn_cell``), switchable.

    ``a_next = tanh(Wax xt + Waa a_prev + ba)``, ``yt_pred = softmax(Wya a_next + by)``; backward from
    ``da_next (n_a, m)``: ``dz = (1 - a_next ** 2) * da_next`` and the products of ``dz``.
    """
    on = _on("dlai_rnn_cell", mistakes)
    xt, a_prev = inputs["xt"], inputs["a_prev"]
    Wax, Waa, Wya, ba, by = (inputs[name] for name in COURSE_PARAMETERS["rnn"])
    z = Wax @ xt + Waa @ a_prev + ba
    a_next = z if on("tanh_missing") else np.tanh(z)
    outputs = {"a_next": a_next, "yt_pred": softmax(Wya @ a_next + by)}

    da_next = upstream["a_next"]
    if on("tanh_derivative_missing"):
        dz = da_next
    elif on("tanh_derivative_of_activated"):
        dz = (1 - np.tanh(a_next) ** 2) * da_next
    else:
        dz = (1 - a_next ** 2) * da_next
    scale = _batch_scale(on, xt.shape[1])
    before = a_next if on("waa_gradient_from_a_next") else a_prev
    grads = {"xt": Wax.T @ dz, "a_prev": Waa.T @ dz, "Wax": scale * (dz @ xt.T), "Waa": scale * (dz @ before.T),
             "ba": scale * np.sum(dz, axis=1, keepdims=True)}
    return Evaluation(outputs, grads)


def lstm_cell_variant(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: LayerSpec | None = None,
                      ) -> Evaluation:
    """``lstm_cell_forward`` and ``lstm_cell_backward`` (spec ``dlai_lstm_cell``), switchable.

    The course's equations: gates on ``concat = [a_prev; xt] (n_a + n_x, m)``, ``c_next = ft * c_prev + it *
    cct``, ``a_next = ot * tanh(c_next)``; backward from ``da_next``, ``dc_next`` ``(n_a, m)`` through the
    gates' derivatives written with their activations (``ot * (1 - ot)``, ``1 - cct ** 2``), as the course's
    backward reads them from the cache.
    """
    on = _on("dlai_lstm_cell", mistakes)
    xt, a_prev, c_prev = inputs["xt"], inputs["a_prev"], inputs["c_prev"]
    p = {name: inputs[name] for name in COURSE_PARAMETERS["lstm"]}
    if on("forget_update_swapped"):  # the forget gate computed with Wi, bi and the update gate with Wf, bf
        p = {**p, "Wf": p["Wi"], "bf": p["bi"], "Wi": p["Wf"], "bi": p["bf"]}
    n_a = a_prev.shape[0]
    concat = np.concatenate([xt, a_prev] if on("concat_x_first") else [a_prev, xt], axis=0)
    ft = sigmoid(p["Wf"] @ concat + p["bf"])
    it = sigmoid(p["Wi"] @ concat + p["bi"])
    cct = np.tanh(p["Wc"] @ concat + p["bc"])
    ot = sigmoid(p["Wo"] @ concat + p["bo"])
    c_next = (c_prev if on("forget_gate_not_applied") else ft * c_prev) + (
        cct if on("update_gate_not_applied") else it * cct)
    squashed = c_next if on("cell_tanh_missing") else np.tanh(c_next)
    a_next = squashed if on("output_gate_not_applied") else ot * squashed
    outputs = {"a_next": a_next, "c_next": c_next, "yt_pred": softmax(p["Wy"] @ a_next + p["by"])}

    # The backward pass, as the course writes it from the cache (the forward's values, right or wrong).
    da_next, dc_next = upstream["a_next"], upstream["c_next"]
    tanh_c = np.tanh(c_next)
    dtanh_c = 1 - c_next ** 2 if on("cell_tanh_derivative_of_c") else 1 - tanh_c ** 2
    dc = dc_next + da_next * ot * dtanh_c
    dcct_tanh = 1 - np.tanh(cct) ** 2 if on("candidate_derivative_of_activated") else 1 - cct ** 2
    dc_gates = dc_next if on("gates_without_hidden_path") else dc
    dot = da_next * tanh_c * _sigmoid_derivative(ot, on)
    dcct = dc_gates * it * dcct_tanh
    dit = dc_gates * cct * _sigmoid_derivative(it, on)
    dft = dc_gates * c_prev * _sigmoid_derivative(ft, on)
    if on("forget_path_missing"):
        dc_prev = dc
    elif on("dc_prev_without_hidden_path"):
        dc_prev = dc_next * ft
    else:
        dc_prev = dc * ft
    gate_grads = {"f": dft, "i": dit, "c": dcct, "o": dot}
    d_concat = sum(p["W" + gate].T @ d for gate, d in gate_grads.items())
    assert isinstance(d_concat, np.ndarray)
    before = a_next if on("weight_gradients_from_a_next") else a_prev  # the cache holds both
    columns = np.concatenate([xt, before] if on("weight_gradients_concat_x_first") else [before, xt], axis=0)
    scale = _batch_scale(on, xt.shape[1])
    grads = {"xt": d_concat[n_a:], "a_prev": d_concat[:n_a], "c_prev": dc_prev}
    for gate, d in gate_grads.items():
        grads["W" + gate] = scale * (d @ columns.T)
        grads["b" + gate] = scale * np.sum(d, axis=1, keepdims=True)
    if on("forget_update_swapped"):  # written back under the names the forward read them from
        grads = {**grads, "Wf": grads["Wi"], "bf": grads["bi"], "Wi": grads["Wf"], "bi": grads["bf"]}
    return Evaluation(outputs, grads)


def sequence_variant(cell: str, inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: LayerSpec | None,
                     ) -> Evaluation:
    """``rnn_forward``/``rnn_backward`` or ``lstm_forward``/``lstm_backward`` as the loop of ``step``, switchable.

    ``step`` is the cell's spec, the reference's or the target's own (``dlai_rnn_cell``, ``dlai_lstm_cell``),
    called as the metamorphic loop calls it; the LSTM's cell state starts at zero. Returns the sequence spec's
    outputs (``a``, ``y_pred`` or ``a``, ``y``, ``c``) and gradients (``x``, ``a0`` and the parameters').
    """
    if step is None:
        raise ValueError(f"the dlai_{cell} variant loops over a cell's step spec, and none was given")
    on = _on(f"dlai_{cell}", mistakes)
    lstm = cell == "lstm"
    x, a0 = inputs["x"], inputs["a0"]
    params = {name: inputs[name] for name in COURSE_PARAMETERS[cell]}
    zeros = np.zeros_like(a0)
    a_next, c_next = a0, (a0 if on("cell_state_starts_at_a0") else zeros)
    states: dict[str, list[np.ndarray]] = {"a": [], "c": [], "y": []}
    caches = []
    for t in range(x.shape[2]):
        a_prev = a0 if on("a0_at_every_step") else a_next
        c_prev = zeros if on("cell_state_reset_every_step") else c_next
        found, cache = run_forward(step, {"xt": x[:, :, t], "a_prev": a_prev, **({"c_prev": c_prev} if lstm else {}),
                                          **params})
        a_next, c_next = np.asarray(found["a_next"]), np.asarray(found.get("c_next", zeros))
        if on("states_swapped"):  # c_next, a_next, yt, cache = lstm_cell_forward(...)
            a_next, c_next = c_next, a_next
        states["a"].append(c_next if on("a_and_c_share_one_array") else a_next)
        states["c"].append(c_next)
        states["y"].append(np.asarray(found["yt_pred"]))
        caches.append(cache)
    stacked = {name: np.stack(values, axis=2) for name, values in states.items()}
    outputs = ({"a": stacked["a"], "y": stacked["y"], "c": stacked["c"]} if lstm
               else {"a": stacked["a"], "y_pred": stacked["y"]})

    da = upstream["a"]
    dx = np.zeros_like(x)
    da_prevt, dc_prevt = zeros, zeros
    totals = {name: np.zeros_like(value) for name, value in params.items() if name in step.grads}
    for t in range(x.shape[2] - 1, -1, -1):
        hidden = da[:, :, t] if on("da_prev_not_carried") or on("nothing_carried") else da[:, :, t] + da_prevt
        carried_c = zeros if on("dc_prev_not_carried") or on("nothing_carried") else dc_prevt
        grads = run_backward(step, {"a_next": hidden, **({"c_next": carried_c} if lstm else {})}, caches[t])
        dx[:, :, t], da_prevt = grads["xt"], grads["a_prev"]
        dc_prevt = np.asarray(grads.get("c_prev", zeros))
        for name in totals:
            totals[name] = np.asarray(grads[name]) if on("weights_from_one_step") else totals[name] + grads[name]
    return Evaluation(outputs, {"x": dx, "a0": np.asarray(da_prevt), **totals})


_rnn = functools.partial(sequence_variant, "rnn")
_lstm = functools.partial(sequence_variant, "lstm")

_NOT_CARRIED = "right at the last step, wrong from t = T_x - 2 back"


def _models(spec: str, variant: Variant, step: str, entries: tuple[tuple[str, tuple[str, ...], str, str], ...],
            ) -> tuple[ErrorModel, ...]:
    """``(mistake, functions, text, evidence)`` rows as the spec's error models, all on ``variant``.

    The text is said "in <function>, <text>", the function being the first named: where the mistake is written.
    """
    return tuple(ErrorModel(id=f"{spec}.{mistake}", text=f"in {functions[0]}, {text}", functions=functions,
                            variant=variant, step=step, evidence=evidence)
                 for mistake, functions, text, evidence in entries)


_RNN_CELL_F, _RNN_CELL_B = ("rnn_cell_forward",), ("rnn_cell_backward",)
_LSTM_CELL_F, _LSTM_CELL_B = ("lstm_cell_forward",), ("lstm_cell_backward",)
_LSTM_CELL = _LSTM_CELL_F + _LSTM_CELL_B

#: Error models by spec name (``"dlai_lstm"``: ``lstm_forward`` / ``lstm_backward``, ...).
CATALOGUE: dict[str, tuple[ErrorModel, ...]] = {
    "dlai_rnn_cell": _models("dlai_rnn_cell", rnn_cell_variant, "", (
        ("tanh_missing", _RNN_CELL_F + _RNN_CELL_B,
         "a_next is Wax xt + Waa a_prev + ba without the tanh: a_next = np.tanh(...)",
         "a_next and yt_pred wrong (and the gradients taken from that a_next)"),
        ("tanh_derivative_missing", _RNN_CELL_B,
         "dtanh is da_next alone: multiply it by the derivative of tanh, (1 - a_next ** 2)",
         "every gradient wrong"),
        ("tanh_derivative_of_activated", _RNN_CELL_B,
         "the tanh derivative is taken of a_next, which is already tanh(...): use (1 - a_next ** 2), "
         "not 1 - np.tanh(a_next) ** 2",
         "every gradient wrong, by less where a_next is small"),
        ("waa_gradient_from_a_next", _RNN_CELL_B,
         "dWaa multiplies dtanh by a_next.T: Waa acts on the previous state, dWaa = np.dot(dtanh, a_prev.T)",
         "dWaa alone wrong"),
        ("averaged_over_batch", _RNN_CELL_B,
         "dWax, dWaa and dba are divided by m: this API sums them over the batch (no 1 / m)",
         "dxt and da_prev right; dWax, dWaa, dba m times too small"),
    )),
    "dlai_rnn": _models("dlai_rnn", _rnn, "dlai_rnn_cell", (
        ("a0_at_every_step", ("rnn_forward", "rnn_backward"),
         "every step starts from a0: pass the previous step's a_next to rnn_cell_forward, not a0",
         "a right at t = 0, wrong from t = 1 on"),
        ("da_prev_not_carried", ("rnn_backward",),
         "the gradient of a from step t+1 (da_prevt) is never added to da[:, :, t]: call "
         "rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])",
         _NOT_CARRIED),
        ("weights_from_one_step", ("rnn_backward",),
         "dWax, dWaa and dba keep the gradients of one step (=): add every step's (+=)",
         "dx and da0 right; dWax, dWaa, dba hold step t = 0's gradients alone"),
    )),
    "dlai_lstm_cell": _models("dlai_lstm_cell", lstm_cell_variant, "", (
        ("forget_gate_not_applied", _LSTM_CELL,
         "c_next = c_prev + it * cct: the forget gate multiplies c_prev, c_next = ft * c_prev + it * cct",
         "c_next and a_next wrong, and the gradients taken from that cache"),
        ("update_gate_not_applied", _LSTM_CELL,
         "c_next = ft * c_prev + cct: the update gate multiplies the candidate, c_next = ft * c_prev + it * cct",
         "c_next and a_next wrong, and the gradients taken from that cache"),
        ("output_gate_not_applied", _LSTM_CELL_F,
         "a_next = np.tanh(c_next): the output gate multiplies it, a_next = ot * np.tanh(c_next)",
         "c_next right, a_next wrong"),
        ("cell_tanh_missing", _LSTM_CELL_F,
         "a_next = ot * c_next: the cell state goes through tanh, a_next = ot * np.tanh(c_next)",
         "c_next right, a_next wrong"),
        ("concat_x_first", _LSTM_CELL,
         "concat stacks xt above a_prev: the gates act on concat = [a_prev; xt] (a_prev first)",
         "every output wrong, and the gradients taken from that cache"),
        ("forget_update_swapped", _LSTM_CELL,
         "the forget gate is computed with Wi, bi and the update gate with Wf, bf: the API's order is "
         "f (Wf, bf), i (Wi, bi), c, o",
         "c_next wrong; gate blocks f and i wrong in the gradients"),
        ("cell_tanh_derivative_of_c", _LSTM_CELL_B,
         "the derivative of tanh(c_next) is written 1 - c_next ** 2: it is 1 - np.tanh(c_next) ** 2",
         "every gradient wrong but dWo, dbo"),
        ("sigmoid_derivatives_missing", _LSTM_CELL_B,
         "dft, dit and dot lack the sigmoid derivatives: multiply by ft * (1 - ft), it * (1 - it), ot * (1 - ot)",
         "every gradient wrong but dc_prev and the candidate's dWc, dbc"),
        ("sigmoid_derivatives_of_activated", _LSTM_CELL_B,
         "the sigmoid derivative is taken of ft, it, ot, which are already sigmoids: use ot * (1 - ot), "
         "not sigmoid(ot) * (1 - sigmoid(ot))",
         "every gradient wrong but dc_prev and dWc, dbc"),
        ("candidate_derivative_of_activated", _LSTM_CELL_B,
         "the tanh derivative of cct is taken of cct, which is already tanh(...): use (1 - cct ** 2), "
         "not 1 - np.tanh(cct) ** 2",
         "gate block c wrong, and dxt, da_prev"),
        ("gates_without_hidden_path", _LSTM_CELL_B,
         "dft, dit and dcct use dc_next alone: add the path through a_next, "
         "dc_next + da_next * ot * (1 - np.tanh(c_next) ** 2)",
         "dc_prev, dWo and dbo right; the other gates, dxt and da_prev wrong"),
        ("forget_path_missing", _LSTM_CELL_B,
         "dc_prev is not multiplied by the forget gate: dc_prev = (dc_next + da_next * ot * (1 - "
         "np.tanh(c_next) ** 2)) * ft",
         "dc_prev alone wrong"),
        ("dc_prev_without_hidden_path", _LSTM_CELL_B,
         "dc_prev = dc_next * ft lacks the path through a_next: add da_next * ot * (1 - np.tanh(c_next) ** 2) * ft",
         "dc_prev alone wrong"),
        ("weight_gradients_concat_x_first", _LSTM_CELL_B,
         "the weight gradients multiply by [xt; a_prev]: dWf = np.dot(dft, concat.T) with concat = [a_prev; xt]",
         "dWf, dWi, dWc, dWo wrong (their columns); biases, dxt, da_prev, dc_prev right"),
        ("weight_gradients_from_a_next", _LSTM_CELL_B,
         "the weight gradients multiply by [a_next; xt]: the gates acted on concat = [a_prev; xt]",
         "the a_prev columns of dWf, dWi, dWc, dWo wrong; biases, dxt, da_prev, dc_prev right"),
        ("averaged_over_batch", _LSTM_CELL_B,
         "the weight and bias gradients are divided by m: this API sums them over the batch (no 1 / m)",
         "dxt, da_prev, dc_prev right; every dW and db m times too small"),
    )),
    "dlai_lstm": _models("dlai_lstm", _lstm, "dlai_lstm_cell", (
        ("a0_at_every_step", ("lstm_forward", "lstm_backward"),
         "every step starts from a0: pass the previous step's a_next to lstm_cell_forward, not a0",
         "a right at t = 0, wrong from t = 1 on"),
        ("cell_state_starts_at_a0", ("lstm_forward", "lstm_backward"),
         "the cell state starts at a0: it starts at zero, c_next = np.zeros((n_a, m))",
         "a, c and y wrong from t = 0"),
        ("cell_state_reset_every_step", ("lstm_forward", "lstm_backward"),
         "every step starts from a zero cell state: pass the previous step's c_next to lstm_cell_forward",
         "a and c right at t = 0, wrong from t = 1 on"),
        ("states_swapped", ("lstm_forward", "lstm_backward"),
         "a_next and c_next are swapped where lstm_cell_forward's results are unpacked: it returns "
         "a_next, c_next, yt, cache",
         "a holds the cell states and c the hidden states at t = 0; later steps are fed the swapped states"),
        ("a_and_c_share_one_array", ("lstm_forward",),
         "a and c are one array (a = c = np.zeros(...)): allocate each with its own np.zeros",
         "a equals c; y and c right"),
        ("da_prev_not_carried", ("lstm_backward",),
         "the gradient of a from step t+1 (da_prevt) is never added to da[:, :, t]: call "
         "lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])",
         _NOT_CARRIED),
        ("dc_prev_not_carried", ("lstm_backward",),
         "the gradient of c from step t+1 (dc_prevt) is never passed back: give lstm_cell_backward the "
         "previous step's dc_prev",
         _NOT_CARRIED),
        ("nothing_carried", ("lstm_backward",),
         "neither da_prevt nor dc_prevt is carried from step t+1: call "
         "lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t]) and keep both",
         _NOT_CARRIED),
        ("weights_from_one_step", ("lstm_backward",),
         "the gate weights' and biases' gradients keep one step's (=): add every step's (+=)",
         "dx and da0 right; every dW and db hold step t = 0's gradients alone"),
    )),
}

for _name, _models_of_spec in CATALOGUE.items():
    attach_mistakes(_name, _models_of_spec)
