"""The known mistakes of the seed's (CS231n's) layers: error models of the specs of :mod:`oracle.layers.cs231n`.

Each spec gets one *switchable reference* (how they are written and judged:
:mod:`oracle.specs.mistakes`): a float64 textbook transcription of the layer
with one ``if ID in mistakes`` at each line learners get wrong, and the
:class:`~oracle.specs.mistakes.ErrorModel` entries that switch them on.
The sequences loop over their cell's step spec (``step``), so the judge can
run them on impl's step functions or on the target's own. The mistakes are
the ones learners ask about on the course's forums and in public solutions
(gradients not carried between steps, weight gradients assigned instead of
accumulated, ``<START>`` in column 0 of the sampled captions, ...) and those of
``tests/planted_bugs.py``. The catalogue's table is ``docs/reference/error-models.md``
(``tools/error_models.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import impl
from impl.cell_layouts import CAPTIONING_PARAMETERS, CELL_PARAMETERS, CELL_TYPES
from oracle.specs.calls import vocabulary
from oracle.specs.mistakes import ErrorModel, Variant
from oracle.specs.registry import attach_mistakes
from oracle.specs.spec import Arrays, Evaluation, LayerSpec


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings (impl's)."""
    return impl.sigmoid(x)


# --------------------------------------------------------------------------- vanilla RNN step


def rnn_step(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: object) -> Evaluation:
    """``rnn_step_forward`` / ``rnn_step_backward``: ``next_h = tanh(x Wx + prev_h Wh + b)``."""
    x, prev_h, Wx, Wh, b = (inputs[name] for name in ("x", "prev_h", "Wx", "Wh", "b"))
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    dnext_h = upstream["next_h"]
    if "rnn_step.tanh_derivative_missing" in mistakes:
        da = dnext_h
    elif "rnn_step.derivative_of_activated" in mistakes:
        da = dnext_h * (1 - np.tanh(next_h) ** 2)  # tanh' applied to next_h, which is already tanh(a)
    else:
        da = dnext_h * (1 - next_h ** 2)
    states = next_h if "rnn_step.dwh_uses_next_h" in mistakes else prev_h
    return Evaluation({"next_h": next_h}, {"x": da @ Wx.T, "prev_h": da @ Wh.T, "Wx": x.T @ da, "Wh": states.T @ da,
                                           "b": da.sum(axis=0)})


# --------------------------------------------------------------------------- LSTM step


def lstm_step(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: object) -> Evaluation:
    """``lstm_step_forward`` / ``lstm_step_backward``, gates i, f, o, g (see :mod:`impl.lstm`)."""
    x, prev_h, prev_c, Wx, Wh, b = (inputs[name] for name in ("x", "prev_h", "prev_c", "Wx", "Wh", "b"))
    hidden = prev_h.shape[1]
    order = "ifgo" if "lstm_step.gate_order_ifgo" in mistakes else "ifog"
    a = x @ Wx + prev_h @ Wh + b
    block = {gate: a[:, k * hidden:(k + 1) * hidden] for k, gate in enumerate(order)}
    i, f, o, g = sigmoid(block["i"]), sigmoid(block["f"]), sigmoid(block["o"]), np.tanh(block["g"])
    one = np.ones_like(prev_h)
    f_used = one if "lstm_step.forget_gate_missing" in mistakes else f
    i_used = one if "lstm_step.input_gate_missing" in mistakes else i
    o_used = one if "lstm_step.output_gate_missing" in mistakes else o
    next_c = f_used * prev_c + i_used * g
    tanh_c = next_c if "lstm_step.tanh_c_missing" in mistakes else np.tanh(next_c)
    next_h = o_used * tanh_c
    outputs = {"next_h": next_h, "next_c": next_c}
    if "lstm_step.h_and_c_swapped" in mistakes:
        outputs = {"next_h": next_c, "next_c": next_h}

    dnext_h, dnext_c = upstream["next_h"], upstream["next_c"]
    dtanh_c = one if {"lstm_step.tanh_c_missing", "lstm_step.tanh_c_derivative_missing"} & mistakes else 1 - tanh_c ** 2
    through_h = dnext_h * o_used * dtanh_c
    dc = through_h if "lstm_step.dnext_c_dropped" in mistakes else dnext_c + through_h
    do = np.zeros_like(o) if "lstm_step.output_gate_missing" in mistakes else dnext_h * tanh_c
    di = np.zeros_like(i) if "lstm_step.input_gate_missing" in mistakes else dc * g
    df = np.zeros_like(f) if "lstm_step.forget_gate_missing" in mistakes else dc * prev_c
    dg = dc * i_used
    if "lstm_step.dprev_c_without_f" in mistakes:
        dprev_c = dc
    elif "lstm_step.dprev_c_misses_h_path" in mistakes:
        dprev_c = dnext_c * f_used
    else:
        dprev_c = dc * f_used
    if "lstm_step.sigmoid_derivative_missing" in mistakes:
        da_i, da_f, da_o = di, df, do
    elif "lstm_step.derivative_of_activated" in mistakes:  # sigma'(i) taken of i = sigma(a_i), tanh'(g) of g
        da_i, da_f, da_o = (d * sigmoid(s) * (1 - sigmoid(s)) for d, s in ((di, i), (df, f), (do, o)))
    else:
        da_i, da_f, da_o = di * i * (1 - i), df * f * (1 - f), do * o * (1 - o)
    if "lstm_step.g_derivative_missing" in mistakes:
        da_g = dg
    elif "lstm_step.derivative_of_activated" in mistakes:
        da_g = dg * (1 - np.tanh(g) ** 2)
    else:
        da_g = dg * (1 - g ** 2)
    parts = {"i": da_i, "f": da_f, "o": da_o, "g": da_g}
    written = "ifgo" if "lstm_step.grad_blocks_ifgo" in mistakes else order
    da = np.concatenate([parts[gate] for gate in written], axis=1)
    states = next_h if "lstm_step.dwh_uses_next_h" in mistakes else prev_h
    return Evaluation(outputs, {"x": da @ Wx.T, "prev_h": da @ Wh.T, "prev_c": dprev_c, "Wx": x.T @ da,
                                "Wh": states.T @ da, "b": da.sum(axis=0)})


