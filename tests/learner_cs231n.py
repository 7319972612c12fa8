"""A CS231n submission written the way learners write it (loops, tuple caches, ``np.hstack``): correct.

The error-model tests (``tests/test_error_models.py``) make each known mistake
in this code with a patch of a few lines (``tests/learner_mistakes.py``), as a
learner would, and check that the audit's judge names exactly that mistake.
Written for this project from the layers' math; not the course's code.
"""

import numpy as np


def sigmoid(x):
    positive = x >= 0
    z = np.exp(-np.abs(x))
    return np.where(positive, 1 / (1 + z), z / (1 + z))


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)
    cache = (x, prev_h, Wx, Wh, next_h)
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    dx = da.dot(Wx.T)
    dprev_h = da.dot(Wh.T)
    dWx = x.T.dot(da)
    dWh = prev_h.T.dot(da)
    db = np.sum(da, axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    hs = []
    caches = []
    prev_h = h0
    for t in range(T):
        next_h, step_cache = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        hs.append(next_h)
        caches.append(step_cache)
        prev_h = next_h
    h = np.stack(hs, axis=1)
    return h, caches


def rnn_backward(dh, cache):
    caches = cache
    N, T, H = dh.shape
    D = caches[0][0].shape[1]
    dx = np.zeros((N, T, D), dtype=dh.dtype)
    dWx = np.zeros_like(caches[0][2])
    dWh = np.zeros_like(caches[0][3])
    db = np.zeros(H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx_t, dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, caches[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dprev_h
    return dx, dh0, dWx, dWh, db


def word_embedding_forward(x, W):
    out = W[x]
    cache = (x, W)
    return out, cache


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    o = sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tanh_c = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
    di = dc * g
    df = dc * prev_c
    do = dnext_h * tanh_c
    dg = dc * i
    dprev_c = dc * f
    da = np.hstack((di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)))
    dx = da.dot(Wx.T)
    dprev_h = da.dot(Wh.T)
    dWx = x.T.dot(da)
    dWh = prev_h.T.dot(da)
    db = np.sum(da, axis=0)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward_with_c0(x, h0, c0, Wx, Wh, b):
    N, T, D = x.shape
    hs = []
    caches = []
    prev_h, prev_c = h0, c0
    for t in range(T):
        next_h, next_c, step_cache = lstm_step_forward(x[:, t, :], prev_h, prev_c, Wx, Wh, b)
        hs.append(next_h)
        caches.append(step_cache)
        prev_h, prev_c = next_h, next_c
    h = np.stack(hs, axis=1)
    return h, caches


def lstm_backward_with_c0(dh, cache):
    caches = cache
    N, T, H = dh.shape
    D = caches[0][0].shape[1]
    dx = np.zeros((N, T, D), dtype=dh.dtype)
    dWx = np.zeros_like(caches[0][3])
    dWh = np.zeros_like(caches[0][4])
    db = np.zeros(4 * H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    dprev_c = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx_t, dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t, :] + dprev_h, dprev_c, caches[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    return lstm_forward_with_c0(x, h0, np.zeros_like(h0), Wx, Wh, b)


def lstm_backward(dh, cache):
    dx, dh0, dc0, dWx, dWh, db = lstm_backward_with_c0(dh, cache)
    return dx, dh0, dWx, dWh, db


def gru_step_forward(x, prev_h, Wx, Wh, b, bh):
    H = prev_h.shape[1]
    ax = x.dot(Wx) + b
    ah = prev_h.dot(Wh) + bh
    z = sigmoid(ax[:, :H] + ah[:, :H])
    r = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
    next_h = (1 - z) * n + z * prev_h
    cache = (x, prev_h, Wx, Wh, z, r, n, ah)
    return next_h, cache


def gru_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, z, r, n, ah = cache
    H = prev_h.shape[1]
    dz = dnext_h * (prev_h - n)
    dn = dnext_h * (1 - z)
    da_n = dn * (1 - n ** 2)
    da_z = dz * z * (1 - z)
    da_r = da_n * ah[:, 2 * H:] * r * (1 - r)
    dax = np.hstack((da_z, da_r, da_n))
    dah = np.hstack((da_z, da_r, da_n * r))
    dx = dax.dot(Wx.T)
    dprev_h = dnext_h * z + dah.dot(Wh.T)
    dWx = x.T.dot(dax)
    dWh = prev_h.T.dot(dah)
    db = np.sum(dax, axis=0)
    dbh = np.sum(dah, axis=0)
    return dx, dprev_h, dWx, dWh, db, dbh


def gru_forward(x, h0, Wx, Wh, b, bh):
    N, T, D = x.shape
    hs = []
    caches = []
    prev_h = h0
    for t in range(T):
        next_h, step_cache = gru_step_forward(x[:, t, :], prev_h, Wx, Wh, b, bh)
        hs.append(next_h)
        caches.append(step_cache)
        prev_h = next_h
    h = np.stack(hs, axis=1)
    return h, caches


def gru_backward(dh, cache):
    caches = cache
    N, T, H = dh.shape
    D = caches[0][0].shape[1]
    dx = np.zeros((N, T, D), dtype=dh.dtype)
    dWx = np.zeros_like(caches[0][2])
    dWh = np.zeros_like(caches[0][3])
    db = np.zeros(3 * H, dtype=dh.dtype)
    dbh = np.zeros(3 * H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx_t, dprev_h, dWx_t, dWh_t, db_t, dbh_t = gru_step_backward(dh[:, t, :] + dprev_h, caches[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
        dbh += dbh_t
    return dx, dprev_h, dWx, dWh, db, dbh


def temporal_affine_forward(x, w, b):
    N, T, D = x.shape
    M = b.shape[0]
    out = x.reshape(N * T, D).dot(w).reshape(N, T, M) + b
    cache = x, w, b, out
    return out, cache


def temporal_affine_backward(dout, cache):
    x, w, b, out = cache
    N, T, D = x.shape
    M = b.shape[0]
    dx = dout.reshape(N * T, M).dot(w.T).reshape(N, T, D)
    dw = dout.reshape(N * T, M).T.dot(x.reshape(N * T, D)).T
    db = dout.sum(axis=(0, 1))
    return dx, dw, db


def temporal_softmax_loss(x, y, mask, verbose=False):
    N, T, V = x.shape
    x_flat = x.reshape(N * T, V)
    y_flat = y.reshape(N * T)
    mask_flat = mask.reshape(N * T)
    probs = np.exp(x_flat - np.max(x_flat, axis=1, keepdims=True))
    probs /= np.sum(probs, axis=1, keepdims=True)
    loss = -np.sum(mask_flat * np.log(probs[np.arange(N * T), y_flat])) / N
    dx_flat = probs.copy()
    dx_flat[np.arange(N * T), y_flat] -= 1
    dx_flat /= N
    dx_flat *= mask_flat[:, None]
    dx = dx_flat.reshape(N, T, V)
    return loss, dx


class CaptioningRNN:
    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128, cell_type="rnn",
                 dtype=np.float32):
        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.params = {}
        vocab_size = len(word_to_idx)
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>", None)
        self._end = word_to_idx.get("<END>", None)
        gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell_type]
        rng = np.random.default_rng(0)
        self.params["W_embed"] = rng.standard_normal((vocab_size, wordvec_dim)) / 100
        self.params["W_proj"] = rng.standard_normal((input_dim, hidden_dim)) / np.sqrt(input_dim)
        self.params["b_proj"] = np.zeros(hidden_dim)
        self.params["Wx"] = rng.standard_normal((wordvec_dim, gates * hidden_dim)) / np.sqrt(wordvec_dim)
        self.params["Wh"] = rng.standard_normal((hidden_dim, gates * hidden_dim)) / np.sqrt(hidden_dim)
        self.params["b"] = np.zeros(gates * hidden_dim)
        if cell_type == "gru":
            self.params["bh"] = np.zeros(gates * hidden_dim)
        self.params["W_vocab"] = rng.standard_normal((hidden_dim, vocab_size)) / np.sqrt(hidden_dim)
        self.params["b_vocab"] = np.zeros(vocab_size)
        for k, v in self.params.items():
            self.params[k] = v.astype(self.dtype)

    def loss(self, features, captions):
        captions_in = captions[:, :-1]
        captions_out = captions[:, 1:]
        mask = captions_out != self._null
        W_proj, b_proj = self.params["W_proj"], self.params["b_proj"]
        W_embed = self.params["W_embed"]
        Wx, Wh, b = self.params["Wx"], self.params["Wh"], self.params["b"]
        W_vocab, b_vocab = self.params["W_vocab"], self.params["b_vocab"]
        grads = {}
        h0, cache_proj = affine_forward(features, W_proj, b_proj)
        x, cache_embed = word_embedding_forward(captions_in, W_embed)
        if self.cell_type == "rnn":
            h, cache_cell = rnn_forward(x, h0, Wx, Wh, b)
        elif self.cell_type == "lstm":
            h, cache_cell = lstm_forward(x, h0, Wx, Wh, b)
        else:
            h, cache_cell = gru_forward(x, h0, Wx, Wh, b, self.params["bh"])
        scores, cache_vocab = temporal_affine_forward(h, W_vocab, b_vocab)
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, cache_vocab)
        if self.cell_type == "rnn":
            dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = rnn_backward(dh, cache_cell)
        elif self.cell_type == "lstm":
            dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = lstm_backward(dh, cache_cell)
        else:
            dx, dh0, grads["Wx"], grads["Wh"], grads["b"], grads["bh"] = gru_backward(dh, cache_cell)
        grads["W_embed"] = word_embedding_backward(dx, cache_embed)
        _, grads["W_proj"], grads["b_proj"] = affine_backward(dh0, cache_proj)
        return loss, grads

    def sample(self, features, max_length=30):
        N = features.shape[0]
        captions = self._null * np.ones((N, max_length), dtype=np.int32)
        W_proj, b_proj = self.params["W_proj"], self.params["b_proj"]
        W_embed = self.params["W_embed"]
        Wx, Wh, b = self.params["Wx"], self.params["Wh"], self.params["b"]
        W_vocab, b_vocab = self.params["W_vocab"], self.params["b_vocab"]
        h = features.dot(W_proj) + b_proj
        c = np.zeros_like(h)
        word = self._start * np.ones(N, dtype=np.int32)
        for t in range(max_length):
            x = W_embed[word]
            if self.cell_type == "rnn":
                next_h, _ = rnn_step_forward(x, h, Wx, Wh, b)
                next_c = c
            elif self.cell_type == "lstm":
                next_h, next_c, _ = lstm_step_forward(x, h, c, Wx, Wh, b)
            else:
                next_h, _ = gru_step_forward(x, h, Wx, Wh, b, self.params["bh"])
                next_c = c
            h, c = next_h, next_c
            scores = next_h.dot(W_vocab) + b_vocab
            word = np.argmax(scores, axis=1)
            captions[:, t] = word
        return captions
