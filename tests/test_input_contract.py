"""The input contract of every public function of :mod:`impl`: bad input gets a clear error, never a number.

The contract (``impl/_checks.py``, ``impl/__init__.py``):

- ``TypeError`` for a wrong type or dtype: a non-ndarray, float16, complex or
  integer arrays where floats are needed, float32 mixed with float64 in one
  call (an upstream gradient included), floats or booleans as word indices,
  masks that are neither boolean nor integer;
- ``ValueError`` for a wrong number of dimensions, a size that disagrees with
  another argument, an index or label outside ``[0, V)``, an integer mask with
  entries other than 0 and 1;
- every message names the argument (``'x'``, ``'Wx'``, ``'dnext_h'`` ...) and
  what it received (the dtype, the shape, the offending index);
- integer masks of 0/1 and indices of any integer dtype are accepted and give
  exactly the result of their boolean / int64 equivalents.

The generic tests take the valid inputs of every registered layer spec (drawn
by Hypothesis through :class:`~tests.hypothesis_source.HypothesisSource`) and
break one argument at a time with each entry of a table of breakages; the
symbolic layouts below say which axes must agree between arguments. The
sigmoid (any shape, integer input allowed) and the captioning model have
tests of their own further down, as do the zero-size cases.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from functools import partial

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import impl
from oracle.checks import twin_comparisons
from oracle.registry import all_specs
from oracle.sources import RandomSource
from oracle.spec import Arrays, Evaluation, LayerSpec, make_upstream, run_backward, run_forward
from tests.hypothesis_source import HypothesisSource, draw_dtype

OTHER_FLOAT = {np.dtype(np.float32): np.dtype(np.float64), np.dtype(np.float64): np.dtype(np.float32)}


def _recurrent_layout(sequence: bool, state: tuple[str, ...], gru: bool = False) -> Callable[[Arrays], dict]:
    # The gate width k*H of Wx, Wh and b is tied to H (k is fixed by the cell), so it is spelled "H".
    layout: dict[str, tuple[str, ...]] = {"x": ("N", "T", "D") if sequence else ("N", "D")}
    layout.update({name: ("N", "H") for name in state})
    layout.update(Wx=("D", "H"), Wh=("H", "H"), b=("H",))
    if gru:
        layout["bh"] = ("H",)
    return lambda inputs: layout


#: Symbolic layout of every input of every generic layer spec: one symbol per axis.
#: Axes with the same symbol must have the same size; a symbol held by a single
#: argument is free (any size is valid).
LAYOUTS: dict[str, Callable[[Arrays], dict[str, tuple[str, ...]]]] = {
    # x is (N, d_1, ..., d_k) with D = d_1 * ... * d_k: every feature axis feeds D.
    "affine": lambda inputs: {"x": ("N",) + ("D",) * (inputs["x"].ndim - 1), "w": ("D", "M"), "b": ("M",)},
    "temporal_affine": lambda inputs: {"x": ("N", "T", "D"), "w": ("D", "M"), "b": ("M",)},
    "word_embedding": lambda inputs: {"x": ("N", "T"), "W": ("V", "D")},
    "rnn_step": _recurrent_layout(False, ("prev_h",)),
    "rnn": _recurrent_layout(True, ("h0",)),
    "lstm_step": _recurrent_layout(False, ("prev_h", "prev_c")),
    "lstm": _recurrent_layout(True, ("h0",)),
    "lstm_with_c0": _recurrent_layout(True, ("h0", "c0")),
    "gru_step": _recurrent_layout(False, ("prev_h",), gru=True),
    "gru": _recurrent_layout(True, ("h0",), gru=True),
    # V is free: the labels only have to lie below it.
    "temporal_softmax_loss": lambda inputs: {"x": ("N", "T", "V"), "y": ("N", "T"), "mask": ("N", "T")},
}

def _recurrent_text(sequence: bool, state: tuple[str, ...], gates: str, gru: bool = False) -> dict[str, str]:
    text = {"x": "(N, T, D)" if sequence else "(N, D)", "Wx": f"(D, {gates})", "Wh": f"(H, {gates})",
            "b": f"({gates},)"}
    text.update({name: "(N, H)" for name in state})
    text.update({"dh": "(N, T, H)"} if sequence else {"dnext_h": "(N, H)", "dnext_c": "(N, H)"})
    if gru:
        text["bh"] = f"({gates},)"
    return text


#: The expected layout each message spells for an argument (upstream gradients included), e.g.
#: "argument 'Wx' has shape (3, 8); expected (D, 4H) = (2, 8)".
LAYOUT_TEXT: dict[str, dict[str, str]] = {
    "affine": {"x": "(N, d_1, ..., d_k)", "w": "(D, M)", "b": "(M,)", "dout": "(N, M)"},
    "temporal_affine": {"x": "(N, T, D)", "w": "(D, M)", "b": "(M,)", "dout": "(N, T, M)"},
    "word_embedding": {"x": "(N, T)", "W": "(V, D)", "dout": "(N, T, D)"},
    "rnn_step": _recurrent_text(False, ("prev_h",), "H"),
    "rnn": _recurrent_text(True, ("h0",), "H"),
    "lstm_step": _recurrent_text(False, ("prev_h", "prev_c"), "4H"),
    "lstm": _recurrent_text(True, ("h0",), "4H"),
    "lstm_with_c0": _recurrent_text(True, ("h0", "c0"), "4H"),
    "gru_step": _recurrent_text(False, ("prev_h",), "3H", gru=True),
    "gru": _recurrent_text(True, ("h0",), "3H", gru=True),
    "temporal_softmax_loss": {"x": "(N, T, V)", "y": "(N, T)", "mask": "(N, T)"},
}

#: Index inputs and the exclusive upper bound V of their values.
INDEX_BOUNDS: dict[str, dict[str, Callable[[Arrays], int]]] = {
    "word_embedding": {"x": lambda inputs: inputs["W"].shape[0]},
    "temporal_softmax_loss": {"y": lambda inputs: inputs["x"].shape[2]},
}

#: Inputs whose number of dimensions is not fixed (affine's x: any k >= 1 feature axes).
VARIABLE_NDIM = {("affine", "x")}

SPECS = [spec for spec in all_specs() if spec.name in LAYOUTS]
BACKWARD_SPECS = [spec for spec in SPECS if not spec.is_loss]


def spec_id(spec: LayerSpec) -> str:
    return spec.name


def float_names(inputs: Arrays) -> list[str]:
    return [name for name, array in inputs.items() if array.dtype.kind == "f"]


def mask_names(inputs: Arrays) -> list[str]:
    return [name for name, array in inputs.items() if array.dtype == np.bool_]


def replaced(inputs: Arrays, name: str, value: object) -> Arrays:
    """A copy of the inputs dict (same arrays) with ``inputs[name]`` replaced."""
    broken = dict(inputs)
    broken[name] = value
    return broken


def grown(array: np.ndarray, axis: int) -> np.ndarray:
    """``array`` with ``axis`` one longer (the last slice repeated, so values stay valid)."""
    return np.concatenate([array, np.take(array, [-1], axis=axis)], axis=axis)


def run(spec: LayerSpec, inputs: Arrays, source: HypothesisSource | None = None):
    """Forward (and backward with drawn upstream gradients, when ``source`` is given)."""
    outputs, state = run_forward(spec, inputs)
    if source is None:
        return outputs, None
    return outputs, run_backward(spec, make_upstream(spec, outputs, source), state)


def mentions(message: str, fragment: str) -> bool:
    """Whether ``fragment`` occurs in ``message`` as a token: not glued to letters, digits or ``_``."""
    return re.search(r"(?<!\w)" + re.escape(fragment) + r"(?!\w)", message) is not None


def raises(exc: type[Exception], call: Callable[[], object], *fragments: str) -> str:
    """Assert ``call()`` raises ``exc`` whose message mentions every fragment; return the message."""
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert mentions(message, fragment), f"{exc.__name__} message {message!r} does not mention {fragment!r}"
    return message


def draw_case(spec: LayerSpec, data) -> tuple[Arrays, np.dtype, HypothesisSource]:
    source = HypothesisSource(data.draw)
    dtype = draw_dtype(data.draw)
    return spec.make_inputs(source, dtype), dtype, source


# --------------------------------------------------------------------------- the tables themselves


def test_tables_cover_every_layer_and_input():
    """A new layer in the registry needs a layout here; argument names must be impl's parameter names."""
    generic = {spec.name for spec in all_specs()} - {"sigmoid"} - {f"captioning_{c}" for c in ("rnn", "lstm", "gru")}
    assert generic == set(LAYOUTS), "every registered layer needs a row in LAYOUTS"
    for spec in SPECS:
        inputs = spec.make_inputs(RandomSource(np.random.default_rng(0)), np.dtype(np.float64))
        assert set(LAYOUTS[spec.name](inputs)) == set(inputs), spec.name
        parameters = list(inspect.signature(spec.forward).parameters)
        assert parameters[: len(inputs)] == list(inputs), (
            f"{spec.name}: spec inputs {list(inputs)} are not the parameters {parameters} the messages name"
        )


