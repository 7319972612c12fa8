"""Twin of the captioning model: ``CaptioningRNN.loss`` and ``CaptioningRNN.sample`` in torch.

:func:`captioning_loss` is the model's loss as a differentiable function of
impl's parameters (impl's names and layouts):

- ``F.linear(features, W_proj.T, b_proj)``: image features -> initial hidden state;
- ``F.embedding(words, W_embed)``: word indices -> word vectors;
- ``nn.RNN`` (tanh), ``nn.LSTM`` or ``nn.GRU`` (batch first) on parameters
  mapped from ``Wx``, ``Wh``, ``b`` (and ``bh``) inside the autograd graph
  (:func:`oracle.references.twins.recurrent.torch_cell_params`);
- ``F.linear(hidden, W_vocab.T, b_vocab)``: hidden states -> word scores;
- the masked cross-entropy of :mod:`oracle.references.twins.loss`.

:class:`CaptioningTwin` holds those parameters as ``nn.Parameter`` leaves
under impl's names, computes the loss in ``forward`` and decodes greedily in
``sample`` (``nn.RNNCell``/``LSTMCell``/``GRUCell`` on the same parameters);
:func:`captioning_twin` is the registry's :class:`~oracle.references.twins.core.TorchTwin`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from impl.cell_layouts import CAPTIONING_PARAMETERS, captioning_parameter_shapes, check_cell_type
from oracle.references.twins.convert import check_indices, float_dtype, one_integer, tensor, to_numpy
from oracle.references.twins.core import TorchTwin
from oracle.references.twins.loss import masked_cross_entropy
from oracle.references.twins.recurrent import cell_step, run_sequence, torch_cell_params


def captioning_param_names(cell_type: str) -> tuple[str, ...]:
    """impl's parameter names of a ``CaptioningRNN`` with ``cell_type``, in the registry's order.

    :data:`impl.cell_layouts.CAPTIONING_PARAMETERS` of ``cell_type``; ``ValueError`` for an unknown cell type.
    """
    check_cell_type(cell_type)
    return CAPTIONING_PARAMETERS[cell_type]


def check_captioning_params(cell_type: str, params: Mapping[str, np.ndarray | torch.Tensor]) -> None:
    """Check that ``params`` are exactly the parameters of a ``cell_type`` model, with consistent shapes.

    The sizes are read off ``W_proj (D, H)`` and ``W_embed (V, W)``; every
    shape must be the one :func:`impl.cell_layouts.captioning_parameter_shapes`
    gives for them: ``Wx (W, G*H)``, ``Wh (H, G*H)``, ``b (G*H,)``, ``W_vocab
    (H, V)``, ``b_vocab (V,)``, ``b_proj (H,)`` and, for the GRU, ``bh
    (G*H,)``.

    Raises
    ------
    ValueError
        If a parameter is missing or extra, or a shape disagrees.
    """
    names = captioning_param_names(cell_type)
    if set(params) != set(names):
        raise ValueError(f"a {cell_type} captioning model has parameters {sorted(names)}, given {sorted(params)}")
    if len(params["W_proj"].shape) != 2 or len(params["W_embed"].shape) != 2:
        raise ValueError("W_proj and W_embed must be matrices")
    (input_dim, hidden_dim), (vocab_size, wordvec_dim) = params["W_proj"].shape, params["W_embed"].shape
    expected = captioning_parameter_shapes(cell_type, input_dim, wordvec_dim, hidden_dim, vocab_size)
    for name in names:
        if tuple(params[name].shape) != expected[name]:
            raise ValueError(f"{cell_type} captioning parameter {name!r} has shape {tuple(params[name].shape)}, "
                             f"expected {expected[name]} (D={input_dim}, H={hidden_dim}, V={vocab_size}, "
                             f"W={wordvec_dim})")


def captioning_loss(cell_type: str, params: Mapping[str, torch.Tensor], features: torch.Tensor,
                    captions: torch.Tensor, null: int) -> torch.Tensor:
    """Training loss of ``CaptioningRNN.loss``, differentiable in every parameter.

    Parameters
    ----------
    cell_type
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    params
        impl's parameters by name (:func:`captioning_param_names`), in impl's
        layouts, one float dtype, on one device.
    features
        ``(N, D)`` image features, same dtype and device.
    captions
        ``(N, T + 1)`` integer word indices in ``[0, V)`` (checked).
    null
        The ``<NULL>`` index: steps whose target word is ``null`` are masked out.

    Returns
    -------
    torch.Tensor
        0-d loss: cross-entropy of ``scores[:, t]`` against
        ``captions[:, t + 1]``, summed over the steps whose target is not
        ``<NULL>`` and divided by ``N``. The hidden state starts at the
        projected features (and the LSTM cell state at zero); the input words
        are ``captions[:, :-1]``.
    """
    check_captioning_params(cell_type, params)
    captions = check_indices(captions, params["W_embed"].shape[0], "captions")
    captions_in, captions_out = captions[:, :-1], captions[:, 1:]
    h0 = F.linear(features, params["W_proj"].T, params["b_proj"])
    words = F.embedding(captions_in, params["W_embed"])
    hidden = run_sequence(cell_type, torch_cell_params(cell_type, params), words, h0)
    scores = F.linear(hidden, params["W_vocab"].T, params["b_vocab"])
    return masked_cross_entropy(scores, captions_out, captions_out != null)


class CaptioningTwin(nn.Module):
    """The captioning model in torch, with impl's parameters as ``nn.Parameter`` leaves under impl's names.

    Parameters
    ----------
    cell_type
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    params
        impl's parameters: ``W_proj (D, H)``, ``b_proj (H,)``, ``W_embed (V,
        W)``, ``Wx (W, G*H)``, ``Wh (H, G*H)``, ``b (G*H,)``, ``W_vocab (H,
        V)``, ``b_vocab (V,)`` and, for ``"gru"``, ``bh (3H,)``; all float32
        or all float64. They are copied, never modified.
    null
        The ``<NULL>`` word index: target words equal to it are masked out of
        the loss.
    device
        ``"cpu"``, ``"cuda"`` or ``"cuda:K"``.
    """

    def __init__(self, cell_type: str, params: Mapping[str, np.ndarray], *, null: int = 0,
                 device: str | torch.device = "cpu") -> None:
        super().__init__()
        check_captioning_params(cell_type, params)
        self.cell_type = cell_type
        self.names = captioning_param_names(cell_type)
        self.dtype = float_dtype(params, self.names)
        self.null = int(null)
        for name in self.names:
            self.register_parameter(name, nn.Parameter(tensor(params[name], device)))

    @property
    def vocab_size(self) -> int:
        """``V``, the number of words."""
        return int(self.get_parameter("W_embed").shape[0])

    def impl_params(self) -> dict[str, torch.Tensor]:
        """The parameters by impl's name (read through ``getattr`` so ``functional_call`` substitutes them)."""
        return {name: getattr(self, name) for name in self.names}

    def forward(self, features: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
        """Training loss of ``CaptioningRNN.loss`` (see :func:`captioning_loss`).

        Parameters
        ----------
        features
            ``(N, D)`` image features, in the model's dtype and device.
        captions
            ``(N, T + 1)`` int64 word indices in ``[0, V)``.

        Returns
        -------
        torch.Tensor
            0-d loss.
        """
        return captioning_loss(self.cell_type, self.impl_params(), features, captions, self.null)

    def sample(self, features: np.ndarray | torch.Tensor, max_length: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Greedy decoding of ``CaptioningRNN.sample``, with the scores behind every choice.

        Starting from the projected features as ``h`` (and ``c = 0`` for the
        LSTM) and the word ``start``, each step embeds the previous word, runs
        one cell step, scores the vocabulary and picks the argmax (the first
        index among equal maxima, as ``numpy.argmax``). Generation does not
        stop at ``<END>``.

        Parameters
        ----------
        features
            ``(N, D)`` image features (numpy, or a tensor on the model's device).
        max_length
            Number of words to generate, ``>= 0``.
        start
            The ``<START>`` word index, in ``[0, V)`` (int64: no overflow).

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            ``captions (N, max_length)`` int64, and ``scores (N, max_length,
            V)`` in the model's dtype, ``scores[:, t]`` being the scores from
            which word ``t`` was chosen (so a caller can tell a real
            disagreement from a near-tie).
        """
        if not 0 <= int(start) < self.vocab_size:
            raise ValueError(f"start index {start} outside [0, {self.vocab_size})")
        if int(max_length) < 0:
            raise ValueError(f"max_length must be >= 0, got {max_length}")
        params = self.impl_params()
        device = params["W_vocab"].device
        features = features if isinstance(features, torch.Tensor) else tensor(features, device)
        n = features.shape[0]
        captions = torch.zeros((n, int(max_length)), dtype=torch.int64, device=device)
        scores = torch.zeros((n, int(max_length), self.vocab_size), dtype=params["W_vocab"].dtype, device=device)
        with torch.no_grad():  # decoding is never differentiated
            cell_params = torch_cell_params(self.cell_type, params)
            h = F.linear(features, params["W_proj"].T, params["b_proj"])
            c = torch.zeros_like(h)
            word = torch.full((n,), int(start), dtype=torch.int64, device=device)
            for t in range(int(max_length)):
                vectors = F.embedding(word, params["W_embed"])
                h, next_c = cell_step(self.cell_type, cell_params, vectors, h, c)
                c = c if next_c is None else next_c
                scores[:, t] = F.linear(h, params["W_vocab"].T, params["b_vocab"])
                word = scores[:, t].argmax(dim=1)
                captions[:, t] = word
        return to_numpy(captions), to_numpy(scores)


def captioning_grads_to_params(model: CaptioningTwin) -> dict[str, np.ndarray]:
    """The ``.grad`` held by ``model``'s parameters after a ``backward``, by impl's name.

    The parameters already are impl's arrays in impl's layouts, so this is a
    plain read-out.

    Returns
    -------
    dict
        One numpy array per name of :func:`captioning_param_names`, in that
        order and the model's dtype; zeros where backward left no gradient.
    """
    return {name: to_numpy(torch.zeros_like(value) if value.grad is None else value.grad)
            for name, value in model.impl_params().items()}


def captioning_twin(cell_type: str) -> TorchTwin:
    """The registry twin of ``CaptioningRNN(cell_type=cell_type).loss``.

    The twin takes ``features (N, D)``, ``captions (N, T + 1)`` int, ``null``
    (one integer: the ``<NULL>`` index) and the parameters of
    :func:`captioning_param_names`; upstream must be empty (it is a loss). It
    returns output ``loss`` (0-d) and the gradients of the parameters, in
    that order.
    """
    names = captioning_param_names(cell_type)

    def function(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        null = one_integer(tensors["null"], "null")
        params = {name: tensors[name] for name in names}
        return {"loss": captioning_loss(cell_type, params, tensors["features"], tensors["captions"], null)}

    function.__name__ = function.__qualname__ = f"captioning_{cell_type}_function"
    return TorchTwin(f"captioning_{cell_type}", function)
