"""The torch twins pass ``torch.autograd.gradcheck`` in float64, and what that does and does not prove.

Every registered spec whose twin is a :class:`~oracle.references.twins.TorchTwin` with
differentiable inputs is checked on inputs drawn by the spec itself: gradcheck
compares the analytical Jacobian autograd builds for the twin's tensor
function (gate mapping included) with central finite differences of the same
function. That proves the twin differentiates *its own* forward pass
correctly. It says nothing about whether that forward pass is the layer impl
means: a twin with a wrong gate mapping passes gradcheck just as well, which
is why the twins are also pinned to textbook equations
(``tests/test_gate_order.py``) and to finite differences of impl
(``tests/test_finite_differences.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest
import torch
from torch.autograd.gradcheck import GradcheckError

from oracle.layers import all_specs, get_spec
from oracle.references import gate_order as go
from oracle.references.twins import TorchTwin
from oracle.specs.sources import RandomSource
from oracle.specs.spec import LayerSpec

SEEDS = range(3)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run this file's tiny tensors on one intra-op thread, then restore the setting.

    gradcheck calls each function hundreds of times on tensors of a few dozen
    elements; extra threads only add synchronisation, which on a busy machine
    dominated (a captioning forward: 15 ms on two threads, 0.6 ms on one).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gradcheck_specs() -> list[LayerSpec]:
    return [spec for spec in all_specs() if isinstance(spec.twin, TorchTwin) and spec.twin.differentiable]


def float64_inputs(spec: LayerSpec, seed: int) -> dict[str, np.ndarray]:
    """The spec's own inputs in float64 (its dimensions are small, mostly 1..4, so the Jacobians are too)."""
    return spec.make_inputs(RandomSource(np.random.default_rng(seed)), np.dtype(np.float64))


def as_gradcheck_function(twin: TorchTwin,
                          tensors: Mapping[str, torch.Tensor]) -> Callable[..., tuple[torch.Tensor, ...]]:
    """``twin.function`` as ``f(*differentiable inputs) -> tuple of outputs``, the others held at ``tensors``."""

    def function(*variables: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(twin.function({**tensors, **dict(zip(twin.differentiable, variables, strict=True))}).values())

    return function


def gradcheck_twin(twin: TorchTwin, inputs: Mapping[str, np.ndarray]) -> bool:
    """Run gradcheck on ``twin``'s tensor function at ``inputs`` (float64 copies, leaves where differentiable)."""
    tensors = twin.to_tensors(inputs)
    variables = tuple(tensors[name] for name in twin.differentiable)
    assert all(variable.dtype == torch.float64 and variable.requires_grad for variable in variables)
    return torch.autograd.gradcheck(as_gradcheck_function(twin, tensors), variables)


def test_every_differentiable_builtin_twin_is_checked():
    checked = {spec.name for spec in _gradcheck_specs()}
    expected = {"affine", "temporal_affine", "word_embedding", "rnn_step", "rnn", "lstm_step", "lstm",
                "lstm_with_c0", "gru_step", "gru", "temporal_softmax_loss",
                "captioning_rnn", "captioning_lstm", "captioning_gru"}
    assert expected <= checked


@pytest.mark.parametrize("spec", [spec for spec in all_specs() if isinstance(spec.twin, TorchTwin)],
                         ids=lambda spec: spec.name)
def test_twin_differentiates_the_spec_gradients_in_order(spec):
    assert spec.twin.differentiable == spec.grads


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("spec", _gradcheck_specs(), ids=lambda spec: spec.name)
def test_twin_function_passes_gradcheck_in_float64(spec, seed):
    assert gradcheck_twin(spec.twin, float64_inputs(spec, seed))


class _TanhWithWrongDerivative(torch.autograd.Function):
    """``tanh`` whose backward forgets to square: ``1 - tanh`` instead of ``1 - tanh**2``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return grad * (1 - y)


def test_gradcheck_rejects_a_twin_with_a_wrong_derivative():
    # The check above is live: a twin whose autograd graph has a wrong derivative fails it.
    broken = TorchTwin("tanh_wrong_derivative", lambda tensors: {"out": _TanhWithWrongDerivative.apply(tensors["x"])},
                       ("x",))
    inputs = {"x": np.random.default_rng(0).uniform(-1, 1, (2, 3))}
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck_twin(broken, inputs)


# ----------------------------------------------------------------------------
# What gradcheck does not prove: a wrong mapping is differentiated correctly too.
# ----------------------------------------------------------------------------

#: impl's blocks i, f, o, g read as if they were i, o, f, g: the f and o gates swapped.
F_O_SWAP = go.gate_permutation(go.LSTM_IMPL_ORDER, ("i", "o", "f", "g"))


def f_and_o_swapped(twin: TorchTwin) -> TorchTwin:
    """``twin`` (an LSTM twin) with the f and o gate blocks of ``Wx``, ``Wh`` and ``b`` swapped before the mapping."""

    def function(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        swapped = {name: go.permute_blocks_tensor(tensors[name], F_O_SWAP, dim=-1) for name in ("Wx", "Wh", "b")}
        return twin.function({**tensors, **swapped})

    return TorchTwin(f"{twin.name}_f_o_swapped", function, twin.differentiable)


def forward(twin: TorchTwin, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs of ``twin``'s tensor function at ``inputs``, as numpy."""
    with torch.no_grad():
        return {name: value.numpy() for name, value in twin.function(twin.to_tensors(inputs)).items()}


@pytest.mark.parametrize("name", ["lstm_step", "lstm"])
def test_wrong_gate_mapping_passes_gradcheck_but_computes_another_function(name):
    spec = get_spec(name)
    correct, wrong = spec.twin, f_and_o_swapped(spec.twin)
    inputs = float64_inputs(spec, seed=5)
    assert gradcheck_twin(wrong, inputs)  # its derivatives are right ...
    right_outputs, wrong_outputs = forward(correct, inputs), forward(wrong, inputs)
    gap = max(float(np.max(np.abs(wrong_outputs[output] - right_outputs[output]))) for output in spec.outputs)
    assert gap > 1e-3, f"swapping f and o changed {name}'s outputs by only {gap:.2e}"  # ... of the wrong function
