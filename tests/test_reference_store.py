"""The reference store: the same verdicts with it or without; stale or corrupt entries never trusted; no worker near."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from oracle.cli import main, single_threaded_torch
from oracle.judge.audit import AuditConfig, run_audit
from oracle.layers import get_spec
from oracle.references import store as reference_store
from oracle.references.store import ReferenceStore, decode_entry, encode_entry, using
from oracle.report.text import to_json
from tests.user_implementations import course_folder

#: A small class: right, a wrong gradient, a stub.
CLASS = ("correct", "bias gradient of shape (1, H)", "stub")
CLASS_OPTIONS = ("--layers", "affine,rnn_step", "--cases", "1", "-j", "2")

#: A float32 layer whose references include a rounding spread when built.
LAYER = "lstm_step"


def graded(*paths: Path) -> list[list[dict]]:
    """Each class's JSON entries without their seconds (the audit's, and the sandbox's own time to confine a
    worker): the wall time may differ, and with it a shrinking's end.

    A search for a smaller case stops at its time budget (:mod:`oracle.judge.shrink`), so on a loaded machine
    the minimal case it reports depends on the clock, with a store or without one: where a search of any of
    the runs says it stopped there, that target's minimal cases are left out of the comparison in every run
    (its verdicts, points and other evidence never are).
    """
    documents = [[{key: value for key, value in entry.items() if key != "seconds"}
                  for entry in json.loads(path.read_text())["targets"]] for path in paths]
    for entries in documents:
        for entry in entries:
            if entry.get("sandbox"):
                entry["sandbox"] = {key: value for key, value in entry["sandbox"].items() if key != "seconds"}
    for entries in zip(*documents, strict=True):
        if any("stopped at its time budget" in json.dumps(entry["evidence"]) for entry in entries):
            for entry in entries:
                entry["minimal"] = "left out: a search stopped at its time budget"
                entry["evidence"] = {function: {dtype: [text for text in texts if not text.startswith("minimal case")]
                                                for dtype, texts in dtypes.items()}
                                     for function, dtypes in entry["evidence"].items()}
    return documents


@contextlib.contextmanager
def no_store() -> Iterator[ReferenceStore]:
    yield ReferenceStore.off()


def test_a_class_is_graded_the_same_without_a_store_with_one_and_with_one_from_an_earlier_run(
        tmp_path, monkeypatch, capsys):
    store = tmp_path / "kept-store"
    targets = [str(course_folder(tmp_path / f"student{number}", problem)) for number, problem in enumerate(CLASS)]
    (tmp_path / "spy").mkdir()
    (tmp_path / "spy" / "layers.py").write_text(SPY + LEAKS.format(names=[store.name, "rnn-oracle-references"]))
    targets.append(str(tmp_path / "spy" / "layers.py"))
    with monkeypatch.context() as patched:
        patched.setattr(reference_store, "shared", no_store)  # what a run computed before there was a store
        main(["audit", "--impl", *targets, *CLASS_OPTIONS, "--json", str(tmp_path / "none.json")])
    kept_in = ["--references", str(store)]
    main(["audit", "--impl", *targets, *CLASS_OPTIONS, *kept_in, "--json", str(tmp_path / "new.json")])
    kept = sorted(path.name for path in store.glob("*/*.ref"))
    main(["audit", "--impl", *targets, *CLASS_OPTIONS, *kept_in, "--json", str(tmp_path / "old.json")])
    assert "reference store" not in capsys.readouterr().err  # nothing stale, nothing corrupt: nothing to note
    assert kept and sorted(path.name for path in store.glob("*/*.ref")) == kept  # the second run only read
    without, new, old = graded(*(tmp_path / f"{run}.json" for run in ("none", "new", "old")))
    assert [entry["points"]["total"] for entry in without][0] > [entry["points"]["total"] for entry in without][1]
    assert new == without
    assert old == without
    # The spy's workers, in the judge processes of -j, never saw the store (kept or temporary) anywhere.
    assert json.loads(without[-1]["output"]["import"]["tail"].splitlines()[-1]) == {"leaks": [], "looked": True}


def audited(store: ReferenceStore) -> dict:
    """The JSON of an audit of :data:`LAYER` in float32 with ``store``, without its timings, its spec as a target's
    is bound (its own forward pass the reference, whose finite differences the store keeps too)."""
    config = AuditConfig((LAYER,), ("float32",), 2, 0)
    spec = dataclasses.replace(get_spec(LAYER), reference_forward=get_spec(LAYER).forward)
    with using(store), single_threaded_torch():  # as the audit and the build run torch: threads are in the key
        document = to_json(run_audit([spec], config), "test", "rnn-oracle")
    document.pop("environment", None)
    document["summary"].pop("seconds")
    return document


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store built ahead of time for :func:`audited`'s cases (twins, rounding spreads and finite differences),
    once for the module."""
    folder = tmp_path_factory.mktemp("references") / "built"
    assert main(["references", "build", "--out", str(folder), "--layers", LAYER, "--dtypes", "float32",
                 "--cases", "2"]) == 0
    return folder


