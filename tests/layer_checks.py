"""The checks every registered layer spec goes through, as plain functions of a spec and a draw.

The generic tests wrap them with ``@given``; ``test_planted_bugs.py`` runs the
same functions against deliberately broken specs to prove they fail.
"""

from __future__ import annotations

import copy

import numpy as np

from oracle.judge.checks import against_twin, failures_report, run_case
from oracle.judge.metamorphic import metamorphic_comparisons
from oracle.specs.spec import LayerSpec, make_upstream, run_backward, run_forward
from tests.hypothesis_source import Draw, HypothesisSource, draw_dtype


def check_matches_twin(spec: LayerSpec, draw: Draw) -> None:
    """Forward outputs and every gradient agree with the torch twin (values, dtypes, shapes)."""
    case = run_case(spec, HypothesisSource(draw), draw_dtype(draw))
    report = failures_report(case, against_twin(case))
    assert not report, report


def check_dtypes_and_shapes(spec: LayerSpec, draw: Draw) -> None:
    """Float outputs and gradients keep the input dtype; each gradient has its input's shape."""
    dtype = draw_dtype(draw)
    case = run_case(spec, HypothesisSource(draw), dtype)
    for name, output in case.result.outputs.items():
        assert output.dtype == dtype, f"{case.describe()}: output {name} has dtype {output.dtype}, expected {dtype}"
    for name, grad in case.result.grads.items():
        assert grad.dtype == dtype, f"{case.describe()}: grad {name} has dtype {grad.dtype}, expected {dtype}"
        assert grad.shape == case.inputs[name].shape, (
            f"{case.describe()}: grad {name} has shape {grad.shape}, input has {case.inputs[name].shape}"
        )


def check_no_mutation_and_determinism(spec: LayerSpec, draw: Draw) -> None:
    """No input, upstream gradient or cache is modified, and reruns are bit-identical."""
    source = HypothesisSource(draw)
    inputs = spec.make_inputs(source, draw_dtype(draw))
    inputs_before = copy.deepcopy(inputs)
    outputs, state = run_forward(spec, inputs)
    upstream = make_upstream(spec, outputs, source)
    upstream_before = copy.deepcopy(upstream)
    grads = run_backward(spec, upstream, state)
    grads_again = run_backward(spec, upstream, state)  # a mutated cache would change the second pass
    outputs_again, state_again = run_forward(spec, inputs)
    grads_fresh = run_backward(spec, upstream, state_again)
    for kind, before, after in (("input", inputs_before, inputs), ("upstream gradient", upstream_before, upstream)):
        for name in before:
            np.testing.assert_array_equal(after[name], before[name], err_msg=f"{spec.name} modified its {kind} {name}")
    for label, first, second in (
        ("backward called twice on one cache", grads, grads_again),
        ("forward+backward rerun", grads, grads_fresh),
        ("forward rerun", outputs, outputs_again),
    ):
        for name in first:
            np.testing.assert_array_equal(second[name], first[name], err_msg=f"{spec.name}: {label} changed {name}")


def check_extra_checks(spec: LayerSpec, draw: Draw) -> None:
    """The spec's own checks (``LayerSpec.extra_checks``, e.g. the captioning model's greedy sampling) pass."""
    if not spec.extra_checks:
        return
    case = run_case(spec, HypothesisSource(draw), draw_dtype(draw))
    comparisons = [comparison for extra in spec.extra_checks for comparison in extra.run(spec, case, "cpu")]
    report = failures_report(case, comparisons)
    assert not report, report


def check_metamorphic(spec: LayerSpec, draw: Draw) -> None:
    """The metamorphic relations that apply to the layer hold on a float64 case (:mod:`oracle.judge.metamorphic`)."""
    case = run_case(spec, HypothesisSource(draw), np.dtype(np.float64))
    report = failures_report(case, metamorphic_comparisons(spec, case.inputs, case.upstream, case.result))
    assert not report, report


ALL_CHECKS = (check_matches_twin, check_dtypes_and_shapes, check_no_mutation_and_determinism, check_extra_checks,
              check_metamorphic)
