"""Error models (:mod:`oracle.specs.mistakes`) and the judge that names them (:mod:`oracle.judge.causes`).

The learner's code of ``tests/learner_cs231n.py`` makes each known mistake
through a patch (``tests/learner_mistakes.py``); the judge must name exactly
that mistake, name nothing for a mistake outside the catalogue, name the
pair for two mistakes, and call a sequence that only loops over a wrong step
*inherited*. These run the learner's code in this process (the worker is not
what is tested here); ``test_the_causes_are_in_every_output`` runs one target
through ``audit --impl`` end to end.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from oracle.cli import main
from oracle.judge.audit import AuditConfig, CaseFailure, case_source, run_audit
from oracle.judge.causes import (
    Kernels,
    Observed,
    agrees,
    causes,
    explain,
    function_cases,
    kind_of,
    quantities,
    step_kernels,
)
from oracle.judge.checks import run_case
from oracle.judge.sampling import sample_both
from oracle.judge.verdicts import verdicts
from oracle.layers import all_specs, get_spec
from oracle.layers.cs231n_mistakes import CATALOGUE
from oracle.specs.mistakes import ErrorModel
from oracle.specs.spec import Evaluation, LayerSpec
from oracle.targets.binding import bind
from tests.learner_mistakes import OUTSIDE, PATCHES, Patch, learner_module
from tools import error_models

#: Cases drawn per check: the audit's first settings, sizes 1 to 4.
CASES = 4

#: Cases of greedy sampling: the small random models of the first cases often repeat one word, where feeding
#: <START> again or never updating the state changes nothing.
SAMPLED_CASES = 12

#: The CS231n catalogue's models by id, with their spec's name (the learner's code here is CS231n's).
MODELS: dict[str, tuple[str, ErrorModel]] = {model.id: (name, model) for name, models in CATALOGUE.items()
                                             for model in models}

#: Every spec with error models, of both families.
WITH_MODELS = sorted(spec.name for spec in all_specs() if spec.mistakes)


class Module:
    """A learner's module as a target (:class:`oracle.targets.binding.Findable`), in this process."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.label = module.__name__

    def find(self, name: str) -> object:
        return getattr(self.module, name, None)


def learner(tmp_path: Path, *patches: Patch) -> Module:
    return Module(learner_module([change for patch in patches for change in patch], tmp_path))


def observations(spec: LayerSpec, function: str, dtype: str = "float64", cases: int = CASES) -> list[Observed]:
    """What ``spec`` (bound to a learner) returned for ``function`` on the audit's first ``cases`` cases."""
    config = AuditConfig(layers=(spec.name,), dtypes=(dtype,), cases=cases, seed=0)
    run = type("Run", (), {"records": tuple(run_case(spec, case_source(spec, np.dtype(dtype), 0, index,
                                                                       config.setting(index)), np.dtype(dtype),
                                                     keep_forward=True) for index in range(cases)),
                           "dtype": dtype})
    return function_cases(spec, run, kind_of(spec, function), None, config)  # type: ignore[arg-type]


def reference_of(spec: LayerSpec, seen: Observed, kind: str) -> Evaluation:
    """The twin's result on a case, as the function is judged."""
    if kind == "sample":
        assert spec.gates is not None
        return Evaluation({"captions": sample_both(spec.gates.cell, seen.inputs, "cpu")[1]}, {})
    return quantities(spec.twin(seen.inputs, seen.upstream, "cpu"), kind)


def named(target: Module, layer: str, function: str, dtype: str = "float64", wrong_steps: dict | None = None,
          explained: dict | None = None) -> list:
    """The ids the judge names for ``function`` of ``layer`` in the learner's code; the twin must disagree first."""
    spec = bind(get_spec(layer), target)
    kind = kind_of(spec, function)
    seen = observations(spec, function, dtype, SAMPLED_CASES if kind == "sample" else CASES)
    assert not all(agrees(spec, case, reference_of(spec, case, kind)) for case in seen), \
        f"the learner's {function} agrees with the reference: there is nothing to explain"
    references = {other.name: other for other in all_specs()}
    kernels = (Kernels(references) if wrong_steps is None
               else step_kernels(spec, [bind(get_spec(name), target) for name in ("rnn_step", "lstm_step", "gru_step")],
                                 wrong_steps, references, kind, explained))
    return [cause.id for cause in explain(spec, function, seen, kernels)]


def test_every_model_of_the_catalogue_has_a_learners_fixture():
    assert set(PATCHES) == set(MODELS)


