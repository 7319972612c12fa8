"""Metamorphic checks: relations every correct layer satisfies, which need no reference implementation.

``[loop of steps]``
    a sequence layer equals the loop of its own step functions, forward and
    backward (recurrent sequence specs: :func:`sequence_matches_steps`, an
    :class:`~oracle.specs.spec.ExtraCheck` bound to the same implementation's step
    functions; :func:`loop_of_steps` in the seed's layout, :func:`loop_of_cells`
    in deeplearning.ai's);
``[batch split]``
    row 0 run alone and rows 1..N-1 run alone give the batch's rows of every
    output and of every gradient of an input indexed by the batch, and the
    other gradients (the parameters') add up to the batch's (forward/backward
    layers whose contract gives every output a batch axis ``N``; ``N >= 2``);
``[2x upstream]``, ``[zero upstream]``
    gradients are linear in the upstream gradient: twice the upstream
    gradient gives twice the gradients, zero gives zero;
``[masked values changed]``
    redrawing every value at a masked position (the ``(N, T)`` inputs where a
    boolean ``(N, T)`` mask is false) changes neither the loss nor its
    gradient;
``[repeated call]``
    forward and backward again on fresh copies of the arguments give the
    same results (to the ``float64`` row: a BLAS may round differently for
    differently aligned copies).

Each relation is one check of the outputs and one of the gradients
(quantities ``"outputs [batch split]"``, ``"grads [batch split]"``), against
a reference naming what the layer was compared with; a failure names every
output or gradient that broke it. The relations are
checked on float64 cases under the ``float64`` row. In float32, two correct computations of one quantity in different
orders can differ by more than any fixed tolerance where the problem is
ill-conditioned, and the relations test the structure of the code, which
does not depend on the dtype; the twin comparisons judge float32 values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import numpy as np

from impl.cell_layouts import CELL_PARAMETERS
from impl.dlai import COURSE_PARAMETERS
from oracle.judge.checks import float_dtype, stage
from oracle.judge.compare import Comparison, compare_evaluations
from oracle.specs.spec import CALL_ERRORS, Arrays, Evaluation, ExtraCheck, LayerSpec, copies, run_backward, run_forward
from oracle.specs.tolerances import TOLERANCES

#: The dtype the relations are checked in (see the module docstring).
CHECKED_DTYPE = np.dtype(np.float64)

#: Names of the relations that reports and verdicts treat specially (:mod:`oracle.judge.verdicts`).
REPEATED_CALL, LOOP_OF_STEPS = "repeated call", "loop of steps"

_RELATION_QUANTITY = re.compile(r"^(?P<quantity>.*?) \[(?P<relation>[^\]]+)\]$")


def split_relation(quantity: str) -> tuple[str, str]:
    """``"grads [batch split]"`` -> ``("grads", "batch split")``; a plain quantity -> ``(quantity, "")``."""
    found = _RELATION_QUANTITY.match(quantity)
    return (found["quantity"], found["relation"]) if found else (quantity, "")


def evaluate(spec: LayerSpec, inputs: Arrays, upstream: Arrays, label: str) -> Evaluation:
    """The layer's forward and backward on fresh copies of ``inputs`` and ``upstream``.

    An exception is tagged with its stage and ``label``, e.g. ``"forward [batch split: row 0 alone]"``.
    """
    with stage(f"forward [{label}]"):
        outputs, state = run_forward(spec, copies(inputs))
    with stage(f"backward [{label}]"):
        return Evaluation(outputs, run_backward(spec, copies(upstream), state))


def relation(name: str, reference: str, comparisons: list[Comparison]) -> list[Comparison]:
    """``comparisons`` folded into one check of relation ``name`` per kind: ``"outputs [name]"``, ``"grads [name]"``.

    Each is the worst comparison of its kind (greatest error ratio), against
    ``reference``; a failed one names every quantity that broke the relation.
    """
    folded = []
    for kind in ("output", "grad"):
        group = [comparison for comparison in comparisons if comparison.quantity.startswith(kind + " ")]
        if not group:
            continue
        failed = [comparison for comparison in group if not comparison.passed]
        worst = max(failed or group, key=lambda comparison: comparison.ratio)
        broken = ", ".join(comparison.quantity for comparison in failed)
        problem = f"{broken} broke it; worst {worst.quantity}: {worst.problem}" if failed else ""
        folded.append(dataclasses.replace(worst, quantity=f"{kind}s [{name}]", reference=reference, problem=problem))
    return folded


def _compare(spec: LayerSpec, actual: Evaluation, expected: Evaluation) -> list[Comparison]:
    return compare_evaluations(actual, expected, TOLERANCES["float64"], layer=spec.name, reference="")


def repeated_call(spec: LayerSpec, inputs: Arrays, upstream: Arrays, result: Evaluation) -> list[Comparison]:
    """``[repeated call]``: a second forward and backward on fresh copies gives the same results.

    Under the ``float64`` row, not bit for bit: some BLAS libraries (MKL among them) may round
    differently when the fresh copies are aligned differently in memory, which is not a bug of the layer.
    """
    again = evaluate(spec, inputs, upstream, REPEATED_CALL)
    return relation(REPEATED_CALL, "its first call", _compare(spec, again, result))


def upstream_linearity(spec: LayerSpec, inputs: Arrays, upstream: Arrays, result: Evaluation) -> list[Comparison]:
    """``[2x upstream]`` and ``[zero upstream]`` (forward/backward layers with gradients)."""
    if spec.is_loss or not spec.grads:
        return []
    doubled = evaluate(spec, inputs, {name: 2 * value for name, value in upstream.items()}, "2x upstream")
    zero = evaluate(spec, inputs, {name: np.zeros_like(value) for name, value in upstream.items()}, "zero upstream")
    twice = Evaluation({}, {name: 2 * np.asarray(grad) for name, grad in result.grads.items()})
    nothing = Evaluation({}, {name: np.zeros_like(np.asarray(grad)) for name, grad in result.grads.items()})
    return (relation("2x upstream", "twice its gradients at 1x", _compare(spec, Evaluation({}, doubled.grads), twice))
            + relation("zero upstream", "zero", _compare(spec, Evaluation({}, zero.grads), nothing)))


def batch_split(spec: LayerSpec, inputs: Arrays, upstream: Arrays, result: Evaluation) -> list[Comparison]:
    """``[batch split]`` (see the module docstring); nothing for layers whose outputs have no batch axis, or N = 1.

    The batch axis is where the contract puts ``N``: first in the seed's layouts, second in the
    column-major ones of deeplearning.ai's course.
    """
    contract = spec.contract
    if spec.is_loss or contract is None or not contract.outputs:
        return []
    if any("N" not in axes for axes in contract.outputs.values()):
        return []
    axis = {name: axes.index("N") for name, axes in contract.layout(inputs).items() if "N" in axes}
    axis.update({name: axes.index("N") for name, axes in contract.outputs.items()})
    batched = [name for name in inputs if name in axis]
    if not batched or np.shape(inputs[batched[0]])[axis[batched[0]]] < 2:
        return []
    rows = np.shape(inputs[batched[0]])[axis[batched[0]]]

    def rows_of(name: str, value: np.ndarray, part: slice) -> np.ndarray:
        return value[(slice(None),) * axis[name] + (part,)]

    parts = [evaluate(spec, {name: rows_of(name, value, part) if name in batched else value
                             for name, value in inputs.items()},
                      {name: rows_of(name, value, part) for name, value in upstream.items()}, f"batch split: {label}")
             for part, label in ((slice(0, 1), "row 0 alone, N = 1"), (slice(1, rows), f"rows 1..{rows - 1} alone"))]
    outputs = {name: np.concatenate([part.outputs[name] for part in parts], axis=axis[name])
               for name in result.outputs}
    grads = {name: np.concatenate([part.grads[name] for part in parts], axis=axis[name]) if name in batched
             else parts[0].grads[name] + parts[1].grads[name] for name in result.grads}
    return relation("batch split", "row 0 and rows 1..N-1 run separately",
                    _compare(spec, result, Evaluation(outputs, grads)))


def masked_values_changed(spec: LayerSpec, inputs: Arrays, upstream: Arrays, result: Evaluation) -> list[Comparison]:
    """``[masked values changed]``: layers with a boolean ``(N, T)`` mask input, when some position is masked."""
    contract = spec.contract
    if contract is None:
        return []
    layout = contract.layout(inputs)
    masks = [name for name, axes in layout.items() if axes == ("N", "T") and inputs[name].dtype == bool]
    if not masks or np.all(inputs[masks[0]]):
        return []
    hidden = ~inputs[masks[0]]
    rng = np.random.default_rng(0)
    changed = dict(inputs)
    for name, axes in layout.items():
        if name in masks or axes[:2] != ("N", "T"):
            continue
        value = np.array(inputs[name], copy=True)
        if name in contract.index_bounds:
            value[hidden] = rng.integers(0, contract.index_bounds[name](inputs), size=value[hidden].shape)
        else:
            value[hidden] = rng.uniform(-3.0, 3.0, size=value[hidden].shape)
        changed[name] = value
    return relation("masked values changed", "its run with the original masked values",
                    _compare(spec, evaluate(spec, changed, upstream, "masked values changed"), result))


#: ``loop(step spec, sequence inputs, upstream gradients) -> Evaluation``: a sequence run as a loop of its steps.
Loop = Callable[[LayerSpec, Arrays, Arrays], Evaluation]

#: The relations every spec is checked against, in report order (:func:`metamorphic_comparisons`).
RELATIONS: tuple[Callable[[LayerSpec, Arrays, Arrays, Evaluation], list[Comparison]], ...] = (
    repeated_call, upstream_linearity, batch_split, masked_values_changed)


def metamorphic_comparisons(spec: LayerSpec, inputs: Arrays, upstream: Arrays,
                            result: Evaluation) -> list[Comparison]:
    """Every relation of :data:`RELATIONS` that applies to ``spec``, for a float64 case (none for float32)."""
    if float_dtype(inputs) != CHECKED_DTYPE:
        return []
    return [comparison for check in RELATIONS for comparison in check(spec, inputs, upstream, result)]


def forward_steps(step: LayerSpec, cell: str, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
                  weights: list[np.ndarray]) -> tuple[np.ndarray, list]:
    """The forward pass of a sequence as a loop of ``step.forward``: ``(h (N, T, H), the steps' caches)``.

    ``x`` is ``(N, T, D)``; ``c0`` is the LSTM's initial cell state (``None``: zeros; ignored by other cells).
    """
    n, t, _ = x.shape
    h, c = h0, (np.zeros_like(h0) if c0 is None else c0)
    hs, caches = [], []
    for time in range(t):
        if cell == "lstm":
            h, c, cache = step.forward(x[:, time], h, c, *weights)
        else:
            h, cache = step.forward(x[:, time], h, *weights)
        hs.append(h)
        caches.append(cache)
    return (np.stack(hs, axis=1) if t else np.zeros((n, 0, h0.shape[1]), x.dtype)), caches


def loop_of_steps(step: LayerSpec, cell: str, inputs: Arrays, dh: np.ndarray) -> Evaluation:
    """Forward and backward of a sequence layer as a Python loop of ``step``'s functions.

    Parameters
    ----------
    step
        The cell's step spec (``rnn_step``, ``lstm_step``, ``gru_step``), bound
        to the implementation under test.
    cell
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    inputs
        The sequence layer's inputs: ``x (N, T, D)``, ``h0 (N, H)``, for the
        LSTM optionally ``c0 (N, H)``, then the cell's parameters.
    dh
        ``(N, T, H)`` upstream gradient of the hidden states.

    Returns
    -------
    Evaluation
        Output ``h (N, T, H)`` and the gradients of every input, by name.
    """
    lstm = cell == "lstm"
    backward = step.backward
    if backward is None:
        raise TypeError(f"{step.name} is a loss spec, not a step")
    x = inputs["x"]
    names = CELL_PARAMETERS[cell]
    weights = [inputs[name] for name in names]
    out, caches = forward_steps(step, cell, x, inputs["h0"], inputs.get("c0"), weights)
    dx = np.zeros_like(x)
    totals = [np.zeros_like(w) for w in weights]
    carry_h = np.zeros_like(inputs["h0"])
    carry_c = np.zeros_like(inputs["h0"])
    for time in range(x.shape[1] - 1, -1, -1):
        upstream = dh[:, time] + carry_h
        if lstm:
            dx_t, carry_h, carry_c, *dw = backward(upstream, carry_c, caches[time])
        else:
            dx_t, carry_h, *dw = backward(upstream, caches[time])
        dx[:, time] = dx_t
        for total, part in zip(totals, dw, strict=True):
            total += part
    grads = {"x": dx, "h0": carry_h, **({"c0": carry_c} if "c0" in inputs else {})}
    grads.update(zip(names, totals, strict=True))
    return Evaluation({"h": out}, grads)


def loop_of_cells(cell: str, outputs: tuple[str, ...], step: LayerSpec, inputs: Arrays, upstream: Arrays) -> Evaluation:
    """A course sequence (``rnn_forward``/``lstm_forward`` and their backward) as a loop of ``step``, its cell.

    Parameters
    ----------
    cell
        ``"rnn"`` or ``"lstm"``.
    outputs
        The sequence spec's output names: ``("a", "y_pred")`` or ``("a", "y", "c")``.
    step
        The cell's spec, bound to the implementation under test.
    inputs
        ``x (n_x, m, T_x)``, ``a0 (n_a, m)`` and the cell's parameters.
    upstream
        ``{"a": da (n_a, m, T_x)}``.

    Returns
    -------
    Evaluation
        The outputs, stacked along axis 2, and the gradients of every input that has one.
    """
    lstm = cell == "lstm"
    x, a = inputs["x"], inputs["a0"]
    c = np.zeros_like(a)
    params = {name: inputs[name] for name in COURSE_PARAMETERS[cell]}
    per_step: dict[str, list[np.ndarray]] = {name: [] for name in step.outputs}
    caches = []
    for t in range(x.shape[2]):
        found, cache = run_forward(step, {"xt": x[:, :, t], "a_prev": a, **({"c_prev": c} if lstm else {}), **params})
        a, c = found["a_next"], found.get("c_next", c)
        for name, value in found.items():
            per_step[name].append(np.asarray(value))
        caches.append(cache)
    dx = np.zeros_like(x)
    carry_a, carry_c = np.zeros_like(inputs["a0"]), np.zeros_like(inputs["a0"])
    totals = {name: np.zeros_like(value) for name, value in params.items() if name in step.grads}
    for t in range(x.shape[2] - 1, -1, -1):
        grads = run_backward(step, {"a_next": upstream["a"][:, :, t] + carry_a,
                                    **({"c_next": carry_c} if lstm else {})}, caches[t])
        dx[:, :, t], carry_a, carry_c = grads["xt"], grads["a_prev"], grads.get("c_prev", carry_c)
        for name in totals:
            totals[name] = totals[name] + grads[name]
    sequence = dict(zip(step.outputs, ("a", "c", "y") if lstm else ("a", "y"), strict=True))
    stacked = {sequence[name]: np.stack(values, axis=2) for name, values in per_step.items()}
    named = {name: stacked["y" if name == "y_pred" else name] for name in outputs}
    return Evaluation(named, {"x": dx, "a0": carry_a, **totals})


def sequence_matches_steps(step: LayerSpec, cell: str, loop: Loop | None = None) -> ExtraCheck:
    """``[loop of steps]``: the sequence spec's results equal the loop of ``step`` (float64 cases).

    ``loop(step, inputs, upstream) -> Evaluation`` runs it; by default :func:`loop_of_steps` (the
    seed's layout, upstream gradient ``h``). Bound to a user's implementation (``rnn-oracle audit
    --impl``), the loop uses that implementation's step functions (bound as ``step``'s binder binds
    them). When they are missing or raise, the relation is not checked: the step's own checks report that.
    """
    looped = loop or (lambda bound, inputs, upstream: loop_of_steps(bound, cell, inputs, upstream["h"]))

    def run(spec: LayerSpec, case, device: str) -> list[Comparison]:
        if case.dtype != CHECKED_DTYPE:
            return []
        try:
            result = looped(step, copies(case.inputs), copies(case.upstream))
        except CALL_ERRORS:  # the step functions' own checks report their crash or absence
            return []
        return relation(LOOP_OF_STEPS, "the loop of its step functions", _compare(spec, case.result, result))

    def bind(found: dict) -> ExtraCheck:
        if step.binder is not None:
            return sequence_matches_steps(step.binder(step, found), cell, loop)
        forward, backward = step.public_names
        return sequence_matches_steps(dataclasses.replace(step, forward=found[forward], backward=found[backward]),
                                      cell, loop)

    return ExtraCheck(LOOP_OF_STEPS, run, public_names=step.public_names, binder=bind)
