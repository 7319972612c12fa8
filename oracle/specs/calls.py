"""How the seed's API is called with a case's arrays: the calling conventions the judge and the worker share.

A *recipe* names one way of calling a user's code, as plain data so that it
can cross to the worker (:mod:`oracle.targets.wire`):

``{"call": NAME}``
    the public function ``NAME(*args)``;
``{"model_loss": CELL}``
    ``args = (features, captions, null, *params)``: a ``CaptioningRNN`` of
    cell ``CELL`` built with the seed's constructor (:func:`build_captioning_model`),
    its ``loss(features, captions)``, returned as ``(loss, *grads)`` in the
    order of :data:`impl.cell_layouts.CAPTIONING_PARAMETERS`;
``{"model_sample": CELL}``
    ``args = (features, null, max_length, *params)``: that model's greedy
    ``sample(features, max_length=max_length)``;
``{"dlai": NAME}``
    deeplearning.ai's public function ``NAME`` called the seed's way
    (:func:`impl.dlai.positional`): ``parameters`` built from the arrays, the
    gradients' dict returned as a tuple.

This module imports numpy, :mod:`impl.cell_layouts` and :mod:`impl.dlai` only, never torch, so
the worker can run it next to the user's code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from impl.cell_layouts import CAPTIONING_PARAMETERS
from impl.dlai import positional

#: The name under which a user's model class is looked up.
MODEL_CLASS = "CaptioningRNN"

#: The cell types of the course's own model; another one it may refuse (:class:`CellTypeRefused`).
COURSE_CELLS = ("rnn", "lstm")


class CellTypeRefused(Exception):
    """The model refused a cell type outside the course's API with a ``ValueError`` in its constructor."""


def vocabulary(size: int, null: int) -> dict[str, int]:
    """A ``word_to_idx`` of ``size >= 3`` words with ``<NULL>`` at ``null``, then ``<START>``, ``<END>``."""
    words = [f"w{index}" for index in range(size)]
    for offset, token in enumerate(("<NULL>", "<START>", "<END>")):
        words[(null + offset) % size] = token
    return {word: index for index, word in enumerate(words)}


def build_captioning_model(cell: str, null: int, params: dict[str, np.ndarray], model_class: Any,
                           seeded: bool = False) -> Any:
    """A ``model_class`` model (the seed's constructor) whose parameters are exactly ``params``.

    ``seeded``: pass ``seed=0`` (impl's model takes one; a user's class gets the seed's arguments only).
    A constructor that raises a ``ValueError`` about the cell type (:func:`refuses_cell`) for one outside
    :data:`COURSE_CELLS` raises :class:`CellTypeRefused`; one that never created ``model.params`` with
    every parameter raises ``NotImplementedError`` (an unfinished ``__init__``).
    """
    (input_dim, hidden_dim), (vocab_size, wordvec_dim) = params["W_proj"].shape, params["W_embed"].shape
    options = dict(input_dim=input_dim, wordvec_dim=wordvec_dim, hidden_dim=hidden_dim, cell_type=cell,
                   dtype=params["W_proj"].dtype, **({"seed": 0} if seeded else {}))
    try:
        model = model_class(vocabulary(vocab_size, null), **options)
    except ValueError as error:
        if cell in COURSE_CELLS or not refuses_cell(str(error), cell):
            raise
        raise CellTypeRefused(f"{MODEL_CLASS} refuses cell_type={cell!r}: {error}") from error
    created = getattr(model, "params", None)
    never_created = [name for name in params if not isinstance(created, dict) or name not in created]
    if never_created:
        raise NotImplementedError(f"{MODEL_CLASS}.__init__ never created its parameters "
                                  f"{', '.join(never_created)} (still a stub?)")
    model.params = dict(params)
    return model


def refuses_cell(message: str, cell: str) -> bool:
    """Whether a constructor's ``ValueError`` message is about the cell type (``Invalid cell_type "gru"``)."""
    return cell in message or "cell" in message.lower()


def captioning_loss(cell: str, model_class: Any, seeded: bool = False) -> Callable[..., tuple]:
    """``forward(features, captions, null, *params) -> (loss, *grads)`` of a ``model_class`` model."""
    names = CAPTIONING_PARAMETERS[cell]

    def forward(features: np.ndarray, captions: np.ndarray, null: np.ndarray, *params: np.ndarray) -> tuple:
        model = build_captioning_model(cell, int(null), dict(zip(names, params, strict=True)), model_class, seeded)
        returned = model.loss(features, captions)
        if returned is None:
            raise NotImplementedError(f"{MODEL_CLASS}.loss returned None (still a stub?)")
        loss, grads = returned
        return (loss, *loss_gradients(loss, grads, names))

    return forward


def loss_gradients(loss: Any, grads: Any, names: Sequence[str]) -> tuple:
    """The gradients ``CaptioningRNN.loss`` returned, in the order of ``names``.

    An empty dict is the template's placeholder (``loss, grads = 0.0, {}``): ``NotImplementedError``
    saying so. A dict without some of the gradients is a ``TypeError`` naming them, never a ``KeyError``
    of this lookup.
    """
    if not isinstance(grads, Mapping):
        raise TypeError(f"{MODEL_CLASS}.loss returned {type(grads).__name__} for its gradients, not a dict")
    if not grads:
        raise NotImplementedError(f"{MODEL_CLASS}.loss returned loss {str(loss)[:40]} and no gradients (an empty "
                                  "dict): the template's placeholders, not filled in yet")
    lacking = [name for name in names if name not in grads]
    if lacking:
        raise TypeError(f"{MODEL_CLASS}.loss returned no gradient for {', '.join(map(repr, lacking))} "
                        f"(it has {', '.join(map(repr, grads))})")
    return tuple(grads[name] for name in names)


def captioning_sample(cell: str, model_class: Any, seeded: bool = False) -> Callable[..., Any]:
    """``sample(features, null, max_length, *params) -> words`` of a ``model_class`` model."""
    names = CAPTIONING_PARAMETERS[cell]

    def sample(features: np.ndarray, null: Any, max_length: Any, *params: np.ndarray) -> Any:
        model = build_captioning_model(cell, int(null), dict(zip(names, params, strict=True)), model_class, seeded)
        return model.sample(features, max_length=int(max_length))

    return sample


def recipe_function(recipe: dict[str, str], find: Callable[[str], Any]) -> Callable[..., Any]:
    """The callable a recipe names, its code looked up with ``find(public name)`` (``None``: missing)."""
    if "call" in recipe or "dlai" in recipe:
        name = recipe.get("call") or recipe["dlai"]
        function = find(name)
        if function is None:
            raise NotImplementedError(f"there is no {name}")
        return function if "call" in recipe else positional(name, function)
    kind, cell = next(iter(recipe.items()))
    if cell not in CAPTIONING_PARAMETERS or kind not in ("model_loss", "model_sample"):
        raise ValueError(f"unknown recipe {recipe!r}")
    model_class = find(MODEL_CLASS)
    if model_class is None:
        raise NotImplementedError(f"there is no {MODEL_CLASS}")
    return (captioning_loss if kind == "model_loss" else captioning_sample)(cell, model_class)


def recipe_name(recipe: dict[str, str]) -> str:
    """The public name a recipe's findings are filed under: ``lstm_forward``, ``CaptioningRNN.loss[gru]``."""
    if "call" in recipe or "dlai" in recipe:
        return recipe.get("call") or recipe["dlai"]
    kind, cell = next(iter(recipe.items()))
    return f"{MODEL_CLASS}.{kind.removeprefix('model_')}[{cell}]"