# --------------------------------------------------------------------------- dtypes of float inputs


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_float16_is_rejected_naming_argument_and_dtype(spec, data):
    inputs, _, _ = draw_case(spec, data)
    for name in float_names(inputs):
        broken = replaced(inputs, name, inputs[name].astype(np.float16))
        raises(TypeError, partial(run_forward, spec, broken), f"'{name}'", "float16")


@pytest.mark.parametrize("int_dtype", ["int64", "int32", "uint8"])
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_integer_array_where_floats_are_needed_is_rejected(spec, int_dtype, data):
    inputs, _, _ = draw_case(spec, data)
    for name in float_names(inputs):
        broken = replaced(inputs, name, np.round(inputs[name]).astype(int_dtype))
        raises(TypeError, partial(run_forward, spec, broken), f"'{name}'", int_dtype)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_complex_and_bool_floats_are_rejected(spec, data):
    inputs, _, _ = draw_case(spec, data)
    for name in float_names(inputs):
        for bad in (inputs[name].astype(np.complex128), inputs[name] > 0):
            broken = replaced(inputs, name, bad)
            raises(TypeError, partial(run_forward, spec, broken), f"'{name}'", str(bad.dtype))


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_non_arrays_are_rejected_naming_argument(spec, data):
    """Lists and scalars are not silently converted: the caller's dtype would be guessed."""
    inputs, _, _ = draw_case(spec, data)
    for name in inputs:
        broken = replaced(inputs, name, inputs[name].tolist())
        raises(TypeError, partial(run_forward, spec, broken), f"'{name}'", "numpy.ndarray", "list")