@pytest.fixture
def built(built_once: Path, tmp_path: Path) -> Path:
    """A copy of :func:`built_once` that the test may spoil."""
    return Path(shutil.copytree(built_once, tmp_path / "built"))


@functools.cache
def audited_without_store() -> str:
    """:func:`audited` with every reference computed, as JSON (computed once: it is deterministic)."""
    return json.dumps(audited(ReferenceStore.off()), sort_keys=True)


def same_as_without_store(store: ReferenceStore) -> bool:
    return json.dumps(audited(store), sort_keys=True) == audited_without_store()


def test_a_built_store_answers_every_reference_of_the_audit(built):
    store = ReferenceStore.open(built)
    assert same_as_without_store(store)
    assert store.hits and not store.misses


@pytest.mark.parametrize("change", ["torch", "rounding"])
def test_a_store_of_another_torch_or_rounding_rule_is_ignored_with_a_note(change, built, monkeypatch, capsys):
    if change == "torch":
        versions = reference_store._versions()
        monkeypatch.setattr(reference_store, "_versions", lambda: {**versions, "torch": "2.99.0"})
    else:
        monkeypatch.setattr("oracle.specs.tolerances.ROUNDING_RUNS", 15)
    capsys.readouterr()
    store = ReferenceStore.open(built)
    note = capsys.readouterr().err
    assert "ignored" in note and (f"made with torch {versions['torch']} (now 2.99.0)" if change == "torch"
                                  else '"runs": 16' in note and '"runs": 15' in note)
    kinds = {path.name: decode_entry(path.read_bytes())[0]["key"]["kind"] for path in _entries(built)}
    # Another rounding rule leaves the twins and the finite differences usable; another torch, nothing.
    assert set(store.manifest) == {name for name, kind in kinds.items() if change == "rounding" and kind != "rounding"}
    assert set(kinds.values()) == {"twin", "rounding", "finite_differences"}
    spec, case = get_spec(LAYER), drawn_case()
    with using(store), single_threaded_torch():
        if change == "torch":
            assert same_as_without_store(store)
        precise, spread = reference_store.rounding_result(spec, case.inputs, case.upstream)
    assert store.misses and not store.hits
    with using(ReferenceStore.off()), single_threaded_torch():
        assert _same((precise, spread), reference_store.rounding_result(spec, case.inputs, case.upstream))


def drawn_case(case_index: int = 0):
    """Case ``case_index`` of :data:`LAYER` in float32, as the audit draws it."""
    from oracle.judge.audit import case_source
    from oracle.judge.checks import run_case

    spec = get_spec(LAYER)
    setting = AuditConfig((LAYER,), ("float32",), 1, 0).setting(case_index)
    return run_case(spec, case_source(spec, np.dtype("float32"), 0, case_index, setting), np.dtype("float32"))


@functools.cache
def spreads_without_store() -> tuple:
    return spreads(ReferenceStore.off())


def _same(first: tuple, second: tuple) -> bool:
    return all(list(a.outputs) == list(b.outputs) and list(a.grads) == list(b.grads)
               and all(np.array_equal(a.outputs[name], b.outputs[name]) for name in a.outputs)
               and all(np.array_equal(a.grads[name], b.grads[name]) for name in a.grads)
               for a, b in zip(first, second, strict=True))


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.ref"))


def _flip_a_payload_byte(path: Path, secret: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))


def _cut_short(path: Path, secret: bytes) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _not_an_entry(path: Path, secret: bytes) -> None:
    path.write_bytes(b"rnn-oracle reference store\n{not json\n")


def _forged_without_the_secret(path: Path, secret: bytes) -> None:
    """A well-formed entry with the right checksum whose values were changed by someone without the secret."""
    header, evaluations = decode_entry(path.read_bytes())
    path.write_bytes(encode_entry(header["key"], _scaled(evaluations), b"a guess", b"another"))


def _scaled(evaluations: tuple) -> tuple:
    return tuple(type(evaluation)({name: np.asarray(value * 1.5) for name, value in evaluation.outputs.items()},
                                  {name: np.asarray(value * 1.5) for name, value in evaluation.grads.items()})
                 for evaluation in evaluations)


