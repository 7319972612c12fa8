"""Course-style implementations written here, each with exactly one problem, for ``audit --impl``.

:func:`course_folder` writes a folder laid out like a CS231n submission
(``<name>/rnn_layers.py`` and ``<name>/classifiers/rnn.py``). Every layer
function and the model come from impl, which is right, except what the
problem overrides, so each fixture must get exactly its finding and no other.
"""

from __future__ import annotations

from pathlib import Path

#: Problem -> (the override appended to rnn_layers.py, to classifiers/rnn.py, the findings it must get).
PROBLEMS: dict[str, tuple[str, str, dict[str, set[str]]]] = {
    "correct": ("", "", {}),
    "in-place dnext_c": ('''
def lstm_step_backward(dnext_h, dnext_c, cache):
    grads = _impl.lstm_step_backward(dnext_h, dnext_c, cache)
    dnext_c += 1.0  # the course's common in-place update of the caller's array (the gradients are right)
    return grads
''', "", {"lstm_step_backward": {"mutates_input"}}),
    "float64 promotion": ('''
def rnn_forward(x, h0, Wx, Wh, b):
    h, cache = _impl.rnn_forward(x, h0, Wx, Wh, b)
    return h.astype(np.float64), cache  # a float64 buffer: right values, wrong dtype for float32
''', "", {"rnn_forward": {"dtype_changed"}}),
    "stub": ('''
def gru_step_forward(x, prev_h, Wx, Wh, b, bh):
    next_h, cache = None, None
    return next_h, cache
''', "", {"gru_step_forward": {"not_implemented"}, "gru_step_backward": {"untested"}}),
    "crash on a size-1 axis": ('''
def temporal_affine_forward(x, w, b):
    n, t, d = x.squeeze().shape  # fails whenever N, T or D is 1
    return _impl.temporal_affine_forward(x, w, b)
''', "", {"temporal_affine_forward": {"crash"}, "temporal_affine_backward": {"untested"}}),
    "bias gradient of shape (1, H)": ('''
def rnn_step_backward(dnext_h, cache):
    dx, dprev_h, dWx, dWh, db = _impl.rnn_step_backward(dnext_h, cache)
    return dx, dprev_h, dWx, dWh, db.reshape(1, -1)
''', "", {"rnn_step_backward": {"wrong_value"}}),
    "backward drops the gradient through time": ('''
def rnn_backward(dh, cache):
    x, h0, Wx, Wh, b = cache
    grads = [np.zeros_like(a) for a in (x, h0, Wx, Wh, b)]
    prev = h0
    for t in range(x.shape[1]):
        _, step_cache = _impl.rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        dx, dprev, dWx, dWh, db = _impl.rnn_step_backward(dh[:, t], step_cache)  # no dh from step t+1
        grads[0][:, t] = dx
        if t == 0:
            grads[1] = dprev
        grads[2] += dWx
        grads[3] += dWh
        grads[4] += db
        prev = _impl.rnn_step_forward(x[:, t], prev, Wx, Wh, b)[0]
    return tuple(grads)


def rnn_forward(x, h0, Wx, Wh, b):
    h, _ = _impl.rnn_forward(x, h0, Wx, Wh, b)
    return h, (x, h0, Wx, Wh, b)
''', "", {"rnn_backward": {"wrong_value"}}),
    "step adds the bias twice, sequence right": ('''
def gru_step_forward(x, prev_h, Wx, Wh, b, bh):
    return _impl.gru_step_forward(x, prev_h, Wx, Wh, 2 * b, bh)  # the loop of steps no longer equals gru_forward
''', "", {"gru_step_forward": {"wrong_value"}, "gru_step_backward": {"wrong_value"}}),
    "output noise that changes on every call": ('''
_noise = np.random.default_rng(0)


def affine_forward(x, w, b):
    out, cache = _impl.affine_forward(x, w, b)
    return out + 1e-3 * _noise.standard_normal(out.shape).astype(out.dtype), cache
''', "", {"affine_forward": {"wrong_value", "nondeterministic"}}),
    "sample crashes when N = 1": ("", '''
class CaptioningRNN(_impl.CaptioningRNN):
    def sample(self, features, max_length=30):
        n, d = features.squeeze().shape  # the classic squeeze pitfall: fails when N or D is 1
        return super().sample(features.reshape(n, d), max_length)
''', {f"CaptioningRNN.sample[{cell}]": {"crash"} for cell in ("rnn", "lstm", "gru")}),
    "sample feeds the wrong word": ("", '''
class CaptioningRNN(_impl.CaptioningRNN):
    def sample(self, features, max_length=30):
        """Greedy decoding that feeds <START> at every step instead of the word just sampled."""
        params = self.params
        h = features @ params["W_proj"] + params["b_proj"]
        c = np.zeros_like(h)
        start = self.word_to_idx["<START>"]
        words = np.full(features.shape[0], start)
        captions = []
        for _ in range(max_length):
            x = params["W_embed"][np.full(features.shape[0], start)]
            if self.cell_type == "lstm":
                h, c, _ = _impl.lstm_step_forward(x, h, c, params["Wx"], params["Wh"], params["b"])
            elif self.cell_type == "gru":
                h, _ = _impl.gru_step_forward(x, h, params["Wx"], params["Wh"], params["b"], params["bh"])
            else:
                h, _ = _impl.rnn_step_forward(x, h, params["Wx"], params["Wh"], params["b"])
            words = np.argmax(h @ params["W_vocab"] + params["b_vocab"], axis=1)
            captions.append(words)
        return np.stack(captions, axis=1)
''', {f"CaptioningRNN.sample[{cell}]": {"wrong_value"} for cell in ("rnn", "lstm", "gru")}),
    "backward is a stub, forward promotes float32": ('''
def rnn_forward(x, h0, Wx, Wh, b):
    h, cache = _impl.rnn_forward(x, h0, Wx, Wh, b)
    return h.astype(np.float64), cache  # the forward's own bug, found although its backward is a stub


def rnn_backward(dh, cache):
    dx, dh0, dWx, dWh, db = None, None, None, None, None
    return dx, dh0, dWx, dWh, db
''', "", {"rnn_forward": {"dtype_changed"}, "rnn_backward": {"not_implemented"}}),
    "backward returns its zero placeholders": ('''
def lstm_step_backward(dnext_h, dnext_c, cache):
    grads = _impl.lstm_step_backward(dnext_h, dnext_c, cache)
    dx, dprev_h, dprev_c, dWx, dWh, db = (np.zeros_like(grad) for grad in grads)  # the course's starting point
    return dx, dprev_h, dprev_c, dWx, dWh, db
''', "", {"lstm_step_backward": {"not_implemented"}}),
    "sample returns its <NULL> placeholder": ("", '''
class CaptioningRNN(_impl.CaptioningRNN):
    def sample(self, features, max_length=30):
        captions = self.word_to_idx["<NULL>"] * np.ones((features.shape[0], max_length), dtype=np.int32)
        return captions
''', {f"CaptioningRNN.sample[{cell}]": {"not_implemented"} for cell in ("rnn", "lstm", "gru")}),
    "__init__ never creates the parameters": ("", '''
class CaptioningRNN(_impl.CaptioningRNN):
    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128, cell_type="rnn",
                 dtype=np.float32):
        self.word_to_idx = word_to_idx
        self.cell_type = cell_type
        self.params = {}
        # TODO: initialize the parameters
''', {f"CaptioningRNN.{method}[{cell}]": {"not_implemented"} for cell in ("rnn", "lstm", "gru")
       for method in ("loss", "sample")}),
    "loss is a stub, sample is right": ("", '''
class CaptioningRNN(_impl.CaptioningRNN):
    def loss(self, features, captions):
        raise NotImplementedError("the loss is next week's work")
''', {f"CaptioningRNN.loss[{cell}]": {"not_implemented"} for cell in ("rnn", "lstm", "gru")}),
    "the model refuses the GRU, as the course's does": ("", '''
class CaptioningRNN(_impl.CaptioningRNN):
    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128, cell_type="rnn",
                 dtype=np.float32):
        if cell_type not in {"rnn", "lstm"}:
            raise ValueError(f'Invalid cell_type "{cell_type}"')
        super().__init__(word_to_idx, input_dim, wordvec_dim, hidden_dim, cell_type, dtype)
''', {f"CaptioningRNN.{method}[gru]": {"not_supported"} for method in ("loss", "sample")}),
}

_LAYERS_HEADER = "import numpy as np\n\nimport impl as _impl\nfrom impl import *  # noqa: F403\n"
_MODEL_HEADER = "import numpy as np\n\nimport impl as _impl\nfrom impl import CaptioningRNN  # noqa: F401\n"


def course_folder(root: Path, problem: str, name: str = "cs231n") -> Path:
    """Write ``root/name/`` (``rnn_layers.py``, ``classifiers/rnn.py``) with ``problem``; return the folder."""
    layers, model, _ = PROBLEMS[problem]
    folder = root / name
    (folder / "classifiers").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "classifiers" / "__init__.py").write_text("")
    (folder / "rnn_layers.py").write_text(_LAYERS_HEADER + layers)
    (folder / "classifiers" / "rnn.py").write_text(_MODEL_HEADER + model)
    return folder
