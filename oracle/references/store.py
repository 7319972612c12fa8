"""The reference store: a case's references computed once, kept on the judge's side, never trusted blindly.

Every target of a class is audited on the same drawn cases, so the torch twin's
outputs and gradients, the float32 rounding rule's spread
(:mod:`oracle.references.rounding`) and the finite differences of the spec's
reference forward pass (:mod:`oracle.judge.reference_differences`) are the same
for every target. The judge asks for them through :func:`twin_result`,
:func:`rounding_result` and that module, which look in the :func:`active` store
first and compute (and keep) what is missing.

What an entry is keyed by (:func:`entry_key`)
--------------------------------------------
- the store format (:data:`FORMAT_VERSION`) and the kind of reference
  (``"twin"``, ``"rounding"`` or ``"finite_differences"``);
- the spec: its name, outputs, gradients, upstream outputs, and its
  *reference version* (:func:`reference_version`), a SHA-256 of what the twin
  (or, for finite differences, the reference forward pass) is made of: its
  functions' code, defaults and closures, and the source of
  :mod:`oracle.references`, :mod:`impl.cell_layouts` (all of :mod:`impl` for a
  forward pass) and every module those functions come from, so an edited twin,
  or another twin under the same name, never reads an old result (a twin
  holding anything else is never kept);
- the case: a SHA-256 of every input and upstream gradient (name, dtype,
  shape and bytes), which fixes the seed, dtype and sizes it was drawn with;
- where and how it ran: the device and its precision settings, numpy's and
  torch's versions, torch's thread count, the CPU's vector capability and
  architecture;
- for the rounding spread, the rule's parameters (runs, unit roundoff, seed)
  and the part of it the entry holds: the plain run (with the draws it
  counted), or the sums of squared deviations of the runs up to a number
  (:func:`rounding_staged`); for finite differences, the method's parameters
  (step, element-wise limit, directions and the state of the generator that
  draws them, the source of the method).

Entries on disk (:class:`ReferenceStore` with a folder)
-------------------------------------------------------
One file per entry, named by the SHA-256 of its key: a magic line, one line
of JSON (the key, the arrays' names, numeric dtypes and shapes, the payload's
SHA-256 and two HMACs) and the payload, the arrays' bytes (read back with
``numpy.frombuffer``: nothing in a file is ever unpickled or run). A file is
written to a temporary name in the same folder and renamed into place
(atomic on POSIX), so concurrent judge processes never see half an entry;
an existing valid entry is never rewritten.

An entry is used only when its key is the one asked for, its payload's
checksum holds, and it is *trusted*: either its HMAC under this run's key
(random, held in the judge processes' memory only) holds, because a judge
process of this run wrote it, or it was already in the store when the run
opened it (the manifest of :meth:`ReferenceStore.open` holds the digest of
every file then, each checked against the store's own secret). Anything else
(another format or version, a checksum that fails, a file that changed or
appeared while the run's workers ran) is noted on stderr, recomputed and
written again. A store can therefore make an audit faster, never change a
verdict: a result read from it is bit-for-bit the one computed.

Threat model
------------
The store sits on the judge's side of the process boundary
(:mod:`oracle.targets.boundary`): no worker is told its path (not in its
environment, arguments or open files; ``tests/test_reference_store.py``
checks all three). A target that finds the folder anyway and writes into it
during a run cannot get its file used in that run (the manifest and the run's
key). What it writes between two runs of a kept store (``--references DIR``)
is checked against the store's secret, a file beside the entries: a target
running as a user who can read that file could forge an entry for a *later*
run. Keep such a store where the targets' user cannot write (a folder built
by another user, or read-only), or run the workers in a sandbox that hides it
(issue 30's Landlock rules). A store made for one run, in a temporary folder,
has no such exposure: its entries are trusted only under the run's key.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import hmac
import json
import os
import platform
import secrets
import sys
import tempfile
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from oracle.specs.spec import Arrays, Evaluation, LayerSpec

if TYPE_CHECKING:
    from oracle.references.rounding import StagedSpread

#: The version of the entry format and of what a key holds; entries of another version are never read.
FORMAT_VERSION = 1

#: The first line of every entry file.
MAGIC = b"rnn-oracle reference store\n"

#: The store's secret, beside its entries, made once with mode 0600.
SECRET_FILE = "secret"

#: Bytes of results a store keeps in memory (the least recently used go first); disk entries stay.
MEMORY_BYTES = 128 * 2**20

#: The packages whose source makes up every twin (a change in any of them is a new reference version).
REFERENCE_SOURCES = (Path(__file__).resolve().parent, Path(__file__).resolve().parents[2] / "impl" / "cell_layouts.py")

#: The source of a reference forward pass besides its own modules' (:data:`FINITE_DIFFERENCES`): impl, all of it.
IMPL_SOURCES = (Path(__file__).resolve().parents[2] / "impl",)

#: The kinds of entry: the twin's outputs and gradients, the rounding rule's float64 result and runs, and the
#: float64 finite differences of the spec's reference forward pass (``LayerSpec.reference_forward``).
TWIN, ROUNDING, FINITE_DIFFERENCES = "twin", "rounding", "finite_differences"


class StoreError(Exception):
    """An entry that cannot be used; the message says why (it is noted, and the reference recomputed)."""


def note(text: str) -> None:
    """Tell the person running the audit (stderr); a note never enters a report, a verdict or points."""
    print(f"rnn-oracle: reference store: {text}", file=sys.stderr, flush=True)


# --- keys ---------------------------------------------------------------------------------------------------------


def case_digest(inputs: Arrays, upstream: Arrays) -> str:
    """SHA-256 of a case: every input and upstream gradient's name, dtype, shape and bytes, in order."""
    digest = hashlib.sha256()
    for part, arrays in (("inputs", inputs), ("upstream", upstream)):
        digest.update(part.encode())
        for name, value in arrays.items():
            array = np.ascontiguousarray(value)
            digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


