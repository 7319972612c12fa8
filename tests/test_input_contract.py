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
break one argument at a time with each entry of a table of breakages. What
they need to know about a layer is on its spec: the symbolic layout that
says which axes must agree between arguments, how messages spell it, the
index inputs and their bounds, and the layer's own error inputs
(:class:`oracle.specs.contract.InputContract`), and what a zero size does
(``LayerSpec.zero_size``). The sigmoid (any shape, integer input allowed)
and the captioning model have tests of their own further down.
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
from impl.cell_layouts import CELL_TYPES, gate_count
from oracle.judge.checks import twin_comparisons
from oracle.layers import all_specs
from oracle.specs.contract import RESULT, InputContract
from oracle.specs.sources import RandomSource
from oracle.specs.spec import Arrays, Evaluation, LayerSpec, make_upstream, run_backward, run_forward
from tests.hypothesis_source import HypothesisSource, draw_dtype
from tests.impl_cases import RECURRENT_LAYERS, vocabulary

OTHER_FLOAT = {np.dtype(np.float32): np.dtype(np.float64), np.dtype(np.float64): np.dtype(np.float32)}


#: Layers with a generic input contract (the sigmoid and the captioning model have tests of their own below).
SPECS = [spec for spec in all_specs() if spec.contract is not None]
BACKWARD_SPECS = [spec for spec in SPECS if not spec.is_loss]


def contract(spec: LayerSpec) -> InputContract:
    assert spec.contract is not None
    return spec.contract


def example_inputs(spec: LayerSpec) -> Arrays:
    return spec.make_inputs(RandomSource(np.random.default_rng(0)), np.dtype(np.float64))


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


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_contract_names_every_input_as_the_functions_do(spec):
    """The layout covers the inputs, which are the forward's parameter names the messages print."""
    inputs = example_inputs(spec)
    assert set(contract(spec).layout(inputs)) == set(inputs)
    parameters = list(inspect.signature(spec.forward).parameters)
    assert parameters[: len(inputs)] == list(inputs), (
        f"{spec.name}: spec inputs {list(inputs)} are not the parameters {parameters} the messages name"
    )
    upstream = upstream_parameters(spec) if not spec.is_loss else []
    assert set(inputs) | set(upstream) <= set(contract(spec).layout_text), "layout_text must spell every argument"


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
        if name in contract(spec).variable_ndim:
            continue  # any ndim within a range is valid: the spec's error inputs say which are not
        variants = [array[None], array[..., None], array[..., 0]]
        for bad in variants:
            broken = replaced(inputs, name, bad)
            raises(ValueError, partial(run_forward, spec, broken), f"'{name}'", str(bad.shape),
                   contract(spec).layout_text[name])


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_sizes_that_must_agree_are_checked(spec, data):
    """Growing an axis shared with another argument raises ValueError naming one of them and its shape;
    growing a free axis is a valid call."""
    inputs, _, source = draw_case(spec, data)
    layout = contract(spec).layout(inputs)
    holders: dict[str, set[str]] = {}
    for name, symbols in layout.items():
        for symbol in symbols:
            for part in {symbol, *symbol.split("+")}:  # an axis "H+D" is held by H's and D's holders too
                holders.setdefault(part, set()).add(name)
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
            layouts = contract(spec).layout_text
            assert any(mentions(message, str(broken[holder].shape)) and mentions(message, layouts[holder])
                       for holder in named), f"{message!r} does not show the received shape and layout of {named}"


# --------------------------------------------------------------------------- word indices and labels


INDEX_SPECS = [spec for spec in SPECS if contract(spec).index_bounds]


@pytest.mark.parametrize("spec", INDEX_SPECS, ids=spec_id)
@given(data=st.data())
def test_bad_indices_are_rejected(spec, data):
    inputs, _, _ = draw_case(spec, data)
    for name, bound in contract(spec).index_bounds.items():
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
@pytest.mark.parametrize("spec", INDEX_SPECS, ids=spec_id)
@given(data=st.data())
def test_any_integer_index_dtype_gives_the_int64_result(spec, index_dtype, data):
    inputs, _, source = draw_case(spec, data)
    reference, reference_grads = run(spec, inputs, source)
    for name in contract(spec).index_bounds:
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


@pytest.mark.parametrize("spec", [spec for spec in SPECS if mask_names(example_inputs(spec))], ids=spec_id)
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


# --------------------------------------------------------------------------- a layer's own error inputs


@pytest.mark.parametrize("spec", [spec for spec in SPECS if contract(spec).error_inputs], ids=spec_id)
@given(data=st.data())
def test_error_inputs_of_the_spec_are_rejected(spec, data):
    inputs, _, _ = draw_case(spec, data)
    error_inputs = contract(spec).error_inputs
    assert error_inputs is not None
    for case in error_inputs(inputs):
        raises(case.error, partial(run_forward, spec, case.inputs), *case.keywords)


