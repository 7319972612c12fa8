"""PyTorch autograd twins of every layer: the reference the numpy layers are checked against.

Each twin is a :class:`~oracle.references.twins.core.TorchTwin`: a differentiable tensor
function (impl's input names and layouts in, outputs by name out; any layout
mapping, such as the gate reordering of :mod:`oracle.references.gate_order`, is part of
the function) and the names of the inputs that get gradients. Calling it is
:data:`oracle.specs.spec.Twin`: ``twin(inputs, upstream, device="cpu") ->
Evaluation``. It copies the numpy inputs to ``device`` in their own dtype,
runs the function, differentiates it (from ``upstream``, or from the loss when
``upstream`` is empty) and returns numpy arrays in impl's layouts. The
functions are built from torch building blocks (``F.linear``,
``nn.RNN``/``nn.LSTM``/``nn.GRU`` and their cells, ``F.embedding``,
``F.cross_entropy``), share no computation with :mod:`impl` (they read only
its layout facts, :mod:`impl.cell_layouts`) and never modify their inputs;
``torch.autograd.gradcheck`` checks them directly
(``tests/test_twin_gradcheck.py``).

Modules: :mod:`~oracle.references.twins.core` (:class:`TorchTwin`),
:mod:`~oracle.references.twins.device` (device choice, precision report),
:mod:`~oracle.references.twins.convert` (numpy <-> torch, input checks),
:mod:`~oracle.references.twins.modules` (``nn`` modules run on given tensors),
:mod:`~oracle.references.twins.dense`, :mod:`~oracle.references.twins.recurrent`,
:mod:`~oracle.references.twins.embedding`, :mod:`~oracle.references.twins.loss`,
:mod:`~oracle.references.twins.captioning`.
"""

from oracle.references.twins.captioning import (
    CaptioningTwin,
    captioning_grads_to_params,
    captioning_loss,
    captioning_param_names,
    captioning_twin,
)
from oracle.references.twins.core import TensorFunction, TorchTwin
from oracle.references.twins.dense import affine, sigmoid, temporal_affine
from oracle.references.twins.device import precision_settings, resolve_device
from oracle.references.twins.embedding import word_embedding
from oracle.references.twins.loss import temporal_softmax_loss
from oracle.references.twins.recurrent import gru, gru_step, lstm, lstm_step, lstm_with_c0, rnn, rnn_step

__all__ = [
    "CaptioningTwin",
    "TensorFunction",
    "TorchTwin",
    "affine",
    "captioning_grads_to_params",
    "captioning_loss",
    "captioning_param_names",
    "captioning_twin",
    "gru",
    "gru_step",
    "lstm",
    "lstm_step",
    "lstm_with_c0",
    "precision_settings",
    "resolve_device",
    "rnn",
    "rnn_step",
    "sigmoid",
    "temporal_affine",
    "temporal_softmax_loss",
    "word_embedding",
]
