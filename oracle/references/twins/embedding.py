"""Twin of the word embedding layer."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from oracle.references.twins.convert import check_indices
from oracle.references.twins.core import TorchTwin


def word_embedding_function(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Look up word vectors: ``out[n, t] = W[x[n, t]]`` via ``F.embedding``.

    Inputs ``x (N, T)`` integer indices in ``[0, V)`` (checked: negative or
    too large indices raise ``ValueError``, never wrap), ``W (V, D)``; output
    ``out (N, T, D)``. Repeated words accumulate into ``W``'s gradient.
    """
    W = tensors["W"]
    return {"out": F.embedding(check_indices(tensors["x"], W.shape[0], "x"), W)}


#: Twin of ``word_embedding_forward``/``word_embedding_backward``: gradient of ``W`` only.
word_embedding = TorchTwin("word_embedding", word_embedding_function)