# --------------------------------------------------------------------------- upstream gradients


def upstream_parameters(spec: LayerSpec) -> list[str]:
    """Names of the backward's upstream-gradient parameters, in the order of ``spec.upstream_outputs``."""
    return list(inspect.signature(spec.backward).parameters)[: len(spec.upstream_outputs)]


@pytest.mark.parametrize("spec", BACKWARD_SPECS, ids=spec_id)
@given(data=st.data())
def test_bad_upstream_gradients_are_rejected_and_leave_the_cache_usable(spec, data):
    inputs, dtype, source = draw_case(spec, data)
    outputs, cache = run_forward(spec, inputs)
    upstream = make_upstream(spec, outputs, source)
    expected = run_backward(spec, upstream, cache)
    for output, parameter in zip(spec.upstream_outputs, upstream_parameters(spec), strict=True):
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
                   contract(spec).layout_text[parameter], str(good.shape))
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
    assert m.word_to_idx == {"<NULL>": 0, "<START>": 1, "<END>": 2}
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


#: The size dimensions whose zero case every spec that draws them declares in ``LayerSpec.zero_size``.
SIZE_DIMS = ("N", "T", "D", "H", "M", "W")

ZERO_CASES = [(spec, dim) for spec in all_specs() for dim in spec.zero_size]


@pytest.mark.parametrize("spec", all_specs(), ids=spec_id)
def test_zero_size_is_declared_for_every_size_dimension(spec):
    assert {dim for dim in dims_of(spec) if dim in SIZE_DIMS} <= set(spec.zero_size)


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
    expected = spec.zero_size[dim]
    inputs = spec.make_inputs(source, dtype)
    if expected != RESULT:
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


# --------------------------------------------------------------------------- exact messages and layouts
# Written to kill mutants of impl's validation that the generic tests above let survive: a backward pass
# given a foreign cache, messages whose whole text is the contract, the type named in a type error, and
# the symbolic layout each CaptioningRNN message spells for every argument and parameter.


@pytest.mark.mutation_killer
@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_backward_rejects_a_foreign_cache(layer):
    """A cache from another layer (or anything else) is a TypeError naming the forward pass it needs."""
    spec = RECURRENT_LAYERS[layer]
    backward = spec.backward
    foreign = impl.affine_forward(np.ones((1, 2)), np.ones((2, 3)), np.ones(3))[1]
    upstream = [np.ones((1, 1, 1))] * (len(inspect.signature(backward).parameters) - 1)
    for cache in (foreign, None, object()):
        with pytest.raises(TypeError) as info:
            backward(*upstream, cache)
        message = str(info.value)
        assert message.startswith(f"argument 'cache' of {spec.backward_name} must be the cache returned by "
                                  f"{spec.forward_name}, got "), message
        assert message.endswith(type(cache).__name__)


# --------------------------------------------------------------------------- messages without computed detail


@pytest.mark.mutation_killer
def test_plain_error_messages_in_full():
    """Errors whose message is fixed text: the whole message is the contract."""
    vocab = {"<NULL>": 0, "<START>": 1, "w": 2}
    cases = [
        (lambda: impl.CaptioningRNN({"a": 0, "<START>": 1}),
         "argument 'word_to_idx' has no '<NULL>' entry; the loss needs it to mask padding"),
        (lambda: impl.CaptioningRNN({"<NULL>": 0, "<END>": 0}),
         "argument 'word_to_idx' maps several special tokens to the same index: {'<NULL>': 0, '<END>': 0}"),
        (lambda: impl.CaptioningRNN({"<NULL>": 0, "a": 1}, input_dim=2, wordvec_dim=2, hidden_dim=2).sample(
            np.ones((1, 2), np.float32)),
         "the vocabulary has no '<START>' entry, so sample() has no first word to feed"),
        (lambda: impl.CaptioningRNN(vocab, input_dim=2, wordvec_dim=2, hidden_dim=2).loss(
            np.ones((0, 2), np.float32), np.ones((0, 3), np.int64)),
         "argument 'features' has N = 0 rows; the loss is a mean over the batch and needs N >= 1"),
        (lambda: impl.temporal_softmax_loss(np.ones((0, 2, 3)), np.ones((0, 2), np.int64), np.ones((0, 2), bool)),
         "argument 'x' has N = 0 sequences; the loss is a mean over the batch and needs N >= 1"),
        (lambda: impl.CaptioningRNN(vocab, input_dim=2, wordvec_dim=2, hidden_dim=2).loss(
            np.ones((2, 2), np.float32), np.ones((2, 1), np.int64)),
         "argument 'captions' has shape (2, 1); it needs T+1 >= 2 columns (an input word and the word to predict)"),
    ]
    for call, expected in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == expected


# --------------------------------------------------------------------------- CaptioningRNN: types named


