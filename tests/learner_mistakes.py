"""The known mistakes made in a learner's code: each error model's id -> the patch that makes it.

A patch is ``[(function, old, new), ...]``: in the source of ``function`` of
``tests/learner_cs231n.py`` (``"CaptioningRNN.sample"`` for a method), the
text ``old``, which must occur exactly once there, becomes ``new``: the lines
a learner gets wrong, as a learner writes them. :func:`learner_module` loads the
patched code as a module of its own.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

Patch = list[tuple[str, str, str]]

SOURCE = Path(__file__).with_name("learner_cs231n.py")

_ONE_ARRAY = ("hs.append(next_h)", "if t == 0:\n            buffer = np.empty_like(next_h)\n"
                                   "        buffer[:] = next_h\n        hs.append(buffer)")
_ACCUMULATED = "dWx += dWx_t\n        dWh += dWh_t\n        db += db_t\n"
_ASSIGNED = "dWx = dWx_t\n        dWh = dWh_t\n        db = db_t\n"
_LSTM_DA = "np.hstack((di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)))"


def sequence_patches(layer: str, forward: str, backward: str) -> dict[str, Patch]:
    """The mistakes every sequence of the learner's code can have."""
    upstream = "dh[:, t, :] + dprev_h"
    accumulated = [(backward, _ACCUMULATED, _ASSIGNED)]
    if layer == "gru":
        accumulated.append((backward, "dbh += dbh_t", "dbh = dbh_t"))
    return {
        f"{layer}.h_not_carried": [(backward, upstream, "dh[:, t, :]")],
        f"{layer}.upstream_only_last_step": [(backward, upstream, "dprev_h + (dh[:, t, :] if t == T - 1 else 0)")],
        f"{layer}.weight_grads_one_step": accumulated,
        f"{layer}.h0_every_step": [(forward, "prev_h, prev_c = next_h, next_c", "prev_c = next_c")]
        if layer.startswith("lstm") else [(forward, "        prev_h = next_h\n", "")],
        f"{layer}.outputs_share_one_array": [(forward, *_ONE_ARRAY)],
    }


LSTM_SEQUENCE = {
    **sequence_patches("lstm", "lstm_forward_with_c0", "lstm_backward_with_c0"),
    "lstm.c_not_carried": [("lstm_backward_with_c0", ", dprev_c, caches[t])", ", np.zeros_like(dprev_c), caches[t])")],
    "lstm.h_and_c_swapped": [("lstm_forward_with_c0", "next_h, next_c, step_cache =", "next_c, next_h, step_cache =")],
    "lstm.c_starts_as_h0": [("lstm_forward", "np.zeros_like(h0)", "h0")],
}