class Unknown(Exception):
    """A part of a twin whose identity cannot be told from its code and values (then nothing is kept)."""


def twin_identity(value: Any, modules: set[str], depth: int = 0) -> Any:
    """A JSON-able description of ``value`` that changes whenever what it computes may change.

    Functions are described by their code (bytecode, constants, names, recursively), defaults and closure
    cells; dataclasses and partials by their fields; plain values by themselves. The modules whose globals
    the functions read are added to ``modules`` (their source is hashed too). Anything else raises
    :class:`Unknown`: a twin holding it is computed every time, never kept.
    """
    if depth > 12:
        raise Unknown("nested too deeply")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if isinstance(value, tuple | list | frozenset | set):
        items = [twin_identity(item, modules, depth + 1) for item in value]
        return sorted(items, key=json.dumps) if isinstance(value, frozenset | set) else items
    if isinstance(value, dict):
        return [[twin_identity(key, modules, depth + 1), twin_identity(item, modules, depth + 1)]
                for key, item in value.items()]
    if isinstance(value, types.CodeType):
        return [value.co_name, value.co_code.hex(), list(value.co_names), list(value.co_varnames),
                [twin_identity(constant, modules, depth + 1) for constant in value.co_consts]]
    if isinstance(value, types.ModuleType):
        return ["module", value.__name__]
    if isinstance(value, types.FunctionType):
        modules.add(value.__module__)
        cells = [twin_identity(cell.cell_contents, modules, depth + 1) for cell in value.__closure__ or ()]
        return ["function", value.__module__, value.__qualname__, twin_identity(value.__code__, modules, depth + 1),
                twin_identity(value.__defaults__, modules, depth + 1),
                twin_identity(value.__kwdefaults__, modules, depth + 1), cells]
    if isinstance(value, functools.partial):
        return ["partial", twin_identity(value.func, modules, depth + 1), twin_identity(value.args, modules, depth + 1),
                twin_identity(value.keywords, modules, depth + 1)]
    if isinstance(value, type):
        modules.add(value.__module__)
        return ["class", value.__module__, value.__qualname__]
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        return ["array", array.dtype.str, list(array.shape), hashlib.sha256(array.tobytes()).hexdigest()]
    if dataclasses.is_dataclass(value):
        return ["dataclass", twin_identity(type(value), modules, depth + 1),
                [[item.name, twin_identity(getattr(value, item.name), modules, depth + 1)]
                 for item in dataclasses.fields(value)]]
    if isinstance(value, types.BuiltinFunctionType):
        return ["builtin", getattr(value, "__module__", None), value.__qualname__]
    raise Unknown(f"a {type(value).__name__}")


