"""Run the float32-sensitive suites under several CPU kernel dispatch settings: the portability check.

Usage (from the repository root; ``tox -e portability`` runs the first form)::

    python tools/portability.py                  # every setting this CPU can run
    python tools/portability.py --list           # the settings and the kernels each one gets here
    python tools/portability.py -- -k lstm       # extra pytest arguments after --

A user's CPU picks other kernels than ours: another ATen vector width, another
OpenBLAS core type (numpy's BLAS), another MKL code path (torch's BLAS),
another thread count, so float32 results round differently. CI has one CPU,
so this check forces the dispatch instead: each setting runs :data:`SUITES`
with the environment variables below, after a probe that prints which
kernels the libraries really chose (ATen's capability, OpenBLAS's core type
and thread count, from ``threadpoolctl``). A setting that needs an
instruction set this CPU lacks is skipped with its reason, never run into an
illegal instruction. Exit status: 0 when every setting that ran passed, 1
otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Where float32 rounding decides verdicts: the twin comparisons of every layer, the planted bugs that
#: must still fail, the numerical edges, the float32 rule itself, the audit, the directional checks, the
#: localized failures and the audits at larger sizes.
SUITES = ("tests/test_layer_specs.py", "tests/test_planted_bugs.py", "tests/test_numerical_edges.py",
          "tests/test_float32_rounding_rule.py", "tests/test_audit_cli.py", "tests/test_directional.py",
          "tests/test_localization.py", "tests/test_audit_sizes.py")


def threads(count: int) -> dict[str, str]:
    return {name: str(count) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass(frozen=True)
class Setting:
    """One forced kernel dispatch: a name, its environment, and the CPU flag it needs (if any)."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    needs_cpu_flag: str = ""


SETTINGS = (
    Setting("as found", {}),
    Setting("generic x86-64, 1 thread", {"ATEN_CPU_CAPABILITY": "default", "OPENBLAS_CORETYPE": "Prescott",
                                         "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", **threads(1)}),
    Setting("AVX2, 2 threads", {"ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Haswell",
                                "MKL_ENABLE_INSTRUCTIONS": "AVX2", **threads(2)}, "avx2"),
    Setting("AVX-512, 2 threads", {"ATEN_CPU_CAPABILITY": "avx512", "OPENBLAS_CORETYPE": "SkylakeX",
                                   "MKL_ENABLE_INSTRUCTIONS": "AVX512", **threads(2)}, "avx512f"),
    Setting("ATen AVX2 with generic BLAS, 1 thread", {"ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Prescott",
                                                      "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", **threads(1)}, "avx2"),
    Setting("generic ATen with AVX-512 BLAS, 2 threads", {"ATEN_CPU_CAPABILITY": "default",
                                                          "OPENBLAS_CORETYPE": "SkylakeX",
                                                          "MKL_ENABLE_INSTRUCTIONS": "AVX512", **threads(2)},
            "avx512f"),
)

_PROBE = """
import json, numpy, torch, threadpoolctl
blas = [{k: info.get(k) for k in ("internal_api", "architecture", "num_threads")}
        for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]
print(json.dumps({"aten": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
                  "numpy_blas": blas}))
"""


def cpu_flags() -> set[str]:
    """The instruction-set flags of this CPU (empty where /proc/cpuinfo is not readable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown CPU"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")


def environment(setting: Setting) -> dict[str, str]:
    return dict(os.environ, **setting.env)


def kernels(setting: Setting) -> str:
    """What the libraries chose under ``setting``, in one line."""
    probe = subprocess.run([sys.executable, "-c", _PROBE], env=environment(setting), capture_output=True, text=True)
    if probe.returncode != 0:
        return f"probe failed: {probe.stderr.strip().splitlines()[-1:]}"
    found = json.loads(probe.stdout)
    blas = ", ".join(f"{b['internal_api']} {b['architecture']} x{b['num_threads']}" for b in found["numpy_blas"])
    mkl = setting.env.get("MKL_ENABLE_INSTRUCTIONS", "MKL as found")
    return f"ATen {found['aten']} x{found['torch_threads']}; numpy BLAS {blas or 'none'}; torch BLAS {mkl}"


def summary_line(output: str) -> str:
    lines = [line.strip("= ") for line in output.strip().splitlines()]
    return lines[-1] if lines else "(no output)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the settings and their kernels, run nothing")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)

    flags = cpu_flags()
    print(f"CPU: {cpu_model()}", flush=True)
    failed, ran, started = [], 0, time.monotonic()
    for setting in SETTINGS:
        if setting.needs_cpu_flag and setting.needs_cpu_flag not in flags:
            print(f"- {setting.name}: skipped, this CPU has no {setting.needs_cpu_flag}", flush=True)
            continue
        print(f"- {setting.name}: {kernels(setting)}", flush=True)
        if args.list:
            continue
        command = [sys.executable, "-m", "pytest", "-q", "-n", os.environ.get("PYTEST_WORKERS", "auto"),
                   "-p", "no:cacheprovider", *SUITES, *args.pytest_args]
        run_start = time.monotonic()
        completed = subprocess.run(command, cwd=ROOT, env=environment(setting), capture_output=True, text=True)
        ran += 1
        verdict = "passed" if completed.returncode == 0 else f"FAILED (exit {completed.returncode})"
        print(f"    {verdict}: {summary_line(completed.stdout)} [{time.monotonic() - run_start:.0f} s]", flush=True)
        if completed.returncode != 0:
            failed.append(setting.name)
            print(completed.stdout[-6000:], completed.stderr[-2000:], sep="\n", file=sys.stderr)
            exports = " ".join(f"{key}={value}" for key, value in setting.env.items())
            print(f"reproduce: {exports} python {' '.join(command[1:])}", file=sys.stderr)
    if args.list:
        return 0
    minutes = (time.monotonic() - started) / 60
    if failed:
        print(f"{len(failed)} of {ran} settings failed: {', '.join(failed)} ({minutes:.1f} min)")
        return 1
    print(f"{ran} of {ran} settings passed ({minutes:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
