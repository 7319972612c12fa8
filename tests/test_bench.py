"""Smoke tests of ``rnn-oracle bench`` (:mod:`oracle.bench`).

They run the command on tiny shapes (``--quick``) and check that it prints its
table and writes the JSON with the documented keys. No test asserts a timing,
a ratio or a pass/miss verdict: those depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from impl.cell_layouts import gate_count
from oracle import bench
from oracle.bench.audit_timing import AuditRun, audit_runs, format_audit_timings, time_audits
from oracle.specs.tolerances import TOLERANCES

TOP_KEYS = {"schema", "created", "settings", "machine", "results"}
SETTINGS_KEYS = {"threads", "repeat", "warmup", "block_time", "settle", "quick", "memory", "seed", "cases"}
MACHINE_KEYS = {
    "cpu_model", "logical_cpus", "usable_cpus", "platform", "python", "numpy", "torch", "blas", "blas_summary",
    "threads_pinned", "torch_threads", "torch_cpu_capability", "mkldnn_enabled", "env", "loadavg_start",
    "loadavg_end",
}
ROW_KEYS = {
    "case", "description", "kind", "dtype", "dims", "rounds", "block", "impl", "torch", "ratio", "paired_ratio",
    "best_ratio", "target", "status", "check", "matmul_flops", "impl_gflops", "torch_gflops", "noisy", "other_cpu",
    "memory", "error",
}
SUMMARY_KEYS = {"median_s", "min_s", "q25_s", "q75_s", "mean_s", "times_s"}
CHECK_KEYS = {"ok", "max_rel_err", "tol", "detail"}
MEMORY_KEYS = {"impl_bytes", "torch_bytes", "ratio", "error"}


def _check_row(row: dict) -> None:
    assert set(row) == ROW_KEYS
    assert row["error"] is None, row["error"]
    assert row["status"] in {"pass", "miss", "-"}, (row["case"], row["status"], row["check"])
    assert set(row["check"]) == CHECK_KEYS
    assert row["check"]["ok"], (row["case"], row["check"]["detail"])
    assert row["check"]["tol"] == TOLERANCES[f"bench_{row['dtype']}"].rtol
    for side in ("impl", "torch"):
        assert set(row[side]) == SUMMARY_KEYS
        assert len(row[side]["times_s"]) == row["rounds"] * row["block"][side]
    assert set(row["paired_ratio"]) == {"median", "q25", "q75"}
    assert row["other_cpu"] is None or 0.0 <= row["other_cpu"] <= 1.0
    if row["kind"] in ("lstm", "rnn"):
        assert row["matmul_flops"] == bench.matmul_flops(row["dims"], gate_count(row["kind"]))
    for entry in row["memory"].values():
        assert set(entry) == MEMORY_KEYS
        assert entry["error"] is None, entry["error"]
        assert isinstance(entry["impl_bytes"], int) and isinstance(entry["torch_bytes"], int)


def test_quick_run_prints_the_table_and_writes_the_documented_json(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out" / "bench.json"
    status = bench.main(["--quick", "--json", str(path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.startswith("| case | shape | dtype | impl ms | torch ms | ratio |")
    assert "QUICK RUN" in out
    for case in bench.CASES:
        assert f"| {case.name} |" in out
    report = json.loads(path.read_text(encoding="utf-8"))
    assert set(report) == TOP_KEYS
    assert report["schema"] == bench.SCHEMA
    assert set(report["settings"]) == SETTINGS_KEYS
    assert report["settings"]["quick"] is True and report["settings"]["memory"] == "alloc"
    assert set(report["machine"]) == MACHINE_KEYS
    assert "OPENBLAS_CORETYPE" in report["machine"]["env"]
    assert report["machine"]["env"]["OPENBLAS_CORETYPE"] == os.environ.get("OPENBLAS_CORETYPE")
    assert [row["case"] for row in report["results"]] == [case.name for case in bench.CASES]
    for row in report["results"]:
        _check_row(row)
        assert set(row["memory"]) == {"alloc"}


def test_cases_are_selected_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.json"
    status = bench.main(["--quick", "--cases", "rnn_f32_small,lstm_f32_small", "--memory", "none",
                         "--repeat", "2", "--warmup", "0", "--threads", "1", "--json", str(path)])
    assert status == 0, capsys.readouterr().out
    report = json.loads(path.read_text(encoding="utf-8"))
    assert [row["case"] for row in report["results"]] == ["rnn_f32_small", "lstm_f32_small"]
    assert report["settings"]["threads"] == 1
    for row in report["results"]:
        _check_row(row)
        assert row["rounds"] == 2 and row["memory"] == {}
        assert row["block"] == {"impl": 1, "torch": 1}  # no warmup: nothing to size the blocks by


def test_list_and_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--list"]) == 0
    listed = capsys.readouterr().out
    for case in bench.CASES:
        assert case.name in listed
    assert bench.main(["--cases", "no_such_case"]) == 2
    assert "no_such_case" in capsys.readouterr().err
    assert bench.main(["--threads", "0"]) == 2


def test_the_cli_registers_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = pytest.importorskip("oracle.cli")
    path = tmp_path / "bench.json"
    status = cli.main(["bench", "--quick", "--cases", "embedding_bwd_f32", "--memory", "none", "--json", str(path)])
    assert status == 0, capsys.readouterr()
    assert [row["case"] for row in json.loads(path.read_text(encoding="utf-8"))["results"]] == ["embedding_bwd_f32"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the RSS method reads /proc")
def test_standalone_module_with_rss_memory(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry or os.curdir) for entry in sys.path)
    done = subprocess.run(
        [sys.executable, "-m", "oracle.bench", "--quick", "--cases", "lstm_f32_small", "--memory", "both",
         "--json", str(path)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| lstm_f32_small |" in done.stdout
    (row,) = json.loads(path.read_text(encoding="utf-8"))["results"]
    assert set(row["memory"]) == {"alloc", "rss"}
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("cannot reset the RSS high-water mark here")
    _check_row(row)


def test_matmul_flops_counts_forward_and_twice_that_backward() -> None:
    dims = {"N": 64, "T": 50, "D": 128, "H": 256}
    width = gate_count("lstm") * 256
    forward = 2 * 64 * 50 * (128 * width + 256 * width)  # x @ Wx and h @ Wh, 2 flops per multiply-add
    assert bench.matmul_flops(dims, gate_count("lstm")) == 3 * forward
    assert bench.matmul_flops(dims, gate_count("rnn")) == 3 * forward / gate_count("lstm")


def test_time_pair_alternates_the_first_side_and_discards_warmup() -> None:
    """With blocks of one call and no pause, the calls alternate impl/torch, torch/impl, ..."""
    calls: list[str] = []
    timing = bench.time_pair(lambda: calls.append("impl"), lambda: calls.append("torch"),
                             warmup=1, repeat=4)
    warmup, rounds = calls[:2], calls[2:]
    assert warmup == ["impl", "torch"]
    assert rounds == ["impl", "torch", "torch", "impl", "impl", "torch", "torch", "impl"]
    assert timing["rounds"] == 4
    assert len(timing["impl"]["times_s"]) == len(timing["torch"]["times_s"]) == len(timing["paired"]) == 4


def test_peak_memory_sees_an_allocation() -> None:
    torch = pytest.importorskip("torch")
    size = 1_000_000
    assert bench.numpy_peak_bytes(lambda: np.ones(size)) >= 8 * size
    assert bench.torch_peak_bytes(lambda: torch.ones(size, dtype=torch.float64)) >= 8 * size


def test_time_pair_fills_blocks_of_fast_calls() -> None:
    timing = bench.time_pair(lambda: None, lambda: None, warmup=1, repeat=2, block_time=1.0)
    for side in ("impl", "torch"):
        assert 1 < timing["block"][side] <= bench.MAX_BLOCK
        assert len(timing[side]["times_s"]) == 2 * timing["block"][side]
    assert len(timing["paired"]) == 2


def test_twin_timing_tool_times_every_recurrent_twin_and_probes_matmul_precision(tmp_path):
    """tools/twin_timing.py, which tools/gpu_check.sh runs on a GPU machine, on the CPU at tiny sizes."""
    from tools import twin_timing

    path = tmp_path / "twins.json"
    assert twin_timing.main(["--devices", "cpu", "--dims", "N=2,T=2,D=3,H=2", "--repeats", "1",
                             "--json", str(path)]) == 0
    document = json.loads(path.read_text())
    assert set(document["seconds"]) == set(twin_timing.LAYERS)
    assert all(document["seconds"][layer]["cpu"] > 0 for layer in twin_timing.LAYERS)
    assert document["precision"]["cpu"]["reduced_precision"] is False  # the CPU multiplies in full float32
    if not torch.cuda.is_available():
        assert twin_timing.main(["--devices", "cuda"]) == 2


def test_audit_timings_time_the_audit_and_compare_with_its_budget() -> None:
    runs = audit_runs(16)
    assert [(run.layers[:1], run.cases, run.budget, run.course, run.prebuilt) for run in runs] == [
        (("affine",), 16, 30.0, "", False), (("lstm",), 2, 30.0, "", False),
        (("affine",), 16, 6.0, "course API", False), (("affine",), 16, 2.0, "course API", True),
        (("affine",), 16, 30.0, "every function", False), (("affine",), 16, 10.0, "dlai notebook", False),
        (("affine",), 16, 30.0, "mistakes", False), (("affine",), 16, 12.0, "class", True),
        (("affine",), 9, 0.1, "sandbox", False)]
    assert runs[1].dims == {"N": 64, "T": 50, "D": 128, "H": 256}
    tiny = AuditRun("affine, one case", ("affine",), 1, budget=1e-9)
    [row] = time_audits((tiny,))
    assert row["seconds"] > 0 and row["within_budget"] is False and row["audit_passed"] is True
    assert "affine, one case" in format_audit_timings([row]) and " NO " in format_audit_timings([row])


@pytest.mark.parametrize("prebuilt", [False, True], ids=["empty store", "prebuilt store"])
def test_audit_timings_of_a_course_folder_go_through_the_worker(prebuilt) -> None:
    """The course-API folder passes on what it defines (its missing GRU is no failure of the run)."""
    layers = ("affine",) if prebuilt else ("affine", "gru", "captioning_gru")  # a build is costly: one layer
    course = AuditRun("course folder, one case", layers, 1, budget=60.0, course="course API", prebuilt=prebuilt)
    [row] = time_audits((course,))
    assert row["audit_passed"] is True and row["checks"] > 0


def test_audit_timings_say_what_naming_the_causes_cost() -> None:
    """The run with learners' mistakes reports the seconds of naming their causes against the rest of its audit."""
    row = {"run": "mistakes", "seconds": 12.0, "budget": 30.0, "within_budget": True, "checks": 3,
           "audit_passed": True, "causes_seconds": 2.0}
    assert format_audit_timings([row]).splitlines()[1].endswith("passed  2.0 s (20% of the rest)")