# --------------------------------------------------------------------------- GRU step


def gru_step(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: object) -> Evaluation:
    """``gru_step_forward`` / ``gru_step_backward``, gates z, r, n, PyTorch's reset placement (see :mod:`impl.gru`)."""
    x, h, Wx, Wh, b, bh = (inputs[name] for name in ("x", "prev_h", "Wx", "Wh", "b", "bh"))
    hidden = h.shape[1]
    ax, ah = x @ Wx + b, h @ Wh + bh
    cols = [slice(k * hidden, (k + 1) * hidden) for k in range(3)]
    z, r = sigmoid(ax[:, cols[0]] + ah[:, cols[0]]), sigmoid(ax[:, cols[1]] + ah[:, cols[1]])
    reset_before_bias = "gru_step.reset_before_bias" in mistakes  # r * (h Wh_n), bh_n added outside
    ah_n = ah[:, cols[2]] - bh[cols[2]] if reset_before_bias else ah[:, cols[2]]
    n = np.tanh(ax[:, cols[2]] + r * ah_n + (bh[cols[2]] if reset_before_bias else 0))
    reversed_update = "gru_step.update_gate_reversed" in mistakes
    next_h = z * n + (1 - z) * h if reversed_update else (1 - z) * n + z * h

    dh = upstream["next_h"]
    keep, take = (1 - z, z) if reversed_update else (z, 1 - z)
    dz = dh * (n - h) if reversed_update else dh * (h - n)
    dn = dh * take
    plain = "gru_step.sigmoid_derivative_missing" in mistakes
    da_z = dz if plain else dz * z * (1 - z)
    da_n = dn * (1 - n ** 2)
    da_r = da_n * ah_n if plain else da_n * ah_n * r * (1 - r)
    dax = np.concatenate([da_z, da_r, da_n], axis=1)
    dah = np.concatenate([da_z, da_r, da_n * r], axis=1)
    dbh = np.concatenate([da_z, da_r, da_n], axis=1) if reset_before_bias else dah
    states = next_h if "gru_step.dwh_uses_next_h" in mistakes else h
    return Evaluation({"next_h": next_h}, {"x": dax @ Wx.T, "prev_h": dh * keep + dah @ Wh.T, "Wx": x.T @ dax,
                                           "Wh": states.T @ dah, "b": dax.sum(axis=0), "bh": dbh.sum(axis=0)})


# --------------------------------------------------------------------------- sequences, over their step spec


