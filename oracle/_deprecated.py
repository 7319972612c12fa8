"""Old import paths kept for one release: a module's names forwarded to their new homes with a DeprecationWarning.

:data:`MOVED` lists every import path of the previous release's README and
examples (before ``oracle/`` was laid out in rooms), the names each held and
where each is now. Each old path is a small module whose ``__getattr__`` is
:func:`forwarder`: ``from oracle.twins import TorchTwin`` still works, and
warns that ``oracle.twins.TorchTwin has moved to oracle.TorchTwin (from oracle
import TorchTwin)``: a public name (:data:`oracle.HOMES`) is sent to :mod:`oracle`
itself, any other to the module that holds it now.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import oracle

_SPEC = ("Arrays", "Evaluation", "Twin", "ExtraCheck", "LayerSpec", "CallFailed", "CALL_ERRORS", "NotImplementedLayer",
         "run_forward", "forward_results", "run_backward", "copies", "changed", "make_upstream", "objective", "Change",
         "changed_point", "objectives", "objectives_later", "objective_scale")
_TWINS = ("CaptioningTwin", "TensorFunction", "TorchTwin", "affine", "captioning_grads_to_params", "captioning_loss",
          "captioning_param_names", "captioning_twin", "gru", "gru_step", "lstm", "lstm_step", "lstm_with_c0",
          "precision_settings", "resolve_device", "rnn", "rnn_step", "sigmoid", "temporal_affine",
          "temporal_softmax_loss", "word_embedding")
_GATE_ORDER = ("TORCH_GATE_ORDER", "LSTM_IMPL_ORDER", "LSTM_TORCH_ORDER", "GRU_IMPL_ORDER", "GRU_TORCH_ORDER",
               "RNN_ORDER", "GATE_ORDERS", "gate_permutation", "invert_permutation", "LSTM_IMPL_TO_TORCH",
               "LSTM_TORCH_TO_IMPL", "GRU_IMPL_TO_TORCH", "GRU_TORCH_TO_IMPL", "IMPL_TO_TORCH", "block_index",
               "permute_blocks", "permute_blocks_tensor", "reorder_gates", "to_torch_gates", "from_torch_gates",
               "weight_to_torch", "weight_from_torch", "bias_to_torch", "bias_from_torch", "weight_to_torch_tensor",
               "bias_to_torch_tensor")

#: Old module -> {the module that holds its names now: the names}.
MOVED: dict[str, dict[str, tuple[str, ...]]] = {
    "oracle.spec": {"oracle.specs.spec": _SPEC, "oracle.references.twins": ("TorchTwin",)},
    "oracle.sources": {"oracle.specs.sources": ("MASK_PATTERNS", "InputSource", "weight_matrix", "mask_from_pattern",
                                                "DimensionError", "RandomSource")},
    "oracle.twins": {"oracle.references.twins": _TWINS},
    "oracle.contract": {"oracle.specs.contract": ("Arrays", "Layout", "ErrorInput", "InputContract", "RESULT",
                                                  "GateLayout")},
    "oracle.registry": {"oracle.specs.registry": ("register",), "oracle.layers": ("all_specs", "get_spec"),
                        "oracle.targets.spec_files": ("load_specs",)},
    "oracle.tolerances": {"oracle.specs.tolerances": ("Tolerance", "TOLERANCES", "UNIT_ROUNDOFF", "ROUNDING_RUNS",
                                                      "ROUNDING_FACTOR", "DIRECTIONAL_SIGMAS", "tolerance_for",
                                                      "finite_difference_tolerance")},
    "oracle.gate_order": {"oracle.references.gate_order": _GATE_ORDER},
    "oracle.boundary": {"oracle.targets.boundary": ("Limits", "DEFAULT_TIMEOUT", "DEFAULT_IMPORT_TIMEOUT",
                                                    "DEFAULT_MEMORY", "default_timeout", "BoundaryError",
                                                    "CallTimedOut", "WorkerFailed", "TargetRaised", "open_target")},
    "oracle.jupyter": {"oracle.targets.jupyter": ("audit_here", "load_ipython_extension", "KernelAudit",
                                                  "rnn_oracle_magic", "magic_parser", "kernel_objects")},
    "oracle.pytest_tests": {"oracle.targets.pytest_tests": ("impl_tests",)},
}


def new_home(old: str, name: str) -> str | None:
    """The module that holds ``old``'s name ``name`` now, or ``None`` when ``old`` had no such name."""
    return next((module for module, names in MOVED[old].items() if name in names), None)


def forwarder(old: str) -> Callable[[str], Any]:
    """The module ``__getattr__`` of the old path ``old``: its names (:data:`MOVED`) found in their new homes.

    Python calls it only for names the old module does not define, so each use of an old path warns.
    """

    def __getattr__(name: str) -> Any:
        home = new_home(old, name)
        if home is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        public = oracle.HOMES.get(name) == home
        new = f"oracle.{name} (from oracle import {name})" if public else f"{home}.{name}"
        warnings.warn(f"{old}.{name} has moved to {new}; the old path will be removed in the next release",
                      DeprecationWarning, stacklevel=2)
        return value

    return __getattr__


def replacement(old: str) -> str:
    """What to import instead of the old path ``old``, as a row of docs/reference/python-api.md says it."""
    public = [name for home, names in MOVED[old].items() for name in names if oracle.HOMES.get(name) == home]
    others = [(home, [name for name in names if oracle.HOMES.get(name) != home]) for home, names in MOVED[old].items()]
    return "; ".join([f"`from oracle import {', '.join(public)}`"] * bool(public) + [
        f"`{home}` ({', '.join(f'`{name}`' for name in names)})" for home, names in others if names])
