"""impl.softmax_loss: the ``verbose`` switch and the floating-point settings of the caller."""

from __future__ import annotations

import numpy as np
import pytest

import impl
from tests.impl_cases import DTYPES, dtype_id, rng


def softmax_case(seed: int = 0, n: int = 3, t: int = 4, v: int = 5):
    """Scores ``x (N, T, V)``, labels ``y (N, T)`` and a mask ``(N, T)`` keeping about 60% of the steps."""
    r = rng(seed)
    x = r.standard_normal((n, t, v))
    y = r.integers(0, v, (n, t))
    mask = r.random((n, t)) < 0.6
    return x, y, mask


@pytest.mark.mutation_killer
def test_softmax_loss_is_quiet_by_default(capsys):
    impl.temporal_softmax_loss(*softmax_case())
    assert capsys.readouterr().out == ""


@pytest.mark.mutation_killer
def test_softmax_loss_verbose_prints_the_shapes(capsys):
    x, y, mask = softmax_case()
    quiet = impl.temporal_softmax_loss(x, y, mask)
    loud = impl.temporal_softmax_loss(x, y, mask, verbose=True)
    assert quiet[0] == loud[0]
    np.testing.assert_array_equal(quiet[1], loud[1])
    printed = capsys.readouterr().out
    assert str(x.shape) in printed and "dx" in printed
    assert str((int(mask.sum()), x.shape[2])) in printed  # the scores of the kept steps


@pytest.mark.mutation_killer
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_softmax_loss_ignores_the_callers_underflow_setting(dtype):
    """exp of a logit 1e4 below the maximum underflows to 0 by design, even under errstate(under='raise')."""
    x, y, mask = softmax_case(1)
    x = (x * 1e4).astype(dtype)
    with np.errstate(under="raise"):
        loss, dx = impl.temporal_softmax_loss(x, y, mask)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