def sequence(layer: str, cell: str) -> Variant:
    """The switchable reference of the sequence ``layer`` (``"rnn"``, ``"lstm"``, ``"lstm_with_c0"``, ``"gru"``).

    It loops over ``step`` (the cell's step spec: impl's, or the target's own) exactly as the seed's
    ``*_forward`` and ``*_backward`` do, with the sequence-level mistakes switchable.
    """
    lstm = cell == "lstm"

    def variant(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: LayerSpec) -> Evaluation:
        def made(mistake: str) -> bool:
            return f"{layer}.{mistake}" in mistakes

        x, h0 = inputs["x"], inputs["h0"]
        weights = [inputs[name] for name in CELL_PARAMETERS[cell]]
        steps = x.shape[1]
        h = h0
        c = inputs["c0"] if "c0" in inputs and not made("c0_ignored") else np.zeros_like(h0)
        if made("c_starts_as_h0"):
            c = h0
        hs, caches = [], []
        for t in range(steps):
            prev_h = h0 if made("h0_every_step") else h
            if lstm:
                next_h, next_c, cache = step.forward(x[:, t], prev_h, c, *weights)
                h, c = (next_c, next_h) if made("h_and_c_swapped") else (next_h, next_c)
            else:
                h, cache = step.forward(x[:, t], prev_h, *weights)
            hs.append(h)
            caches.append(cache)
        out = np.stack(hs, axis=1) if steps else np.zeros((x.shape[0], 0, h0.shape[1]))
        if made("outputs_share_one_array") and steps:
            out = np.repeat(out[:, -1:], steps, axis=1)  # every h[:, t] is the one array, last written at T-1

        backward: Callable = step.backward  # type: ignore[assignment]  # a step spec always has one
        dh = upstream["h"]
        dx = np.zeros_like(x)
        totals = [np.zeros_like(weight) for weight in weights]
        carry_h, carry_c = np.zeros_like(h0), np.zeros_like(h0)
        for t in range(steps - 1, -1, -1):
            given = dh[:, t] if not made("upstream_only_last_step") or t == steps - 1 else np.zeros_like(h0)
            upstream_h = given if made("h_not_carried") else given + carry_h
            upstream_c = np.zeros_like(h0) if made("c_not_carried") else carry_c
            if lstm:
                dx_t, carry_h, carry_c, *dweights = backward(upstream_h, upstream_c, caches[t])
            else:
                dx_t, carry_h, *dweights = backward(upstream_h, caches[t])
            dx[:, t] = dx_t
            if made("weight_grads_one_step"):
                totals = [np.array(part, dtype=np.float64) for part in dweights]  # "dWx = ..." in the loop
            else:
                totals = [total + part for total, part in zip(totals, dweights, strict=True)]
        grads = {"x": dx, "h0": carry_h}
        if "c0" in inputs:
            grads["c0"] = np.zeros_like(h0) if made("dc0_missing") else carry_c
        grads.update(zip(CELL_PARAMETERS[cell], totals, strict=True))
        return Evaluation({"h": out}, grads)

    return variant


# --------------------------------------------------------------------------- dense layers, embedding, loss


def affine(temporal: bool) -> Variant:
    """``affine_forward`` / ``affine_backward``, or (``temporal``) ``temporal_affine_forward`` / ``_backward``."""
    layer = "temporal_affine" if temporal else "affine"

    def variant(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: object) -> Evaluation:
        x, w, b = inputs["x"], inputs["w"], inputs["b"]
        rows = x.reshape(-1, w.shape[0]) if temporal else x.reshape(x.shape[0], -1)
        dout = upstream["out"].reshape(-1, w.shape[1])
        out = (rows @ w + b).reshape(*(x.shape[:-1] if temporal else x.shape[:1]), w.shape[1])
        db = dout.mean(axis=0) if f"{layer}.db_averaged" in mistakes else dout.sum(axis=0)
        return Evaluation({"out": out}, {"x": (dout @ w.T).reshape(x.shape), "w": rows.T @ dout, "b": db})

    return variant


def word_embedding(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: object) -> Evaluation:
    """``word_embedding_forward`` / ``word_embedding_backward``: ``out = W[x]``, ``dW`` summed over repeats."""
    x, W = inputs["x"], inputs["W"]
    dout = upstream["out"]
    dW = np.zeros_like(W)
    if "word_embedding.repeated_words_once" in mistakes:
        dW[x] += dout  # buffered fancy indexing: a repeated word keeps one contribution
    else:
        np.add.at(dW, x, dout)
    return Evaluation({"out": W[x]}, {"W": dW})