@functools.cache
def _sources_digest(files: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def reference_version(spec: LayerSpec, kind: str = TWIN) -> str | None:
    """SHA-256 of what the spec's reference is made of, or ``None`` when it cannot be told (then nothing is kept).

    The reference is the twin, or for :data:`FINITE_DIFFERENCES` the spec's reference forward pass. Its
    version is :func:`twin_identity` of it and the source of :data:`REFERENCE_SOURCES` and of every module
    whose functions it uses. Computed once per object (kept alive with it, so that its id is not reused).
    """
    reference = spec.reference_forward if kind == FINITE_DIFFERENCES else spec.twin
    if reference is None:
        return None
    known = _VERSIONS.get(id(reference))
    if known is not None and known[0] is reference:
        return known[1]
    # impl's whole source for a forward pass: impl's functions call each other through module attributes.
    version = _reference_version(reference, IMPL_SOURCES if kind == FINITE_DIFFERENCES else ())
    _VERSIONS[id(reference)] = (reference, version)
    return version


#: Reference versions by twin or forward pass: ``{id(reference): (reference, version)}``.
_VERSIONS: dict[int, tuple[Any, str | None]] = {}


def _reference_version(reference: Any, sources: tuple[Path, ...] = ()) -> str | None:
    modules: set[str] = set()
    try:
        identity = twin_identity(reference, modules)
    except Unknown:
        return None
    files = {path.resolve() for root in (*REFERENCE_SOURCES, *sources)
             for path in (sorted(root.rglob("*.py")) if root.is_dir() else [root])}
    for name in modules:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path is None or not Path(path).is_file():
            return None
        files.add(Path(path).resolve())
    digest = hashlib.sha256(json.dumps(identity).encode())
    digest.update(_sources_digest(tuple(sorted(files))).encode())
    return digest.hexdigest()


@functools.cache
def _versions() -> dict[str, Any]:
    import torch

    return {"numpy": np.__version__, "torch": torch.__version__, "machine": platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def environment_key(device: str) -> dict[str, Any]:
    """What a twin's result depends on besides its code and case: versions, threads, CPU, device and precision."""
    import torch

    from oracle.references.twins.device import precision_settings

    # The precision switches even on the CPU: float32_matmul_precision "medium" may multiply in bfloat16 there.
    return {**_versions(), "torch_threads": torch.get_num_threads(), "device": device,
            "precision": precision_settings(device)}


def rounding_parameters() -> dict[str, Any]:
    """The float32 rounding rule's parameters (:mod:`oracle.references.rounding`)."""
    from oracle.references.rounding import SPREAD_SEED
    from oracle.specs.tolerances import ROUNDING_RUNS, UNIT_ROUNDOFF

    return {"runs": ROUNDING_RUNS, "unit_roundoff": UNIT_ROUNDOFF, "seed": SPREAD_SEED}


def entry_key(kind: str, spec: LayerSpec, inputs: Arrays, upstream: Arrays, device: str,
              parameters: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The key of a reference (see the module docstring); ``None`` for a spec whose reference's source is unknown.

    ``parameters``: what else the reference depends on (the finite differences' steps and directions).
    """
    version = reference_version(spec, kind)
    if version is None:
        return None
    key = {"format": FORMAT_VERSION, "kind": kind, "spec": spec.name, "reference_version": version,
           "outputs": list(spec.outputs), "grads": list(spec.grads), "upstream_outputs": list(spec.upstream_outputs),
           "case": case_digest(inputs, upstream), **environment_key(device)}
    if kind == ROUNDING:
        key["rounding"] = rounding_parameters()
    if parameters is not None:
        key["parameters"] = parameters
    return key


def key_name(key: dict[str, Any]) -> str:
    """The entry's file name: the SHA-256 of its key's canonical JSON."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


# --- entries --------------------------------------------------------------------------------------------------------


#: The dtypes an entry may hold: numeric ones, so that reading one never runs code (no object arrays, no pickle).
NUMERIC_KINDS = "biufc"


def _evaluations_payload(evaluations: tuple[Evaluation, ...]) -> tuple[list, bytes] | None:
    """``(layout, bytes)`` of evaluations whose every value is a numeric numpy array; ``None`` if one is not.

    The layout lists, per evaluation and part (``outputs``, ``grads``), ``[name, dtype, shape]`` of each
    array in order; the bytes are the arrays' C-order bytes one after the other.
    """
    layout, chunks = [], []
    for evaluation in evaluations:
        parts = {}
        for part in ("outputs", "grads"):
            values = getattr(evaluation, part)
            if not all(type(value) is np.ndarray and value.dtype.kind in NUMERIC_KINDS for value in values.values()):
                return None
            parts[part] = [[name, value.dtype.str, list(value.shape)] for name, value in values.items()]
            chunks += [np.ascontiguousarray(value).tobytes() for value in values.values()]
        layout.append(parts)
    return layout, b"".join(chunks)


def _evaluations_from(layout: list, payload: bytes) -> tuple[Evaluation, ...]:
    """The evaluations of :func:`_evaluations_payload`'s layout and bytes; ``ValueError`` if they do not fit."""
    offset, evaluations = 0, []
    for parts in layout:
        found: dict[str, dict[str, np.ndarray]] = {}
        for part in ("outputs", "grads"):
            found[part] = {}
            for name, dtype_text, shape in parts[part]:
                dtype = np.dtype(dtype_text)
                if dtype.kind not in NUMERIC_KINDS or not all(type(size) is int and size >= 0 for size in shape):
                    raise ValueError(f"an array {name!r} of dtype {dtype_text!r} and shape {shape!r}")
                count = int(np.prod(shape, dtype=np.int64))
                found[part][name] = np.frombuffer(payload, dtype, count, offset).reshape(shape).copy()
                offset += count * dtype.itemsize
        evaluations.append(Evaluation(found["outputs"], found["grads"]))
    if offset != len(payload):
        raise ValueError(f"{len(payload) - offset} bytes left over")
    return tuple(evaluations)


def _macs(secret: bytes, run_key: bytes, head: bytes) -> dict[str, str]:
    return {"mac": hmac.new(secret, head, "sha256").hexdigest(),
            "run_mac": hmac.new(run_key, head, "sha256").hexdigest()}


def _head(key: dict[str, Any], layout: list, payload: bytes) -> bytes:
    return json.dumps({"key": key, "layout": layout, "sha256": hashlib.sha256(payload).hexdigest()},
                      sort_keys=True).encode()


def encode_entry(key: dict[str, Any], evaluations: tuple[Evaluation, ...], secret: bytes, run_key: bytes) -> bytes:
    """The bytes of an entry file holding ``evaluations`` under ``key``, signed with ``secret`` and ``run_key``.

    :class:`StoreError` when a value is not a numeric numpy array (such results are never kept).
    """
    packed = _evaluations_payload(evaluations)
    if packed is None:
        raise StoreError("a value is not a numeric numpy array")
    layout, payload = packed
    header = {"key": key, "layout": layout, "sha256": hashlib.sha256(payload).hexdigest(),
              **_macs(secret, run_key, _head(key, layout, payload))}
    return MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload


def decode_entry(data: bytes) -> tuple[dict[str, Any], tuple[Evaluation, ...]]:
    """``(header, evaluations)`` of an entry file's bytes whose checksum holds (its HMACs are not checked here)."""
    header, payload = parse_entry(data)
    check_entry(header, payload)
    try:
        return header, _evaluations_from(header["layout"], payload)
    except (KeyError, TypeError, ValueError, OSError) as error:
        raise StoreError(f"its arrays cannot be read ({error})") from error


def parse_entry(data: bytes) -> tuple[dict[str, Any], bytes]:
    """``(header, payload)`` of an entry file's bytes; :class:`StoreError` for a file that is not one."""
    if not data.startswith(MAGIC):
        raise StoreError("not an entry of a reference store")
    line_end = data.find(b"\n", len(MAGIC))
    if line_end < 0:
        raise StoreError("its header is cut short")
    try:
        header = json.loads(data[len(MAGIC):line_end])
    except ValueError as error:
        raise StoreError(f"its header is not JSON ({error})") from error
    if not isinstance(header, dict) or not isinstance(header.get("key"), dict):
        raise StoreError("its header has no key")
    return header, data[line_end + 1:]


def check_entry(header: dict[str, Any], payload: bytes) -> None:
    """:class:`StoreError` unless the payload's checksum is the header's."""
    if header.get("sha256") != hashlib.sha256(payload).hexdigest():
        raise StoreError("its checksum fails (the file was changed or cut short)")


@dataclass
class ReferenceStore:
    """References by key: in memory, and in ``folder`` when given (see the module docstring).

    Made by :meth:`memory` (this process only) or :meth:`open` (a folder shared by a run's judge processes,
    and kept between runs). It is pickled to the judge processes of ``-j`` with its keys, never to a worker.

    Attributes
    ----------
    folder
        Where entries are kept; ``None``: in memory only.
    secret
        The store's secret (its file's content): the HMAC of entries kept between runs.
    run_key
        This run's random key: the HMAC of the entries this run writes.
    manifest
        ``{file name: SHA-256 of the file}`` of the trusted entries present when the run opened the store.
    keep
        ``False``: keep nothing, compute every reference (:meth:`off`; what a run did before the store).
    """

    folder: Path | None = None
    secret: bytes = b""
    run_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    manifest: dict[str, str] = field(default_factory=dict)
    keep: bool = True
    _memory: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _memory_bytes: int = 0
    _noted: set = field(default_factory=set, repr=False)
    hits: int = 0
    misses: int = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "secret": self.secret, "run_key": self.run_key, "manifest": self.manifest,
                "keep": self.keep}

    def __reduce__(self) -> tuple[Callable[[dict[str, Any]], ReferenceStore], tuple[dict[str, Any]]]:
        # A judge process of -j gets the run's store with each target: one store object per process, so that
        # what it read for one target stays in its memory for the next.
        return _store_here, (self.__getstate__(),)

    @classmethod
    def memory(cls) -> ReferenceStore:
        """A store in this process's memory alone."""
        return cls()

    @classmethod
    def off(cls) -> ReferenceStore:
        """A store that keeps nothing: every reference is computed where it is needed."""
        return cls(keep=False)

    @classmethod
    def open(cls, folder: str | Path, notes: Callable[[str], None] = note) -> ReferenceStore:
        """The store in ``folder`` (made if absent), with the manifest of the entries it holds now.

        Each file is read once: one that is not an entry, fails its checksum or its secret's HMAC, or was
        made with another format, versions or rounding rule is noted (once per kind of reason) and left out
        of the manifest; the entries a run needs are then recomputed and written again.
        """
        folder = Path(folder).resolve()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            store = cls(folder, _secret(folder))
        except OSError as error:
            notes(f"{folder}: cannot be used ({error}); the references are kept in memory only")
            return cls()
        stale: dict[str, int] = {}
        current = {**_versions(), "format": FORMAT_VERSION}
        for path in sorted(folder.glob("*/*.ref")):
            data = path.read_bytes()
            try:
                header, payload = parse_entry(data)
                check_entry(header, payload)
                head = _head(header["key"], header.get("layout", []), payload)
                if not hmac.compare_digest(str(header.get("mac", "")), _macs(store.secret, b"", head)["mac"]):
                    raise StoreError("its HMAC fails under this store's secret")
            except StoreError as error:
                reason = f"that cannot be trusted ({error})"
                stale[reason] = stale.get(reason, 0) + 1
                continue
            key = header["key"]
            wanted = {**current, **({"rounding": rounding_parameters()} if key.get("kind") == ROUNDING else {})}
            differing = [name for name, value in wanted.items() if key.get(name) != value]
            if differing:
                reason = "made with " + ", ".join(f"{name} {_shown(key.get(name))} (now {_shown(wanted[name])})"
                                                  for name in differing)
                stale[reason] = stale.get(reason, 0) + 1
                continue
            store.manifest[path.name] = hashlib.sha256(data).hexdigest()
        for reason, number in stale.items():
            notes(f"{folder}: {number} entr{'y' if number == 1 else 'ies'} {reason}: ignored; the references they "
                  "held are computed again")
        return store

    # --- look-up ---

    def get(self, key: dict[str, Any] | None, compute: Callable[[], tuple[Evaluation, ...]]) -> tuple[Evaluation, ...]:
        """The evaluations kept under ``key``, else ``compute()``'s, kept (``key`` ``None``: computed, not kept)."""
        if key is None or not self.keep:
            return compute()
        name = key_name(key)
        if name in self._memory:
            self._memory.move_to_end(name)
            self.hits += 1
            return _copied(self._memory[name][0])
        found = self._read(name, key) if self.folder is not None else None
        if found is not None:
            self.hits += 1
            self._remember(name, found)
            return _copied(found)
        self.misses += 1
        computed = compute()
        if _evaluations_payload(computed) is not None:
            self._remember(name, _copied(computed))
            if self.folder is not None:
                self._write(name, key, computed)
        return computed

    def _path(self, name: str) -> Path:
        assert self.folder is not None
        return self.folder / name[:2] / f"{name}.ref"

    def _read(self, name: str, key: dict[str, Any]) -> tuple[Evaluation, ...] | None:
        path = self._path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            self._note(f"{path}: cannot be read ({error}): recomputed")
            return None
        try:
            header, payload = parse_entry(data)
            check_entry(header, payload)
            if header["key"] != key:
                raise StoreError("its key is not the one its name stands for")
            head = _head(key, header.get("layout", []), payload)
            macs = _macs(self.secret, self.run_key, head)
            written_now = hmac.compare_digest(str(header.get("run_mac", "")), macs["run_mac"])
            kept = (self.manifest.get(path.name) == hashlib.sha256(data).hexdigest()
                    and hmac.compare_digest(str(header.get("mac", "")), macs["mac"]))
            if not (written_now or kept):
                raise StoreError("it was not in the store when this run opened it, nor written by this run's judge")
            return _evaluations_from(header["layout"], payload)
        except (StoreError, KeyError, TypeError, ValueError, OSError) as error:
            self._note(f"{path}: {error}: recomputed and written again")
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def _write(self, name: str, key: dict[str, Any], evaluations: tuple[Evaluation, ...]) -> None:
        path = self._path(name)
        data = encode_entry(key, evaluations, self.secret, self.run_key)
        try:
            path.parent.mkdir(exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".writing-", dir=path.parent)
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(temporary, path)  # atomic: a reader sees the old entry or the whole new one
        except OSError as error:
            self._note(f"{self.folder}: cannot write an entry ({error}); the references are kept in memory only")

    def kept_names(self) -> set[str]:
        """The names of the entries this process holds in memory now."""
        return set(self._memory)

    def kept_since(self, names: set[str]) -> dict[str, tuple[Evaluation, ...]]:
        """The entries held in memory that ``names`` (:meth:`kept_names` before) lacks: what a forked judge
        process computed, for the process it came from (:mod:`oracle.targets.forked_lane`)."""
        return {name: evaluations for name, (evaluations, _) in self._memory.items() if name not in names}

    def keep_all(self, entries: dict[str, tuple[Evaluation, ...]]) -> None:
        """Hold ``entries`` (:meth:`kept_since` of a forked judge process of this run) in memory."""
        for name, evaluations in entries.items():
            if name not in self._memory:
                self._remember(name, evaluations)

    def _remember(self, name: str, evaluations: tuple[Evaluation, ...]) -> None:
        size = sum(value.nbytes for evaluation in evaluations for part in (evaluation.outputs, evaluation.grads)
                   for value in part.values())
        self._memory[name] = (evaluations, size)
        self._memory_bytes += size
        while self._memory_bytes > MEMORY_BYTES and len(self._memory) > 1:
            _, (_, dropped) = self._memory.popitem(last=False)
            self._memory_bytes -= dropped

    def _note(self, text: str) -> None:
        if text not in self._noted:
            self._noted.add(text)
            note(text)


#: The stores this process was given (unpickled), by folder and run key: see :meth:`ReferenceStore.__reduce__`.
_STORES_HERE: dict[tuple[str, bytes], ReferenceStore] = {}


def _store_here(state: dict[str, Any]) -> ReferenceStore:
    """The store ``state`` describes: the one this process already has for it, else a new one."""
    key = (str(state["folder"]), state["run_key"])
    store = _STORES_HERE.get(key)
    if store is None or store.__getstate__() != state:
        store = _STORES_HERE[key] = ReferenceStore(**state)
    return store


def _copied(evaluations: tuple[Evaluation, ...]) -> tuple[Evaluation, ...]:
    """Fresh copies: a caller that writes into a result never changes what the store keeps."""
    return tuple(Evaluation({name: value.copy() for name, value in evaluation.outputs.items()},
                            {name: value.copy() for name, value in evaluation.grads.items()})
                 for evaluation in evaluations)


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)


def _secret(folder: Path) -> bytes:
    """The store's secret: read from its file, or made (32 random bytes, mode 0600) when there is none.

    It is written whole under another name and linked into place, so that a second run opening a new store
    at the same moment reads all of it or makes it, never half of it.
    """
    path = folder / SECRET_FILE
    if not path.exists():
        handle, temporary = tempfile.mkstemp(prefix=".secret-", dir=folder)  # mode 0600
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(secrets.token_bytes(32))
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return path.read_bytes()


# --- the active store -------------------------------------------------------------------------------------------

_ACTIVE: contextvars.ContextVar[ReferenceStore | None] = contextvars.ContextVar("reference_store", default=None)
_PROCESS_STORE = ReferenceStore.memory()


def active() -> ReferenceStore:
    """The store in use: the one :func:`using` set, else this process's memory store."""
    return _ACTIVE.get() or _PROCESS_STORE


@contextlib.contextmanager
def using(store: ReferenceStore) -> Iterator[ReferenceStore]:
    """Use ``store`` for the references computed inside."""
    token = _ACTIVE.set(store)
    try:
        yield store
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def opened(folder: str | Path | None) -> Iterator[ReferenceStore]:
    """The store of ``--references DIR`` in use inside; without a folder, this process's memory store."""
    with using(ReferenceStore.open(folder) if folder is not None else active()) as store:
        yield store


@contextlib.contextmanager
def shared() -> Iterator[ReferenceStore]:
    """The active store if it has a folder, else one in a temporary folder for this run (removed on leaving).

    What the judge processes of ``-j`` share: each gets the store (its folder and keys) as an argument.
    """
    if active().folder is not None:
        yield active()
        return
    with tempfile.TemporaryDirectory(prefix="rnn-oracle-references-") as folder, using(ReferenceStore.open(folder)) \
            as store:
        yield store


def twin_result(spec: LayerSpec, inputs: Arrays, upstream: Arrays, device: str = "cpu") -> Evaluation:
    """``spec.twin(inputs, upstream, device)``, from the active store when it holds it."""
    key = entry_key(TWIN, spec, inputs, upstream, device)
    return active().get(key, lambda: (spec.twin(inputs, upstream, device),))[0]


def rounding_staged(spec: LayerSpec, inputs: Arrays, upstream: Arrays) -> StagedSpread:
    """A case's :class:`oracle.references.rounding.StagedSpread`, its plain run and each stage from the active store.

    The plain run and each stage are entries of their own (the stage's key
    holds the number of runs it ends at), so that an audit that needs only the
    first stages reads or computes only those, and any later one finds them.
    """
    from oracle.references.rounding import PerturbedRun, Stage, StagedSpread, next_stage, plain_run

    key = entry_key(ROUNDING, spec, inputs, upstream, "cpu")

    def part(name: str, value: Any) -> dict[str, Any] | None:
        return None if key is None else {**key, "part": [name, value]}

    def plain_from_store() -> PerturbedRun:
        def compute() -> tuple[Evaluation, ...]:
            run = plain_run(spec, inputs, upstream)
            return run.evaluation, _numbers(draws=run.draws, values=run.values, tensors=run.tensors)

        precise, counts = active().get(part("plain", 0), compute)
        return PerturbedRun(precise, **_read_numbers(counts))

    def stage_from_store(plain: PerturbedRun, before: Stage | None, runs: range) -> Stage:
        def compute() -> tuple[Evaluation, ...]:
            made = next_stage(spec, inputs, upstream, plain, before, runs)
            return made.squares, _numbers(runs=made.runs, position=made.position)

        squares, numbers = active().get(part("runs through", runs.stop), compute)
        return Stage(squares, **_read_numbers(numbers))

    return StagedSpread(plain_from_store, stage_from_store)


def _numbers(**numbers: int) -> Evaluation:
    """Integers as an entry holds them: 0-d int64 arrays among an evaluation's outputs."""
    return Evaluation({name: np.array(number, dtype=np.int64) for name, number in numbers.items()}, {})


def _read_numbers(numbers: Evaluation) -> dict[str, int]:
    return {name: int(value) for name, value in numbers.outputs.items()}


def rounding_result(spec: LayerSpec, inputs: Arrays, upstream: Arrays) -> tuple[Evaluation, Evaluation]:
    """:func:`oracle.references.rounding.rounding_spread` of a case, each part from the active store if it holds it."""
    staged = rounding_staged(spec, inputs, upstream)
    return staged.precise, staged.spread()
