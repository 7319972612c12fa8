"""Learner code as it comes from real notebooks and course folders, written here in that style.

First cells that import libraries this machine lacks, cells never run,
functions left undefined, and templates left unfinished: an empty block
where the work goes, ``pass``, placeholders left ``None``, a loss that still
returns ``0.0, {}``, and a model that is complete but calls an unfinished
layer. :data:`FOLDERS` are CS231n-style course folders (``rnn_layers.py``
takes impl's right layers and overrides some; ``classifiers/rnn.py`` is a
model written against the folder's own layers).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

#: A first cell as learners have it: numpy between imports of modules that are not installed here.
FIRST_CELL = """import imageio_is_not_installed_here
import numpy as np
from scipy_is_not_installed_here.misc import imread
import math
"""

#: A right RNN step in numpy alone: it passes once ``np`` is defined.
RNN_STEP = '''
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)
'''

#: A forward pass that crashes (a typo'd name), whose backward pass was never written.
CRASHING_FORWARD_NO_BACKWARD = '''
def temporal_affine_forward(x, w, b):
    N, T, D = x.shape
    out = x.reshape(N * T, D) @ w + bias  # 'bias': a name the learner never defined
    return out.reshape(N, T, -1), (x, w, b)
'''


def notebook(path: Path) -> Path:
    """The first cell, the RNN step (a cell saved with count 0: never run) and the crash (no count at all)."""
    cells = [new_markdown_cell("# Recurrent networks"), new_code_cell(FIRST_CELL, execution_count=1),
             new_code_cell(RNN_STEP.strip() + "\n", execution_count=0),
             new_code_cell(CRASHING_FORWARD_NO_BACKWARD.strip() + "\n", execution_count=None)]
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def module(path: Path) -> Path:
    """The same code as one ``.py`` file."""
    path.write_text(FIRST_CELL + RNN_STEP + CRASHING_FORWARD_NO_BACKWARD)
    return path


#: A course model written against the folder's layers, with a complete ``__init__``; its loss is ``LOSS``.
MODEL = '''import numpy as np

from ..rnn_layers import *


class CaptioningRNN:
    """Captions from image features, built from the layers of rnn_layers.py."""

    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128, cell_type="rnn",
                 dtype=np.float32):
        if cell_type not in {"rnn", "lstm"}:
            raise ValueError('Invalid cell_type "%s"' % cell_type)
        self.cell_type, self.dtype = cell_type, dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>", None)
        self._end = word_to_idx.get("<END>", None)
        vocab_size, gates = len(word_to_idx), {"lstm": 4, "rnn": 1}[cell_type]
        self.params = {
            "W_embed": np.random.randn(vocab_size, wordvec_dim) / 100,
            "W_proj": np.random.randn(input_dim, hidden_dim) / np.sqrt(input_dim),
            "b_proj": np.zeros(hidden_dim),
            "Wx": np.random.randn(wordvec_dim, gates * hidden_dim) / np.sqrt(wordvec_dim),
            "Wh": np.random.randn(hidden_dim, gates * hidden_dim) / np.sqrt(hidden_dim),
            "b": np.zeros(gates * hidden_dim),
            "W_vocab": np.random.randn(hidden_dim, vocab_size) / np.sqrt(hidden_dim),
            "b_vocab": np.zeros(vocab_size),
        }
        for name, value in self.params.items():
            self.params[name] = value.astype(self.dtype)

    def loss(self, features, captions):
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]
        mask = captions_out != self._null
        W_proj, b_proj = self.params["W_proj"], self.params["b_proj"]
        W_embed = self.params["W_embed"]
        Wx, Wh, b = self.params["Wx"], self.params["Wh"], self.params["b"]
        W_vocab, b_vocab = self.params["W_vocab"], self.params["b_vocab"]

        loss, grads = 0.0, {}
        # TODO: forward pass, loss and backward pass; the gradients go in grads.
        # >>>>> your code starts here
{loss}
        # <<<<< your code ends here
        return loss, grads

    def sample(self, features, max_length=30):
        return self._null * np.ones((features.shape[0], max_length), dtype=np.int32)  # TODO
'''

#: The loss filled in, through the folder's layer functions.
LOSS = '''        h0, cache_proj = affine_forward(features, W_proj, b_proj)
        words, cache_embed = word_embedding_forward(captions_in, W_embed)
        forward, backward = (rnn_forward, rnn_backward) if self.cell_type == "rnn" else (lstm_forward, lstm_backward)
        h, cache_cell = forward(words, h0, Wx, Wh, b)
        scores, cache_scores = temporal_affine_forward(h, W_vocab, b_vocab)
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, cache_scores)
        dwords, dh0, grads["Wx"], grads["Wh"], grads["b"] = backward(dh, cache_cell)
        grads["W_embed"] = word_embedding_backward(dwords, cache_embed)
        _, grads["W_proj"], grads["b_proj"] = affine_backward(dh0, cache_proj)'''

#: The LSTM left as the template hands it out.
LSTM_TEMPLATE = '''

def lstm_forward(x, h0, Wx, Wh, b):
    """Run the LSTM over a whole sequence."""
    h, cache = None, None
    # TODO: loop over the time steps with lstm_step_forward.
    # >>>>> your code starts here
    pass
    # <<<<< your code ends here
    return h, cache


def lstm_backward(dh, cache):
    """Backward pass of the LSTM over a whole sequence."""
    dx, dh0, dWx, dWh, db = None, None, None, None, None
    # TODO: loop backwards over the time steps with lstm_step_backward.
    return dx, dh0, dWx, dWh, db
'''

#: An LSTM whose forward pass does its work but forgets to return it: a bug, not unfinished work.
LSTM_NO_RETURN = '''

def lstm_forward(x, h0, Wx, Wh, b):
    h, cache = _impl.lstm_forward(x, h0, Wx, Wh, b)
'''

#: rnn_layers.py of a folder starts from impl's right layers.
LAYERS_HEADER = "import numpy as np\n\nimport impl as _impl\nfrom impl import *  # noqa: F403\n"

#: Folder -> (what rnn_layers.py overrides, the model's loss body).
FOLDERS = {
    "template loss": ("", "        pass"),
    "lstm left as the template": (LSTM_TEMPLATE, LOSS),
    "lstm forgets its return": (LSTM_NO_RETURN, LOSS),
}


def course_folder(root: Path, name: str) -> Path:
    """Write ``root/cs231n/`` for ``FOLDERS[name]`` and return it."""
    layers, loss = FOLDERS[name]
    folder = root / "cs231n"
    (folder / "classifiers").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "classifiers" / "__init__.py").write_text("")
    (folder / "rnn_layers.py").write_text(LAYERS_HEADER + layers)
    (folder / "classifiers" / "rnn.py").write_text(MODEL.replace("{loss}", loss))
    return folder


def course_folder_with_missing_import(root: Path) -> Path:
    """A folder whose rnn_layers.py starts with :data:`FIRST_CELL` and defines the RNN step itself."""
    folder = root / "cs231n"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "rnn_layers.py").write_text(FIRST_CELL + RNN_STEP)
    return folder
