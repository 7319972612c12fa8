"""The worker: the only process that imports a user's implementation and calls its code.

Started by the judge (:mod:`oracle.targets.boundary`) as
``python -I -c ... REQUEST_FD REPLY_FD LIMIT_BYTES POLICY``; it confines itself to
the sandbox ``POLICY`` says (:mod:`oracle.targets.confine`) before it imports this
module, numpy or the target. Its standard output and error go to a pipe the judge
reads and caps, never to the protocol's pipes. It reads requests and writes replies
in the format of :mod:`oracle.targets.wire`: first a frame saying what of the sandbox
held, then the import of the target, then calls, each answered by one reply.

Everything here runs next to the user's code, which can change it: nothing in
this process is trusted. What it sends back is taken as what the user's code
returned, and judged elsewhere.
"""

from __future__ import annotations

import ast
import json
import linecache
import os
import resource
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from oracle.specs.calls import CellTypeRefused, recipe_function
from oracle.targets import autograd, backends, wire
from oracle.targets.frames import is_users
from oracle.targets.imports import SkippedImport, run_statements
from oracle.targets.loading import Target, TargetError, describe_error, load_target
from oracle.targets.notebooks import cell_name
from oracle.targets.placeholders import placeholder_left, unfinished_function

#: The course helpers a learner's notebook imports but does not come with, by module name, and where
#: this project's stand-ins for them are (deeplearning.ai's ``rnn_utils``, ``public_tests``, ``test_utils``).
STANDINS = ("rnn_utils", "public_tests", "test_utils")
STANDIN_FOLDER = Path(__file__).resolve().parent / "standins"

#: Replies of a batch are written out at least this often (seconds), so the judge's clock sees progress.
FLUSH_SECONDS = 0.02