@pytest.mark.parametrize("spec", [s for s in SPECS if len(float_names(
    s.make_inputs(RandomSource(np.random.default_rng(0)), np.dtype(np.float64)))) > 1], ids=spec_id)
@given(data=st.data())
def test_float32_mixed_with_float64_is_rejected_naming_both_dtypes(spec, data):
    inputs, dtype, _ = draw_case(spec, data)
    other = OTHER_FLOAT[dtype]
    for name in float_names(inputs):
        broken = replaced(inputs, name, inputs[name].astype(other))
        # The message lists every float argument with its dtype: "arguments mix float dtypes (x=float64, w=...)".
        raises(TypeError, partial(run_forward, spec, broken), f"{name}={other}", dtype.name)


# --------------------------------------------------------------------------- dimensions and shapes


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_wrong_number_of_dimensions_is_rejected_naming_argument(spec, data):
    inputs, _, _ = draw_case(spec, data)
    for name, array in inputs.items():
        if (spec.name, name) in VARIABLE_NDIM:
            # Any ndim >= 2 is valid (N, d_1, ..., d_k); fewer than two dimensions is not.
            variants = [array.reshape(-1), array.reshape(-1)[:1].reshape(())]
        else:
            variants = [array[None], array[..., None], array[..., 0]]
        for bad in variants:
            broken = replaced(inputs, name, bad)
            raises(ValueError, partial(run_forward, spec, broken), f"'{name}'", str(bad.shape),
                   LAYOUT_TEXT[spec.name][name])


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_sizes_that_must_agree_are_checked(spec, data):
    """Growing an axis shared with another argument raises ValueError naming one of them and its shape;
    growing a free axis is a valid call."""
    inputs, _, source = draw_case(spec, data)
    layout = LAYOUTS[spec.name](inputs)
    holders: dict[str, set[str]] = {}
    for name, symbols in layout.items():
        for symbol in symbols:
            holders.setdefault(symbol, set()).add(name)
    for name, symbols in layout.items():
        for axis, symbol in enumerate(symbols):
            broken = replaced(inputs, name, grown(inputs[name], axis))
            if holders[symbol] == {name}:
                outputs, grads = run(spec, broken, source)  # free axis: must just work
                for grad_name, grad in grads.items():
                    assert grad.shape == broken[grad_name].shape
                continue
            message = raises(ValueError, partial(run_forward, spec, broken))
            named = [holder for holder in holders[symbol] if mentions(message, f"'{holder}'")]
            assert named, f"{message!r} names none of {sorted(holders[symbol])} (growing {name} axis {axis})"
            layouts = LAYOUT_TEXT[spec.name]
            assert any(mentions(message, str(broken[holder].shape)) and mentions(message, layouts[holder])
                       for holder in named), f"{message!r} does not show the received shape and layout of {named}"


