"""Recurrent-network layers in plain numpy (no torch, no other dependency).

A reimplementation of the CS231n-style layer library in the seed notebook,
with its known defects fixed. Conventions shared by every public function:

- Layers come in pairs: ``*_forward(...) -> (out, cache)`` and
  ``*_backward(dout, cache) -> gradients``, the gradients being a tuple in
  the order of the forward inputs (a single array for
  :func:`word_embedding_backward`, which has one differentiable input). The
  cache is opaque: pass it back unchanged.
- :func:`temporal_softmax_loss` returns ``(loss, dx)``; the loss is summed
  over the unmasked time steps and divided by the batch size N (not by the
  number of unmasked steps).
- LSTM gates are laid out ``i, f, o, g`` (input, forget, output, candidate)
  along the ``4H`` axis of ``Wx``, ``Wh`` and ``b``; GRU gates are ``z, r, n``
  along the ``3H`` axis, with a separate hidden bias ``bh``.
- Floating arrays must be float32 or float64, all of one dtype within a call;
  every result (outputs, gradients, losses) has that same dtype.
- Arguments are validated before any arithmetic: ``TypeError`` for a wrong
  type or dtype (including a float32/float64 mix and non-integer or boolean
  word indices), ``ValueError`` for wrong dimensions, disagreeing shapes or
  out-of-range indices (negative indices are rejected, never wrapped). The
  messages name the offending argument.
- No argument is ever modified in place.
- NaN and Inf are neither checked for nor rejected: they propagate as IEEE
  754 says (a NaN input gives NaN exactly where the arithmetic reaches it),
  and no public function emits a floating-point RuntimeWarning for them. The
  softmax loss's masked steps never enter the arithmetic, so non-finite
  scores there change nothing. Every layer function applies this policy in
  its own body (``with ieee_quiet():``, see :func:`impl._checks.ieee_quiet`),
  as do :class:`CaptioningRNN`'s ``loss`` and ``sample``, so this package
  re-exports the modules' functions unchanged
  (``impl.lstm_forward is impl.lstm.lstm_forward``). :func:`sigmoid` needs
  no guard: its formula never overflows, divides by zero or computes an
  invalid value, whatever the input.
"""

from impl.activations import sigmoid
from impl.affine import affine_backward, affine_forward, temporal_affine_backward, temporal_affine_forward
from impl.captioning import CaptioningRNN
from impl.embedding import word_embedding_backward, word_embedding_forward
from impl.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from impl.lstm import (
    lstm_backward,
    lstm_backward_with_c0,
    lstm_forward,
    lstm_forward_with_c0,
    lstm_step_backward,
    lstm_step_forward,
)
from impl.rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from impl.softmax_loss import temporal_softmax_loss

__all__ = [
    "affine_forward",
    "affine_backward",
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "word_embedding_forward",
    "word_embedding_backward",
    "sigmoid",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "lstm_forward_with_c0",
    "lstm_backward_with_c0",
    "gru_step_forward",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
    "temporal_affine_forward",
    "temporal_affine_backward",
    "temporal_softmax_loss",
    "CaptioningRNN",
]
