"""An image-captioning recurrent network assembled from the layers of :mod:`impl`."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from impl._checks import (
    SUPPORTED_FLOAT_DTYPES,
    check_indices,
    check_ndim,
    check_same_keys,
    check_shape,
    common_float_dtype,
    ieee_quiet,
)
from impl.affine import affine_backward, affine_forward, temporal_affine_backward, temporal_affine_forward
from impl.cell_layouts import (
    CAPTIONING_PARAMETERS,
    CELL_TYPES,
    captioning_parameter_shapes,
    check_cell_type,
    gate_count,
)
from impl.embedding import word_embedding_backward, word_embedding_forward
from impl.gru import gru_backward, gru_forward, gru_step_forward
from impl.lstm import lstm_backward, lstm_forward, lstm_step_forward
from impl.rnn import rnn_backward, rnn_forward, rnn_step_forward
from impl.softmax_loss import temporal_softmax_loss

__all__ = ["CaptioningRNN"]

#: The order of ``params``, of their checks and of the names in the messages: the seed's
#: (``W_embed`` first, the GRU's ``bh`` right after ``b``), not that of ``CAPTIONING_PARAMETERS``
#: (the oracle's), from which this module takes only which names a cell has. The order fixes the
#: random initialisation and which error a model with several bad parameters reports.
_PARAM_ORDER = ("W_embed", "W_proj", "b_proj", "Wx", "Wh", "b", "bh", "W_vocab", "b_vocab")

#: Sample output dtype: wide enough for any vocabulary (the seed's int8 is not).
_WORD_DTYPE = np.int64
#: The vocabulary entries the model reads: padding, the first input word, and the word sampling may stop at.
_SPECIAL_TOKENS = ("<NULL>", "<START>", "<END>")


def _as_size(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an int ``>= minimum``, or raise (TypeError / ValueError) naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"argument '{name}' must be an integer, got {value!r}")
    try:
        size = operator.index(value)
    except TypeError:
        raise TypeError(f"argument '{name}' must be an integer, got {type(value).__name__}") from None
    if size < minimum:
        raise ValueError(f"argument '{name}' must be >= {minimum}, got {size}")
    return size


def _scaled_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """A (fan_in, fan_out) float64 standard normal draw divided by sqrt(fan_in), as in the seed."""
    return rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)


def _initial_value(rng: np.random.Generator, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The seed's float64 initial value of parameter ``name``, of shape ``shape``.

    ``W_embed`` is a standard normal draw divided by 100, every other matrix
    a :func:`_scaled_normal` draw, every bias zero.
    """
    if name == "W_embed":
        return rng.standard_normal(shape) / 100
    if len(shape) == 2:
        return _scaled_normal(rng, *shape)
    return np.zeros(shape)


def _param_names(cell_type: str) -> list[str]:
    """The names of a model's parameters, in ``params`` order (:data:`_PARAM_ORDER`)."""
    return [name for name in _PARAM_ORDER if name in CAPTIONING_PARAMETERS[cell_type]]


def _param_layouts(cell_type: str) -> dict[str, str]:
    """Parameter name -> its symbolic shape as the model's messages spell it, e.g. ``"(W, 4H)"``.

    The cell reads word vectors, so its input size is W; the gate count is
    written even when it is 1 (``"(W, 1H)"`` for the rnn cell), unlike in
    the layers' messages.
    """
    width = f"{gate_count(cell_type)}H"
    return {
        "W_embed": "(V, W)", "W_proj": "(D, H)", "b_proj": "(H,)",
        "Wx": f"(W, {width})", "Wh": f"(H, {width})", "b": f"({width},)", "bh": f"({width},)",
        "W_vocab": "(H, V)", "b_vocab": "(V,)",
    }