@pytest.mark.parametrize("layer", WITH_MODELS)
def test_every_variant_without_mistakes_is_the_reference(layer):
    spec = get_spec(layer)
    for variant in dict.fromkeys(model.variant for model in spec.mistakes):
        model = next(model for model in spec.mistakes if model.variant is variant)
        step = get_spec(model.step) if model.step else None
        kind = kind_of(spec, model.functions[0])
        for seen in observations(spec, model.functions[0]):
            result = quantities(variant(seen.inputs, seen.upstream, frozenset(), step), kind)
            assert agrees(spec, Observed(seen.inputs, seen.upstream, result, seen.dtype),
                          reference_of(spec, seen, kind))


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_a_learners_mistake_is_explained_by_exactly_its_model(model_id, tmp_path):
    layer, model = MODELS[model_id]
    target = learner(tmp_path, PATCHES[model_id])
    for function in model.functions:
        assert named(target, layer, function) == [model_id], function


@pytest.mark.parametrize("model_id", ["rnn.h_not_carried", "rnn_step.tanh_derivative_missing",
                                      "gru_step.update_gate_reversed"])
def test_float32_results_are_explained_under_the_rounding_rule(model_id, tmp_path):
    layer, model = MODELS[model_id]
    assert named(learner(tmp_path, PATCHES[model_id]), layer, model.functions[-1], "float32") == [model_id]


def test_a_correct_learner_agrees_with_every_reference(tmp_path):
    target = learner(tmp_path)
    for layer, models in CATALOGUE.items():
        spec = bind(get_spec(layer), target)
        for function in dict.fromkeys(function for model in models for function in model.functions):
            kind = kind_of(spec, function)
            assert all(agrees(spec, seen, reference_of(spec, seen, kind)) for seen in observations(spec, function))


@pytest.mark.parametrize("mistake", sorted(OUTSIDE))
def test_a_mistake_outside_the_catalogue_gets_no_cause(mistake, tmp_path):
    layer, patch = OUTSIDE[mistake]
    target = learner(tmp_path, patch)
    spec = get_spec(layer)
    function = patch[0][0] if spec.public_names != ("CaptioningRNN",) else f"CaptioningRNN.sample[{layer[11:]}]"
    assert named(target, layer, function) == []


@pytest.mark.parametrize("first, second", [("lstm.h_not_carried", "lstm.weight_grads_one_step"),
                                           ("lstm.h_not_carried", "lstm.c_not_carried"),
                                           ("rnn_step.tanh_derivative_missing", "rnn_step.dwh_uses_next_h"),
                                           ("temporal_softmax_loss.mask_ignored",
                                            "temporal_softmax_loss.grad_not_divided")])
def test_two_mistakes_are_explained_as_the_pair(first, second, tmp_path):
    layer, model = MODELS[first]
    target = learner(tmp_path, PATCHES[first], PATCHES[second])
    assert named(target, layer, model.functions[-1]) == [f"{first}+{second}"]


#: A mistake of the LSTM step outside the catalogue.
WRONG_STEP = OUTSIDE["db averaged over the batch in the LSTM step"][1]


@pytest.mark.parametrize("step_mistake, sequence_mistake, expected", [
    ("", "", "inherited.lstm_step_backward"),
    ("", "lstm.h_not_carried", "lstm.h_not_carried+inherited.lstm_step_backward"),
    ("lstm_step.dwh_uses_next_h", "", "inherited.lstm_step_backward"),
    ("lstm_step.dwh_uses_next_h", "lstm.h_not_carried", "lstm.h_not_carried+lstm_step.dwh_uses_next_h"),
])
def test_a_sequence_over_the_learners_wrong_step_inherits_it(step_mistake, sequence_mistake, expected, tmp_path):
    """The step's mistake is outside the catalogue (unknown) or its own model, found on the step first."""
    patches = [PATCHES[step_mistake] if step_mistake else WRONG_STEP] + ([PATCHES[sequence_mistake]]
                                                                        if sequence_mistake else [])
    target = learner(tmp_path, *patches)
    wrong = {"lstm_step_forward": {"float64": ["pass"]}, "lstm_step_backward": {"float64": ["wrong_value"]}}
    known = ({"lstm_step_backward": {"float64": [{"id": step_mistake, "text": MODELS[step_mistake][1].text,
                                                  "cases": CASES}]}} if step_mistake else {})
    if step_mistake:
        assert named(target, "lstm_step", "lstm_step_backward") == [step_mistake]
    assert named(target, "lstm", "lstm_backward", wrong_steps=wrong, explained=known) == [expected]