# --------------------------------------------------------------------------- word indices and labels


@pytest.mark.parametrize("spec", [s for s in SPECS if s.name in INDEX_BOUNDS], ids=spec_id)
@given(data=st.data())
def test_bad_indices_are_rejected(spec, data):
    inputs, _, _ = draw_case(spec, data)
    for name, bound in INDEX_BOUNDS[spec.name].items():
        upper = bound(inputs)
        position = data.draw(st.integers(0, inputs[name].size - 1), label="position")
        for bad_value in (-1, -upper - 1, upper, upper + 7, np.iinfo(np.int64).min):
            bad = inputs[name].copy()
            bad.flat[position] = bad_value
            broken = replaced(inputs, name, bad)
            raises(ValueError, partial(run_forward, spec, broken), f"'{name}'", str(bad_value), str(upper))
        for bad in (inputs[name].astype(np.float64), inputs[name].astype(np.float32), inputs[name] > 0):
            broken = replaced(inputs, name, bad)
            raises(TypeError, partial(run_forward, spec, broken), f"'{name}'", str(bad.dtype))


@pytest.mark.parametrize("index_dtype", ["int8", "int16", "int32", "uint8", "uint16", "uint32", "uint64"])
@pytest.mark.parametrize("spec", [s for s in SPECS if s.name in INDEX_BOUNDS], ids=spec_id)
@given(data=st.data())
def test_any_integer_index_dtype_gives_the_int64_result(spec, index_dtype, data):
    inputs, _, source = draw_case(spec, data)
    reference, reference_grads = run(spec, inputs, source)
    for name in INDEX_BOUNDS[spec.name]:
        other = replaced(inputs, name, inputs[name].astype(index_dtype))
        outputs, state = run_forward(spec, other)
        upstream = {key: np.ones_like(value) for key, value in reference.items()} if not spec.is_loss else {}
        for key in reference:
            np.testing.assert_array_equal(outputs[key], reference[key])
        if not spec.is_loss:
            _, state_ref = run_forward(spec, inputs)
            expected = run_backward(spec, upstream, state_ref)
            got = run_backward(spec, upstream, state)
            for key in expected:
                np.testing.assert_array_equal(got[key], expected[key])
        else:
            for key, grad in run_backward(spec, {}, state).items():
                np.testing.assert_array_equal(grad, reference_grads[key])


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize("spec", [s for s in SPECS if s.name == "temporal_softmax_loss"], ids=spec_id)
@given(data=st.data())
def test_masks_bool_or_01_integers_only(spec, data):
    inputs, _, _ = draw_case(spec, data)
    for name in mask_names(inputs):
        reference_loss, reference_grad = spec.forward(*inputs.values())
        for int_dtype in ("int64", "int8", "uint8"):
            loss, grad = spec.forward(*replaced(inputs, name, inputs[name].astype(int_dtype)).values())
            assert loss == reference_loss and loss.dtype == reference_loss.dtype
            np.testing.assert_array_equal(grad, reference_grad)
        for bad in (inputs[name].astype(np.float64), inputs[name].astype(np.float32), inputs[name].astype(np.float16)):
            broken = replaced(inputs, name, bad)
            raises(TypeError, partial(run_forward, spec, broken), f"'{name}'", str(bad.dtype))
        position = data.draw(st.integers(0, inputs[name].size - 1), label="position")
        for bad_value in (2, -1):
            bad = inputs[name].astype(np.int64)
            bad.flat[position] = bad_value
            broken = replaced(inputs, name, bad)
            raises(ValueError, partial(run_forward, spec, broken), f"'{name}'", "0 and 1")


# --------------------------------------------------------------------------- upstream gradients