PATCHES: dict[str, Patch] = {
    "rnn_step.tanh_derivative_missing": [("rnn_step_backward", "da = dnext_h * (1 - next_h ** 2)", "da = dnext_h")],
    "rnn_step.derivative_of_activated": [("rnn_step_backward", "(1 - next_h ** 2)", "(1 - np.tanh(next_h) ** 2)")],
    "rnn_step.dwh_uses_next_h": [("rnn_step_backward", "dWh = prev_h.T.dot(da)", "dWh = next_h.T.dot(da)")],
    "lstm_step.sigmoid_derivative_missing": [("lstm_step_backward", _LSTM_DA,
                                              "np.hstack((di, df, do, dg * (1 - g ** 2)))")],
    "lstm_step.g_derivative_missing": [("lstm_step_backward", "dg * (1 - g ** 2)", "dg")],
    "lstm_step.tanh_c_derivative_missing": [("lstm_step_backward", "dnext_h * o * (1 - tanh_c ** 2)", "dnext_h * o")],
    "lstm_step.derivative_of_activated": [("lstm_step_backward", _LSTM_DA, (
        "np.hstack((di * sigmoid(i) * (1 - sigmoid(i)), df * sigmoid(f) * (1 - sigmoid(f)),\n"
        "                    do * sigmoid(o) * (1 - sigmoid(o)), dg * (1 - np.tanh(g) ** 2)))"))],
    "lstm_step.dnext_c_dropped": [("lstm_step_backward", "dc = dnext_c + dnext_h", "dc = dnext_h")],
    "lstm_step.dprev_c_without_f": [("lstm_step_backward", "dprev_c = dc * f", "dprev_c = dc")],
    "lstm_step.dprev_c_misses_h_path": [("lstm_step_backward", "dprev_c = dc * f", "dprev_c = dnext_c * f")],
    "lstm_step.dwh_uses_next_h": [("lstm_step_backward", "dWh = prev_h.T.dot(da)", "dWh = (o * tanh_c).T.dot(da)")],
    "lstm_step.grad_blocks_ifgo": [("lstm_step_backward", _LSTM_DA,
                                    "np.hstack((di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), "
                                    "do * o * (1 - o)))")],
    "lstm_step.gate_order_ifgo": [
        ("lstm_step_forward", "o = sigmoid(a[:, 2 * H:3 * H])\n    g = np.tanh(a[:, 3 * H:])",
         "g = np.tanh(a[:, 2 * H:3 * H])\n    o = sigmoid(a[:, 3 * H:])"),
        ("lstm_step_backward", _LSTM_DA,
         "np.hstack((di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)))")],
    "lstm_step.output_gate_missing": [
        ("lstm_step_forward", "next_h = o * np.tanh(next_c)", "next_h = np.tanh(next_c)"),
        ("lstm_step_backward", "dnext_h * o * (1 - tanh_c ** 2)", "dnext_h * (1 - tanh_c ** 2)"),
        ("lstm_step_backward", "do = dnext_h * tanh_c", "do = 0 * o")],
    "lstm_step.forget_gate_missing": [
        ("lstm_step_forward", "next_c = f * prev_c + i * g", "next_c = prev_c + i * g"),
        ("lstm_step_backward", "df = dc * prev_c", "df = 0 * f"),
        ("lstm_step_backward", "dprev_c = dc * f", "dprev_c = dc")],
    "lstm_step.input_gate_missing": [
        ("lstm_step_forward", "next_c = f * prev_c + i * g", "next_c = f * prev_c + g"),
        ("lstm_step_backward", "di = dc * g", "di = 0 * g"),
        ("lstm_step_backward", "dg = dc * i", "dg = dc")],
    "lstm_step.tanh_c_missing": [
        ("lstm_step_forward", "next_h = o * np.tanh(next_c)", "next_h = o * next_c"),
        ("lstm_step_backward", "tanh_c = np.tanh(next_c)", "tanh_c = next_c"),
        ("lstm_step_backward", "dnext_h * o * (1 - tanh_c ** 2)", "dnext_h * o")],
    "lstm_step.h_and_c_swapped": [("lstm_step_forward", "return next_h, next_c, cache",
                                   "return next_c, next_h, cache")],
    "gru_step.sigmoid_derivative_missing": [
        ("gru_step_backward", "da_z = dz * z * (1 - z)", "da_z = dz"),
        ("gru_step_backward", "ah[:, 2 * H:] * r * (1 - r)", "ah[:, 2 * H:]")],
    "gru_step.update_gate_reversed": [
        ("gru_step_forward", "next_h = (1 - z) * n + z * prev_h", "next_h = z * n + (1 - z) * prev_h"),
        ("gru_step_backward", "dz = dnext_h * (prev_h - n)", "dz = dnext_h * (n - prev_h)"),
        ("gru_step_backward", "dn = dnext_h * (1 - z)", "dn = dnext_h * z"),
        ("gru_step_backward", "dprev_h = dnext_h * z +", "dprev_h = dnext_h * (1 - z) +")],
    "gru_step.reset_before_bias": [
        ("gru_step_forward", "ah = prev_h.dot(Wh) + bh", "ah = prev_h.dot(Wh)\n    ax = ax + bh"),
        ("gru_step_backward", "dbh = np.sum(dah, axis=0)", "dbh = np.sum(dax, axis=0)")],
    "gru_step.dwh_uses_next_h": [("gru_step_backward", "dWh = prev_h.T.dot(dah)",
                                  "dWh = ((1 - z) * n + z * prev_h).T.dot(dah)")],
    **sequence_patches("rnn", "rnn_forward", "rnn_backward"),
    **sequence_patches("gru", "gru_forward", "gru_backward"),
    **LSTM_SEQUENCE,
    **{key.replace("lstm.", "lstm_with_c0.", 1): patch for key, patch in LSTM_SEQUENCE.items()
       if key != "lstm.c_starts_as_h0"},
    "lstm_with_c0.c0_ignored": [("lstm_forward_with_c0", "prev_h, prev_c = h0, c0",
                                 "prev_h, prev_c = h0, np.zeros_like(h0)")],
    "lstm_with_c0.dc0_missing": [("lstm_backward_with_c0", "return dx, dprev_h, dprev_c,",
                                  "return dx, dprev_h, np.zeros_like(dprev_c),")],
    "affine.db_averaged": [("affine_backward", "db = np.sum(dout, axis=0)", "db = np.mean(dout, axis=0)")],
    "temporal_affine.db_averaged": [("temporal_affine_backward", "dout.sum(axis=(0, 1))", "dout.mean(axis=(0, 1))")],
    "word_embedding.repeated_words_once": [("word_embedding_backward", "np.add.at(dW, x, dout)", "dW[x] += dout")],
    "temporal_softmax_loss.mask_ignored": [("temporal_softmax_loss", "mask_flat = mask.reshape(N * T)",
                                            "mask_flat = np.ones(N * T, dtype=bool)")],
    "temporal_softmax_loss.divided_by_nt": [("temporal_softmax_loss", "/ N\n", "/ (N * T)\n"),
                                            ("temporal_softmax_loss", "dx_flat /= N", "dx_flat /= N * T")],
    "temporal_softmax_loss.not_divided_by_n": [("temporal_softmax_loss", " / N\n", "\n"),
                                               ("temporal_softmax_loss", "    dx_flat /= N\n", "")],
    "temporal_softmax_loss.divided_by_mask_count": [
        ("temporal_softmax_loss", "/ N\n", "/ max(np.sum(mask_flat), 1)\n"),
        ("temporal_softmax_loss", "dx_flat /= N", "dx_flat /= max(np.sum(mask_flat), 1)")],
    "temporal_softmax_loss.grad_not_divided": [("temporal_softmax_loss", "    dx_flat /= N\n", "")],
}

