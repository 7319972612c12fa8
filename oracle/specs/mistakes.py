"""Error models: the known mistakes of a layer, as data on its spec (:attr:`oracle.specs.spec.LayerSpec.mistakes`).

An :class:`ErrorModel` is one mistake learners make, written as a *variant* of
the layer's float64 reference: the reference with that mistake in it. The
judge (:mod:`oracle.judge.causes`) runs the variants on the cases the audit
drew and states a model as the *likely cause* of a finding only when its
numbers reproduce the user's on every case the function ran, and the correct
reference's do not ("exact, or nothing", Singh, Gulwani and Solar-Lezama,
PLDI 2013).

How a variant is written
------------------------
A variant is a plain function::

    variant(inputs, upstream, mistakes, step) -> Evaluation

``inputs``
    the case's inputs by name, in the order of the spec's ``make_inputs``,
    cast to float64 (integer inputs, masks and indices as they were drawn);
    never modify them.
``upstream``
    the upstream gradients by output name (of :attr:`LayerSpec.upstream_outputs`),
    float64; empty for a loss layer.
``mistakes``
    the ids of the models to apply, a ``frozenset``: ``{model.id}``, or two ids
    when the judge tries a pair (see *Composition*). An empty set must give
    the correct reference (``tests/test_error_models.py`` checks it for every
    spec's variants against the twin), so that a variant is the reference
    plus its mistakes and nothing else.
``step``
    for a model whose :attr:`ErrorModel.step` names the cell's step spec
    (``"lstm_step"``, ``"dlai_lstm_cell"``): that spec, to build the
    sequence on. The judge passes the reference's (impl's), or the target's
    own step functions bound to it (:mod:`oracle.targets.binding`); call it
    the way the metamorphic loop does (``run_forward(step, {...})``,
    ``run_backward(step, {...}, cache)``, or ``step.forward(*arrays)``) and
    only with float64 arrays. ``None`` for a model without ``step``.

It returns an :class:`~oracle.specs.spec.Evaluation` in float64:
``outputs`` by the spec's output names, every one of them (the
``forward_only`` predictions too), and ``grads`` by its gradient names
(:attr:`LayerSpec.outputs`, :attr:`LayerSpec.grads`); the captioning
model's sampling returns ``outputs={"captions": (N, T) ints}``. It may
leave out what the model's functions do not need (a model of a backward
function only: ``outputs={}``).

Write it as the *switchable* reference of the spec: a textbook numpy
transcription of the layer's math (or impl's own functions where the
mistake does not reach) with one ``if "<id>" in mistakes:`` per mistake at
the line the learner gets wrong. Keep it float64 and plain: it is read by
people who want to see the mistake.

How a variant is evaluated
--------------------------
For a function ``F`` of the spec with a ``wrong_value`` finding in a dtype,
each model whose :attr:`ErrorModel.functions` names ``F`` is run on every
case of that dtype on which ``F`` returned a result (the drawn cases and the
minimal case of :mod:`oracle.judge.shrink`), and compared with the user's
result on ``F``'s quantities: the outputs for a forward function, the
gradients for a backward function, both for a loss (or the model's loss),
the captions for sampling. It agrees under the audit's own rule:

- float64: the ``float64`` row of :data:`oracle.specs.tolerances.TOLERANCES`
  (or the spec's override), against the variant's float64 result;
- float32: the user's float32 result against the variant's float64 result
  under the float32 rounding rule, ``|user - variant| <= atol + rtol *
  |variant| + ROUNDING_FACTOR * s``, with ``s`` the rounding spread of the
  correct computation at the case's inputs (:mod:`oracle.references.rounding`).
  Never against a float32 run of the variant: two float32 computations agree
  or not by the luck of their evaluation order.

A model matches when it agrees on every such case; it is stated only when,
besides, the correct reference (the twin) disagrees with the user on ``F``
(the finding exists).

Composition
-----------
Two models of one function whose ``variant`` is the same function object are
also tried together (``mistakes = {a, b}``) when neither matches alone: a
learner with two mistakes gets the pair. A sequence model with ``step`` is
also run on the target's own step functions when those have a finding:
matching there means "this mistake, on top of your wrong step function"; the
empty set matching there means the sequence is only the loop of a wrong step
(*inherited*: fix the step first).

Testing a catalogue
-------------------
``tests/test_error_models.py`` runs every spec's variants with no mistake
against the twin. Each model also needs a fixture of its own: the learner's
code with that mistake made as a learner makes it, explained by exactly that
id (CS231n: ``tests/learner_cs231n.py`` patched by ``tests/learner_mistakes.py``;
the helpers there, ``named`` and ``observations``, work for any spec bound to a
module). :func:`oracle.judge.causes.kind_of` says which quantities a function is
judged on.

Attaching a catalogue
---------------------
A table's models are attached to its registered specs with
:func:`oracle.specs.registry.attach_mistakes` (``attach_mistakes("lstm",
LSTM_MISTAKES)``), from a module of their own (``oracle/layers/cs231n_mistakes.py``,
``oracle/layers/dlai_mistakes.py``), imported by :mod:`oracle.layers`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: ``variant(inputs, upstream, mistakes, step) -> Evaluation`` (see the module docstring): dicts of arrays in, an
#: :class:`oracle.specs.spec.Evaluation` out. (This module is below :mod:`oracle.specs.spec`, which holds its models.)
Variant = Callable[[dict[str, Any], dict[str, Any], frozenset[str], Any], Any]

#: What an id looks like: ``"<layer>.<mistake>"`` in lower case, e.g. ``"lstm.h_not_carried"``.
ID_PATTERN = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")


@dataclass(frozen=True)
class ErrorModel:
    """One known mistake of a layer, and the variant of its reference that makes it.

    Attributes
    ----------
    id
        Stable identifier, ``"<layer>.<mistake>"`` (:data:`ID_PATTERN`): what JSON
        reports and graders key on. Never reuse an id for another mistake.
    text
        One line in the learner's terms that says what to change, e.g.
        ``"the gradient dh from step t+1 is never added to dh[:, t]: add dprev_h to the next step's
        upstream"``.
    functions
        The public functions whose findings it may explain (``"lstm_backward"``,
        ``"CaptioningRNN.sample[lstm]"``).
    variant
        The switchable reference (see the module docstring), applied with this
        model's id in ``mistakes``.
    step
        The name of the step spec a sequence variant loops over (``"lstm_step"``);
        ``""`` when it needs none.
    evidence
        What the evidence of such a finding shows, for the catalogue's table
        (``docs/reference/error-models.md``): e.g. ``"right at the last step, wrong from t = T-2 back"``.
    """

    id: str
    text: str
    functions: tuple[str, ...]
    variant: Variant
    step: str = ""
    evidence: str = ""

    def __post_init__(self) -> None:
        if not ID_PATTERN.match(self.id):
            raise ValueError(f"error model id {self.id!r} is not of the form <layer>.<mistake> (lower case)")
        if not self.text or "\n" in self.text:
            raise ValueError(f"error model {self.id!r} needs a one-line text")
        if not self.functions:
            raise ValueError(f"error model {self.id!r} names no function")

    def composes_with(self, other: ErrorModel) -> bool:
        """Whether the two can be applied together: another model of the same variant, on a common function."""
        return (other.id != self.id and other.variant is self.variant
                and bool(set(self.functions) & set(other.functions)))