def test_audit_timings_measure_the_sandboxs_share_of_a_workers_start() -> None:
    [row] = time_audits((AuditRun("sandbox, two starts", ("affine",), 1, budget=0.1, course="sandbox"),))
    assert row["checks"] == 2 and isinstance(row["seconds"], float) and isinstance(row["audit_passed"], bool)
    assert "sandbox, two starts" in format_audit_timings([row])


def test_the_costs_of_one_target_are_listed_with_their_shares() -> None:
    from oracle.bench.audit_costs import COSTS, format_costs, target_costs

    rows = target_costs(("rnn_step",), 1)
    assert [row["cost"] for row in rows[:len(COSTS)]] == [cost for cost, _, _ in COSTS]
    seconds = {row["cost"]: row["seconds"] for row in rows}
    assert seconds["worker start-up and the target's import"] > 0 and seconds["shrinking the findings' cases"] > 0
    assert all(0 <= row["seconds"] <= rows[-1]["seconds"] for row in rows[:len(COSTS)])
    assert "share" in format_costs(rows)


def test_every_cost_names_functions_its_file_defines() -> None:
    """A cost whose function was renamed or moved would read 0 s, silently."""
    import ast

    import oracle
    from oracle.bench.audit_costs import COSTS

    for cost, file, names in COSTS:
        tree = ast.parse((Path(oracle.__file__).parent / file).read_text())
        defined = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert set(names) <= defined, (cost, file, set(names) - defined)


def test_audit_timings_of_a_deeplearning_ai_notebook_detect_its_course() -> None:
    notebook = AuditRun("notebook, one case", ("dlai_rnn_cell", "affine"), 1, budget=60.0, course="dlai notebook")
    [row] = time_audits((notebook,))
    assert row["audit_passed"] is True and row["checks"] > 0
