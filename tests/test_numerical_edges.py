"""Numerical edge cases: huge logits, masked overflow, saturated activations, integer sigmoid, NaN and Inf.

Every test here runs with warnings turned into errors (``pyproject.toml``),
so "no RuntimeWarning" is asserted by every call; the tests that promise no
floating-point trouble also run under ``numpy.errstate`` raising on
overflow, invalid operations and division by zero.

NaN/Inf policy (``impl/__init__.py``): NaN and Inf in float inputs are not
checked for; they propagate through the arithmetic like IEEE 754 says (no
exception, no RuntimeWarning), exactly where the torch twin's do. Masked
steps of the softmax loss are the exception by design: they never enter the
arithmetic, so they contribute an exact 0 whatever they hold.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import impl
from oracle.judge.checks import spec_tolerance, twin_comparisons
from oracle.judge.compare import compare_evaluations
from oracle.layers import all_specs, get_spec
from oracle.specs.sources import RandomSource
from oracle.specs.spec import Arrays, Evaluation, LayerSpec, make_upstream, run_backward, run_forward
from oracle.specs.tolerances import Tolerance
from tests.hypothesis_source import HypothesisSource, draw_dtype

FLOATS = [np.dtype(np.float32), np.dtype(np.float64)]
SOFTMAX = get_spec("temporal_softmax_loss")
STRICT = dict(over="raise", invalid="raise", divide="raise")


def impl_evaluation(spec: LayerSpec, inputs: Arrays, upstream: Arrays) -> Evaluation:
    outputs, state = run_forward(spec, inputs)
    return Evaluation(outputs, run_backward(spec, upstream, state))


def assert_matches_twin(spec: LayerSpec, inputs: Arrays, upstream: Arrays, result: Evaluation) -> None:
    comparisons = twin_comparisons(spec, inputs, upstream, result)
    failed = [comparison.describe() for comparison in comparisons if not comparison.passed]
    assert not failed, "\n".join(failed)


def assert_positive_zeros(array: np.ndarray, what: str) -> None:
    assert np.all(array == 0), f"{what} is not all zero"
    assert not np.any(np.signbit(array)), f"{what} holds -0.0"


# --------------------------------------------------------------------------- softmax loss


@given(data=st.data())
def test_softmax_loss_with_huge_logits_is_finite_and_matches_twin(data):
    source = HypothesisSource(data.draw)
    dtype = draw_dtype(data.draw)
    inputs = SOFTMAX.make_inputs(source, dtype)
    # Logits spread over [-1e4, 1e4], some exactly at the extremes: a naive exp overflows at ~89 (float32).
    x = source.floats(inputs["x"].shape, dtype, -1e4, 1e4)
    extremes = data.draw(st.lists(st.sampled_from([-1e4, 1e4]), min_size=x.size, max_size=x.size))
    use = np.asarray(data.draw(st.lists(st.booleans(), min_size=x.size, max_size=x.size)), dtype=bool)
    x.flat[use] = np.asarray(extremes, dtype=dtype)[use]
    inputs["x"] = x
    with np.errstate(**STRICT):
        loss, dx = impl.temporal_softmax_loss(*inputs.values())
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    assert loss.dtype == dtype and dx.dtype == dtype
    assert loss >= 0
    assert_matches_twin(SOFTMAX, inputs, {}, Evaluation({"loss": np.asarray(loss)}, {"x": dx}))


def _masked_garbage(dtype: np.dtype) -> list[float]:
    big = float(np.finfo(dtype).max)
    return [big, -big, 1e4, -1e4, math.inf, -math.inf, math.nan]


@given(data=st.data())
def test_masked_steps_contribute_exactly_zero_even_when_they_would_overflow(data):
    source = HypothesisSource(data.draw)
    dtype = draw_dtype(data.draw)
    inputs = SOFTMAX.make_inputs(source, dtype)
    x, y, mask = inputs["x"], inputs["y"], inputs["mask"]
    n, t, v = x.shape
    garbage = x.copy()
    masked = np.flatnonzero(~mask.reshape(-1))
    fill = data.draw(st.lists(st.sampled_from(_masked_garbage(dtype)), min_size=masked.size * v,
                              max_size=masked.size * v))
    garbage.reshape(n * t, v)[masked] = np.asarray(fill, dtype=dtype).reshape(masked.size, v)
    other_labels = y.copy()
    other_labels.reshape(-1)[masked] = data.draw(st.integers(0, v - 1))
    clean = x.copy()
    clean.reshape(n * t, v)[masked] = 0

    with np.errstate(**STRICT):
        loss, dx = impl.temporal_softmax_loss(garbage, other_labels, mask)
        clean_loss, clean_dx = impl.temporal_softmax_loss(clean, y, mask)
    # Bit-identical to the run whose masked rows are harmless, and those rows are exact +0.0.
    assert loss.tobytes() == clean_loss.tobytes(), (loss, clean_loss)
    np.testing.assert_array_equal(dx, clean_dx)
    assert_positive_zeros(dx[~mask], "dx at masked steps")
    assert not np.signbit(loss)
    assert np.all(np.isfinite(dx)) and np.isfinite(loss)
    clean_inputs = {"x": clean, "y": y, "mask": mask}
    assert_matches_twin(SOFTMAX, clean_inputs, {}, Evaluation({"loss": np.asarray(loss)}, {"x": dx}))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@given(data=st.data())
def test_all_false_mask_gives_positive_zero_loss_and_gradient(dtype, data):
    source = HypothesisSource(data.draw)
    n, t, v = source.dim("N", 1, 4), source.dim("T", 0, 4), source.dim("V", 1, 5)
    x = np.asarray(data.draw(st.lists(st.sampled_from(_masked_garbage(dtype) + [0.0, -0.0, 1.0]),
                                      min_size=n * t * v, max_size=n * t * v)), dtype=dtype).reshape(n, t, v)
    y = source.indices((n, t), v)
    for mask in (np.zeros((n, t), dtype=bool), np.zeros((n, t), dtype=np.int64)):
        with np.errstate(**STRICT):
            loss, dx = impl.temporal_softmax_loss(x, y, mask)
        assert loss == 0 and not np.signbit(loss) and loss.dtype == dtype
        assert dx.shape == x.shape and dx.dtype == dtype
        assert_positive_zeros(dx, "dx with an all-false mask")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_softmax_loss_of_a_certain_prediction_is_exactly_zero(dtype):
    """A label whose logit beats the others by 1e4 has probability 1: the loss is +0.0, not -0.0."""
    x = np.full((2, 3, 4), -1e4, dtype=dtype)
    y = np.array([[0, 1, 2], [3, 3, 0]])
    x[np.arange(2)[:, None], np.arange(3)[None, :], y] = 1e4
    loss, dx = impl.temporal_softmax_loss(x, y, np.ones((2, 3), dtype=bool))
    assert loss == 0 and not np.signbit(loss)
    assert np.all(dx == 0)


# --------------------------------------------------------------------------- sigmoid and tanh


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_sigmoid_limits_are_exact_without_warnings(dtype):
    big = np.finfo(dtype).max
    x = np.array([-np.inf, -big, -1e4, -1000.0, -750.0, 0.0, -0.0, 750.0, 1000.0, 1e4, big, np.inf], dtype=dtype)
    with np.errstate(**STRICT):
        out = impl.sigmoid(x)
    assert out.dtype == dtype
    expected = np.array([0, 0, 0, 0, 0, 0.5, 0.5, 1, 1, 1, 1, 1], dtype=dtype)
    np.testing.assert_array_equal(out, expected)
    assert not np.any(np.signbit(out))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_sigmoid_tails_keep_relative_precision(dtype):
    """sigma(-x) for large x is exp(-x) to within rounding, not 0 or a cancelled difference."""
    x = np.array([-20.0, -50.0, -80.0], dtype=dtype)
    out = impl.sigmoid(x)
    exact = np.array([math.exp(v) / (1 + math.exp(v)) for v in x.astype(float)])
    np.testing.assert_allclose(out, exact.astype(dtype), rtol=4 * np.finfo(dtype).eps, atol=0)


def _reference_sigmoid(value: int) -> float:
    v = float(value)
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    if v < -745:
        return 0.0
    return math.exp(v) / (1.0 + math.exp(v))


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"])
@given(data=st.data())
def test_sigmoid_of_integer_arrays_is_computed_in_float64(dtype, data):
    info = np.iinfo(dtype) if dtype != "bool" else None
    low, high = (0, 1) if info is None else (int(info.min), int(info.max))
    values = data.draw(st.lists(st.one_of(st.integers(max(low, -40), min(high, 40)), st.integers(low, high),
                                          st.sampled_from([low, high])), min_size=1, max_size=12))
    x = np.array(values, dtype=dtype)
    before = x.copy()
    with np.errstate(**STRICT):
        out = impl.sigmoid(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(out, impl.sigmoid(x.astype(np.float64)))
    expected = np.array([_reference_sigmoid(int(v)) for v in x.tolist()])
    np.testing.assert_allclose(out, expected, rtol=4e-16, atol=0)
    if dtype != "uint64" or int(x.max(initial=0)) <= np.iinfo(np.int64).max:
        # The twin hands integers to torch as int64 (oracle/references/twins/convert.py), which wraps larger uint64
        # values.
        twin = get_spec("sigmoid").twin({"x": x}, {}, "cpu").outputs["out"]
        np.testing.assert_allclose(out, twin, rtol=1e-15, atol=1e-300)


RECURRENT = [spec for spec in all_specs() if spec.name in
             ("rnn_step", "rnn", "lstm_step", "lstm", "lstm_with_c0", "gru_step", "gru")]


@pytest.mark.parametrize("spec", RECURRENT, ids=lambda spec: spec.name)
@given(data=st.data())
def test_saturated_gates_are_exact_and_warning_free(spec, data):
    """Pre-activations that are exact multiples of 1000 saturate tanh and sigmoid exactly in both dtypes.

    x and the states hold -1, 0, 1 and the weights -1000, 0, 1000, so every
    product and sum is exact; Wh is zero for whole sequences so later steps
    stay exact too. Results match the twin, and a vanilla RNN step gives
    exactly tanh of the exact pre-activation (-1, 0 or 1).
    """
    source = HypothesisSource(data.draw)
    dtype = draw_dtype(data.draw)
    inputs = spec.make_inputs(source, dtype)
    ternary = {}
    for name, array in inputs.items():
        signs = np.asarray(data.draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=array.size,
                                              max_size=array.size)), dtype=dtype).reshape(array.shape)
        scale = 1 if name in ("x", "h0", "c0", "prev_h", "prev_c") else 1000
        ternary[name] = signs * dtype.type(scale)
    if "T" in source._dims:  # a whole sequence: keep every step's pre-activation exact
        ternary["Wh"] = np.zeros_like(ternary["Wh"])
    with np.errstate(**STRICT):
        outputs, state = run_forward(spec, ternary)
        upstream = {name: np.sign(value) for name, value in make_upstream(spec, outputs, source).items()}
        grads = run_backward(spec, upstream, state)
    for name, value in {**outputs, **grads}.items():
        assert np.all(np.isfinite(value)), name
    expected = spec.twin(ternary, upstream, "cpu")
    tolerance = spec_tolerance(spec, dtype.name)
    failed = [c.describe() for c in compare_evaluations(Evaluation(outputs, {}), Evaluation(expected.outputs, {}),
                                                         tolerance, layer=spec.name, reference="torch[cpu]")]
    # Gradients are sums of terms as large as 1000 * (D + 4H) that may cancel to 0: absolute headroom.
    grad_tolerance = Tolerance(tolerance.rtol, tolerance.atol * 1000 * 32)
    failed += [c.describe() for c in compare_evaluations(Evaluation({}, grads), Evaluation({}, expected.grads),
                                                          grad_tolerance, layer=spec.name, reference="torch[cpu]")]
    failed = [line for line in failed if "DISAGREES" in line]
    assert not failed, "\n".join(failed)
    if spec.name == "rnn_step":
        exact = (ternary["x"].astype(np.float64) @ ternary["Wx"] + ternary["prev_h"].astype(np.float64) @ ternary["Wh"]
                 + ternary["b"])
        np.testing.assert_array_equal(outputs["next_h"], np.sign(exact).astype(dtype))


# --------------------------------------------------------------------------- NaN and Inf


NAN_SPECS = [spec for spec in all_specs() if not spec.name.startswith("captioning_")]

def _nonfinite_params():
    for spec in NAN_SPECS:
        for bad in ("nan", "inf", "-inf"):
            yield pytest.param(spec, bad, id=f"{spec.name}-{bad}")


def _finite_part(evaluation: Evaluation) -> Evaluation:
    def zero_nonfinite(values: Arrays) -> Arrays:
        return {key: np.where(np.isfinite(value), value, 0) for key, value in values.items()}

    return Evaluation(zero_nonfinite(evaluation.outputs), zero_nonfinite(evaluation.grads))


@pytest.mark.parametrize("spec, bad", list(_nonfinite_params()))
@given(data=st.data())
def test_nan_and_inf_propagate_like_ieee(spec, bad, data):
    """A non-finite entry in a float input or an upstream gradient is not rejected; a NaN makes the
    results NaN exactly where the torch twin's are (an Inf: non-finite exactly where the twin's are),
    and the rest agrees with the twin. No RuntimeWarning is raised (the suite turns warnings into errors).

    The softmax loss's masked steps are the documented exception: they never enter the arithmetic,
    so a NaN or Inf there changes nothing (the twin, which multiplies by the mask, gives NaN).
    """
    source = HypothesisSource(data.draw)
    dtype = draw_dtype(data.draw)
    inputs = spec.make_inputs(source, dtype)
    outputs, _ = run_forward(spec, inputs)
    upstream = make_upstream(spec, outputs, source)
    targets = [("input", name) for name, array in inputs.items() if array.dtype.kind == "f" and array.size]
    targets += [("upstream", name) for name, array in upstream.items() if array.size]
    kind, name = data.draw(st.sampled_from(targets), label="poisoned")
    poisoned = dict(inputs) if kind == "input" else dict(upstream)
    position = data.draw(st.integers(0, poisoned[name].size - 1), label="position")
    poisoned[name] = poisoned[name].copy()
    poisoned[name].flat[position] = float(bad)
    if kind == "input":
        clean_inputs, inputs = inputs, poisoned
    else:
        clean_inputs, upstream = inputs, poisoned

    outputs, state = run_forward(spec, inputs)
    grads = run_backward(spec, upstream, state)
    for value in (*outputs.values(), *grads.values()):
        assert value.dtype == dtype
    if spec.name == "temporal_softmax_loss" and not inputs["mask"].reshape(-1)[position // inputs["x"].shape[2]]:
        clean_outputs, clean_state = run_forward(spec, clean_inputs)
        assert outputs["loss"].tobytes() == clean_outputs["loss"].tobytes()
        np.testing.assert_array_equal(grads["x"], run_backward(spec, {}, clean_state)["x"])
        return
    expected = spec.twin(inputs, upstream, "cpu")
    for what, actual_values, expected_values in (("output", outputs, expected.outputs),
                                                 ("grad", grads, expected.grads)):
        for key, actual in actual_values.items():
            reference = expected_values[key]
            # A NaN propagates the same way through any formula. Where an Inf meets a zero or another Inf
            # depends on how the formula is written (the twins use torch's fused cells), so for Inf only
            # "non-finite where the twin is non-finite" is the invariant.
            tests = (np.isnan, np.isposinf, np.isneginf) if bad == "nan" else (np.isfinite,)
            for test in tests:
                np.testing.assert_array_equal(test(actual), test(reference),
                                              err_msg=f"{spec.name}: {test.__name__} of {what} {key} differs")
    tolerance = spec_tolerance(spec, dtype.name)
    failed = [c.describe() for c in compare_evaluations(_finite_part(Evaluation(outputs, grads)),
                                                         _finite_part(expected), tolerance, layer=spec.name,
                                                         reference="torch[cpu]") if not c.passed]
    assert not failed, "\n".join(failed)


def _inf_case(spec: LayerSpec) -> tuple[Arrays, Arrays]:
    """Inputs (and upstream gradients) with an Inf that must meet a zero or an opposite Inf."""
    inputs = spec.make_inputs(RandomSource(np.random.default_rng(1)), np.dtype(np.float64))
    if spec.name == "word_embedding":
        inputs["x"] = np.zeros((1, 2), dtype=np.int64)  # the same word twice: dW[0] = dout[0,0] + dout[0,1]
        inputs["W"] = np.ones((1, 3))
        return inputs, {"out": np.array([[[np.inf, 1, 1], [-np.inf, 1, 1]]])}
    if spec.name == "temporal_softmax_loss":
        inputs["x"] = inputs["x"].copy()
        inputs["x"][0, 0, 0] = np.inf  # inf - max = inf - inf
        inputs["mask"] = np.ones_like(inputs["mask"])
        return inputs, {}
    first = next(iter(inputs))  # x (xt in deeplearning.ai's API), and the first weight that multiplies it
    weight = "w" if "w" in inputs else next(name for name in inputs if name.startswith("W"))
    inputs[first] = inputs[first].copy()
    inputs[first].flat[0] = np.inf
    inputs[weight] = np.zeros_like(inputs[weight])  # inf * 0 in the first product
    outputs, _ = run_forward(spec, inputs)
    return inputs, {name: np.ones_like(outputs[name]) for name in spec.upstream_outputs}


@pytest.mark.parametrize("spec", NAN_SPECS, ids=lambda spec: spec.name)
def test_inf_emits_no_runtime_warning(spec):
    """Inf meeting a zero (inf * 0) or an opposite Inf gives NaN silently, as the NaN/Inf policy promises."""
    if spec.name == "sigmoid":
        impl.sigmoid(np.array([np.inf, -np.inf, np.nan]))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        inputs, upstream = _inf_case(spec)
    outputs, state = run_forward(spec, inputs)
    run_backward(spec, upstream, state)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_model_applies_the_nan_policy(cell):
    """CaptioningRNN.loss and .sample follow the same policy: an Inf weight that meets an opposite Inf
    (in the vocabulary scores and the softmax shift) gives NaN silently, without a RuntimeWarning."""
    vocab = {"<NULL>": 0, "<START>": 1, "a": 2, "b": 3}
    model = impl.CaptioningRNN(vocab, input_dim=3, wordvec_dim=2, hidden_dim=4, cell_type=cell, dtype=np.float64,
                               seed=0)
    model.params["W_vocab"][:, 2] = np.inf
    model.params["W_vocab"][0, 2] = -np.inf
    features = np.random.default_rng(0).standard_normal((2, 3))
    captions = np.array([[1, 2, 3], [1, 3, 0]])
    loss, grads = model.loss(features, captions)
    assert np.isnan(loss)
    assert np.isnan(grads["W_vocab"]).any()
    sampled = model.sample(features, max_length=3)
    assert sampled.shape == (2, 3)
    assert ((sampled >= 0) & (sampled < len(vocab))).all()