@pytest.mark.mutation_killer
@pytest.mark.parametrize("name", ["input_dim", "wordvec_dim", "hidden_dim"])
@pytest.mark.parametrize("value, type_name", [(2.5, "float"), ("4", "str"), (None, "NoneType"), ([3], "list")])
def test_model_dimension_type_errors_name_the_type(name, value, type_name):
    with pytest.raises(TypeError) as info:
        impl.CaptioningRNN(vocabulary(5), **{name: value})
    assert str(info.value) == f"argument '{name}' must be an integer, got {type_name}"


@pytest.mark.mutation_killer
@pytest.mark.parametrize("word_to_idx, type_name", [([("<NULL>", 0)], "list"), (None, "NoneType"), ("<NULL>", "str")])
def test_vocabulary_type_error_names_the_type(word_to_idx, type_name):
    with pytest.raises(TypeError) as info:
        impl.CaptioningRNN(word_to_idx)
    assert str(info.value) == f"argument 'word_to_idx' must be a mapping, got {type_name}"


# --------------------------------------------------------------------------- CaptioningRNN: layouts spelled


def _model_for_params(cell):
    model = impl.CaptioningRNN(vocabulary(6), input_dim=4, wordvec_dim=3, hidden_dim=2, cell_type=cell,
                               dtype=np.float64, seed=0)
    return model, np.ones((2, 4)), np.array([[1, 3, 4], [1, 5, 0]])


#: The layout each CaptioningRNN message spells for its arguments and parameters.
MODEL_LAYOUTS = {"features": "(N, D)", "captions": "(N, T+1)", "W_proj": "(D, H)", "b_proj": "(H,)",
                 "W_embed": "(V, W)", "W_vocab": "(H, V)", "b_vocab": "(V,)"}


def gate_layouts(cell: str) -> dict[str, str]:
    """The layouts the model's messages spell for the cell's parameters: the gate count written out (``1H`` too)."""
    width = f"{gate_count(cell)}H"
    layouts = {"Wx": f"(W, {width})", "Wh": f"(H, {width})", "b": f"({width},)"}
    return {**layouts, "bh": f"({width},)"} if cell == "gru" else layouts


#: Symbolic axes of the parameters (gate multiples of H spelled H): a grown axis may be reported on any
#: parameter sharing its symbol, since the model reads D and H from W_proj and W from W_embed.
PARAM_AXES = {"W_embed": "VW", "W_proj": "DH", "b_proj": "H", "Wx": "WH", "Wh": "HH", "b": "H", "bh": "H",
              "W_vocab": "HV", "b_vocab": "V"}


@pytest.mark.mutation_killer
@pytest.mark.parametrize("cell", CELL_TYPES)
def test_model_parameter_shape_errors_name_parameter_shape_and_layout(cell):
    """Every parameter grown along any axis, or given an extra axis, is rejected before any arithmetic, for
    loss and for sample, by a message naming a parameter that disagrees, its shape and its layout."""
    layouts = {**MODEL_LAYOUTS, **gate_layouts(cell)}
    names = list(_model_for_params(cell)[0].params)
    for name in names:
        original = _model_for_params(cell)[0].params[name]
        variants = [(original[None], {name})]
        for axis, symbol in enumerate(PARAM_AXES[name]):
            grown = np.concatenate([original, np.take(original, [-1], axis=axis)], axis=axis)
            suspects = {other for other in names if symbol in PARAM_AXES[other]}
            variants.append((grown, suspects | {"features"} if symbol == "D" else suspects))
        for bad, suspects in variants:
            for method in ("loss", "sample"):
                model, features, captions = _model_for_params(cell)
                model.params[name] = bad
                call = partial(model.loss, features, captions)
                if method == "sample":
                    call = partial(model.sample, features, 2)
                with pytest.raises(ValueError) as info:
                    call()
                message = str(info.value)
                named = re.match(r"argument '(?:params\[\"(\w+)\"\]|(features))' ", message)
                assert named, (name, message)
                suspect = named.group(1) or named.group(2)
                assert suspect in suspects, (name, message)
                shown = features if suspect == "features" else model.params[suspect]
                assert str(shown.shape) in message and f" {layouts[suspect]}" in message, message


@pytest.mark.mutation_killer
@pytest.mark.parametrize("cell", CELL_TYPES)
def test_model_feature_and_caption_errors_spell_the_layout(cell):
    model, features, captions = _model_for_params(cell)
    for bad in (features[:, :3], features[0], features[None]):
        with pytest.raises(ValueError) as info:
            model.loss(bad, captions)
        assert str(info.value).startswith("argument 'features' ") and " (N, D)" in str(info.value)
    for bad in (captions[None], captions[0], captions[:1]):
        with pytest.raises(ValueError) as info:
            model.loss(features, bad)
        assert str(info.value).startswith("argument 'captions' ") and " (N, T+1)" in str(info.value)