def upstream_parameters(spec: LayerSpec) -> list[str]:
    """Names of the backward's upstream-gradient parameters, in the order of ``spec.outputs``."""
    return list(inspect.signature(spec.backward).parameters)[: len(spec.outputs)]


@pytest.mark.parametrize("spec", BACKWARD_SPECS, ids=spec_id)
@given(data=st.data())
def test_bad_upstream_gradients_are_rejected_and_leave_the_cache_usable(spec, data):
    inputs, dtype, source = draw_case(spec, data)
    outputs, cache = run_forward(spec, inputs)
    upstream = make_upstream(spec, outputs, source)
    expected = run_backward(spec, upstream, cache)
    for output, parameter in zip(spec.outputs, upstream_parameters(spec), strict=True):
        good = upstream[output]
        type_breaks = [good.astype(OTHER_FLOAT[dtype]), good.astype(np.float16), np.round(good).astype(np.int64),
                       good > 0]
        shape_breaks = [grown(good, axis) for axis in range(good.ndim)] + [good[None], good[..., None], good[..., 0]]
        for bad in type_breaks:
            broken = replaced(upstream, output, bad)
            raises(TypeError, partial(run_backward, spec, broken, cache), f"'{parameter}'", str(bad.dtype))
        # The other float dtype is a mix with the forward pass's: the message names both dtypes.
        mixed = replaced(upstream, output, good.astype(OTHER_FLOAT[dtype]))
        raises(TypeError, partial(run_backward, spec, mixed, cache), f"'{parameter}'", "float32", "float64")
        for bad in shape_breaks:
            broken = replaced(upstream, output, bad)
            raises(ValueError, partial(run_backward, spec, broken, cache), f"'{parameter}'", str(bad.shape),
                   LAYOUT_TEXT[spec.name][parameter], str(good.shape))
        broken = replaced(upstream, output, good.tolist())
        raises(TypeError, partial(run_backward, spec, broken, cache), f"'{parameter}'")
    again = run_backward(spec, upstream, cache)
    for name in expected:
        np.testing.assert_array_equal(again[name], expected[name], err_msg=f"failed calls changed the cache ({name})")


# --------------------------------------------------------------------------- sigmoid


@pytest.mark.parametrize("dtype", ["float16", "complex64", "complex128", "object", "U3", "datetime64[s]"])
def test_sigmoid_rejects_unsupported_dtypes(dtype):
    x = np.zeros((2, 3)).astype(dtype)
    raises(TypeError, partial(impl.sigmoid, x), "'x'", str(x.dtype))


@given(shape=st.lists(st.integers(0, 3), max_size=4), dtype=st.sampled_from(["float32", "float64", "int8", "int64",
                                                                             "uint16", "bool"]))
def test_sigmoid_any_shape_keeps_float_dtype_and_gives_float64_otherwise(shape, dtype):
    x = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape).astype(dtype)
    out = impl.sigmoid(x)
    assert out.shape == x.shape
    assert out.dtype == (x.dtype if x.dtype.kind == "f" else np.float64)


def test_sigmoid_accepts_python_scalars_and_lists():
    assert impl.sigmoid(0) == 0.5 and impl.sigmoid(0).dtype == np.float64
    np.testing.assert_array_equal(impl.sigmoid([0.0, 0.0]), [0.5, 0.5])


# --------------------------------------------------------------------------- CaptioningRNN


def vocab(size: int = 6, *, start: bool = True, null: bool = True) -> dict[str, int]:
    words = ["<NULL>", "<START>", "<END>"] + [f"w{i}" for i in range(size - 3)]
    if not null:
        words[0] = "pad"
    if not start:
        words[1] = "begin"
    return {word: index for index, word in enumerate(words)}


def model(cell: str = "rnn", dtype=np.float64, **kwargs) -> impl.CaptioningRNN:
    options = dict(input_dim=4, wordvec_dim=3, hidden_dim=5, cell_type=cell, dtype=dtype, seed=0)
    options.update(kwargs)
    return impl.CaptioningRNN(options.pop("word_to_idx", vocab()), **options)


CELLS = ["rnn", "lstm", "gru"]


@pytest.mark.parametrize("cell_type", ["RNN", "Lstm", "transformer", "", None, 3])
def test_unknown_cell_type(cell_type):
    raises(ValueError, partial(model, cell_type), "'cell_type'", repr(cell_type))


def test_vocabulary_needs_null():
    raises(ValueError, partial(model, word_to_idx=vocab(null=False)), "'word_to_idx'", "<NULL>")