class Worker:
    """The worker's state: the imported target and the objects it keeps for the judge (by handle id)."""

    def __init__(self, requests: BinaryIO, replies: BinaryIO) -> None:
        self.requests, self.replies = requests, replies
        self.target: Target | None = None
        self.kept: dict[int, Any] = {}
        self.next_id = 1
        self.functions: dict[tuple, Any] = {}
        self.flushed = time.monotonic()
        self.backend = backends.Backend()

    def keep(self, value: Any) -> wire.Handle:
        handle = wire.Handle(self.next_id, type(value).__name__)
        self.kept[self.next_id] = value
        self.next_id += 1
        return handle

    def resolve(self, handle: int) -> Any:
        if handle not in self.kept:
            raise wire.WireError(f"no kept object {handle}")
        return self.kept[handle]

    def read(self) -> tuple[dict[str, Any], bytes] | None:
        prefix = self.requests.read(wire.HEADER_STRUCT.size)
        if len(prefix) < wire.HEADER_STRUCT.size:
            return None
        header_length, payload_length = wire.HEADER_STRUCT.unpack(prefix)
        header = wire.decode_header(self.requests.read(header_length))
        return header, self.requests.read(payload_length)

    def send(self, header: dict[str, Any], fields: dict[str, Any] | None = None) -> None:
        """Queue a reply; replies go out at least every :data:`FLUSH_SECONDS` and at the end of a request."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a stream the user's code replaced or closed
                pass
        self.replies.write(wire.encode(header, fields or {}))
        if time.monotonic() - self.flushed > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.replies.flush()
        self.flushed = time.monotonic()

    def load(self, request: dict[str, Any], payload: bytes) -> None:
        """Import the target: a file, folder or module, a notebook's cells, or objects pickled in a kernel.

        The course helpers a learner's folder lacks (:data:`STANDINS`) are found last on the path, in
        this project's stand-ins; the reply says which were used.
        """
        for folder in [*request.get("paths", []), str(STANDIN_FOLDER)]:
            if folder not in sys.path:
                sys.path.append(folder)
        port = backends.PortOptions(**request.get("port", {}))
        backends.prepare(port.device)
        try:
            if "cells" in request:
                self.target = self.run_cells(request)
            elif "pickled" in request:
                self.target = _unpickled(request, wire.Decoder(request, payload).value(request["pickled"]))
            else:
                self.target = load_target(request["target"], Path(request["base"]))
        except SystemExit as exit_:
            self.send({"status": "exited", "code": _exit_code(exit_)})
            return
        except TargetError as error:
            self.send({"status": "error", "message": str(error)})
            return
        except BaseException as error:  # KeyboardInterrupt, MemoryError, ... while importing
            self.send({"status": "error", "message": f"cannot import {request['target']}: {describe_error(error)}"})
            return
        functions = {name: self.target.find(name) for name in request.get("names", [])}
        found = {name: _kind(function) for name, function in functions.items()}
        unfinished = {name: text for name, function in functions.items()
                      if (text := unfinished_function(function))}
        used = [name for name in STANDINS
                if str(getattr(sys.modules.get(name), "__file__", "")).startswith(str(STANDIN_FOLDER))]
        try:
            chosen, why = backends.choose(port, backends.namespaces_of(self.target.modules, functions.values()))
            self.backend = backends.backend(chosen, port.device)
        except backends.BackendError as error:
            self.send({"status": "error", "message": str(error)})
            return
        # In the header: names, kinds and notes are text, not values.
        self.send({"status": "ok", "found": found, "standins": used, "notes": list(self.target.notes),
                   "unfinished": unfinished, "backend": chosen, "chosen": why})

    def run_cells(self, request: dict[str, Any]) -> Target:
        """Run a notebook's cells in one module, in order, each compiled under a name that cites it.

        After each cell, a frame ``{"cell": index, "status": "ok" | "raised", "message": ..., "imports": [...]}``
        tells the judge (which times each cell); a cell that raises, or exits, is reported and the next one
        runs. Each top-level import runs on its own: one that fails is listed in ``"imports"`` (one line
        each, :meth:`~oracle.targets.imports.SkippedImport.describe`) and the rest of the cell runs.
        """
        base = request["base"]
        if base not in sys.path:
            sys.path.insert(0, base)
        module = types.ModuleType("_rnn_oracle_notebook")
        sys.modules[module.__name__] = module
        for index, count, source in request["cells"]:
            frame: dict[str, Any] = {"cell": index, "status": "ok"}
            name = cell_name(request["target"], index, count)
            linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # for tracebacks and stubs
            skipped: list[SkippedImport] = []
            try:
                run_statements(ast.parse(source, name), name, module.__dict__, skipped)
            except BaseException as error:  # the cell failed: the judge reports it, and the next cell runs
                if isinstance(error, SystemExit):
                    text = f"called sys.exit({_exit_code(error)!r})"
                else:
                    text = f"raised {type(error).__name__}: {_text(error)}"
                where = _where(error)
                frame = {"cell": index, "status": "raised", "message": text + (f" at {where}" if where else "")}
            frame["imports"] = [imported.describe() for imported in skipped]
            self.send(frame)
            self.flush()
        return Target(request["target"], (module,))

    def function(self, recipe: dict[str, str]) -> Any:
        key = tuple(sorted(recipe.items()))
        if key not in self.functions:
            assert self.target is not None
            if "autograd" in recipe:  # a backward the port lacks, from its library's autograd
                self.functions[key] = autograd.function(recipe, self.target.find, self.backend)
            else:
                self.functions[key] = recipe_function(recipe, self.target.find)
        return self.functions[key]

    def calls(self, request: dict[str, Any], payload: bytes) -> None:
        """Run a request's calls: each on fresh copies of its arguments, changed as the call says; one reply each."""
        for handle in request.get("release", []):
            self.kept.pop(handle, None)
        try:
            decoder = wire.Decoder(request, payload, resolve=self.resolve)
            base = list(decoder.value(request.get("args", [])))
            changes = [[(position, index, decoder.value(value)) for position, index, value in call.get("replace", [])]
                       for call in request.get("calls", [])]
            # Calls that keep only the outputs (finite differences) need no autograd graph.
            function = self.function(autograd.without_graph(request["recipe"]) if request.get("take") is not None
                                     else request["recipe"])
        except Exception as error:
            for call in request.get("calls", []):
                self.send({"id": call.get("id"), "status": "raised", "type": type(error).__name__,
                           "message": str(error)[:2000], "where": "",
                           "not_implemented": isinstance(error, NotImplementedError)})
            return
        for call, change in zip(request.get("calls", []), changes, strict=True):
            args = [value.copy() if isinstance(value, np.ndarray) else value for value in base]
            for position, index, value in change:
                if index is None:
                    args[position] = value
                else:
                    args[position].reshape(-1)[index] = value
            self.call(call.get("id"), function, args, request)

    def call(self, call_id: Any, function: Any, args: list[Any], request: dict[str, Any]) -> None:
        header = {"id": call_id}
        sent = [array.copy() if request.get("watch") and isinstance(array, np.ndarray) else None for array in args]
        try:
            given = self.backend.arguments(args)  # a port's library's arrays (numpy: the arrays themselves)
            value = function(*given)
        except SystemExit as exit_:
            self.send({**header, "status": "exited", "code": _exit_code(exit_)})
            return
        except MemoryError:
            self.send({**header, "status": "out_of_memory"})
            return
        except BaseException as error:
            placeholder = placeholder_left(error)
            self.send({**header, "status": "raised", "type": type(error).__name__, "message": _text(error),
                       "where": _where(error), "unfinished": placeholder[:1000],
                       "not_implemented": isinstance(error, NotImplementedError) or bool(placeholder),
                       "not_supported": isinstance(error, CellTypeRefused)})
            return
        if isinstance(value, tuple) and value:
            if request.get("take") is not None:
                value = value[:request["take"]]
            elif request.get("keep_last") and value[-1] is not None:  # a stub's (None, None) stays what it is
                value = (*value[:-1], self.keep(value[-1]))
        try:
            value = self.backend.to_numpy(value)
            after = [self.backend.to_numpy(array) if before is not None else None
                     for array, before in zip(given, sent, strict=True)]
        except Exception as error:  # the library could not bring its arrays back (a broken device)
            self.send({**header, "status": "raised", "type": type(error).__name__, "message": _text(error),
                       "where": "", "not_implemented": False})
            return
        mutated = [(position, array) for position, (array, before) in enumerate(zip(after, sent, strict=True))
                   if before is not None and not (isinstance(array, np.ndarray) and _same(array, before))]
        try:
            self.send({**header, "status": "ok"}, {"value": value, "mutated": mutated})
        except MemoryError:
            self.send({**header, "status": "out_of_memory"})

    def serve(self) -> None:
        while (message := self.read()) is not None:
            header, payload = message
            if header.get("op") == "import":
                self.load(header, payload)
            elif header.get("op") == "calls":
                self.calls(header, payload)
            self.flush()