for _cell in ("rnn", "lstm", "gru"):
    PATCHES.update({
        f"captioning_{_cell}.mask_ignored": [("CaptioningRNN.loss", "mask = captions_out != self._null",
                                              "mask = np.ones(captions_out.shape, dtype=bool)")],
        f"captioning_{_cell}.targets_not_shifted": [("CaptioningRNN.loss", "captions_out = captions[:, 1:]",
                                                     "captions_out = captions[:, :-1]")],
        f"captioning_{_cell}.projection_bias_missing": [
            ("CaptioningRNN.loss", "affine_forward(features, W_proj, b_proj)",
             "affine_forward(features, W_proj, np.zeros_like(b_proj))"),
            ("CaptioningRNN.loss", "return loss, grads", "grads[\"b_proj\"] = np.zeros_like(b_proj)\n"
                                                         "        return loss, grads")],
        f"captioning_{_cell}.start_in_column_0": [("CaptioningRNN.sample", "for t in range(max_length):",
                                                   "captions[:, 0] = self._start\n"
                                                   "        for t in range(1, max_length):")],
        f"captioning_{_cell}.start_every_step": [("CaptioningRNN.sample", "x = W_embed[word]",
                                                  "x = W_embed[self._start * np.ones(N, dtype=np.int32)]")],
        f"captioning_{_cell}.state_never_updated": [("CaptioningRNN.sample", "            h, c = next_h, next_c\n",
                                                     "")],
    })

#: Mistakes outside the catalogue, by what they are: no cause may be stated for them.
OUTSIDE: dict[str, tuple[str, Patch]] = {
    "dWx misses the tanh derivative alone": ("rnn_step", [("rnn_step_backward", "dWx = x.T.dot(da)",
                                                            "dWx = x.T.dot(dnext_h)")]),
    "db averaged over the batch in the LSTM step": ("lstm_step", [("lstm_step_backward", "db = np.sum(da, axis=0)",
                                                                   "db = np.sum(da, axis=0) / x.shape[0]")]),
    "dx of the sequence reversed in time": ("rnn", [("rnn_backward", "dx[:, t, :] = dx_t",
                                                     "dx[:, T - 1 - t, :] = dx_t")]),
    "loss divided by N twice": ("temporal_softmax_loss", [("temporal_softmax_loss", "/ N\n", "/ N / N\n")]),
    "the second word fed at every step": ("captioning_lstm", [("CaptioningRNN.sample", "x = W_embed[word]",
                                                               "x = W_embed[(self._start + 1) % W_embed.shape[0] "
                                                               "* np.ones(N, dtype=np.int32)]")]),
}


def patched_source(patch: Patch) -> str:
    """The learner's code with ``patch`` applied (each ``old`` found exactly once in its function)."""
    source = SOURCE.read_text()
    for function, old, new in patch:
        start, end = _span(source, function)
        body = source[start:end]
        if body.count(old) != 1:
            raise ValueError(f"{old!r} occurs {body.count(old)} times in {function}")
        source = source[:start] + body.replace(old, new) + source[end:]
    return source


def _span(source: str, function: str) -> tuple[int, int]:
    """Character offsets of the definition of ``function`` (``"Class.method"`` for a method) in ``source``."""
    tree = ast.parse(source)
    *owner, name = function.split(".")
    scope = tree.body if not owner else next(node for node in tree.body
                                             if isinstance(node, ast.ClassDef) and node.name == owner[0]).body
    node = next(node for node in scope if isinstance(node, ast.FunctionDef) and node.name == name)
    lines = source.splitlines(keepends=True)
    offsets = list(itertools.accumulate((len(line) for line in lines), initial=0))
    return offsets[node.lineno - 1], offsets[node.end_lineno or node.lineno]


def learner_module(patch: Patch, folder: Path, name: str = "learner") -> ModuleType:
    """The patched learner's code written to ``folder/name.py`` and imported as a module of its own."""
    path = folder / f"{name}.py"
    path.write_text(patched_source(patch))
    spec = importlib.util.spec_from_file_location(f"{name}_{abs(hash(str(path)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