@pytest.mark.parametrize("corrupt", [_flip_a_payload_byte, _cut_short, _not_an_entry, _forged_without_the_secret])
def test_a_corrupt_entry_is_noted_recomputed_and_written_again(corrupt, built, capsys):
    secret = (built / reference_store.SECRET_FILE).read_bytes()
    for path in _entries(built):
        corrupt(path, secret)
    capsys.readouterr()
    store = ReferenceStore.open(built)
    assert "cannot be trusted" in capsys.readouterr().err and not store.manifest
    assert same_as_without_store(store)
    assert _same(spreads(store), spreads_without_store())
    assert store.misses and not store.hits
    again = ReferenceStore.open(built)  # what was recomputed was written again, whole
    assert len(again.manifest) == len(_entries(built)) > 0
    assert same_as_without_store(again) and again.hits and not again.misses


def spreads(store: ReferenceStore) -> tuple:
    """The rounding rule's references of both cases of :func:`audited`, from ``store``."""
    spec = get_spec(LAYER)
    with using(store), single_threaded_torch():
        return tuple(part for index in range(2) for part in reference_store.rounding_result(
            spec, drawn_case(index).inputs, drawn_case(index).upstream))


def test_an_entry_written_during_a_run_even_with_the_secret_is_not_used_in_it(built, capsys):
    """A target that found the folder and its secret while its run went on: its entries are not read by that run."""
    store = ReferenceStore.open(built)
    for path in _entries(built):
        header, evaluations = decode_entry(path.read_bytes())
        path.write_bytes(encode_entry(header["key"], _scaled(evaluations), store.secret, b"not this run's key"))
    assert same_as_without_store(store)
    assert store.misses and not store.hits
    assert "not in the store when this run opened it" in capsys.readouterr().err


def test_results_read_from_the_store_are_copies(built):
    store = ReferenceStore.open(built)
    spec, case = get_spec(LAYER), drawn_case()
    with using(store), single_threaded_torch():
        first = reference_store.twin_result(spec, case.inputs, case.upstream)
        for value in first.grads.values():
            value *= 2.0
        second = reference_store.twin_result(spec, case.inputs, case.upstream)
    assert all(not np.array_equal(first.grads[name], second.grads[name]) for name in first.grads
               if np.any(second.grads[name]))


#: A target's helpers to read what its worker can see of itself and of its parent.
SPY = r'''
import json, os, sys


def _links(pid):
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            found.append("?")
    return found


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError as error:
        return f"unreadable: {type(error).__name__}"


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)
'''


#: Appended to :data:`SPY`: print all it sees, at import.
SEEN = """
print(json.dumps({"environ": dict(os.environ), "argv": sys.argv, "cmdline": _read("/proc/self/cmdline"),
                  "fds": _links("self"), "cwd": os.getcwd(),
                  "parent_cmdline": _read(f"/proc/{os.getppid()}/cmdline"),
                  "parent_environ": _read(f"/proc/{os.getppid()}/environ")}))
"""

#: Appended to :data:`SPY` in a class: one line saying where the names given were seen (constant when nowhere).
LEAKS = """
_SEEN = {{"environ": dict(os.environ), "argv": sys.argv, "cmdline": _read("/proc/self/cmdline"),
          "fds": _links("self"), "parent_cmdline": _read(f"/proc/{{os.getppid()}}/cmdline")}}
print(json.dumps({{"leaks": [where for where, what in _SEEN.items() for name in {names} if name in json.dumps(what)],
                  "looked": bool(_SEEN["fds"] and _SEEN["argv"] and "PATH" in _SEEN["environ"])}}))
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_a_worker_never_learns_where_the_store_is(tmp_path):
    store = tmp_path / "kept-store"
    (tmp_path / "spy").mkdir()
    (tmp_path / "spy" / "layers.py").write_text(SPY + SEEN)
    main(["audit", "--impl", str(tmp_path / "spy" / "layers.py"), "--layers", "affine", "--cases", "1",
          "--references", str(store), "--json", str(tmp_path / "out.json")])
    assert list(store.glob("*/*.ref"))  # the judge used the store while the worker ran
    seen = json.loads(json.loads((tmp_path / "out.json").read_text())["targets"][0]["output"]["import"]["tail"])
    assert seen["fds"] and seen["argv"] and "PATH" in seen["environ"]  # the spy saw something: it can fail
    assert store.name not in json.dumps(seen), seen


def test_a_judge_process_given_the_store_with_each_target_keeps_one_memory_of_it(tmp_path):
    """-j sends the run's store with each target: what a judge process read for one stays for the next."""
    import pickle

    store = ReferenceStore.open(tmp_path / "store")
    first, second = (pickle.loads(pickle.dumps(store)) for _ in range(2))
    assert first is second and first.__getstate__() == store.__getstate__()
    other = ReferenceStore.open(tmp_path / "store")  # another run: another key, another store
    assert pickle.loads(pickle.dumps(other)) is not first
