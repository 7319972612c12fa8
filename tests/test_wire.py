"""The wire format alone (:mod:`oracle.targets.wire`): what crosses, and what a lying worker can't make the judge do."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oracle.targets import wire


def round_trip(value, keep=None):
    """``value`` encoded into a frame and decoded from it, as the judge reads a reply."""
    frame = wire.encode({}, {"value": value}, keep=keep)
    header_length, payload_length = wire.parse_lengths(frame[:wire.HEADER_STRUCT.size], 2**30)
    header = wire.decode_header(frame[wire.HEADER_STRUCT.size:wire.HEADER_STRUCT.size + header_length])
    payload = frame[wire.HEADER_STRUCT.size + header_length:]
    assert len(payload) == payload_length
    return wire.Decoder(header, payload).value(header["value"])


class Lying(np.ndarray):
    """An array whose subtraction lies: it must cross as its plain values."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(self.shape)


def test_numeric_data_crosses_exactly():
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), [np.float64(np.nan), 2, True, None],
             {"W": np.array([[1 + 2j]]), 3: np.array(7, dtype=np.int8)}, float("-inf"), np.zeros((0, 4)))
    back = round_trip(value)
    assert back[0].dtype == np.float32 and np.array_equal(back[0], value[0])
    assert np.isnan(back[1][0]) and back[1][1:] == [2, True, None]
    assert back[2]["W"][0, 0] == 1 + 2j and back[2][3].dtype == np.int8 and back[3] == float("-inf")
    assert back[4].shape == (0, 4)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own warning
def test_a_subclass_or_a_matrix_crosses_as_its_plain_values():
    back = round_trip(np.arange(4.0).view(Lying))
    assert type(back) is np.ndarray and np.array_equal(back, np.arange(4.0))
    back = round_trip(np.matrix([[1.0, 2.0]]))
    assert type(back) is np.ndarray and back.shape == (1, 2)


def test_an_array_sent_twice_crosses_once_and_comes_back_twice():
    array = np.ones(3)
    frame = wire.encode({}, {"value": [array, array]})
    assert frame.count(array.tobytes()) == 1
    first, second = round_trip([array, array])
    assert np.array_equal(first, second)


@pytest.mark.parametrize("value", [np.array(["a"]), np.array([object()], dtype=object), (i for i in range(2)),
                                   "text", {1.5: 2}])
def test_what_is_not_numeric_data_crosses_as_its_type_name(value):
    assert round_trip(value) == wire.Other(type(value).__name__)


def test_what_the_worker_keeps_crosses_as_a_handle():
    kept = []

    def keep(value):
        kept.append(value)
        return wire.Handle(len(kept), type(value).__name__)

    assert round_trip(object(), keep=keep) == wire.Handle(1, "object")


def header_with(array_entry, value=None):
    return {"arrays": [array_entry], "value": {"a": 0} if value is None else value}


@pytest.mark.parametrize(("header", "payload"), [
    (header_with({"dtype": "|O", "shape": [1], "offset": 0, "nbytes": 8}), bytes(8)),
    (header_with({"dtype": "<f8", "shape": [3], "offset": 0, "nbytes": 24}), bytes(16)),
    (header_with({"dtype": "<f8", "shape": [-1], "offset": 0, "nbytes": 8}), bytes(8)),
    (header_with({"dtype": "<f8", "shape": [2], "offset": 0, "nbytes": 8}), bytes(16)),
    (header_with({"dtype": "<f8", "shape": [1], "offset": 0, "nbytes": 8}, {"a": 5}), bytes(8)),
    (header_with({"dtype": [("x", "<f8")], "shape": [1], "offset": 0, "nbytes": 8}), bytes(8)),
    ({"value": {"pickle": "gASVAAAAAAAAAA=="}}, b""),
    ({"value": {"f": "not a number"}}, b""),
    ({"value": {"d": [[1.5, 2]]}}, b""),
    ({"value": json.loads("[" * 40 + "]" * 40)}, b""),
])
def test_a_malformed_value_is_refused(header, payload):
    with pytest.raises(wire.WireError):
        wire.Decoder(header, payload).value(header["value"])


def test_a_frame_over_the_limit_or_a_header_that_is_not_json_is_refused():
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.parse_lengths(wire.HEADER_STRUCT.pack(10, 2**40), 2**30)
    for text in (b"\xff\xfe", b"[1, 2]", b"{" * 10**5):
        with pytest.raises(wire.WireError):
            wire.decode_header(text)
