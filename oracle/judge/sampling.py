"""The captioning model's greedy sampling, judged against the twin's: an extra check of the captioning specs.

``CaptioningRNN.sample`` of impl's model is compared with
:meth:`oracle.references.twins.CaptioningTwin.sample` on the parameters and features of
a generated case. A different word counts as a disagreement only when it is
not a near-tie (see :func:`sampling_comparison`). :func:`sampling_check`
wraps it as an :class:`oracle.specs.spec.ExtraCheck`, which the generic suites and
the audit run for every spec that carries it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import impl
from impl.cell_layouts import CAPTIONING_PARAMETERS
from oracle.judge.checks import Case, spec_tolerance, torch_name
from oracle.judge.compare import Comparison
from oracle.references import twins
from oracle.specs.calls import captioning_sample, vocabulary
from oracle.specs.spec import Arrays, Evaluation, ExtraCheck, LayerSpec
from oracle.specs.tolerances import Tolerance


def sampling_check(cell: str, model: Any = None) -> ExtraCheck:
    """The greedy-sampling check of a ``cell`` captioning spec: an :class:`~oracle.specs.spec.ExtraCheck`, ``sample``.

    ``model``: the ``CaptioningRNN`` under test (see :func:`sampler`; impl's by default).
    """

    def run(spec: LayerSpec, case: Case, device: str) -> list[Comparison]:
        return [sampling_comparison(spec, case, cell, device, model)]

    def captions(inputs: Arrays) -> Evaluation:
        """The model's greedy captions of a case, as the output ``"captions"`` (for error models)."""
        return Evaluation({"captions": sampled_captions(cell, inputs, model)}, {})

    return ExtraCheck("sample", run, independent=True, subject=captions)


def sampled_captions(cell: str, inputs: Arrays, model: Any = None) -> np.ndarray:
    """The greedy captions of the model under test on a captioning case's features and parameters (``T`` words)."""
    return np.asarray(sampler(cell, model)(inputs["features"], int(inputs["null"]), inputs["captions"].shape[1] - 1,
                                           *(inputs[name] for name in CAPTIONING_PARAMETERS[cell])))


def sampler(cell: str, model: Any = None) -> Any:
    """``sample(features, null, max_length, *params) -> words`` of the model under test.

    ``model`` is a class (impl's ``CaptioningRNN``, seeded, by default), or a
    stand-in for one that runs in a worker process and has its own
    ``sample_function`` (:class:`oracle.targets.boundary.RemoteModel`).
    """
    if hasattr(model, "sample_function"):
        return model.sample_function(cell)
    model_class = impl.CaptioningRNN if model is None else model
    return captioning_sample(cell, model_class, seeded=model_class is impl.CaptioningRNN)


def sample_both(cell: str, inputs: Arrays, device: str, model: Any = None,
                sampled: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy captions of the model under test and of the twin, and the twin's scores, from a captioning case.

    Both decode ``T`` words, ``T + 1`` being the length of the case's captions. ``sampled``: the model's
    captions, when already sampled.
    """
    params = [inputs[name] for name in CAPTIONING_PARAMETERS[cell]]
    null, max_length = int(inputs["null"]), inputs["captions"].shape[1] - 1
    words = vocabulary(params[CAPTIONING_PARAMETERS[cell].index("W_embed")].shape[0], null)
    impl_words = (np.asarray(sampler(cell, model)(inputs["features"], null, max_length, *params)) if sampled is None
                  else sampled)
    twin = twins.CaptioningTwin(cell, dict(zip(CAPTIONING_PARAMETERS[cell], params, strict=True)), null=null,
                                device=device)
    twin_words, scores = twin.sample(inputs["features"], max_length, words["<START>"])
    return stopped_at_end_as_twin(impl_words, twin_words, words["<END>"], null), twin_words, scores


def stopped_at_end_as_twin(words: np.ndarray, twin_words: np.ndarray, end: int, null: int) -> np.ndarray:
    """``words``, with ``<NULL>`` after the twin's first ``<END>`` of a row read as the twin's word.

    The seed allows both decodes: running all ``max_length`` steps, or
    stopping at ``<END>`` and padding with ``<NULL>``. Column 0 is always
    the first sampled word, never ``<START>``.
    """
    if words.shape != twin_words.shape or words.ndim != 2:
        return words
    after_end = np.cumsum(twin_words == end, axis=1) - (twin_words == end) > 0
    return np.where(after_end & (words == null), twin_words, words)


def sampling_comparison(spec: LayerSpec, case: Case, cell: str, device: str, model: Any = None) -> Comparison:
    """Greedy sampling of the ``CaptioningRNN`` under test against :class:`oracle.references.twins.CaptioningTwin`.

    Conventions (:func:`stopped_at_end_as_twin`): column 0 holds the first
    sampled word, and a decode that stops at ``<END>`` and leaves ``<NULL>``
    after it is accepted.

    Where a row first differs, the twin chose word ``a`` and impl word ``b``;
    the row disagrees only if the twin's score gap ``|s[a] - s[b]|`` exceeds
    ``atol + rtol * |s[a]|`` of the dtype's tolerance. A smaller gap is a
    near-tie that rounding may break either way, and every later word
    legitimately differs, so only the first difference of a row is judged.
    ``max_abs`` is the largest such gap, ``ratio`` the largest gap over its
    allowance.
    """
    null = int(case.inputs["null"])
    sampled = sampled_captions(cell, case.inputs, model)
    impl_words, twin_words, scores = sample_both(cell, case.inputs, device, model, sampled)
    tolerance = spec_tolerance(spec, case.dtype.name)
    header: dict[str, Any] = dict(layer=spec.name, quantity="sample captions", dtype=case.dtype.name,
                                  reference=torch_name(device), shape=impl_words.shape, tolerance=tolerance)
    if impl_words.shape != twin_words.shape:
        return Comparison.unmeasured(**header, problem=f"shape {impl_words.shape} where the twin sampled "
                                                       f"{twin_words.shape}")
    if sampled.size and np.all(sampled == null) and not np.all(twin_words == null):
        return Comparison.unmeasured(**header, cause="not_implemented",
                                     problem="every word is <NULL>: the placeholder captions, returned as they were")
    judged = [_judge_step(impl_words, twin_words, scores, row, step, tolerance)
              for row, step in _first_differences(impl_words, twin_words)]
    gap, rel, ratio, detail = max(judged, key=lambda judgement: judgement[2], default=(0.0, 0.0, 0.0, ""))
    return Comparison(**header, max_abs=gap, max_rel=rel, ratio=ratio, problem=detail if ratio > 1.0 else "")


def _judge_step(impl_words: np.ndarray, twin_words: np.ndarray, scores: np.ndarray, row: int, step: int,
                tolerance: Tolerance) -> tuple[float, float, float, str]:
    """``(gap, gap / |s[a]|, gap / allowance, description)`` of the first difference of one row."""
    chosen, other = int(twin_words[row, step]), int(impl_words[row, step])
    # abs: a twin whose "argmax" scored below impl's word would be just as real a disagreement.
    gap = abs(float(scores[row, step, chosen]) - float(scores[row, step, other]))
    top = abs(float(scores[row, step, chosen]))
    ratio = gap / (tolerance.atol + tolerance.rtol * top)
    detail = f"row {row} step {step}: impl chose word {other}, the twin word {chosen} with a score gap of {gap:.3e}"
    return gap, gap / top if top else np.inf, ratio, detail


def _first_differences(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """``(row, first differing column)`` for every row of two equal-shaped 2-D arrays that differ."""
    differ = a != b
    return [(int(row), int(np.argmax(differ[row]))) for row in np.flatnonzero(differ.any(axis=1))]
