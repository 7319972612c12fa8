"""Twin of the temporal softmax loss, and the masked cross-entropy it shares with the captioning twin."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from oracle.references.twins.convert import check_indices
from oracle.references.twins.core import TorchTwin


def masked_cross_entropy(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy summed over the unmasked time steps and divided by ``N``.

    Parameters
    ----------
    scores
        ``(N, T, V)`` float scores (unnormalised log-probabilities).
    labels
        ``(N, T)`` int64 labels in ``[0, V)``.
    mask
        ``(N, T)`` bool: which steps count.

    Returns
    -------
    torch.Tensor
        0-d loss in the dtype of ``scores``.
    """
    n, t, v = scores.shape
    losses = F.cross_entropy(scores.reshape(n * t, v), labels.reshape(n * t), reduction="none")
    return (losses * mask.reshape(n * t).to(scores.dtype)).sum() / n


def boolean_mask(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` as bool; a 0/1 integer mask is accepted.

    Raises
    ------
    TypeError
        If ``mask`` is neither boolean nor integers in {0, 1}.
    """
    if mask.dtype == torch.bool:
        return mask
    if mask.is_floating_point() or mask.is_complex() or not ((mask == 0) | (mask == 1)).all():
        raise TypeError(f"twin input 'mask' must be boolean or 0/1 integers, got dtype {mask.dtype}")
    return mask.to(torch.bool)


def temporal_softmax_loss_function(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masked temporal softmax loss.

    Inputs ``x (N, T, V)`` scores, ``y (N, T)`` integer labels in ``[0, V)``,
    ``mask (N, T)`` boolean (or 0/1 integers); output ``loss`` (0-d, dtype of
    ``x``) ``= sum over unmasked (n, t) of -log softmax(x[n, t])[y[n, t]] / N``.
    """
    x = tensors["x"]
    y = check_indices(tensors["y"], x.shape[-1], "y")
    return {"loss": masked_cross_entropy(x, y, boolean_mask(tensors["mask"]))}


#: Twin of ``temporal_softmax_loss``, a loss layer (``upstream`` must be empty): gradient of ``x``.
temporal_softmax_loss = TorchTwin("temporal_softmax_loss", temporal_softmax_loss_function)
