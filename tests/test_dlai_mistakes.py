"""deeplearning.ai's error models (:mod:`oracle.layers.dlai_mistakes`) against learner-style fixtures that make them.

Every model has a fixture (:mod:`tests.dlai_mistakes`): the correct
assignment with the model's mistake written in, as a learner writes it.
In this process, on drawn cases of the model's spec, each fixture must be
reproduced by its model's variant on every case, under the audit's float64
tolerance, and by no other model of its spec; the correct reference must
not reproduce it. That proves the catalogue's variants model real code and
can be told apart. The audit itself states them: ``test_dlai_causes.py``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from oracle.judge.checks import spec_tolerance
from oracle.judge.compare import compare_evaluations
from oracle.layers import get_spec
from oracle.layers.dlai_mistakes import CATALOGUE
from oracle.specs.mistakes import ErrorModel
from oracle.specs.sources import RandomSource
from oracle.specs.spec import Evaluation, LayerSpec, copies, make_upstream, run_backward, run_forward
from oracle.targets.standins import rnn_utils
from tests import dlai_mistakes

#: Drawn cases per fixture (sizes 1 to 4 of every dimension, the sequences' T_x among them).
CASES = 5

MODELS = {model.id: model for models in CATALOGUE.values() for model in models}


def learner(spec: LayerSpec, functions: dict[str, str]) -> LayerSpec:
    """``spec`` bound to the fixture's functions, run in this process (it is our own code)."""
    namespace: dict = {"np": np, "softmax": rnn_utils.softmax, "sigmoid": rnn_utils.sigmoid}
    for source in functions.values():
        exec(source, namespace)  # noqa: S102  (the fixtures of this file, not a user's code)
    assert spec.binder is not None
    return spec.binder(spec, {name: namespace[name] for name in spec.public_names})


def results(spec: LayerSpec, inputs: dict, upstream: dict) -> Evaluation:
    outputs, cache = run_forward(spec, copies(inputs))
    return Evaluation(outputs, run_backward(spec, copies(upstream), cache))


@functools.cache
def drawn(name: str) -> list[tuple[dict, dict]]:
    """``CASES`` float64 cases of spec ``name``: inputs and random upstream gradients (never modified)."""
    spec = get_spec(name)
    cases = []
    for seed in range(CASES):
        source = RandomSource(np.random.default_rng(seed))
        inputs = spec.make_inputs(source, np.dtype(np.float64))
        outputs, _ = run_forward(spec, copies(inputs))
        cases.append((inputs, make_upstream(spec, outputs, source)))
    return cases


def part(evaluation: Evaluation, spec: LayerSpec, function: str) -> Evaluation:
    """What ``function`` is judged on: the outputs of the forward function, the gradients of the backward."""
    forward, _ = spec.public_names
    return Evaluation(evaluation.outputs, {}) if function == forward else Evaluation({}, evaluation.grads)


def agree(spec: LayerSpec, actual: Evaluation, expected: Evaluation) -> bool:
    tolerance = spec_tolerance(spec, "float64")
    return all(comparison.passed for comparison in compare_evaluations(
        actual, expected, tolerance, layer=spec.name, reference="variant", check_dtype=False))


def variant_of(model: ErrorModel, mistakes: frozenset[str], inputs: dict, upstream: dict) -> Evaluation:
    step = get_spec(model.step) if model.step else None
    return model.variant(copies(inputs), copies(upstream), mistakes, step)


@pytest.mark.parametrize("model_id", list(dlai_mistakes.FIXTURES))
def test_each_fixture_is_reproduced_by_its_model_alone(model_id):
    model = MODELS[model_id]
    spec = get_spec(model_id.split(".")[0])
    user = learner(spec, dlai_mistakes.fixture(model_id))
    cases = [(inputs, upstream, results(user, inputs, upstream)) for inputs, upstream in drawn(spec.name)]
    wrong = {function for function in spec.public_names
             if not all(agree(spec, part(found, spec, function), part(variant_of(model, frozenset(), inputs, upstream),
                                                                      spec, function))
                        for inputs, upstream, found in cases)}
    assert dlai_mistakes.changed_functions(model_id) & set(model.functions) <= wrong, "the fixture makes no mistake"
    assert wrong <= set(model.functions), f"{model_id} does not name {sorted(wrong - set(model.functions))}"
    for function in wrong:
        reproduced = {other.id for other in spec.mistakes if function in other.functions
                      and all(agree(spec, part(found, spec, function),
                                    part(variant_of(other, frozenset({other.id}), inputs, upstream), spec, function))
                              for inputs, upstream, found in cases)}
        assert reproduced == {model_id}, function


@pytest.mark.parametrize("layer", sorted(CATALOGUE))
def test_every_variant_without_mistakes_is_the_reference(layer):
    """One switchable variant per spec (so its models compose), equal to the torch twin with no mistake applied."""
    spec = get_spec(layer)
    assert len({id(model.variant) for model in CATALOGUE[layer]}) == 1
    for inputs, upstream in drawn(layer):
        assert agree(spec, variant_of(CATALOGUE[layer][0], frozenset(), inputs, upstream),
                     spec.twin(copies(inputs), copies(upstream), "cpu"))


def test_every_model_has_a_fixture_and_every_fixture_a_model():
    assert set(dlai_mistakes.FIXTURES) == set(MODELS)
    assert {spec for spec in CATALOGUE} == {"dlai_rnn_cell", "dlai_rnn", "dlai_lstm_cell", "dlai_lstm"}


def test_a_fixture_edit_that_no_longer_applies_is_an_error():
    with pytest.raises(ValueError, match="expects 'no such line' once in it, found it 0 times"):
        dlai_mistakes.functions_with(("lstm_backward", "no such line", ""))