@pytest.mark.parametrize("word_to_idx, exc, fragment", [
    ({"<NULL>": 0, "<START>": 2}, ValueError, "[0, 2)"),
    ({"<NULL>": 0, "<START>": 0}, ValueError, "same index"),
    ({"<NULL>": -1, "<START>": 0}, ValueError, "-1"),
    ({"<NULL>": 0, "<START>": 1.0}, TypeError, "float"),
    ({"<NULL>": 0, "<START>": True}, TypeError, "True"),
    ({"<NULL>": 0, "<START>": "1"}, TypeError, "str"),
    ([("<NULL>", 0)], TypeError, "mapping"),
])
def test_vocabulary_must_map_onto_0_to_v(word_to_idx, exc, fragment):
    raises(exc, partial(model, word_to_idx=word_to_idx), "'word_to_idx'", fragment)


def test_vocabulary_indices_of_numpy_integer_type_are_accepted():
    m = model(word_to_idx={"<NULL>": np.int64(0), "<START>": np.uint8(1), "<END>": np.int32(2)})
    assert m._null == 0 and m._start == 1 and m._end == 2
    assert all(type(index) is int for index in m.word_to_idx.values())


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.complex128, "bool"])
def test_model_dtype_must_be_float32_or_float64(dtype):
    raises(TypeError, partial(model, dtype=dtype), "'dtype'", str(np.dtype(dtype)))


@pytest.mark.parametrize("dimension", ["input_dim", "wordvec_dim", "hidden_dim"])
@pytest.mark.parametrize("value, exc", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError),
                                        ("4", TypeError)])
def test_model_dimensions_are_positive_integers(dimension, value, exc):
    raises(exc, partial(model, **{dimension: value}), f"'{dimension}'")


@pytest.mark.parametrize("cell", CELLS)
def test_sample_needs_start_but_loss_does_not(cell):
    m = model(cell, word_to_idx=vocab(start=False))
    features = np.ones((2, 4))
    raises(ValueError, partial(m.sample, features, 3), "<START>")
    loss, grads = m.loss(features, np.array([[0, 3, 4], [5, 0, 0]]))
    assert np.isfinite(loss) and set(grads) == set(m.params)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("columns", [0, 1])
def test_captions_need_at_least_two_steps(cell, columns):
    captions = np.ones((2, columns), dtype=np.int64)
    raises(ValueError, lambda: model(cell).loss(np.ones((2, 4)), captions), "'captions'", str(captions.shape))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("max_length, exc", [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError),
                                             (None, TypeError), ("3", TypeError)])
def test_max_length_must_be_a_positive_integer(cell, max_length, exc):
    raises(exc, lambda: model(cell).sample(np.ones((2, 4)), max_length), "'max_length'")


@pytest.mark.parametrize("cell", CELLS)
def test_max_length_accepts_numpy_integers(cell):
    captions = model(cell).sample(np.ones((2, 4)), np.int32(3))
    assert captions.shape == (2, 3) and captions.dtype == np.int64


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_model_features_contract(cell, dtype):
    m = model(cell, dtype=dtype)
    good = np.ones((2, 4), dtype=dtype)
    captions = np.array([[1, 3, 4], [1, 5, 0]])
    other = np.dtype(OTHER_FLOAT[np.dtype(dtype)])
    for method in (lambda f: m.loss(f, captions), lambda f: m.sample(f, 2)):
        raises(TypeError, partial(method, good.astype(other)), "'features'", "float32", "float64")
        raises(TypeError, partial(method, good.astype(np.float16)), "'features'", "float16")
        raises(TypeError, partial(method, good.astype(np.int64)), "'features'", "int64")
        raises(TypeError, partial(method, good.tolist()), "'features'")
        for bad in (good[:, :3], np.ones((2, 5), dtype)):
            raises(ValueError, partial(method, bad), "'features'", str(bad.shape))
        for bad in (good[0], good[None]):
            raises(ValueError, partial(method, bad), "'features'", str(bad.shape))


