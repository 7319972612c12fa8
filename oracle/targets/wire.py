"""The wire format between the judge and the worker that runs a user's code (:mod:`oracle.targets.worker`).

Only plain data crosses: the judge never unpickles anything the worker sends, and
decodes every reply as if the worker could lie (a frame too large, a dtype that
is not numeric, a shape that does not match its bytes: :class:`WireError`).

Frames
------
A frame is ``HEADER_STRUCT`` (two big-endian unsigned integers: the length of
the JSON header in bytes, the length of the binary payload), then the header
(UTF-8 JSON), then the payload. The header is one JSON object; arrays in it are
``{"a": i}``, entry ``i`` of its ``"arrays"`` list, which gives ``dtype`` (a
numpy dtype string such as ``"<f8"``), ``shape``, ``offset`` and ``nbytes``
of the array's C-ordered bytes in the payload.

Values
------
========================  ===============================================
value                     in the header
========================  ===============================================
``None``, bool, int       JSON's own
float                     ``{"f": repr(value)}`` (NaN and infinities too)
tuple                     ``{"t": [items]}``
list                      ``[items]``
dict                      ``{"d": [[key, value], ...]}`` (str or int keys)
numeric ndarray, scalar   ``{"a": i}`` (a numpy scalar as a 0-d array)
a worker-held object      ``{"h": id, "type": name}`` (a cache, a model)
anything else             ``{"other": type name}``: what it is, never it
                          (a string too: results are numbers)
========================  ===============================================

A numpy subclass (``np.matrix``, an ndarray subclass with its own arithmetic)
crosses as its plain values. Numeric means numpy kinds ``b``, ``i``, ``u``,
``f`` and ``c``; an object or structured array is ``{"other": ...}``.

Requests and replies
--------------------
Judge to worker, first ``{"op": "import", "target": TEXT, "base": FOLDER,
"names": [public names]}`` (a notebook's ``"cells"``: ``[[index, execution
count, source], ...]``, each answered by ``{"cell": index, "status": "ok" |
"raised", "message": ..., "imports": [line per import skipped]}``; or
``"pickled"``, a kernel's objects), answered by ``{"status": "ok", "found":
{name: "function" | "class" | "other" | "missing"}, "notes": [line per import
skipped], "unfinished": {name: what shows it a stub}}`` (or ``"error"`` with
``"message"``, or ``"exited"`` with ``"code"``). Then requests of calls::

    {"op": "calls", "recipe": {...}, "args": [values], "keep_last": bool,
     "take": int | null, "watch": bool, "release": [handle ids],
     "calls": [{"id": K, "replace": [[position, flat index | null, value], ...]}, ...]}

(:mod:`oracle.specs.calls` says what a recipe is). Each call runs on fresh copies of
``args`` with its replacements made (one element set, or a whole argument
replaced), and is answered by one reply, in order, so the judge can time each:
``{"id": K, "status": S, ...}`` with ``S``: ``"ok"`` (``"value"``, and
``"mutated"``: ``[[argument position, array after the call], ...]`` when
``watch``), ``"raised"`` (``"type"``, ``"message"``, ``"where"``,
``"unfinished"``, ``"not_implemented"``, ``"not_supported"``),
``"out_of_memory"`` or ``"exited"`` (``"code"``).
``take``: only the first ``take`` results of a tuple come back; ``keep_last``:
its last result stays in the worker and a handle comes back instead.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Lengths of the header and of the payload, in front of every frame.
HEADER_STRUCT = struct.Struct(">IQ")

#: The largest header the judge accepts, in bytes.
MAX_HEADER = 64 * 2**20

#: numpy kinds that cross as arrays: bool, signed and unsigned integers, floats, complex.
NUMERIC_KINDS = frozenset("biufc")

#: How deep containers may nest in one value.
MAX_DEPTH = 32

#: The longest text (a type name, a message) kept from the worker.
MAX_TEXT = 2000


class WireError(Exception):
    """A frame or value that breaks the format (sent by a worker that cannot be trusted to keep it)."""


@dataclass(frozen=True)
class Handle:
    """An object the worker keeps (a forward pass's cache, a model): its id and type name, never its contents."""

    id: int
    type: str
    generation: int = 0


@dataclass(frozen=True)
class Other:
    """A result of a kind that does not cross (a torch tensor, a generator, a string): its type name only."""

    type: str

    def __repr__(self) -> str:
        return f"<{self.type} object>"


class Encoder:
    """Builds one frame: values go into the header, arrays into the payload.

    ``keep(value)`` is called for values that are neither data nor ``None``:
    the worker registers them and returns a :class:`Handle`; ``None`` (the
    judge) refuses them.
    """

    def __init__(self, keep: Callable[[Any], Handle] | None = None) -> None:
        self.arrays: list[dict[str, Any]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self._seen: dict[int, int] = {}  # id(array) -> index: an array sent twice in one frame crosses once
        self._alive: list[Any] = []
        self._keep = keep

    def array(self, value: np.ndarray, original: Any) -> dict[str, int]:
        """``{"a": i}`` for ``value``, the plain array of ``original`` (the same ``original`` crosses once)."""
        key = id(original)
        if key in self._seen:
            return {"a": self._seen[key]}
        self._alive.append(original)  # ids stay unique while the frame is built
        data = np.ascontiguousarray(value).tobytes()
        self.arrays.append({"dtype": value.dtype.str, "shape": list(value.shape), "offset": self.size,
                            "nbytes": len(data)})
        self.chunks.append(data)
        self.size += len(data)
        self._seen[key] = len(self.arrays) - 1
        return {"a": len(self.arrays) - 1}

    def value(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError(f"values nested more than {MAX_DEPTH} deep")
        if value is None or type(value) in (bool, int):
            return value
        if type(value) is float:
            return {"f": repr(value)}
        if isinstance(value, Handle):
            return {"h": value.id, "type": value.type}
        if isinstance(value, np.ndarray | np.generic):
            if id(value) in self._seen:
                return {"a": self._seen[id(value)]}
            plain = np.asarray(value).view(np.ndarray) if isinstance(value, np.ndarray) else np.asarray(value)
            if plain.dtype.kind in NUMERIC_KINDS and plain.dtype.fields is None:
                return self.array(plain, value)
        elif type(value) is tuple:
            return {"t": [self.value(item, depth + 1) for item in value]}
        elif type(value) is list:
            return [self.value(item, depth + 1) for item in value]
        elif type(value) is dict and all(type(key) in (str, int) for key in value):
            return {"d": [[key, self.value(item, depth + 1)] for key, item in value.items()]}
        if self._keep is not None:
            handle = self._keep(value)
            return {"h": handle.id, "type": handle.type}
        return {"other": type(value).__name__}

    def frame(self, header: dict[str, Any]) -> bytes:
        text = json.dumps({**header, "arrays": self.arrays}, allow_nan=False).encode()
        return HEADER_STRUCT.pack(len(text), self.size) + text + b"".join(self.chunks)


def encode(header: dict[str, Any], fields: dict[str, Any], keep: Callable[[Any], Handle] | None = None) -> bytes:
    """One frame: ``header`` as given, and each of ``fields`` encoded as a value (see the module docstring)."""
    encoder = Encoder(keep)
    encoded = {name: encoder.value(value) for name, value in fields.items()}
    return encoder.frame({**header, **encoded})


def parse_lengths(prefix: bytes, max_payload: int) -> tuple[int, int]:
    """The header and payload lengths of a frame from its first ``HEADER_STRUCT.size`` bytes, within the limits."""
    header_length, payload_length = HEADER_STRUCT.unpack(prefix)
    if header_length > MAX_HEADER or payload_length > max_payload:
        raise WireError(f"a frame of {header_length} + {payload_length} bytes, over the limit of "
                        f"{MAX_HEADER} + {max_payload}")
    return header_length, payload_length


class Decoder:
    """Reads values out of one frame's header and payload, checking everything."""

    def __init__(self, header: dict[str, Any], payload: bytes, generation: int = 0,
                 resolve: Callable[[int], Any] | None = None) -> None:
        self.payload = payload
        self.generation = generation
        self._resolve = resolve
        entries = header.get("arrays", [])
        if not isinstance(entries, list):
            raise WireError("'arrays' is not a list")
        self._entries = entries
        self._cache: dict[int, np.ndarray] = {}

    def array(self, index: Any) -> np.ndarray:
        if type(index) is not int or not 0 <= index < len(self._entries):
            raise WireError(f"array reference {index!r} out of range")
        if index in self._cache:
            return self._cache[index]
        entry = self._entries[index]
        try:
            dtype = np.dtype(str(entry["dtype"]))
            shape = tuple(entry["shape"])
            offset, nbytes = entry["offset"], entry["nbytes"]
        except (KeyError, TypeError, ValueError) as error:
            raise WireError(f"array entry {index} is malformed: {error}") from error
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.hasobject:
            raise WireError(f"array entry {index} has the non-numeric dtype {dtype}")
        if not all(type(size) is int and size >= 0 for size in shape) or len(shape) > 64:
            raise WireError(f"array entry {index} has the shape {shape!r}")
        if (type(offset) is not int or type(nbytes) is not int or offset < 0
                or nbytes != math.prod(shape) * dtype.itemsize or offset + nbytes > len(self.payload)):
            raise WireError(f"array entry {index} does not match its bytes")
        array = np.frombuffer(self.payload, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape).copy()
        self._cache[index] = array
        return array

    def value(self, encoded: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError(f"values nested more than {MAX_DEPTH} deep")
        if encoded is None or type(encoded) in (bool, int):
            return encoded
        if type(encoded) is str:
            return Other("str")
        if type(encoded) is list:
            return [self.value(item, depth + 1) for item in encoded]
        if type(encoded) is not dict or len(encoded) not in (1, 2):
            raise WireError(f"a value of the form {type(encoded).__name__} is not in the format")
        if "a" in encoded:
            return self.array(encoded["a"])
        if "f" in encoded and type(encoded["f"]) is str:
            try:
                return float(encoded["f"])
            except ValueError as error:
                raise WireError(f"{encoded['f'][:40]!r} is not a float") from error
        if "t" in encoded and type(encoded["t"]) is list:
            return tuple(self.value(item, depth + 1) for item in encoded["t"])
        if "d" in encoded and type(encoded["d"]) is list:
            pairs = encoded["d"]
            if not all(type(pair) is list and len(pair) == 2 and type(pair[0]) in (str, int) for pair in pairs):
                raise WireError("a dict entry is not a [str or int key, value] pair")
            return {pair[0]: self.value(pair[1], depth + 1) for pair in pairs}
        if "h" in encoded and type(encoded["h"]) is int:
            if self._resolve is not None:
                return self._resolve(encoded["h"])
            return Handle(encoded["h"], str(encoded.get("type", "object"))[:200], self.generation)
        if "other" in encoded:
            return Other(str(encoded["other"])[:200])
        raise WireError(f"unknown value keys {sorted(map(str, encoded))[:4]}")


def decode_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a frame, which must be an object."""
    try:
        header = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise WireError(f"the header is not JSON: {error}") from error
    if not isinstance(header, dict):
        raise WireError("the header is not a JSON object")
    return header