#: The hidden-to-hidden product with Wh transposed, and a backward pass that is exactly its gradient.
TRANSPOSED_WH = [("rnn_step_forward", "prev_h.dot(Wh)", "prev_h.dot(Wh.T)"),
                 ("rnn_step_backward", "dprev_h = da.dot(Wh.T)", "dprev_h = da.dot(Wh)"),
                 ("rnn_step_backward", "dWh = prev_h.T.dot(da)", "dWh = da.T.dot(prev_h)")]


def test_a_backward_that_follows_its_wrong_forward_inherits_it(tmp_path):
    spec = bind(get_spec("rnn_step"), learner(tmp_path, TRANSPOSED_WH))
    config = AuditConfig(layers=("rnn_step",), dtypes=("float64",), cases=3, seed=0, dims={"H": 2})
    result = run_audit([spec], config)
    found, _ = verdicts(result, [spec])
    assert found["rnn_step_forward"]["float64"] == ["wrong_value"] == found["rnn_step_backward"]["float64"]
    explained = causes(result, [spec], found, {}, {other.name: other for other in all_specs()})
    assert explained["rnn_step_forward"]["float64"] == []
    assert [cause["id"] for cause in explained["rnn_step_backward"]["float64"]] == ["inherited.rnn_step_forward"]


def test_the_causes_are_in_every_output(tmp_path, capsys):
    target = tmp_path / "learner.py"
    learner_module(PATCHES["lstm.h_not_carried"], tmp_path, "learner")
    paths = {name: tmp_path / name for name in ("verdicts.json", "gradescope.json", "page.html")}
    code = main(["audit", "--impl", str(target), "--layers", "lstm_step,lstm", "--dtypes", "float64", "--cases", "3",
                 "--json", str(paths["verdicts.json"]), "--gradescope", str(paths["gradescope.json"]),
                 "--html", str(paths["page.html"]), "--repro", str(tmp_path / "repro"), "--timeout", "20"])
    text = capsys.readouterr().out
    assert code == 1
    entry = json.loads(paths["verdicts.json"].read_text())["targets"][0]
    assert entry["causes"]["lstm_backward"]["float64"] == [
        {"id": "lstm.h_not_carried", "text": MODELS["lstm.h_not_carried"][1].text, "cases": 4}]
    assert all(entry["causes"][function]["float64"] == [] for function in entry["causes"]
               if function != "lstm_backward")
    assert "likely cause (reproduced exactly on all 4 float64 cases): in lstm_backward" in text
    tests = {test["name"]: test["output"] for test in json.loads(paths["gradescope.json"].read_text())["tests"]}
    assert "[lstm.h_not_carried]" in tests["lstm_backward"] and "likely cause" not in tests["lstm_forward"]
    page = paths["page.html"].read_text()
    assert 'class="cause"' in page and "[lstm.h_not_carried]" in page
    script = Path(entry["reproducers"]["lstm_backward"]["float64"]).read_text()
    assert script.startswith("# likely cause: in lstm_backward")


def test_the_catalogue_page_is_current():
    assert error_models.main(["--check"]) == 0, "run python tools/error_models.py --write"


def test_a_finding_of_a_relation_alone_gets_no_cause(tmp_path):
    """Values that agree with the twin everywhere leave nothing to explain, although a model agrees too.

    With one word per batch, the embedding model that counts a repeated word once equals the reference; a
    wrong value found by a metamorphic relation alone (forged here) must not be explained by it.
    """
    spec = bind(get_spec("word_embedding"), learner(tmp_path))
    config = AuditConfig(layers=("word_embedding",), dtypes=("float64",), cases=2, seed=0, dims={"N": 1, "T": 1})
    result = run_audit([spec], config)
    [run] = result.runs
    relation = next(check for check in run.checks if check.quantity == "grads [2x upstream]")
    forged = dataclasses.replace(relation, failures=(CaseFailure(0, "forged", "forged"),))
    run = dataclasses.replace(run, checks=(*run.checks, forged), records=tuple(
        run_case(spec, case_source(spec, np.dtype("float64"), 0, index, config.setting(index)), np.dtype("float64"))
        for index in range(2)))
    result = dataclasses.replace(result, runs=(run,))
    found, _ = verdicts(result, [spec])
    assert found["word_embedding_backward"]["float64"] == ["wrong_value"]
    explained = causes(result, [spec], found, {}, {other.name: other for other in all_specs()})
    assert explained["word_embedding_backward"]["float64"] == []
