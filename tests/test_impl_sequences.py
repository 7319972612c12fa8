"""impl's sequence layers (rnn, lstm, lstm_with_c0, gru) equal a Python loop of their step functions.

The backward passes of the sequence layers are not loops of steps: they run
the per-step work of a chunk of about :data:`impl.rnn.CHUNK_ROWS` ``(step,
batch)`` rows at once. The sizes here put chunk boundaries inside one long
sequence, make chunks of several steps with a short last one, and make a batch
wider than a chunk (one step per chunk), which Hypothesis' small sizes never
reach.

float64 results must equal the float64 loop under the ``float64`` row. A
float32 result is judged against the float64 loop too, never against another
float32 computation: under the ``float32`` row, or, where a value is outside
it, by the float32 rounding rule (:mod:`oracle.specs.tolerances`), so the verdict
does not depend on how this CPU rounds.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from impl.rnn import CHUNK_ROWS
from oracle.judge.checks import RoundingRule
from oracle.judge.compare import Comparison, compare_evaluations
from oracle.layers import get_spec
from oracle.references.finite_diff import as_float64
from oracle.specs.spec import Arrays, Evaluation
from oracle.specs.tolerances import TOLERANCES
from tests.impl_cases import (
    DTYPES,
    RECURRENT_LAYERS,
    SEQUENCE_LAYERS,
    assert_all_passed,
    dtype_id,
    loop_of_steps,
    recurrent_inputs,
    rng,
)

D, H = 3, 2


def run_sequence(layer: str, inputs: Arrays, dh: np.ndarray) -> Evaluation:
    """impl's forward and backward of ``layer``, by name."""
    spec = RECURRENT_LAYERS[layer]
    out, cache = spec.forward(*inputs.values())
    grads = spec.backward(dh, cache)
    return Evaluation({"h": out}, dict(zip(inputs, grads, strict=True)))


def float32_comparisons(layer: str, inputs: Arrays, dh: np.ndarray, results: dict[str, Evaluation],
                        precise: Evaluation) -> list[Comparison]:
    """Each float32 result against ``precise`` (the float64 loop of steps): the float32 row, else the rounding rule.

    The rounding spread (the layer's float64 twin under float32-sized Monte Carlo
    rounding) is computed only when a value falls outside the row
    (:class:`oracle.judge.checks.RoundingRule`), as for the audit's comparisons.
    """
    tolerance = TOLERANCES["float32"]

    def compare(**rule: Evaluation) -> list[Comparison]:
        return [comparison for label, result in results.items()
                for comparison in compare_evaluations(result, precise, tolerance, layer=f"{layer} ({label})",
                                                      reference="the float64 loop of steps", check_dtype=False,
                                                      **rule)]

    comparisons = compare()
    rule = RoundingRule(get_spec(layer), inputs, {"h": dh})
    return compare(precise=precise, spread=rule.spread) if rule.needed(comparisons) else comparisons


def assert_dtypes(evaluation: Evaluation, dtype: np.dtype) -> None:
    for name, value in {**evaluation.outputs, **evaluation.grads}.items():
        assert value.dtype == dtype, f"{name} is {value.dtype} in a {dtype} case"


@pytest.mark.mutation_killer
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layer", SEQUENCE_LAYERS)
@pytest.mark.parametrize("n, t", [
    (1, CHUNK_ROWS + 37),           # one sequence spanning two backward chunks
    (3, 2 * (CHUNK_ROWS // 3) + 1),  # chunks of several steps, the last one short
    (CHUNK_ROWS + 5, 3),            # a batch wider than a chunk: one step per chunk
    (2, 1),
])
def test_long_sequences_equal_a_loop_of_steps(layer, n, t, dtype):
    inputs = recurrent_inputs(layer, dtype, n=n, t=t, d=D, h=H, seed=n + t)
    dh = rng(1).standard_normal((n, t, H)).astype(dtype)
    result = run_sequence(layer, inputs, dh)
    loop = loop_of_steps(layer, inputs, dh)
    assert set(result.grads) == set(loop.grads)
    assert_dtypes(result, np.dtype(dtype))
    if dtype == np.float64:
        comparisons = compare_evaluations(result, loop, TOLERANCES["float64"], layer=layer,
                                          reference="a loop of steps")
    else:
        assert_dtypes(loop, np.dtype(dtype))
        precise = loop_of_steps(layer, as_float64(inputs), dh.astype(np.float64))
        comparisons = float32_comparisons(layer, inputs, dh, {"sequence": result, "loop of float32 steps": loop},
                                          precise)
    assert_all_passed(comparisons)


@pytest.mark.mutation_killer
@pytest.mark.parametrize("layer", SEQUENCE_LAYERS)
def test_sequence_of_length_one_equals_one_step(layer):
    inputs = recurrent_inputs(layer, np.float64, n=4, t=1, d=D, h=H, seed=7)
    dh = rng(2).standard_normal((4, 1, H))
    comparisons = compare_evaluations(run_sequence(layer, inputs, dh), loop_of_steps(layer, inputs, dh),
                                      TOLERANCES["float64_one_step"], layer=layer, reference="one step")
    assert_all_passed(comparisons)


def test_float32_judgement_still_rejects_a_wrong_gradient():
    """The rounding rule above is no blanket pass: a float32 dWx 0.5% off fails it."""
    layer = "gru"
    inputs = recurrent_inputs(layer, np.float32, n=2, t=4, d=D, h=H, seed=3)
    dh = rng(4).standard_normal((2, 4, H)).astype(np.float32)
    result = run_sequence(layer, inputs, dh)
    wrong = replace(result, grads={**result.grads, "Wx": result.grads["Wx"] * np.float32(1.005)})
    precise = loop_of_steps(layer, as_float64(inputs), dh.astype(np.float64))
    assert_all_passed(float32_comparisons(layer, inputs, dh, {"sequence": result}, precise))
    failed = [c for c in float32_comparisons(layer, inputs, dh, {"sequence": wrong}, precise) if not c.passed]
    assert [c.quantity for c in failed] == ["grad Wx"]