class CaptioningRNN:
    """Generate captions from image features with a vanilla RNN, an LSTM or a GRU.

    The network projects an image feature vector (dimension D) to the initial
    hidden state (dimension H), embeds words (vocabulary size V) as vectors of
    dimension W, runs the recurrent cell over the caption and scores the
    vocabulary at every step. There is no regularisation.

    Parameters
    ----------
    word_to_idx : Mapping[str, int]
        The vocabulary, of V = ``len(word_to_idx)`` words. It must contain
        ``"<NULL>"`` (padding, ignored by the loss); ``"<START>"`` is needed
        by :meth:`sample`, ``"<END>"`` is optional. These special tokens must
        map to distinct indices in ``[0, V)``; the model reads no other entry.
    input_dim : int, optional
        D, the dimension of the image features.
    wordvec_dim : int, optional
        W, the dimension of the word vectors.
    hidden_dim : int, optional
        H, the dimension of the hidden state.
    cell_type : {"rnn", "lstm", "gru"}, optional
        The recurrent cell.
    dtype : float32 or float64, optional
        dtype of every parameter; float64 is meant for gradient checking.
    seed : None, int or numpy.random.Generator, optional
        Source of the random initialisation; the global numpy random state is
        never used.

    Attributes
    ----------
    params : dict[str, numpy.ndarray]
        ``W_embed`` (V, W), ``W_proj`` (D, H), ``b_proj`` (H,), ``Wx``
        (W, k*H), ``Wh`` (H, k*H), ``b`` (k*H,), for ``"gru"`` also the hidden
        bias ``bh`` (3H,), then ``W_vocab`` (H, V), ``b_vocab`` (V,), where k
        is 1 (rnn), 4 (lstm, gates i, f, o, g) or 3 (gru, gates z, r, n), as
        :mod:`impl.cell_layouts` says. The methods read this dict at call
        time, so it may be replaced; D, W and H are then taken from its
        arrays (where zero sizes are accepted, with the layers' zero-size
        results), V from ``word_to_idx``.
    cell_type : str
    dtype : numpy.dtype
    word_to_idx : dict[str, int]
        A copy of the vocabulary given.
    idx_to_word : dict[int, str]
    _null, _start, _end : int or None
        Indices of ``<NULL>``, ``<START>`` and ``<END>`` (None when absent).

    Raises
    ------
    ValueError
        For an unknown ``cell_type``, a vocabulary without ``<NULL>``, a
        special token (``<NULL>``, ``<START>``, ``<END>``) outside ``[0, V)``
        or two on one index, or a dimension below 1.
    TypeError
        For a dtype other than float32/float64 or a non-integer dimension.
    """

    def __init__(
        self,
        word_to_idx: Mapping[str, int],
        input_dim: int = 512,
        wordvec_dim: int = 128,
        hidden_dim: int = 128,
        cell_type: str = "rnn",
        dtype: np.dtype | type | str = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        try:
            check_cell_type(cell_type)
        except ValueError:
            # The shared check, with the model's own message, which names the argument.
            listed = ", ".join(map(repr, CELL_TYPES))
            raise ValueError(f"argument 'cell_type' must be one of {listed}; got {cell_type!r}") from None
        dtype = np.dtype(dtype)
        if dtype not in SUPPORTED_FLOAT_DTYPES:
            raise TypeError(f"argument 'dtype' is {dtype}; expected float32 or float64")
        input_dim = _as_size("input_dim", input_dim, 1)
        wordvec_dim = _as_size("wordvec_dim", wordvec_dim, 1)
        hidden_dim = _as_size("hidden_dim", hidden_dim, 1)
        vocabulary = self._checked_vocabulary(word_to_idx)

        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = vocabulary
        self.idx_to_word = {index: word for word, index in vocabulary.items()}
        self._null = vocabulary["<NULL>"]
        self._start = vocabulary.get("<START>")
        self._end = vocabulary.get("<END>")

        rng = np.random.default_rng(seed)
        shapes = captioning_parameter_shapes(cell_type, input_dim, wordvec_dim, hidden_dim, len(vocabulary))
        # Drawn in float64 and then cast, so a float32 and a float64 model
        # built from the same seed hold the same values up to rounding.
        self.params = {
            name: _initial_value(rng, name, shapes[name]).astype(dtype) for name in _param_names(cell_type)
        }

    @staticmethod
    def _checked_vocabulary(word_to_idx: Mapping[str, int]) -> dict[str, int]:
        """Copy ``word_to_idx`` after checking the entries the model reads: the special tokens.

        ``V = len(word_to_idx)``. ``<NULL>`` (required), ``<START>`` and ``<END>``
        must be integer indices in ``[0, V)``, distinct from each other. Other
        words are never read by the model (captions arrive as indices, which
        are checked against ``V`` where they are used), so their entries are
        kept as given: CS231n's own check builds a model from
        ``{'<NULL>': 0, 'cat': 2, 'dog': 3}``.
        """
        if not isinstance(word_to_idx, Mapping):
            raise TypeError(f"argument 'word_to_idx' must be a mapping, got {type(word_to_idx).__name__}")
        if "<NULL>" not in word_to_idx:
            raise ValueError("argument 'word_to_idx' has no '<NULL>' entry; the loss needs it to mask padding")
        vocab_size = len(word_to_idx)
        vocabulary = dict(word_to_idx)
        special: dict[str, int] = {}
        for word in _SPECIAL_TOKENS:
            if word not in word_to_idx:
                continue
            index = word_to_idx[word]
            if isinstance(index, (bool, np.bool_)):
                raise TypeError(f"argument 'word_to_idx' maps {word!r} to {index!r}, not an integer index")
            try:
                index = operator.index(index)
            except TypeError:
                raise TypeError(
                    f"argument 'word_to_idx' maps {word!r} to {type(index).__name__}, not an integer index"
                ) from None
            if not 0 <= index < vocab_size:
                raise ValueError(
                    f"argument 'word_to_idx' maps {word!r} to {index}; indices must lie in [0, {vocab_size})"
                )
            vocabulary[word] = special[word] = index
        if len(set(special.values())) != len(special):
            raise ValueError(f"argument 'word_to_idx' maps several special tokens to the same index: {special}")
        return vocabulary

    def _checked_params(self, features: np.ndarray) -> tuple[dict[str, np.ndarray], np.dtype]:
        """Validate ``self.params`` and ``features``; return the params and their dtype."""
        names = _param_names(self.cell_type)
        check_same_keys("params", self.params, names)
        params = {name: self.params[name] for name in names}
        dtype = common_float_dtype(**{f'params["{name}"]': value for name, value in params.items()})
        feature_dtype = common_float_dtype(features=features)
        if feature_dtype != dtype:
            raise TypeError(
                f"argument 'features' has dtype {feature_dtype}, but the model parameters are {dtype}; "
                f"pass features as {dtype}"
            )
        check_ndim("features", features, 2, "(N, D)")
        check_ndim('params["W_proj"]', params["W_proj"], 2, "(D, H)")
        check_ndim('params["W_embed"]', params["W_embed"], 2, "(V, W)")
        input_dim, hidden_dim = params["W_proj"].shape
        wordvec_dim = params["W_embed"].shape[1]
        shapes = captioning_parameter_shapes(self.cell_type, input_dim, wordvec_dim, hidden_dim,
                                             len(self.word_to_idx))
        layouts = _param_layouts(self.cell_type)
        for name in names:  # W_proj passes by construction: D and H are read from it
            check_shape(f'params["{name}"]', params[name], shapes[name], layouts[name])
        check_shape("features", features, (features.shape[0], input_dim), "(N, D)")
        return params, dtype

    def loss(self, features: np.ndarray, captions: np.ndarray) -> tuple[np.floating, dict[str, np.ndarray]]:
        """Training loss and parameter gradients for a minibatch of captioned images.

        The model reads ``captions[:, :-1]`` (starting with ``<START>``) and is
        scored on predicting ``captions[:, 1:]``; target positions holding
        ``<NULL>`` are ignored. The loss is summed over time steps and divided
        by N (see :func:`impl.temporal_softmax_loss`).

        Parameters
        ----------
        features : numpy.ndarray, shape (N, D), dtype of the parameters
            Image features, N >= 1.
        captions : numpy.ndarray, shape (N, T + 1), any integer dtype
            Word indices in ``[0, V)``, with T + 1 >= 2.

        Returns
        -------
        loss : numpy.floating
            Scalar of the parameters' dtype.
        grads : dict[str, numpy.ndarray]
            Gradient of ``loss`` for every entry of ``params`` (same keys,
            shapes and dtype).

        Raises
        ------
        TypeError
            If ``features`` is not a float ndarray of the parameters' dtype or
            ``captions`` does not hold integers.
        ValueError
            If the shapes disagree, N is 0, T + 1 < 2, or a caption index is
            outside ``[0, V)``.
        """
        # The package's NaN/Inf policy, applied in the body rather than by decorating this method, so that
        # mutation testing (which skips decorated functions) reaches the model's code.
        with ieee_quiet():
            return self._loss(features, captions)

    def _loss(self, features: np.ndarray, captions: np.ndarray) -> tuple[np.floating, dict[str, np.ndarray]]:
        params, _ = self._checked_params(features)
        n = features.shape[0]
        check_indices("captions", captions, len(self.word_to_idx))
        check_ndim("captions", captions, 2, "(N, T+1)")
        check_shape("captions", captions, (n, captions.shape[1]), "(N, T+1)")
        if captions.shape[1] < 2:
            raise ValueError(
                f"argument 'captions' has shape {captions.shape}; it needs T+1 >= 2 columns "
                "(an input word and the word to predict)"
            )
        if n == 0:
            raise ValueError("argument 'features' has N = 0 rows; the loss is a mean over the batch and needs N >= 1")

        captions_in = captions[:, :-1]
        captions_out = captions[:, 1:]
        mask = captions_out != self._null

        h0, proj_cache = affine_forward(features, params["W_proj"], params["b_proj"])
        words, embed_cache = word_embedding_forward(captions_in, params["W_embed"])
        hidden, cell_cache = self._sequence_forward(words, h0, params)
        scores, vocab_cache = temporal_affine_forward(hidden, params["W_vocab"], params["b_vocab"])
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)

        grads: dict[str, np.ndarray] = {}
        dhidden, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, vocab_cache)
        dwords, dh0, cell_grads = self._sequence_backward(dhidden, cell_cache)
        grads.update(cell_grads)
        grads["W_embed"] = word_embedding_backward(dwords, embed_cache)
        _, grads["W_proj"], grads["b_proj"] = affine_backward(dh0, proj_cache)
        return loss, {name: grads[name] for name in self.params}

    def _sequence_forward(self, words: np.ndarray, h0: np.ndarray, params: dict[str, np.ndarray]):
        weights = (params["Wx"], params["Wh"], params["b"])
        if self.cell_type == "rnn":
            return rnn_forward(words, h0, *weights)
        if self.cell_type == "lstm":
            return lstm_forward(words, h0, *weights)
        return gru_forward(words, h0, *weights, params["bh"])

    def _sequence_backward(self, dhidden: np.ndarray, cache) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        if self.cell_type == "rnn":
            dwords, dh0, dWx, dWh, db = rnn_backward(dhidden, cache)
            return dwords, dh0, {"Wx": dWx, "Wh": dWh, "b": db}
        if self.cell_type == "lstm":
            dwords, dh0, dWx, dWh, db = lstm_backward(dhidden, cache)
            return dwords, dh0, {"Wx": dWx, "Wh": dWh, "b": db}
        dwords, dh0, dWx, dWh, db, dbh = gru_backward(dhidden, cache)
        return dwords, dh0, {"Wx": dWx, "Wh": dWh, "b": db, "bh": dbh}

    def sample(self, features: np.ndarray, max_length: int = 30) -> np.ndarray:
        """Greedy test-time captions for a minibatch of image features.

        The hidden state starts at the projected features (an LSTM's cell
        state at zero) and the first input word is ``<START>``. Each step
        embeds the previous word, advances the cell one step, scores the
        vocabulary and picks the highest score (the lowest index on ties).
        Generation does not stop at ``<END>``: every caption has
        ``max_length`` words.

        Parameters
        ----------
        features : numpy.ndarray, shape (N, D), dtype of the parameters
            Image features (N may be 0).
        max_length : int, optional
            Number of words to generate, >= 1.

        Returns
        -------
        captions : numpy.ndarray, shape (N, max_length), numpy.int64
            Sampled word indices in ``[0, V)``; column 0 is the first sampled
            word, not ``<START>``.

        Raises
        ------
        TypeError
            If ``features`` is not a float ndarray of the parameters' dtype or
            ``max_length`` is not an integer.
        ValueError
            If ``features`` has the wrong shape, ``max_length < 1``, or the
            vocabulary has no ``<START>``.
        """
        with ieee_quiet():  # the NaN/Inf policy, as in loss()
            return self._sample(features, max_length)

    def _sample(self, features: np.ndarray, max_length: int) -> np.ndarray:
        params, _ = self._checked_params(features)
        max_length = _as_size("max_length", max_length, 1)
        if self._start is None:
            raise ValueError("the vocabulary has no '<START>' entry, so sample() has no first word to feed")

        n = features.shape[0]
        captions = np.full((n, max_length), self._null, dtype=_WORD_DTYPE)
        if n == 0:
            return captions

        hidden, _ = affine_forward(features, params["W_proj"], params["b_proj"])
        # The LSTM cell state starts at zero (other cells ignore it).
        cell = np.zeros_like(hidden)
        weights = (params["Wx"], params["Wh"], params["b"])
        previous = np.full((n, 1), self._start, dtype=_WORD_DTYPE)
        for step in range(max_length):
            embedded, _ = word_embedding_forward(previous, params["W_embed"])
            x = embedded[:, 0, :]
            if self.cell_type == "rnn":
                hidden, _ = rnn_step_forward(x, hidden, *weights)
            elif self.cell_type == "lstm":
                hidden, cell, _ = lstm_step_forward(x, hidden, cell, *weights)
            else:
                hidden, _ = gru_step_forward(x, hidden, *weights, params["bh"])
            scores, _ = affine_forward(hidden, params["W_vocab"], params["b_vocab"])
            # argmax returns the first maximum, which fixes the tie-break.
            captions[:, step] = scores.argmax(axis=1)
            previous = captions[:, step:step + 1]
        return captions