def _kind(found: Any) -> str:
    if found is None:
        return "missing"
    return "class" if isinstance(found, type) else "function" if callable(found) else "other"


def _same(array: np.ndarray, before: np.ndarray) -> bool:
    return (array.shape == before.shape and array.dtype == before.dtype
            and bool(np.array_equal(array, before, equal_nan=before.dtype.kind in "fc")))


def _exit_code(exit_: SystemExit) -> Any:
    return exit_.code if exit_.code is None or type(exit_.code) is int else str(exit_.code)[:200]


def _text(error: BaseException) -> str:
    try:
        return str(error)[:2000]
    except Exception:
        return f"(a {type(error).__name__} whose message cannot be shown)"


def _where(error: BaseException) -> str:
    """``file:line`` of the innermost frame of the user's code (:func:`oracle.targets.frames.is_users`), or ``""``.

    A notebook cell's code is compiled under :func:`oracle.targets.notebooks.cell_name`: ``RNN.ipynb, cell 7 (In [3]),
    line 5``. An error raised before the user's code ran (a call with the wrong arguments) has no such frame.
    """
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if is_users(frame.filename)]
    if not frames:
        return ""
    separator = ", line " if ", cell " in frames[-1].filename else ":"
    return f"{frames[-1].filename}{separator}{frames[-1].lineno}"


def _unpickled(request: dict[str, Any], data: Any) -> Target:
    """The objects a kernel sent by value (cloudpickle), as a target."""
    import cloudpickle  # the extra rnn-oracle[notebook]; the kernel that sent them has it

    base = request["base"]
    if base not in sys.path:
        sys.path.insert(0, base)
    module = types.ModuleType("_rnn_oracle_kernel")
    for name, value in cloudpickle.loads(bytes(data)).items():
        setattr(module, name, value)
    return Target(request["target"], (module,))


def main(argv: list[str], sandbox: dict[str, Any]) -> None:
    """Serve requests on the file descriptors given in ``argv``, with the address space limited to ``argv[2]``.

    ``sandbox`` is what held of the confinement (:func:`oracle.targets.confine.confine`, run before this module
    was imported): the first frame tells the judge, before the target runs. Under ``--sandbox require`` a
    worker that lacks a protection ends there, without importing the target.
    """
    request_fd, reply_fd, limit = int(argv[0]), int(argv[1]), int(argv[2])
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    requests = os.fdopen(request_fd, "rb")
    replies = os.fdopen(reply_fd, "wb", buffering=1 << 20)
    replies.write(wire.encode({"sandbox": sandbox}, {}))
    replies.flush()
    required = json.loads(argv[3]).get("mode") == "require"
    if required and not all(sandbox.get(name) for name in ("files", "network", "processes")):
        return
    Worker(requests, replies).serve()
