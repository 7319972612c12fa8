"""Ports written with torch, JAX or CuPy, audited by the same command as numpy code (oracle/targets/backends.py).

Each port in ``tests/ports/`` is one small file with one kind of problem (or none), audited on the one layer
it ports (``rnn_step``), in both dtypes, with its exact findings. JAX ports skip where jax is not installed;
the GPU paths skip without CUDA.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from oracle.cli import main
from oracle.judge.audit import AuditConfig
from oracle.targets import backends
from oracle.targets.backends import BackendError, PortOptions
from oracle.targets.impl_audit import audit_one

PORTS = Path(__file__).resolve().parent / "ports"

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed (pip install 'rnn-oracle[jax]')")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")

PASS = {"float64": ["pass"], "float32": ["pass"]}


def both(finding: str) -> dict[str, list[str]]:
    return {"float64": [finding], "float32": [finding]}


#: port file -> (--autograd, {function: {dtype: findings}}): what the audit must find, exactly.
CASES = {
    "torch_rnn_step.py": (False, {"rnn_step_forward": PASS, "rnn_step_backward": PASS}),
    "jax_rnn_step.py": (False, {"rnn_step_forward": PASS, "rnn_step_backward": PASS}),
    "torch_rnn_step_wrong_dWh.py": (False, {"rnn_step_forward": PASS, "rnn_step_backward": both("wrong_value")}),
    "jax_rnn_step_wrong_db.py": (False, {"rnn_step_forward": PASS, "rnn_step_backward": both("wrong_value")}),
    "torch_autograd_function.py": (True, {"rnn_step_forward": PASS, "rnn_step_backward": both("wrong_value")}),
    "jax_custom_vjp.py": (True, {"rnn_step_forward": PASS, "rnn_step_backward": both("wrong_value")}),
    "torch_promotes_float32.py": (False, {"rnn_step_forward": {"float64": ["pass"], "float32": ["dtype_changed"]},
                                          "rnn_step_backward": PASS}),
    "torch_scales_upstream.py": (False, {"rnn_step_forward": PASS, "rnn_step_backward": both("mutates_input")}),
}


def audited(port: str, autograd: bool, dtypes: tuple[str, ...] = ("float64", "float32"),
            **options) -> tuple[dict, str]:
    """The JSON entry and text report of one port's audit of ``rnn_step``, two cases per dtype, not shrunk unless
    asked."""
    config = AuditConfig(layers=("rnn_step",), dtypes=dtypes, cases=2, seed=0)
    entry, report, _ = audit_one(str(PORTS / port), config, ["rnn_step"], "rnn-oracle",
                                 port=PortOptions(autograd=autograd), **{"shrink_budget": 0, **options})
    return entry, report


@pytest.mark.parametrize("port", [pytest.param(port, marks=needs_jax) if port.startswith("jax") else port
                                  for port in CASES])
def test_each_port_gets_exactly_its_findings(port):
    autograd, expected = CASES[port]
    entry, report = audited(port, autograd)
    assert entry["error"] is None
    assert entry["verdicts"] == expected, entry["evidence"]
    library = port.split("_")[0]
    assert entry["backend"] == library
    assert any(note.startswith(f"audited as a {library} port (it imports {library})") for note in entry["notes"])
    supplied = [note for note in entry["notes"] if note.startswith("rnn_step_backward: supplied by")]
    assert len(supplied) == autograd, entry["notes"]
    if autograd:
        kind = "torch.autograd.Function" if library == "torch" else "jax.custom_vjp"
        assert f"{library}'s autograd through rnn_step_forward" in supplied[0] and kind in supplied[0]
    reruns = [line for line in report.splitlines() if line.startswith("  rerun: ")]
    assert all(line.endswith(f"--impl {PORTS / port}" + (" --autograd" if autograd else "")) for line in reruns)


def test_a_wrong_backward_of_a_port_has_a_minimal_case_and_a_reproducer_that_needs_its_library(tmp_path):
    entry, _ = audited("torch_autograd_function.py", True, ("float64",), shrink_budget=10, repro=str(tmp_path))
    minimal = entry["minimal"]["rnn_step_backward"]["float64"]
    assert minimal["finding"] == "wrong_value"
    script = Path(entry["reproducers"]["rnn_step_backward"]["float64"])
    assert "numpy and torch (the port's library)" in script.read_text().splitlines()[0]
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "this script needs torch" in run.stdout and "comes from torch's autograd (--autograd)" in run.stdout
    assert "STILL WRONG" in run.stdout and "grad b" in run.stdout


def test_the_grader_audits_a_class_of_ports_with_its_usual_outputs(tmp_path, capsys):
    """--autograd reaches the judges of a class (-j): a port with an explicit backward keeps it."""
    right, wrong = (str(PORTS / port) for port in ("torch_rnn_step.py", "torch_autograd_function.py"))
    csv = tmp_path / "grades.csv"
    code = main(["audit", "--impl", right, wrong, "--layers", "rnn_step", "--dtypes", "float64", "--cases", "1",
                 "-j", "2", "--csv", str(csv), "--autograd"])
    header, *rows = capsys.readouterr().out.strip().splitlines()[-3:]
    assert code == 1
    assert header.split("\t")[3:5] == ["rnn_step_forward", "rnn_step_backward"]
    assert [row.split("\t")[3:5] for row in rows] == [["pass", "pass"], ["pass", "wrong_value"]]
    assert len(csv.read_text().splitlines()) == 3


# The worker's side, in this process: detection, conversion, and what cannot run here.


def test_the_library_is_detected_from_what_the_target_imports():
    import torch.nn.functional as functional

    assert backends.detect([{"np": np, "F": functional}]) == ["torch"]
    assert backends.detect([{"tanh": torch.tanh}]) == ["torch"]
    assert backends.detect([{"np": np, "math": __import__("math")}]) == []
    assert backends.choose(PortOptions(), [{"np": np}]) == ("numpy", "")
    assert backends.choose(PortOptions(backend="jax"), [{"torch": torch}]) == ("jax", "--backend")


    class Hostile:
        def __getattribute__(self, name):
            raise RuntimeError(name)

    assert backends.detect([{"odd": Hostile(), "torch": torch}]) == ["torch"]
    assert backends.namespaces_of([], [Hostile()]) == []
    with pytest.raises(BackendError, match="imports torch and cupy: give --backend"):
        backends.choose(PortOptions(), [{"torch": torch, "cp": type("cupy", (), {"__module__": "cupy._core"})()}])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
def test_torch_arrays_share_the_arguments_memory_and_keep_their_dtype(dtype):
    library = backends.backend("torch", "cpu")
    array = np.arange(6).reshape(2, 3).astype(dtype)
    tensor = library.to_library(array)
    assert tensor.shape == (2, 3) and library.to_numpy(tensor).dtype == dtype
    if dtype != np.bool_:
        tensor.mul_(2)  # an in-place change reaches the caller's array: the worker sees it
        assert array[1, 2] == dtype(10)
    back = library.to_numpy((tensor, [tensor], {"a": tensor}, None, 3))
    assert isinstance(back[0], np.ndarray) and isinstance(back[1][0], np.ndarray)
    assert isinstance(back[2]["a"], np.ndarray) and back[3:] == (None, 3)


def test_a_result_numpy_has_no_dtype_for_does_not_cross_as_data():
    library = backends.backend("torch", "cpu")
    odd = torch.ones(2, dtype=torch.bfloat16)
    assert library.to_numpy(odd) is odd  # the wire sends its type name only: wrong_value, "a Tensor"


@needs_jax
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_jax_arrays_keep_float64_and_their_dtype(dtype):
    library = backends.backend("jax", "cpu")
    array = library.to_library(np.arange(4).astype(dtype))
    assert str(array.dtype) == np.dtype(dtype).name
    assert library.to_numpy((array * 2,))[0].dtype == dtype


def test_a_missing_library_names_what_to_install(monkeypatch):
    real = importlib.import_module

    def refuse(name, *args):
        if name == "jax":
            raise ImportError("No module named 'jax'")
        return real(name, *args)

    monkeypatch.setattr(backends.importlib, "import_module", refuse)
    with pytest.raises(BackendError, match=r"install rnn-oracle\[jax\] \(pip install 'rnn-oracle\[jax\]'\)"):
        backends.backend("jax", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_device_cuda_without_a_gpu_is_an_error_not_a_silent_cpu_run():
    with pytest.raises(BackendError, match="torch sees no CUDA device"):
        backends.backend("torch", "cuda")


@needs_cuda
def test_device_cuda_puts_a_torch_ports_arrays_on_the_gpu_and_brings_them_back():
    library = backends.backend("torch", "cuda")
    tensor = library.to_library(np.ones((2, 2), dtype=np.float32))
    assert tensor.device.type == "cuda"
    assert library.to_numpy(tensor * 2).dtype == np.float32


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None or not torch.cuda.is_available(),
                    reason="CuPy and a CUDA GPU are needed")
def test_cupy_arrays_cross_to_the_gpu_and_back():
    library = backends.backend("cupy", "cuda")
    array = library.to_library(np.arange(3, dtype=np.float64))
    assert library.is_array(array) and library.to_numpy(array * 2).tolist() == [0.0, 2.0, 4.0]


def test_backend_and_autograd_need_impl(capsys):
    assert main(["audit", "--layers", "rnn_step", "--autograd"]) == 2
    assert "--backend and --autograd say how an --impl target is run" in capsys.readouterr().err


def test_the_worker_of_a_numpy_target_imports_no_port_library(tmp_path):
    from oracle.targets.boundary import open_target

    probe = tmp_path / "probe.py"
    probe.write_text("import sys\n\nimport numpy as np\n\n\ndef probe():\n"
                     "    return np.array([name in sys.modules for name in ('torch', 'jax', 'cupy')])\n")
    with open_target(str(probe), ["probe"]) as target:
        assert target.find("probe")().tolist() == [False, False, False]
        assert target.session.backend == "numpy" and target.notes() == []


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="checks the message where CuPy is missing")
def test_a_target_whose_library_is_missing_is_not_audited_and_says_what_to_install(tmp_path):
    from oracle.targets.boundary import open_target
    from oracle.targets.loading import TargetError

    target = tmp_path / "port.py"
    target.write_text("def rnn_step_forward(x, prev_h, Wx, Wh, b):\n    return None\n")
    with pytest.raises(TargetError, match=r"runs as a cupy port, and cupy cannot be imported here .*"
                                          r"install rnn-oracle\[cupy\]"):
        with open_target(str(target), ["rnn_step_forward"], port=PortOptions(backend="cupy")):
            pass


def test_autograd_supplies_a_backward_of_the_deeplearning_ai_api():
    """The course's parameters dict and gradients dict: autograd differentiates the arrays the dict is built from."""
    config = AuditConfig(layers=("dlai_rnn_cell",), dtypes=("float64",), cases=2, seed=0)
    entry, _, _ = audit_one(str(PORTS / "torch_dlai_rnn_cell.py"), config, ["dlai_rnn_cell"], "rnn-oracle",
                            shrink_budget=0, port=PortOptions(autograd=True))
    assert entry["family"] == "dlai"
    assert entry["verdicts"] == {"rnn_cell_forward": {"float64": ["pass"]}, "rnn_cell_backward": {"float64": ["pass"]}}
    assert any(note.startswith("rnn_cell_backward: supplied by torch's autograd") for note in entry["notes"])
