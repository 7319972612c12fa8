"""A toy built-in layer declared by one spec in this one file: ``out = 2 * affine(x, w, b)``.

``tests/test_toy_layer.py`` loads this module as a pytest plugin (``-p
tests.toy_layer``), whose ``pytest_configure`` registers the spec before the
generic suites collect, and checks that they and the audit pick the layer up
with no other edit. Importing the module registers nothing, so the rest of
the suite never sees the toy. With ``TOY_LAYER_BUG=1`` its backward forgets
to double the bias gradient, and those suites must fail.
"""

from __future__ import annotations

import os

import numpy as np

import impl
from oracle.layers.cs231n import AFFINE, affine_error_inputs, affine_inputs
from oracle.references.twins.core import TorchTwin
from oracle.specs.contract import RESULT, InputContract
from oracle.specs.registry import register
from oracle.specs.spec import LayerSpec

NAME = "toy_doubled_affine"


def doubled_affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, object]:
    """``out (N, M) = 2 * (x.reshape(N, D) @ w + b)``; the input contract is impl.affine_forward's."""
    out, cache = impl.affine_forward(x, w, b)
    return out * out.dtype.type(2), cache


def doubled_affine_backward(dout: np.ndarray, cache: object) -> tuple[np.ndarray, ...]:
    """Gradients of ``x``, ``w``, ``b``: twice impl.affine_backward's (``db`` once only with the planted bug)."""
    dx, dw, db = impl.affine_backward(dout, cache)
    doubled = [grad * grad.dtype.type(2) for grad in (dx, dw, db)]
    if os.environ.get("TOY_LAYER_BUG") == "1":
        doubled[2] = db
    return tuple(doubled)


def doubled_affine_twin(tensors):
    x = tensors["x"]
    return {"out": 2 * (x.reshape(x.shape[0], -1) @ tensors["w"] + tensors["b"])}


assert AFFINE.contract is not None
TOY = LayerSpec(
    name=NAME, make_inputs=affine_inputs, forward=doubled_affine_forward, backward=doubled_affine_backward,
    outputs=("out",), grads=("x", "w", "b"), twin=TorchTwin(NAME, doubled_affine_twin),
    contract=InputContract(layout=AFFINE.contract.layout, layout_text=AFFINE.contract.layout_text,
                           variable_ndim=frozenset({"x"}), error_inputs=affine_error_inputs),
    zero_size={"N": RESULT, "M": RESULT}, public_names=("doubled_affine_forward", "doubled_affine_backward"),
)


def pytest_configure(config: object) -> None:
    """As a pytest plugin: register the toy like a built-in layer."""
    register(TOY)