@pytest.mark.parametrize("cell", CELLS)
def test_model_captions_contract(cell):
    m = model(cell)
    features = np.ones((2, 4))
    captions = np.array([[1, 3, 4], [1, 5, 0]])
    for bad in (captions.astype(np.float64), captions > 2):
        raises(TypeError, partial(m.loss, features, bad), "'captions'", str(bad.dtype))
    for bad_value in (-1, 6, 100):
        bad = captions.copy()
        bad[1, 2] = bad_value
        raises(ValueError, partial(m.loss, features, bad), "'captions'", str(bad_value))
    for bad in (captions[:1], np.vstack([captions, captions]), captions[None], captions[0]):
        raises(ValueError, partial(m.loss, features, bad), "'captions'", str(bad.shape))
    reference_loss, reference_grads = m.loss(features, captions)
    for index_dtype in ("int32", "uint8", "int16"):
        loss, grads = m.loss(features, captions.astype(index_dtype))
        assert loss == reference_loss
        for name, grad in grads.items():
            np.testing.assert_array_equal(grad, reference_grads[name])


@pytest.mark.parametrize("cell", CELLS)
def test_model_params_contract(cell):
    """Parameters may be replaced, but a wrong dtype, shape or key set is reported by its name."""
    features = np.ones((2, 4))
    captions = np.array([[1, 3, 4], [1, 5, 0]])
    names = list(model(cell).params)
    for name in names:
        m = model(cell)
        m.params[name] = m.params[name].astype(np.float32)
        raises(TypeError, partial(m.loss, features, captions), f'params["{name}"]', "float32", "float64")
        m = model(cell)
        m.params[name] = m.params[name].astype(np.float16)
        raises(TypeError, partial(m.sample, features, 2), f'params["{name}"]', "float16")
        m = model(cell)
        m.params[name] = grown(m.params[name], m.params[name].ndim - 1)
        raises(ValueError, partial(m.loss, features, captions), "params[")
        m = model(cell)
        m.params[name] = m.params[name][None]
        raises(ValueError, partial(m.loss, features, captions), "params[")
    m = model(cell)
    del m.params[names[0]]
    raises(ValueError, partial(m.loss, features, captions), "'params'", names[0])
    m = model(cell)
    m.params["extra"] = np.zeros(3)
    raises(ValueError, partial(m.sample, features, 2), "'params'", "extra")


# --------------------------------------------------------------------------- empty batches, empty sequences


class ZeroDimSource(HypothesisSource):
    """A HypothesisSource whose dimension ``zero`` is 0."""

    def __init__(self, draw, zero: str) -> None:
        super().__init__(draw)
        self.zero = zero

    def dim(self, name: str, low: int = 1, high: int = 4) -> int:
        if name == self.zero:
            return 0
        return super().dim(name, low, high)


class RecordingSource(RandomSource):
    def __init__(self) -> None:
        super().__init__(np.random.default_rng(0))
        self.names: set[str] = set()

    def dim(self, name: str, low: int = 1, high: int = 4) -> int:
        self.names.add(name)
        return super().dim(name, low, high)


def dims_of(spec: LayerSpec) -> set[str]:
    source = RecordingSource()
    spec.make_inputs(source, np.dtype(np.float64))
    return source.names


#: What each layer does with a zero-size dimension: "result" (a defined result of the right shape and
#: dtype, equal to the torch twin's on the zero-padded inputs) or the start of the ValueError message.
ZERO_SIZE = {
    ("affine", "N"): "result",
    ("affine", "M"): "result",
    ("temporal_affine", "N"): "result",
    ("temporal_affine", "T"): "result",
    ("temporal_affine", "D"): "result",
    ("temporal_affine", "M"): "result",
    ("word_embedding", "N"): "result",
    ("word_embedding", "T"): "result",
    ("word_embedding", "D"): "result",
    ("sigmoid", "N"): "result",
    ("sigmoid", "D"): "result",
    ("rnn_step", "N"): "result",
    ("rnn_step", "D"): "result",
    ("rnn_step", "H"): "result",
    ("rnn", "N"): "result",
    ("rnn", "T"): "result",
    ("rnn", "D"): "result",
    ("rnn", "H"): "result",
    ("lstm_step", "N"): "result",
    ("lstm_step", "D"): "result",
    ("lstm_step", "H"): "result",
    ("lstm", "N"): "result",
    ("lstm", "T"): "result",
    ("lstm", "D"): "result",
    ("lstm", "H"): "result",
    ("lstm_with_c0", "N"): "result",
    ("lstm_with_c0", "T"): "result",
    ("lstm_with_c0", "D"): "result",
    ("lstm_with_c0", "H"): "result",
    ("gru_step", "N"): "result",
    ("gru_step", "D"): "result",
    ("gru_step", "H"): "result",
    ("gru", "N"): "result",
    ("gru", "T"): "result",
    ("gru", "D"): "result",
    ("gru", "H"): "result",
    ("temporal_softmax_loss", "N"): "argument 'x' has N = 0",
    ("temporal_softmax_loss", "T"): "result",
    **{(f"captioning_{cell}", "N"): "argument 'features' has N = 0" for cell in CELLS},
    **{(f"captioning_{cell}", "T"): "argument 'captions' has shape" for cell in CELLS},
    # The model's dimensions must be >= 1 (the spec builds a model from the parameter shapes).
    **{(f"captioning_{cell}", "D"): "argument 'input_dim' must be >= 1, got 0" for cell in CELLS},
    **{(f"captioning_{cell}", "W"): "argument 'wordvec_dim' must be >= 1, got 0" for cell in CELLS},
    **{(f"captioning_{cell}", "H"): "argument 'hidden_dim' must be >= 1, got 0" for cell in CELLS},
}