def softmax_loss(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: object) -> Evaluation:
    """``temporal_softmax_loss``: cross-entropy summed over unmasked steps, divided by N."""
    x, y, mask = inputs["x"], inputs["y"], inputs["mask"].astype(bool)
    n = x.shape[0]
    if "temporal_softmax_loss.mask_ignored" in mistakes:
        mask = np.ones_like(mask)
    shifted = x - x.max(axis=2, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    picked = np.take_along_axis(log_p, y[..., None], axis=2)[..., 0]
    if "temporal_softmax_loss.divided_by_nt" in mistakes:
        divisor = float(n * x.shape[1])
    elif "temporal_softmax_loss.not_divided_by_n" in mistakes:
        divisor = 1.0
    elif "temporal_softmax_loss.divided_by_mask_count" in mistakes:
        divisor = float(max(int(np.count_nonzero(mask)), 1))
    else:
        divisor = float(n)
    loss = -np.sum(picked * mask) / divisor
    dx = np.exp(log_p)
    np.put_along_axis(dx, y[..., None], np.take_along_axis(dx, y[..., None], axis=2) - 1, axis=2)
    dx = dx * mask[..., None] / (1.0 if "temporal_softmax_loss.grad_not_divided" in mistakes else divisor)
    return Evaluation({"loss": np.asarray(loss)}, {"x": dx})


# --------------------------------------------------------------------------- the captioning model


def captioning_loss(cell: str) -> Variant:
    """``CaptioningRNN.loss`` of a ``cell`` model, from impl's layers, with the model-level mistakes switchable."""

    def variant(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: object) -> Evaluation:
        names = CAPTIONING_PARAMETERS[cell]
        p = {name: inputs[name] for name in names}
        captions, null = inputs["captions"], int(inputs["null"])
        words_in, words_out = captions[:, :-1], captions[:, 1:]
        if f"captioning_{cell}.targets_not_shifted" in mistakes:
            words_out = words_in
        mask = words_out != null
        if f"captioning_{cell}.mask_ignored" in mistakes:
            mask = np.ones_like(mask)
        no_bias = f"captioning_{cell}.projection_bias_missing" in mistakes
        h0, cache_proj = impl.affine_forward(inputs["features"], p["W_proj"], 0 * p["b_proj"] if no_bias
                                             else p["b_proj"])
        embedded, cache_embed = impl.word_embedding_forward(words_in, p["W_embed"])
        cell_weights = [p[name] for name in CELL_PARAMETERS[cell]]
        h, cache_cell = getattr(impl, f"{cell}_forward")(embedded, h0, *cell_weights)
        scores, cache_vocab = impl.temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
        loss, dscores = impl.temporal_softmax_loss(scores, words_out, mask)
        dh, dW_vocab, db_vocab = impl.temporal_affine_backward(dscores, cache_vocab)
        dembedded, dh0, *dcell = getattr(impl, f"{cell}_backward")(dh, cache_cell)
        _, dW_proj, db_proj = impl.affine_backward(dh0, cache_proj)
        grads = {"W_proj": dW_proj, "b_proj": np.zeros_like(db_proj) if no_bias else db_proj,
                 "W_embed": impl.word_embedding_backward(dembedded, cache_embed), "W_vocab": dW_vocab,
                 "b_vocab": db_vocab, **dict(zip(CELL_PARAMETERS[cell], dcell, strict=True))}
        return Evaluation({"loss": np.asarray(loss)}, {name: grads[name] for name in names})

    return variant


def captioning_sample(cell: str) -> Variant:
    """``CaptioningRNN.sample`` of a ``cell`` model (greedy, ``T`` words), with the sampling mistakes switchable."""

    def variant(inputs: Arrays, upstream: Arrays, mistakes: frozenset[str], step: object) -> Evaluation:
        def made(mistake: str) -> bool:
            return f"captioning_{cell}.{mistake}" in mistakes

        p = {name: inputs[name] for name in CAPTIONING_PARAMETERS[cell]}
        features, null = inputs["features"], int(inputs["null"])
        start = vocabulary(p["W_embed"].shape[0], null)["<START>"]
        h0 = features @ p["W_proj"] + p["b_proj"]
        h, c = h0, np.zeros_like(h0)
        word = np.full(features.shape[0], start)
        cell_weights = [p[name] for name in CELL_PARAMETERS[cell]]
        sampled = []
        for _ in range(inputs["captions"].shape[1] - 1):
            embedded = p["W_embed"][np.full_like(word, start) if made("start_every_step") else word]
            if cell == "lstm":
                next_h, next_c, _ = impl.lstm_step_forward(embedded, h, c, *cell_weights)
            else:
                next_h, _ = getattr(impl, f"{cell}_step_forward")(embedded, h, *cell_weights)
                next_c = c
            if not made("state_never_updated"):
                h, c = next_h, next_c
            word = np.argmax(next_h @ p["W_vocab"] + p["b_vocab"], axis=1)
            sampled.append(word)
        captions = np.stack(sampled, axis=1) if sampled else np.zeros((features.shape[0], 0), dtype=np.int64)
        if made("start_in_column_0") and sampled:
            captions = np.concatenate([np.full((features.shape[0], 1), start), captions[:, :-1]], axis=1)
        return Evaluation({"captions": captions}, {})

    return variant


# --------------------------------------------------------------------------- the catalogue


def models(layer: str, variant: Variant, functions: tuple[str, str], entries: list[tuple], step: str = "") -> tuple:
    """``ErrorModel``s of one spec from ``(mistake, text, which functions, evidence)`` rows.

    ``which``: ``"f"`` (the forward function), ``"b"`` (the backward) or ``"fb"`` (both).
    """
    return tuple(ErrorModel(f"{layer}.{mistake}", text, tuple(function for letter, function in zip("fb", functions,
                                                                                                   strict=True)
                                                           if letter in which), variant, step, evidence)
                 for mistake, text, which, evidence in entries)


def sequence_entries(layer: str, cell: str, names: tuple[str, str]) -> list[tuple]:
    """The sequence mistakes of ``layer``: carries, accumulators, upstream gradients and the forward loop's."""
    forward, backward = names
    lstm = cell == "lstm"
    rows = [
        ("h_not_carried", f"in {backward}, the gradient dprev_h from step t+1 is never added to dh[:, t]: pass "
                          "dh[:, t] + dprev_h to the step's backward", "b",
         "right at the last step; wrong from t = T-2 back, in dx and every weight gradient"),
        ("upstream_only_last_step", f"in {backward}, only dh[:, T-1] enters the loop: add dh[:, t] at every "
                                    "step t, not just the last", "b",
         "right when T = 1; dx wrong at every step but the last"),
        ("weight_grads_one_step", f"in {backward}, the weight gradients are assigned (dWx = ...) instead of "
                                  "accumulated (dWx += ...) over the steps: only step 0 counts", "b",
         "dx and dh0 right; dWx, dWh, db wrong whenever T > 1"),
        ("h0_every_step", f"in {forward}, every step starts from h0: pass the previous step's next_h as prev_h",
         "f", "h[:, 0] right; every later step wrong"),
        ("outputs_share_one_array", f"in {forward}, every h[:, t] is the same array (one buffer appended or "
                                    "overwritten): store a copy of each step's next_h", "f",
         "every step holds the last step's hidden state"),
    ]
    if lstm:
        rows += [
            ("c_not_carried", f"in {backward}, the cell gradient dprev_c from step t+1 is never passed on: give "
                              "it to step t's backward as dnext_c", "b",
             "right at the last step; wrong from t = T-2 back"),
            ("h_and_c_swapped", f"in {forward}, the step's next_h and next_c are unpacked in the wrong order "
                                "(next_c, next_h, cache = ...)", "f", "h holds the cell states"),
        ]
        if layer == "lstm":
            rows.append(("c_starts_as_h0", f"in {forward}, the cell state starts as h0: it starts at zeros", "f",
                         "wrong from step 0"))
        else:
            rows += [("c0_ignored", f"in {forward}, the given c0 is not used: the cell state starts at c0", "f",
                      "wrong from step 0 unless c0 = 0"),
                     ("dc0_missing", f"{backward} returns zeros for dc0: return the dprev_c of step 0", "b",
                      "only dc0 is wrong")]
    return rows


STEP_FUNCTIONS = {"rnn": ("rnn_step_forward", "rnn_step_backward"),
                  "lstm": ("lstm_step_forward", "lstm_step_backward"),
                  "gru": ("gru_step_forward", "gru_step_backward")}

SEQUENCES = {"rnn": ("rnn", ("rnn_forward", "rnn_backward")), "lstm": ("lstm", ("lstm_forward", "lstm_backward")),
             "lstm_with_c0": ("lstm", ("lstm_forward_with_c0", "lstm_backward_with_c0")),
             "gru": ("gru", ("gru_forward", "gru_backward"))}

ACTIVATED = "1 - tanh(next_h)**2 differentiates tanh twice: next_h is already tanh(a); use 1 - next_h**2"

CATALOGUE: dict[str, tuple[ErrorModel, ...]] = {
    "rnn_step": models("rnn_step", rnn_step, STEP_FUNCTIONS["rnn"], [
        ("tanh_derivative_missing", "the derivative of tanh is missing: multiply dnext_h by (1 - next_h**2)", "b",
         "every gradient off by the factor 1 - next_h**2"),
        ("derivative_of_activated", ACTIVATED, "b", "every gradient off, by a factor close to 1 for small h"),
        ("dwh_uses_next_h", "dWh uses next_h: it is prev_h.T @ da (the state that multiplied Wh)", "b",
         "only dWh is wrong"),
    ]),
    "lstm_step": models("lstm_step", lstm_step, STEP_FUNCTIONS["lstm"], [
        ("sigmoid_derivative_missing", "the sigmoid derivatives are missing: multiply di, df, do by i*(1-i), "
                                       "f*(1-f), o*(1-o)", "b", "gradients of the i, f, o gate blocks wrong"),
        ("g_derivative_missing", "the derivative of tanh for the candidate g is missing: multiply dg by "
                                 "(1 - g**2)", "b", "gradients of the g gate block wrong"),
        ("tanh_c_derivative_missing", "the derivative of tanh(next_c) is missing: dnext_h reaches the cell "
                                      "through o * (1 - tanh(next_c)**2)", "b", "every gradient but the "
                                                                                "o block's wrong"),
        ("derivative_of_activated", "the activation derivatives are applied to already activated values "
                                    "(sigmoid(i) * (1 - sigmoid(i)) where i is sigmoid(a_i)): use i * (1 - i), "
                                    "1 - g**2", "b", "every gate block wrong"),
        ("dnext_c_dropped", "the cell gradient from the next step is dropped: dc = dnext_c + dnext_h * o * "
                            "(1 - tanh(next_c)**2)", "b", "right when dnext_c = 0"),
        ("dprev_c_without_f", "dprev_c misses the forget gate: dprev_c = dc * f", "b", "only dprev_c wrong"),
        ("dprev_c_misses_h_path", "dprev_c only carries dnext_c: it is (dnext_c + dnext_h * o * (1 - "
                                  "tanh(next_c)**2)) * f", "b", "only dprev_c wrong"),
        ("dwh_uses_next_h", "dWh uses next_h: it is prev_h.T @ da (the state that multiplied Wh)", "b",
         "only dWh wrong"),
        ("grad_blocks_ifgo", "the gate gradients are stacked as i, f, g, o: the API's order is i, f, o, g", "b",
         "the o and g blocks of dWx, dWh, db swapped"),
        ("gate_order_ifgo", "the gates are read in PyTorch's order i, f, g, o: the API's order is i, f, o, g", "fb",
         "outputs and gradients wrong; right if the o and g blocks of the weights were swapped"),
        ("output_gate_missing", "the output gate is not applied: next_h = o * tanh(next_c)", "fb",
         "next_c right, next_h wrong"),
        ("forget_gate_missing", "the forget gate is not applied: next_c = f * prev_c + i * g", "fb",
         "wrong unless prev_c = 0"),
        ("input_gate_missing", "the input gate is not applied: next_c = f * prev_c + i * g", "fb",
         "next_c and next_h wrong"),
        ("tanh_c_missing", "next_h = o * next_c misses the tanh: next_h = o * tanh(next_c)", "fb",
         "next_c right, next_h wrong"),
        ("h_and_c_swapped", "next_h and next_c are returned in the wrong order: return next_h, next_c, cache",
         "f", "next_h holds the cell state"),
    ]),
    "gru_step": models("gru_step", gru_step, STEP_FUNCTIONS["gru"], [
        ("sigmoid_derivative_missing", "the sigmoid derivatives of z and r are missing: multiply by z*(1-z) and "
                                       "r*(1-r)", "b", "gradients of the z and r blocks wrong"),
        ("update_gate_reversed", "the update gate is used the other way round: next_h = (1 - z) * n + z * prev_h",
         "fb", "wrong unless z = 1/2"),
        ("reset_before_bias", "the reset gate multiplies prev_h @ Wh_n alone: it multiplies (prev_h @ Wh_n + "
                              "bh_n), PyTorch's placement", "fb", "wrong unless bh_n = 0"),
        ("dwh_uses_next_h", "dWh uses next_h: it is prev_h.T @ dah (the state that multiplied Wh)", "b",
         "only dWh wrong"),
    ]),
    **{layer: models(layer, sequence(layer, cell), names, sequence_entries(layer, cell, names), f"{cell}_step")
       for layer, (cell, names) in SEQUENCES.items()},
    "affine": models("affine", affine(temporal=False), ("affine_forward", "affine_backward"), [
        ("db_averaged", "db is the mean of dout over the batch: it is the sum, dout.sum(axis=0)", "b",
         "only db wrong, by the factor N"),
    ]),
    "temporal_affine": models("temporal_affine", affine(temporal=True),
                              ("temporal_affine_forward", "temporal_affine_backward"), [
        ("db_averaged", "db is the mean of dout over N and T: it is the sum over both", "b",
         "only db wrong, by the factor N*T"),
    ]),
    "word_embedding": models("word_embedding", word_embedding, ("word_embedding_forward", "word_embedding_backward"),
                             [("repeated_words_once", "dW[x] += dout counts a repeated word once (buffered "
                                                      "indexing): use np.add.at(dW, x, dout)", "b",
                               "right unless a word repeats in the batch")]),
    "temporal_softmax_loss": tuple(
        ErrorModel(f"temporal_softmax_loss.{mistake}", text, ("temporal_softmax_loss",), softmax_loss,
                   evidence=evidence)
        for mistake, text, evidence in [
            ("mask_ignored", "the mask is ignored: multiply each step's loss and gradient by mask",
             "right when nothing is masked"),
            ("divided_by_nt", "the loss is divided by N*T: it is summed over time and divided by N only",
             "loss and dx too small by the factor T"),
            ("not_divided_by_n", "the loss is not divided by N: divide the sum by the batch size",
             "loss and dx too large by the factor N"),
            ("divided_by_mask_count", "the loss is averaged over the unmasked steps: divide the sum by N",
             "loss and dx off by N / mask.sum()"),
            ("grad_not_divided", "dx is not divided by N as the loss is", "loss right, dx N times too large"),
        ]),
}

for _cell in CELL_TYPES:
    _loss, _sample = f"CaptioningRNN.loss[{_cell}]", f"CaptioningRNN.sample[{_cell}]"
    _layer = f"captioning_{_cell}"
    CATALOGUE[_layer] = tuple(
        ErrorModel(f"{_layer}.{mistake}", text, (_loss,), captioning_loss(_cell), evidence=evidence)
        for mistake, text, evidence in [
            ("mask_ignored", "the loss counts the <NULL> padding: pass mask = (captions_out != self._null)",
             "right when no caption is padded"),
            ("targets_not_shifted", "the targets are captions[:, :-1]: the model predicts captions_out = "
                                    "captions[:, 1:]", "loss and every gradient wrong"),
            ("projection_bias_missing", "h0 misses the projection's bias: h0 = features @ W_proj + b_proj",
             "db_proj zero, everything else slightly off"),
        ]) + tuple(
        ErrorModel(f"{_layer}.{mistake}", text, (_sample,), captioning_sample(_cell), evidence=evidence)
        for mistake, text, evidence in [
            ("start_in_column_0", "<START> is written into captions[:, 0]: column 0 holds the first sampled word",
             "every word one column late, <START> first"),
            ("start_every_step", "<START> is fed at every step: feed the word sampled at the previous step",
             "the first word right, later words wrong"),
            ("state_never_updated", "the hidden state is never updated: assign next_h (and next_c) back to h "
                                    "(and c) at every step", "the first word right, later words wrong"),
        ])

for _name, _models in CATALOGUE.items():
    attach_mistakes(_name, _models)

