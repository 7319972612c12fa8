"""Masked softmax cross-entropy over a minibatch of sequences."""

from __future__ import annotations

import numpy as np

from impl._checks import check_indices, check_mask, check_ndim, check_shape, common_float_dtype, ieee_quiet

__all__ = ["temporal_softmax_loss"]


def temporal_softmax_loss(
    x: np.ndarray, y: np.ndarray, mask: np.ndarray, verbose: bool = False
) -> tuple[np.floating, np.ndarray]:
    """Softmax cross-entropy summed over the unmasked time steps, divided by N.

    ``loss = -(1/N) * sum over (n, t) with mask[n, t] of log softmax(x[n, t])[y[n, t]]``.
    The divisor is the batch size N, not the number of unmasked steps, as in
    the seed.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, T, V), float32 or float64
        Scores over a vocabulary of V words at every time step.
    y : numpy.ndarray, shape (N, T), any integer dtype (not bool)
        Target words, ``0 <= y[n, t] < V``. Masked-out entries must be in range
        too, although they do not affect the result.
    mask : numpy.ndarray, shape (N, T), bool (or integers that are all 0 or 1)
        Which time steps count.
    verbose : bool, optional
        Print the shapes of the intermediate arrays.

    Returns
    -------
    loss : numpy.floating
        Scalar of the dtype of ``x`` (``numpy.float32`` or ``numpy.float64``).
    dx : numpy.ndarray, shape (N, T, V), dtype of ``x``
        Gradient of ``loss`` with respect to ``x``. Masked steps get exactly
        +0.0 everywhere, whatever their scores (even non-finite ones).

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 ndarray, ``y`` is not an integer
        ndarray, or ``mask`` is neither boolean nor 0/1 integers.
    ValueError
        If the shapes disagree, a label is outside ``[0, V)``, an integer mask
        holds other values than 0 and 1, or N is 0 (the loss is a mean over
        the batch, and an empty batch has none).
    """
    with ieee_quiet():
        dtype = common_float_dtype(x=x)
        check_ndim("x", x, 3, "(N, T, V)")
        n, t, v = x.shape
        labels = check_indices("y", y, v)
        check_shape("y", y, (n, t), "(N, T)")
        keep = check_mask("mask", mask)
        check_shape("mask", keep, (n, t), "(N, T)")
        if n == 0:
            raise ValueError("argument 'x' has N = 0 sequences; the loss is a mean over the batch and needs N >= 1")

        x_flat = x.reshape(n * t, v)
        labels_flat = labels.reshape(n * t)
        keep_flat = keep.reshape(n * t)

        # Only the kept rows enter the arithmetic, so a masked step contributes an
        # exact 0 to the loss and +0.0 to dx even if its scores would overflow or
        # are not finite; with every step kept, the rows are used without a copy.
        all_kept = bool(keep_flat.all())
        scores = x_flat if all_kept else x_flat[keep_flat]
        targets = labels_flat if all_kept else labels_flat[keep_flat]
        rows = np.arange(scores.shape[0])

        if verbose:
            print(f"x: {x.shape}, y: {y.shape}, mask: {keep.shape}; scores of kept steps: {scores.shape}")

        if scores.shape[0] == 0:
            return dtype.type(0), np.zeros((n, t, v), dtype=dtype)

        # Shifting by the row maximum keeps exp() in [0, 1], so huge logits
        # neither overflow nor lose the log-sum-exp.
        shifted = scores - scores.max(axis=1, keepdims=True)
        target_shifted = shifted[rows, targets]
        # shifted is a private temporary, so exp() and the gradient reuse it.
        # exp of a very negative shift underflows to 0, which is the right value.
        with np.errstate(under="ignore"):
            probs = np.exp(shifted, out=shifted)
        totals = probs.sum(axis=1, keepdims=True)
        # -log softmax(x)[y] = log(sum exp(shifted)) - shifted[y]; the sum is >= 1
        # (the maximum contributes exp(0) = 1), so the log is finite and >= 0.
        loss = (np.log(totals[:, 0]) - target_shifted).sum() / dtype.type(n)

        probs /= totals
        probs[rows, targets] -= dtype.type(1)
        probs /= dtype.type(n)
        if all_kept:
            dx = probs.reshape(n, t, v)
        else:
            dx = np.zeros((n, t, v), dtype=dtype)
            dx.reshape(n * t, v)[keep_flat] = probs

        if verbose:
            print(f"dx: {dx.shape}")
        return dtype.type(loss), dx
