"""A target's layers shared with a copy of the judge process: the same entry as one process alone, whatever the
copy does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from oracle.cli import single_threaded_torch
from oracle.judge import shrink
from oracle.judge.audit import AuditConfig
from oracle.layers import all_specs
from oracle.references.store import ReferenceStore, using
from oracle.targets import forked_lane
from oracle.targets.boundary import Limits, Session
from oracle.targets.impl_audit import audit_one

#: The layers audited, in the registry's order (their positions decide the lanes).
LAYERS = ("affine", "temporal_affine", "rnn_step", "temporal_softmax_loss")

#: Those the copy audits (:func:`oracle.targets.forked_lane.in_second`).
COPY_LAYERS = ("temporal_affine", "temporal_softmax_loss")

#: A folder where a function audited by the copy prints and is wrong (``dw`` doubled), and one audited here is
#: wrong too (``db`` scaled).
LAYERS_PY = '''
import numpy as np

import impl as _impl
from impl import *  # noqa: F403


def temporal_affine_forward(x, w, b):
    print("temporal_affine_forward called")
    return _impl.temporal_affine_forward(x, w, b)


def temporal_affine_backward(dout, cache):
    dx, dw, db = _impl.temporal_affine_backward(dout, cache)
    return dx, 2 * dw, db


def rnn_step_backward(dnext_h, cache):
    dx, dprev_h, dWx, dWh, db = _impl.rnn_step_backward(dnext_h, cache)
    return dx, dprev_h, dWx, dWh, 1.5 * db
'''


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("forked") / "course"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "rnn_layers.py").write_text(LAYERS_PY)
    return folder


#: Seconds for shrinking each finding's case, and all of them: enough that no search stops by the clock on a
#: loaded machine, where it would try fewer cases in one run than in another and keep other references.
UNHURRIED = 600.0


def entry(target: Path, fork: bool, progress: object = None) -> dict:
    """The target's entry with two workers, without its timings (wall time differs from run to run), and the
    names of the references its memory store holds after it (``"kept"``)."""
    config = AuditConfig(LAYERS, ("float64", "float32"), 2, 0)
    with (using(ReferenceStore.memory()) as store, single_threaded_torch(),  # as every audit command runs torch
          pytest.MonkeyPatch.context() as patch):
        patch.setattr(shrink, "BUDGET_SECONDS", UNHURRIED)
        found = audit_one(str(target), config, LAYERS, "rnn-oracle", progress=progress, parallel=2, fork=fork,
                          limits=Limits(timeout=20.0), shrink_budget=UNHURRIED)[0]
    assert "stopped at its time budget" not in str(found)
    found.pop("seconds")
    found["sandbox"].pop("seconds", None)
    return {**found, "kept": store.kept_names()}


@pytest.fixture(scope="module")
def alone(target: Path) -> dict:
    return entry(target, fork=False)


def test_the_layers_are_shared_by_their_positions():
    positions = [name for name in (spec.name for spec in all_specs()) if name in LAYERS]
    assert tuple(positions) == LAYERS
    assert tuple(name for index, name in enumerate(LAYERS) if forked_lane.in_second((index, None, ""))) == COPY_LAYERS


def test_a_copy_of_the_judge_gives_the_entry_of_one_process(target, alone):
    events = []
    shared = entry(target, fork=True, progress=events.append)
    assert shared == alone  # the references the copy computed are kept here too
    assert set(shared["verdicts"]["temporal_affine_backward"]["float64"]) == {"wrong_value"}  # found by the copy
    assert set(shared["verdicts"]["rnn_step_backward"]["float64"]) == {"wrong_value"}  # found here
    assert shared["output"]["temporal_affine_forward"]["bytes"] > 0  # what the copy's worker printed came back
    done = [event for event in events if event.run is not None]
    assert sorted(event.index for event in done) == list(range(1, 2 * len(LAYERS) + 1))
    assert {event.layer for event in done if event.alone} == set(COPY_LAYERS)  # the copy's, reported on its return


def _sends_nothing(value: object) -> bytes:
    raise RuntimeError("the copy could not pickle its runs")


def _dies(self: Session) -> None:
    os._exit(3)


def _no_process_left() -> int:
    raise BlockingIOError(11, "Resource temporarily unavailable")  # fork's EAGAIN


@pytest.mark.parametrize("failure", [
    pytest.param(("_dumped", _sends_nothing, forked_lane), id="copy fails"),
    pytest.param(("keep_second", _dies, Session), id="copy dies"),
    pytest.param(("fork", _no_process_left, os), id="no copy can be made"),
])
def test_a_copy_that_fails_or_dies_leaves_its_layers_to_this_process(failure, target, alone, monkeypatch):
    name, replacement, owner = failure
    monkeypatch.setattr(owner, name, replacement)  # in this process, and so in its copy made by fork
    assert entry(target, fork=True) == alone


HANGS_PY = '''
import time

import numpy as np

import impl as _impl
from impl import *  # noqa: F403


def rnn_step_backward(dnext_h, cache):
    time.sleep(600)
'''


def test_a_worker_replaced_in_the_copy_is_replaced_here_too(tmp_path, monkeypatch):
    """A call in the copy times out and its worker is killed there: this process drops its own handle on that
    worker (a fresh one starts if shrinking shares a batch), and the function is not called again."""
    taken_back = []
    take_back = Session.take_back_second

    def spied(self: Session, alive: bool, report: object) -> None:
        taken_back.append((alive, set(report.timed_out)))  # type: ignore[attr-defined]
        take_back(self, alive, report)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "take_back_second", spied)
    folder = tmp_path / "hangs"
    folder.mkdir()
    (folder / "rnn_layers.py").write_text(HANGS_PY)
    layers = ("affine", "rnn_step")  # rnn_step the copy's
    config = AuditConfig(layers, ("float64",), 1, 0)
    with single_threaded_torch():
        found = audit_one(str(folder), config, layers, "rnn-oracle", parallel=2, fork=True,
                          limits=Limits(timeout=1.0))[0]
    assert found["verdicts"]["rnn_step_backward"]["float64"] == ["timeout"]
    assert found["verdicts"]["affine_forward"]["float64"] == ["pass"]
    assert taken_back == [(False, {"rnn_step_backward"})]


def test_no_copy_is_made_where_torch_has_several_threads(target, monkeypatch):
    """A copy of a process whose torch ran on several OpenMP threads could wait forever on their pool."""

    def refused() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", refused)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config = AuditConfig(LAYERS[:2], ("float64",), 1, 0)
        found = audit_one(str(target), config, LAYERS[:2], "rnn-oracle", parallel=2, fork=True)[0]
    finally:
        torch.set_num_threads(previous)
    assert found["verdicts"]["temporal_affine_backward"]["float64"] == ["wrong_value"]
