"""Ports written with torch, JAX or CuPy: arrays cross into the port's library and back, in the worker.

The judge sends numpy arrays and reads numpy arrays (:mod:`oracle.targets.wire`
stays plain data). In the worker, next to the user's code, a :class:`Backend`
turns each numpy argument into an array of the port's library before the call
(:meth:`Backend.to_library`: zero-copy through DLPack on the CPU where the
library allows it, onto the GPU with ``--device cuda``) and every array the
call returned back into numpy (:meth:`Backend.to_numpy`). Dtypes are kept:
JAX runs with 64-bit types enabled (``JAX_ENABLE_X64``, set before the target
is imported), so a float64 case stays float64 and a port that promotes
float32 comes back promoted. After the call the arguments are read back into
numpy, and the worker compares them with copies taken before: an in-place
change is seen whether the memory was shared (torch on the CPU) or not (a GPU).

The library is the one the target's code imports (:func:`detect`), or the one
``--backend`` names. It is imported only then: a numpy target's worker
imports none of them. A missing library is a :class:`BackendError` naming
the extra that installs it (:data:`EXTRAS`).

``--autograd`` supplies the backward functions a port lacks from its library's
autograd (:mod:`oracle.targets.autograd`).

Like the rest of the worker, nothing here is trusted by the judge.
"""

from __future__ import annotations

import importlib
import os
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The libraries a port may be written with.
LIBRARIES = ("torch", "jax", "cupy")

#: What ``--backend`` takes: numpy (no conversion) or one of :data:`LIBRARIES`.
BACKENDS = ("numpy", *LIBRARIES)

#: What installs each library, for the message when it is missing.
EXTRAS = {"torch": "rnn-oracle[oracle] (pip install 'rnn-oracle[oracle]')",
          "jax": "rnn-oracle[jax] (pip install 'rnn-oracle[jax]')",
          "cupy": "rnn-oracle[cupy] (pip install 'rnn-oracle[cupy]'; it needs a CUDA GPU)"}


class BackendError(Exception):
    """A port that cannot be run as asked: its library is missing, or the device is not there."""


@dataclass(frozen=True)
class PortOptions:
    """How a target's arrays cross (plain data, sent with the import request).

    Attributes
    ----------
    backend
        ``None``: detected from the target's imports (:func:`detect`); else one of :data:`BACKENDS`.
    device
        ``"cpu"``, ``"cuda"`` or ``"cuda:K"``: where a port's arrays are put.
    autograd
        Backward functions the target lacks come from its library's autograd (:mod:`oracle.targets.autograd`).
    """

    backend: str | None = None
    device: str = "cpu"
    autograd: bool = False

    def flags(self) -> tuple[str, ...]:
        """The command line's options for these (``--device`` is the audit's own)."""
        return (*(("--backend", self.backend) if self.backend else ()), *(("--autograd",) if self.autograd else ()))


def prepare(device: str) -> None:
    """Settings a port's library reads when it is imported: set before the target is.

    JAX keeps float64 (``JAX_ENABLE_X64``), computes float32 products at full
    precision (``JAX_DEFAULT_MATMUL_PRECISION=highest``: no TF32 on a GPU,
    whose rounding the float32 rule does not allow for), and stays on the CPU
    unless ``--device cuda`` asks for the GPU.
    """
    os.environ["JAX_ENABLE_X64"] = "1"
    os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
    if not device.startswith("cuda"):
        os.environ["JAX_PLATFORMS"] = "cpu"


def _root(value: Any) -> str | None:
    """The top-level package a module, or an object defined in one, comes from (``jax`` for ``jax.numpy``)."""
    try:
        name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    except Exception:  # an object whose attributes raise
        return None
    if type(name) is not str:
        return None
    root = name.partition(".")[0]
    return "jax" if root == "jaxlib" else root


def detect(namespaces: Iterable[dict[str, Any]]) -> list[str]:
    """The :data:`LIBRARIES` the target's code uses, from what its namespaces hold, in :data:`LIBRARIES` order.

    A namespace is a module's globals (the target's modules, and those of the functions it defines):
    ``import torch``, ``import jax.numpy as jnp``, ``from cupy import asarray`` all leave a module or an
    object of the library there.
    """
    found = set()
    for namespace in namespaces:
        for value in list(namespace.values()):
            root = _root(value)
            if root in LIBRARIES:
                found.add(root)
    return [library for library in LIBRARIES if library in found]


def namespaces_of(modules: Iterable[types.ModuleType], functions: Iterable[Any]) -> list[dict[str, Any]]:
    """The globals of ``modules`` and of the ``functions`` found in them (a function's module may be another)."""
    spaces = [vars(module) for module in modules]
    for function in functions:
        try:
            space = getattr(function, "__globals__", None)
        except Exception:  # an object whose attributes raise
            continue
        if isinstance(space, dict) and all(space is not other for other in spaces):
            spaces.append(space)
    return spaces


def choose(options: PortOptions, namespaces: Iterable[dict[str, Any]]) -> tuple[str, str]:
    """``(backend, how it was chosen)``: ``--backend``'s, or the one library the target imports, or numpy."""
    if options.backend is not None:
        return options.backend, "--backend"
    used = detect(namespaces)
    if len(used) > 1:
        raise BackendError(f"the target imports {' and '.join(used)}: give --backend with the one its layers use")
    return (used[0], f"it imports {used[0]}") if used else ("numpy", "")


