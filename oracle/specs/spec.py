"""A layer spec: everything the generic tests and the audit need to know about one layer.

Adding a layer variant is one :class:`LayerSpec` (see ``oracle/layers/cs231n.py``
for the seed's layers and ``examples/`` for a user-defined one); every generic
test and ``rnn-oracle audit`` iterate over the registry and pick it up.

Two calling conventions of the seed are supported:

- forward/backward layers: ``forward(*inputs) -> (*outputs, cache)`` and
  ``backward(*upstream, cache) -> grads`` (a tuple, or one array when there is
  a single gradient), with one random upstream gradient per output;
- loss layers (``backward=None``): ``forward(*inputs) -> (loss, *grads)``, the
  gradients being those of the scalar loss itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracle.specs.contract import GateLayout, InputContract
from oracle.specs.mistakes import ErrorModel
from oracle.specs.sources import InputSource, RandomSource
from oracle.specs.tolerances import Tolerance

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Evaluation:
    """Outputs (by output name) and gradients (by input name) of one run of a layer."""

    outputs: Arrays
    grads: Arrays


#: A torch twin: ``twin(inputs, upstream, device) -> Evaluation``. It takes the
#: same numpy arrays as impl, runs forward and autograd backward (with
#: ``upstream``, or from the scalar loss when ``upstream`` is empty) in the
#: inputs' dtype on ``device``, and returns numpy arrays in impl's layouts.
Twin = Callable[[Arrays, Arrays, str], Evaluation]


@dataclass(frozen=True)
class ExtraCheck:
    """A check of its own that a spec adds to the generic ones (the captioning model's greedy sampling).

    Attributes
    ----------
    name
        The stage name reports give it, e.g. ``"sample"``.
    run
        ``run(spec, case, device) -> [Comparison]``: ``case`` is the
        :class:`oracle.judge.checks.Case` the generic checks ran (inputs, upstream
        gradients and impl's results), ``device`` the twins' device.
    public_names
        Public functions of its own the check calls besides the spec's (the
        loop-of-steps check of a sequence calls the step functions).
    binder
        ``binder({public name: function}) -> ExtraCheck``: the check bound to
        another implementation's functions of ``public_names``
        (:func:`oracle.targets.binding.bind`); ``None`` when it calls none.
    independent
        The check needs only the case's inputs, not impl's results: it runs
        even when impl's forward or backward pass failed (greedy sampling
        needs only the parameters).
    subject
        ``subject(inputs) -> Evaluation``: what the code under test returned
        on a case's inputs, for a check that judges something other than the
        spec's outputs and gradients (the greedy captions, as output
        ``"captions"``), so that error models can be matched against it
        (:mod:`oracle.judge.causes`); ``None``: nothing of its own.
    """

    name: str
    run: Callable[[Any, Any, str], list[Any]]
    public_names: tuple[str, ...] = ()
    binder: Callable[[dict[str, Any]], ExtraCheck] | None = None
    independent: bool = False
    subject: Callable[[Arrays], Evaluation] | None = None


@dataclass(frozen=True)
class LayerSpec:
    """One layer, its reference twin and how to generate its inputs.

    Attributes
    ----------
    name
        Unique registry key, used in test ids, audit rows and ``--layers``.
    make_inputs
        ``make_inputs(source, dtype) -> {name: array}``; the dict order is the
        positional order of ``forward``. Float inputs must have ``dtype``.
    forward
        The numpy forward pass under test.
    outputs
        Names of the forward results before the cache (or of the loss).
    grads
        Names of the inputs whose gradients backward returns, in its order.
    twin
        The PyTorch autograd twin (see :data:`Twin`). A
        :class:`~oracle.references.twins.TorchTwin` without gradient names gets ``grads``.
    backward
        The numpy backward pass, or ``None`` for a loss layer.
    tolerances
        Overrides of rows of :data:`oracle.specs.tolerances.TOLERANCES`, by row name.
    tolerance_reason
        Why the overrides are needed; required when ``tolerances`` is given.
    contract
        The input contract the generic input-contract tests check
        (:class:`oracle.specs.contract.InputContract`); ``None`` for a layer whose
        contract is not generic (the sigmoid takes any shape, the model is a
        class), which then has tests of its own.
    zero_size
        Dimension name (as passed to ``source.dim``) -> what a size of 0 does:
        :data:`oracle.specs.contract.RESULT`, or the start of the ``ValueError``
        message it raises. Every size dimension the layer draws needs one.
    gates
        Which parameter columns belong to which gate (gated cells), for
        reports that name gates.
    public_names
        The public functions the spec binds to, by the seed's names (e.g.
        ``("lstm_step_forward", "lstm_step_backward")``).
    extra_checks
        Checks of its own that the generic suites and the audit run after the
        generic ones (:class:`ExtraCheck`).
    binder
        How to bind the spec to another implementation, given its functions
        by public name (``rnn-oracle audit --impl``, :mod:`oracle.targets.binding`);
        ``None``: ``public_names`` are ``(forward, backward)``, or the loss.
    forward_only
        Outputs the forward pass returns and the audit judges that the
        backward pass does not differentiate: no upstream gradient is drawn
        for them, and the objective leaves them out (the course's softmax
        predictions of the deeplearning.ai API, :mod:`oracle.layers.dlai`).
    dtypes
        The dtypes the layer's API takes, which the audit checks it in
        (deeplearning.ai's course allocates its results with ``np.zeros``
        and takes float64 only).
    family
        The course API the layer belongs to: ``"cs231n"`` (the seed's) or
        ``"dlai"`` (deeplearning.ai's Sequence Models); ``rnn-oracle audit
        --impl`` audits one family per target.
    mistakes
        The known mistakes learners make in it (:class:`oracle.specs.mistakes.ErrorModel`):
        the variants of its reference that the judge tries on a finding
        (:mod:`oracle.judge.causes`). A table attaches them from a module of
        its own (:func:`oracle.specs.registry.attach_mistakes`).
    requirement
        For a layer outside the course's API (the GRU, the LSTM with a given
        cell state), the name ``--require`` gives it: a target that defines
        none of its functions, or a model that refuses its cell type, gets
        ``not_supported``, which fails only where it is required. ``""``:
        part of the course's API.
    reference_forward
        A trusted forward pass of the same layer: the built-in model specs carry one (impl's loss alone,
        without its backward pass), and :func:`oracle.targets.binding.bind` sets it on every spec bound to a
        user's code (:attr:`forward_reference`: that one, or the spec's own forward before binding, impl's
        for the built-in layers); ``None`` otherwise. On a case where :attr:`forward`'s outputs agree with the
        twin's, the float64 finite differences of this forward pass stand in for those of :attr:`forward`
        (the same function near that point, computed once for every target and kept in the reference store:
        :func:`oracle.judge.reference_differences.reference_finite_differences`).
    """

    name: str
    make_inputs: Callable[[InputSource, np.dtype], Arrays]
    forward: Callable[..., Any]
    outputs: tuple[str, ...]
    grads: tuple[str, ...]
    twin: Twin
    backward: Callable[..., Any] | None = None
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)
    tolerance_reason: str = ""
    contract: InputContract | None = None
    zero_size: Mapping[str, str] = field(default_factory=dict)
    gates: GateLayout | None = None
    public_names: tuple[str, ...] = ()
    extra_checks: tuple[ExtraCheck, ...] = ()
    binder: Callable[[LayerSpec, dict[str, Any]], LayerSpec] | None = None
    forward_only: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ("float64", "float32")
    family: str = "cs231n"
    requirement: str = ""
    mistakes: tuple[ErrorModel, ...] = ()
    reference_forward: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        bind = getattr(self.twin, "with_gradients", None)  # a TorchTwin learns its gradient names from the spec
        if bind is not None:
            object.__setattr__(self, "twin", bind(self.grads))
        if self.tolerances and not self.tolerance_reason:
            raise ValueError(f"spec {self.name!r} overrides tolerances without giving a reason")
        if self.backward is None and len(self.outputs) != 1:
            raise ValueError(f"loss spec {self.name!r} must have exactly one output (the loss)")
        if not set(self.forward_only) < set(self.outputs):
            raise ValueError(f"spec {self.name!r}: forward_only {self.forward_only} must be some of its outputs")

    @property
    def forward_reference(self) -> Callable[..., Any]:
        """The forward pass that becomes :attr:`reference_forward` when the spec is bound to a user's code: its own
        reference when it has one (the model's loss alone), else :attr:`forward`."""
        return self.reference_forward or self.forward

    @property
    def is_loss(self) -> bool:
        """Whether the layer is a scalar loss whose forward also returns its gradients."""
        return self.backward is None

    @property
    def upstream_outputs(self) -> tuple[str, ...]:
        """The outputs whose upstream gradients the backward pass takes, in its order (not :attr:`forward_only`)."""
        return tuple(name for name in self.outputs if name not in self.forward_only)


class CallFailed(Exception):
    """A call of the code under test that gave no result, with the finding it stands for.

    Raised by the judge's stand-ins for code that runs in a worker process
    (:mod:`oracle.targets.boundary`). ``cause`` is the finding (``"crash"``,
    ``"timeout"``, ``"not_implemented"``, ``"wrong_value"``), ``evidence``
    the text the judge wrote about it, ``output`` the last of what the code
    printed. Findings are filed by ``cause``, never by text the code chose.
    """

    cause = "crash"

    def __init__(self, evidence: str, output: str = "") -> None:
        super().__init__(evidence)
        self.evidence = evidence
        self.output = output


#: What a call of the code under test may raise that the audit turns into a finding: a ``SystemExit`` too,
#: which must never become the command's own exit.
CALL_ERRORS = (Exception, SystemExit)


class NotImplementedLayer(NotImplementedError):
    """A layer function under test is a stub: it returned ``None`` (a body of ``pass``) or a ``None`` result.

    Raising ``NotImplementedError`` itself means the same; both are reported
    as not implemented, not as a crash of the oracle.
    """


def _implemented(spec: LayerSpec, stage: str, results: Any) -> Any:
    """``results``, or :class:`NotImplementedLayer` when the function returned ``None`` or only ``None``s.

    A forward pass's cache does not count: ``(None, cache)`` (placeholders left as ``None`` before a cache
    built from the arguments) is a stub too.
    """
    values = results if isinstance(results, tuple) else (results,)
    if stage == "forward" and not spec.is_loss and len(values) > 1:
        values = values[:-1]
    if results is None or (values and all(value is None for value in values)):
        raise NotImplementedLayer(f"returned {_shown(results)}: not implemented (still a stub?)")
    return results


def _shown(results: Any) -> str:
    """``None`` or ``(None, None)``: a stub's result, its cache shown by type alone."""
    if not isinstance(results, tuple):
        return repr(results)
    return "(" + ", ".join("None" if value is None else type(value).__name__ for value in results) + ")"


def run_forward(spec: LayerSpec, inputs: Arrays) -> tuple[Arrays, Any]:
    """Run the numpy forward pass; return ``(outputs, state for run_backward)``."""
    return forward_results(spec, spec.forward(*inputs.values()))


def forward_results(spec: LayerSpec, returned: Any) -> tuple[Arrays, Any]:
    """``(outputs, state for run_backward)`` from what the forward pass returned."""
    results = _implemented(spec, "forward", returned)
    if spec.is_loss:
        loss, *grads = results
        return {spec.outputs[0]: np.asarray(loss)}, tuple(grads)
    *outputs, cache = results
    if len(outputs) != len(spec.outputs):
        raise TypeError(f"{spec.name}: forward returned {len(outputs)} outputs, spec names {len(spec.outputs)}")
    return dict(zip(spec.outputs, outputs, strict=True)), cache


def run_backward(spec: LayerSpec, upstream: Arrays, state: Any) -> Arrays:
    """Run the numpy backward pass; return gradients by input name."""
    if spec.backward is None:
        grads = state
    else:
        returned = spec.backward(*(upstream[name] for name in spec.upstream_outputs), state)
        grads = _implemented(spec, "backward", returned)
        if not isinstance(grads, tuple):
            grads = (grads,)
    if len(grads) != len(spec.grads):
        raise TypeError(f"{spec.name}: backward returned {len(grads)} gradients, spec names {len(spec.grads)}")
    return dict(zip(spec.grads, grads, strict=True))


def input_names(spec: LayerSpec) -> tuple[str, ...]:
    """The names of ``spec``'s inputs, in the order its forward pass takes them (from one drawn case)."""
    return tuple(spec.make_inputs(RandomSource(np.random.default_rng(0)), np.dtype(spec.dtypes[0])))


def copies(arrays: Arrays) -> Arrays:
    """Fresh copies of ``arrays`` (same names, order, dtypes and values)."""
    return {name: np.array(value, copy=True) for name, value in arrays.items()}


def changed(before: Arrays, after: Arrays) -> tuple[str, ...]:
    """Names whose array in ``after`` differs from ``before`` in shape, dtype or any value (NaN equals NaN)."""
    return tuple(name for name, value in before.items()
                 if not (np.shape(after[name]) == np.shape(value) and np.asarray(after[name]).dtype == value.dtype
                         and np.array_equal(after[name], value, equal_nan=value.dtype.kind in "fc")))


def make_upstream(spec: LayerSpec, outputs: Arrays, source: InputSource, dtype: np.dtype | None = None) -> Arrays:
    """Random upstream gradients, one per output the backward pass takes, shaped like it (none for a loss).

    Their dtype is ``dtype`` (the case's) when given, else each output's.
    """
    if spec.is_loss:
        return {}
    return {name: source.floats(np.shape(outputs[name]), dtype or outputs[name].dtype)
            for name in spec.upstream_outputs}


def objective(spec: LayerSpec, inputs: Arrays, upstream: Arrays) -> float:
    """The scalar whose gradient ``run_backward`` computes.

    ``sum_k <upstream_k, output_k>`` over :attr:`LayerSpec.upstream_outputs` for forward/backward layers, the loss
    itself for a loss layer. Finite differences differentiate this. The
    forward pass gets copies, so one that writes into its arguments cannot
    move the point being differentiated.
    """
    outputs, _ = run_forward(spec, copies(inputs))
    return _objective_of(spec, outputs, upstream)


def _objective_of(spec: LayerSpec, outputs: Arrays, upstream: Arrays) -> float:
    if spec.is_loss:
        return float(outputs[spec.outputs[0]])
    return float(sum(np.vdot(upstream[name], outputs[name]) for name in spec.upstream_outputs))


#: A change of one input for :func:`objectives`: ``(flat index, value)`` of one element, or ``(None, array)``.
Change = tuple[int | None, Any]


def changed_point(point: Arrays, changes: Mapping[str, Change]) -> Arrays:
    """``point`` with ``changes`` applied to copies of the inputs they name (``point`` is never modified)."""
    moved = dict(point)
    for name, (index, value) in changes.items():
        if index is None:
            moved[name] = np.asarray(value)
        else:
            moved[name] = point[name].copy()
            moved[name].reshape(-1)[index] = value
    return moved


def objectives(spec: LayerSpec, point: Arrays, changes: list[dict[str, Change]], upstream: Arrays) -> list[float]:
    """:func:`objective` at ``point`` moved by each of ``changes`` (see :data:`Change`).

    A forward pass that runs in a worker process (:class:`oracle.targets.boundary.RemoteFunction`) has ``many_later``:
    ``point`` then crosses once, each change as one element or array, and only the outputs come back,
    in a few batches instead of one round trip each.
    """
    return objectives_later(spec, point, changes, upstream)()


def objectives_later(spec: LayerSpec, point: Arrays, changes: list[dict[str, Change]],
                     upstream: Arrays) -> Callable[[], list[float]]:
    """:func:`objectives`, as a function that returns them; a worker process starts on them at once.

    Here (a forward pass in this process) they are computed when the function is called.
    """
    later = getattr(spec.forward, "many_later", None)
    if later is None:
        return lambda: [objective(spec, changed_point(point, change), upstream) for change in changes]
    positions = {name: position for position, name in enumerate(point)}
    variants = [[(positions[name], index, value) for name, (index, value) in change.items()] for change in changes]
    pending = later(tuple(point.values()), variants, len(spec.outputs))
    return lambda: [_objective_of(spec, forward_results(spec, _with_state(spec, returned))[0], upstream)
                    for returned in pending()]


def _with_state(spec: LayerSpec, returned: Any) -> Any:
    """A forward pass's outputs as :func:`forward_results` reads them: ``(*outputs, cache)`` for a layer."""
    if spec.is_loss or not isinstance(returned, tuple):
        return returned
    return (*returned, None)


def objective_scale(spec: LayerSpec, inputs: Arrays, upstream: Arrays) -> float:
    """The sum of the absolute values of the terms of :func:`objective` (``|loss|`` for a loss layer).

    The rounding error of one evaluation of the objective is a few ``eps``
    times this (:mod:`oracle.judge.directional`).
    """
    outputs, _ = run_forward(spec, copies(inputs))
    if spec.is_loss:
        return abs(float(outputs[spec.outputs[0]]))
    return float(sum(np.sum(np.abs(upstream[name] * outputs[name])) for name in spec.upstream_outputs))