ZERO_CASES = [(spec, dim) for spec in all_specs() for dim in ("N", "T", "D", "H", "M", "W") if dim in dims_of(spec)]


def test_zero_size_table_is_complete():
    assert {(spec.name, dim) for spec, dim in ZERO_CASES} == set(ZERO_SIZE)


class PaddingShapeSource(RandomSource):
    """Replays the sizes of a drawn example with dimension ``zero`` set to 1; every array is zeros/False.

    Running a layer on the zero-size example padded with zeros (indices 0,
    masks False, upstream gradients 0) to these shapes is the reference for
    the zero-size case: padded batch rows, time steps, features or hidden
    units carry zeros and receive zero upstream gradient, so they change
    neither the rest of the outputs nor any gradient. The torch modules cannot
    run zero-size inputs themselves.
    """

    def __init__(self, sizes: dict[str, int], zero: str) -> None:
        super().__init__(np.random.default_rng(0))
        self._dims = {**sizes, zero: 1}

    def floats(self, shape, dtype, low=-1.0, high=1.0):
        return np.zeros(shape, dtype)

    def indices(self, shape, upper):
        return np.zeros(shape, np.int64)

    def mask(self, shape):
        return np.zeros(shape, bool)


def padded(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=array.dtype)
    out[tuple(slice(0, size) for size in array.shape)] = array
    return out


def leading(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return array[tuple(slice(0, size) for size in shape)]


@pytest.mark.parametrize("spec, dim", ZERO_CASES, ids=[f"{spec.name}-{dim}=0" for spec, dim in ZERO_CASES])
@given(data=st.data())
def test_zero_size_dimension(spec, dim, data):
    """A zero-size dimension gives a defined result (that of the zero-padded case), or the pinned ValueError."""
    source = ZeroDimSource(data.draw, dim)
    dtype = draw_dtype(data.draw)
    expected = ZERO_SIZE[(spec.name, dim)]
    inputs = spec.make_inputs(source, dtype)
    if expected != "result":
        raises(ValueError, partial(run_forward, spec, inputs), expected)
        return
    outputs, state = run_forward(spec, inputs)
    upstream = make_upstream(spec, outputs, source)
    grads = run_backward(spec, upstream, state)

    shapes = spec.make_inputs(PaddingShapeSource(source._dims, dim), dtype)
    big_inputs = {name: padded(inputs[name], shapes[name].shape) for name in inputs}
    big_outputs, big_state = run_forward(spec, big_inputs)
    big_upstream = {name: padded(upstream[name], big_outputs[name].shape) for name in upstream}

    def sliced(reference: Evaluation) -> Evaluation:
        return Evaluation({name: leading(value, outputs[name].shape) for name, value in reference.outputs.items()},
                          {name: leading(value, inputs[name].shape) for name, value in reference.grads.items()})

    for name, output in outputs.items():
        assert output.dtype == dtype and output.ndim == len(big_outputs[name].shape), name
    for name, grad in grads.items():
        assert grad.dtype == dtype and grad.shape == inputs[name].shape, name
    comparisons = twin_comparisons(spec, big_inputs, big_upstream, Evaluation(outputs, grads), view=sliced)
    report = [c.describe() for c in comparisons if not c.passed]
    assert not report, "\n".join(report)