def _imported(library: str) -> Any:
    try:
        return importlib.import_module(library)
    except ImportError as error:
        raise BackendError(f"the target runs as a {library} port, and {library} cannot be imported here ({error}): "
                           f"install {EXTRAS[library]}") from error


class Backend:
    """numpy: arguments cross as they are, results as the code returned them."""

    name = "numpy"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def is_array(self, value: Any) -> bool:
        """Whether ``value`` is an array of this library (one to bring back into numpy)."""
        return False

    def to_library(self, array: np.ndarray) -> Any:
        return array

    def _to_numpy(self, value: Any) -> Any:
        return value

    def to_numpy(self, value: Any, depth: int = 0) -> Any:
        """``value`` with every array of the library in it (in tuples, lists, dicts) made a numpy array."""
        if self.is_array(value):
            return self._to_numpy(value)
        if depth > 32:
            return value
        if type(value) is tuple:
            return tuple(self.to_numpy(item, depth + 1) for item in value)
        if type(value) is list:
            return [self.to_numpy(item, depth + 1) for item in value]
        if type(value) is dict:
            return {key: self.to_numpy(item, depth + 1) for key, item in value.items()}
        return value

    def arguments(self, args: list[Any]) -> list[Any]:
        """The call's arguments in the library: each numpy array converted, the rest (a kept cache) as it is."""
        return [self.to_library(value) if isinstance(value, np.ndarray) else value for value in args]


class TorchBackend(Backend):
    """torch tensors: ``torch.from_dlpack`` shares the numpy array's memory on the CPU; ``.to(device)`` else."""

    name = "torch"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.torch = _imported("torch")
        if device.startswith("cuda") and not self.torch.cuda.is_available():
            raise BackendError(f"--device {device}: torch sees no CUDA device here")

    def is_array(self, value: Any) -> bool:
        return isinstance(value, self.torch.Tensor)

    def to_library(self, array: np.ndarray) -> Any:
        try:
            tensor = self.torch.from_dlpack(array)
        except (BufferError, TypeError, RuntimeError, ValueError):  # read-only, or a dtype DLPack lacks
            tensor = self.torch.from_numpy(np.array(array))
        return tensor if self.device == "cpu" else tensor.to(self.device)

    def _to_numpy(self, value: Any) -> Any:
        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        tensor = tensor.resolve_conj().resolve_neg()
        try:
            return np.from_dlpack(tensor)
        except (BufferError, TypeError, RuntimeError, ValueError):
            try:
                return tensor.numpy()
            except (TypeError, RuntimeError):  # bfloat16 and others numpy has no dtype for: not data
                return value


class JaxBackend(Backend):
    """JAX arrays, with 64-bit types enabled: ``jax.dlpack.from_dlpack`` on the CPU, ``jax.device_put`` on a GPU."""

    name = "jax"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.jax = _imported("jax")
        self.jax.config.update("jax_enable_x64", True)
        self.numpy = importlib.import_module("jax.numpy")
        if device.startswith("cuda"):
            try:
                self.where = self.jax.devices("gpu")[int(device.partition(":")[2] or 0)]
            except (RuntimeError, IndexError) as error:
                raise BackendError(f"--device {device}: JAX sees no such GPU here ({error}); install jax with "
                                   "its CUDA plugin (pip install 'jax[cuda12]')") from error
        else:
            self.where = self.jax.devices("cpu")[0]

    def is_array(self, value: Any) -> bool:
        return isinstance(value, self.jax.Array)

    def to_library(self, array: np.ndarray) -> Any:
        if self.where.platform == "cpu":
            try:
                return self.jax.dlpack.from_dlpack(array)
            except (BufferError, TypeError, RuntimeError, ValueError):  # unaligned, read-only: copied instead
                pass
        return self.jax.device_put(array, self.where)

    def _to_numpy(self, value: Any) -> Any:
        try:
            return np.asarray(value)
        except Exception:  # a tracer that escaped, a deleted buffer: not data
            return value


class CupyBackend(Backend):
    """CuPy arrays, always on a GPU (``cuda:K`` of ``--device``, else the first)."""

    name = "cupy"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.cupy = _imported("cupy")
        self.index = int(device.partition(":")[2] or 0)
        try:
            count = self.cupy.cuda.runtime.getDeviceCount()
        except Exception as error:  # no driver, no GPU
            raise BackendError(f"the target is a CuPy port, and CuPy finds no CUDA GPU here ({error})") from error
        if self.index >= count:
            raise BackendError(f"--device {device}: CuPy sees only {count} GPU(s)")

    def is_array(self, value: Any) -> bool:
        return isinstance(value, self.cupy.ndarray)

    def to_library(self, array: np.ndarray) -> Any:
        with self.cupy.cuda.Device(self.index):
            return self.cupy.asarray(array)

    def _to_numpy(self, value: Any) -> Any:
        return self.cupy.asnumpy(value)


BACKEND_CLASSES: dict[str, type[Backend]] = {"numpy": Backend, "torch": TorchBackend, "jax": JaxBackend,
                                             "cupy": CupyBackend}


def backend(name: str, device: str) -> Backend:
    """The :class:`Backend` of ``name`` on ``device``; :class:`BackendError` when it cannot run here."""
    return BACKEND_CLASSES[name](device)
