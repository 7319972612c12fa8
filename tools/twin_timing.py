"""Time the recurrent twins on each device, and probe which float32 matmul precision torch really used.

Usage (from the repository root; ``tools/gpu_check.sh`` runs it on a GPU machine)::

    python tools/twin_timing.py --devices cpu cuda --json twins.json
    python tools/twin_timing.py --devices cpu --dims N=2,T=3,D=4,H=5 --repeats 1   # a quick look

For each sequence twin (``rnn``, ``lstm``, ``gru``) and each device, the twin
(forward and backward, float32) runs ``--repeats`` times on one generated
case; the median time is printed, and for CUDA its ratio to the CPU's. The
precision probe multiplies two float32 matrices on each device and measures
the relative error against float64: TF32 matmuls are off by about 1e-3,
float32 ones by about 1e-6. So the probe says what torch actually did, to
check against the flags the audit reports (``oracle.references.twins.precision_settings``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from oracle.layers import get_spec  # noqa: E402
from oracle.specs.sources import RandomSource  # noqa: E402
from oracle.specs.spec import make_upstream, run_forward  # noqa: E402

DEFAULT_DIMS = {"N": 64, "T": 50, "D": 128, "H": 256}
LAYERS = ("rnn", "lstm", "gru")
#: A float32 matmul whose relative error against float64 is above this used reduced precision (TF32).
REDUCED_PRECISION_ERROR = 1e-4


class FixedDims(RandomSource):
    """A seeded source whose named dimensions are fixed."""

    def __init__(self, dims: dict[str, int], seed: int = 0) -> None:
        super().__init__(np.random.default_rng(seed))
        self.fixed = dims

    def dim(self, name: str, low: int = 1, high: int = 4) -> int:
        return self.fixed.get(name, super().dim(name, low, high))


def parse_dims(text: str) -> dict[str, int]:
    dims = dict(DEFAULT_DIMS)
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not value.isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(f"expected NAME=POSITIVE_INT, got {item!r}")
        dims[name.strip()] = int(value)
    return dims


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_twin(layer: str, device: str, dims: dict[str, int], repeats: int) -> float:
    """Median seconds of one forward + backward of ``layer``'s twin on ``device`` (after one warm-up call)."""
    spec = get_spec(layer)
    source = FixedDims(dims)
    inputs = spec.make_inputs(source, np.dtype(np.float32))
    upstream = make_upstream(spec, run_forward(spec, inputs)[0], source)
    spec.twin(inputs, upstream, device)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        spec.twin(inputs, upstream, device)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_precision(device: str, size: int = 512) -> dict[str, object]:
    """Relative error of a float32 matmul on ``device`` against float64, and whether it was reduced (TF32)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    exact = a @ b
    got = (torch.tensor(a, dtype=torch.float32, device=device)
           @ torch.tensor(b, dtype=torch.float32, device=device)).cpu().double().numpy()
    error = float(np.linalg.norm(got - exact) / np.linalg.norm(exact))
    return {"relative_error": error, "reduced_precision": error > REDUCED_PRECISION_ERROR}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu"], help="devices to time on (default: cpu)")
    parser.add_argument("--dims", type=parse_dims, default=dict(DEFAULT_DIMS),
                        help="N=..,T=..,D=..,H=.. (default N=64,T=50,D=128,H=256)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per twin and device (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if "cuda" in " ".join(args.devices) and not torch.cuda.is_available():
        print("--devices cuda requested, but no CUDA device is available", file=sys.stderr)
        return 2

    results: dict[str, object] = {"dims": args.dims, "torch": torch.__version__, "seconds": {}, "precision": {}}
    seconds: dict[str, dict[str, float]] = {}
    for layer in LAYERS:
        seconds[layer] = {device: time_twin(layer, device, args.dims, args.repeats) for device in args.devices}
        cells = "  ".join(f"{device} {value * 1e3:8.2f} ms" for device, value in seconds[layer].items())
        ratio = "".join(f"  ({device} / cpu = {value / seconds[layer]['cpu']:.3g})"
                        for device, value in seconds[layer].items() if device != "cpu" and "cpu" in seconds[layer])
        print(f"{layer:5s} float32 forward+backward: {cells}{ratio}", flush=True)
    results["seconds"] = seconds
    precision = {device: matmul_precision(device) for device in args.devices}
    for device, found in precision.items():
        print(f"float32 matmul on {device}: relative error {found['relative_error']:.2e} "
              f"({'reduced precision (TF32)' if found['reduced_precision'] else 'full float32'})")
    results["precision"] = precision
    if torch.cuda.is_available():
        results["cuda"] = {"device": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
                           "cudnn": torch.backends.cudnn.version(),
                           "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                           "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
