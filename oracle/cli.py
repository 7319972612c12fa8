"""The ``rnn-oracle`` command (also ``python -m oracle``).

Subcommands are entries of :func:`subcommands`: a name mapped to
``(help, add_arguments(parser), run(args) -> int)``. ``audit`` is built in;
an optional one (``bench``, from :mod:`oracle.bench` exposing
``add_arguments`` and ``run``) is registered only when its module exists, so
adding it needs no change here.

Exit status: 0 when every check passed, 1 when any failed, 2 on bad usage
(argparse errors, unknown layer names, a ``--spec`` that cannot be loaded,
``--device cuda`` without CUDA, an unwritable ``--json`` or ``--html`` path,
``--html`` without the extra ``rnn-oracle[report]``).

Which layers ``audit`` checks
-----------------------------
Without ``--spec``: ``--layers`` names built-in layers (default: all of them).
With ``--spec``: the specs loaded from the targets are audited *instead of*
the built-ins, unless ``--layers`` is given, in which case exactly the layers
it names are audited, looked up among the built-ins and the loaded specs
alike (so ``--spec m:SPECS --layers mine,lstm`` audits a loaded spec next to a
built-in one, and a failure's rerun command names just its own layer). A
loaded spec may not reuse a built-in name: results are reported by name.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import torch

from oracle.judge.audit import DTYPES, EXIT_FAILED, EXIT_OK, EXIT_USAGE, AuditConfig, Progress, run_audit
from oracle.layers import all_specs
from oracle.references import store as reference_store
from oracle.report.text import count, render, selection, to_json
from oracle.specs.families import FAMILIES
from oracle.specs.profiles import PROFILES, case_setting, parse_dims
from oracle.specs.sources import DimensionError, RandomSource
from oracle.specs.spec import CALL_ERRORS, LayerSpec
from oracle.targets.backends import BACKENDS, PortOptions
from oracle.targets.boundary import DEFAULT_IMPORT_TIMEOUT, DEFAULT_MEMORY, DEFAULT_TIMEOUT, Limits, default_timeout
from oracle.targets.grading import parse_shard
from oracle.targets.impl_audit import run_impl_audit
from oracle.targets.loading import describe_error
from oracle.targets.notebooks import CELL_MODES
from oracle.targets.rubric import RubricError, load_rubric
from oracle.targets.sandbox import SANDBOX_MODES
from oracle.targets.spec_files import load_specs

T = TypeVar("T")

#: Optional subcommands: name -> module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
OPTIONAL_SUBCOMMANDS = {"bench": "oracle.bench", "merge": "oracle.targets.merge",
                       "references": "oracle.references_command"}

#: Generated cases per layer and dtype by default: the full audit then needs about 13 s of CPU time (one core).
DEFAULT_CASES = 16

#: The master seed by default: a fixed one, so two default runs report the same numbers.
DEFAULT_SEED = 0

#: The modules ``--html`` needs: the optional extra ``rnn-oracle[report]``.
REPORT_LIBRARIES = ("jinja2", "matplotlib")



class UsageError(Exception):
    """Bad usage found after parsing (unknown layer, bad --spec, no CUDA): exit status 2."""


class Subcommand(NamedTuple):
    """One subcommand: its one-line help, how to add its arguments, and how to run it."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _names(values: Sequence[str] | None) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``, so ``--layers a,b`` and ``--layers a b`` both work."""
    return [name for value in values or () for name in value.split(",") if name]


def _cases(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--cases must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    if text == "random":
        return secrets.randbelow(2**32)
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer or 'random', got {value}")
    return value


def _parsed_by(parse: Callable[[str], T], prefix: str = "") -> Callable[[str], T]:
    """An argparse ``type`` from a parser that raises ``ValueError`` with the reason."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{prefix}{error}") from error

    return convert


_dims = _parsed_by(parse_dims, "--dims: ")


def _device(text: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"--device must be 'cpu', 'cuda' or 'cuda:K', got {text!r}")
    return text


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"--timeout must be a positive number of seconds, got {text}")
    return value


#: Suffixes of ``--memory``: powers of 1024.
MEMORY_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _memory(text: str) -> int:
    """``"512M"``, ``"2G"``, ``"1.5GiB"``, ``"1000000000"`` -> bytes (at least 64 MiB)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, flags=re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"--memory must be a size such as 512M or 4G, got {text!r}")
    value = int(float(match.group(1)) * MEMORY_UNITS[match.group(2).upper()])
    if value < 64 * 2**20:
        raise argparse.ArgumentTypeError(f"--memory must be at least 64M (Python and numpy need that), got {text}")
    return value


_shard = _parsed_by(parse_shard)


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audit``."""
    parser.add_argument("--layers", action="extend", nargs="+", metavar="NAME",
                        help="layers to audit, comma- or space-separated (default: every built-in layer, "
                             "or every --spec layer when --spec is given)")
    parser.add_argument("--dtypes", action="extend", nargs="+", metavar="DTYPE",
                        help=f"dtypes to audit, from {', '.join(DTYPES)} (default: both)")
    parser.add_argument("--cases", type=_cases, default=DEFAULT_CASES, metavar="N",
                        help=f"generated cases per layer and dtype (default: {DEFAULT_CASES})")
    parser.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="N",
                        help=f"master seed, a non-negative integer or 'random' (default: {DEFAULT_SEED}); "
                             "every case is seeded from it, the layer, the dtype and the case index")
    parser.add_argument("--device", type=_device, default="cpu",
                        help="where the torch twins run, and an --impl port's arrays: cpu (default), cuda or cuda:K")
    parser.add_argument("--dims", type=_dims, default={}, metavar="NAME=SIZE,...",
                        help="fix sizes for every case, e.g. N=64,T=50,D=128,H=256 (names as the specs draw them: "
                             "N, T, D, H, M, V, W; the others keep their defaults, drawn from 1..4). Inputs above "
                             "256 elements are checked along random directions (oracle/judge/directional.py)")
    parser.add_argument("--profile", choices=tuple(PROFILES), default="default",
                        help="how cases are drawn: default, or stress (cases cycle through a long sequence, a "
                             "kernel chunk boundary, saturated gates and large inputs; oracle/specs/profiles.py)")
    parser.add_argument("--spec", action="append", default=[], metavar="MODULE:ATTRIBUTE",
                        help="load extra layer specs (one LayerSpec or an iterable of them); repeatable. "
                             "Only these are audited unless --layers names the layers to audit")
    parser.add_argument("--impl", action="extend", nargs="+", default=[], metavar="TARGET",
                        help="audit your own implementation instead of impl: a .py file, a notebook (.ipynb), a "
                             "package folder (cs231n/ with rnn_layers.py and classifiers/rnn.py) or a dotted module, "
                             "run in worker processes of its own; several targets get a grader's summary")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help=f"with --impl: the most one call of your code may take before its worker is killed and "
                             f"the function gets 'timeout' (default: {DEFAULT_TIMEOUT:g} s, scaled up with --dims; "
                             f"the import gets {DEFAULT_IMPORT_TIMEOUT:g} s or this, whichever is more)")
    parser.add_argument("--memory", type=_memory, default=DEFAULT_MEMORY, metavar="SIZE",
                        help=f"with --impl: the address space of the worker that runs your code, e.g. 2G "
                             f"(default: {DEFAULT_MEMORY // 2**30}G); a call beyond it is a crash, 'out of memory'")
    parser.add_argument("--sandbox", choices=SANDBOX_MODES, default="auto",
                        help="with --impl: confine each worker before it imports its target: files (Landlock), "
                             "network and processes (private namespaces; docs/explanation/sandbox.md). auto "
                             "(default): what the kernel offers, and the report says what held; require: a target "
                             "whose worker lacks a protection is not run (exit status 2); off: no confinement, "
                             "with a warning")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="with --impl: the library the target's layers are written with, whose arrays they are "
                             "given and return (default: detected from what the target imports: torch, jax or "
                             "cupy, else numpy; jax needs rnn-oracle[jax], cupy rnn-oracle[cupy])")
    parser.add_argument("--autograd", action="store_true",
                        help="with --impl: a torch or JAX port that defines forward functions only gets each "
                             "backward function from its library's autograd (torch.autograd.grad, jax.vjp), so its "
                             "autograd.Function or custom_vjp is judged under the backward function's name")
    parser.add_argument("--cells", choices=CELL_MODES, default="definitions",
                        help="with --impl NOTEBOOK.ipynb: run only the imports, definitions and the constants they "
                             "read (definitions, the default), or every code cell in order (all)")
    parser.add_argument("--family", choices=tuple(FAMILIES), default=None,
                        help="the course API: cs231n (the seed's) or dlai (deeplearning.ai's Sequence Models, "
                             "\"Building your RNN step by step\"); with --impl the default is detected from the "
                             "target (rnn_cell_forward or lstm_cell_forward: dlai, else cs231n); without --impl, "
                             "only that family's built-in layers are audited")
    parser.add_argument("--require", action="extend", nargs="+", default=[], metavar="NAME",
                        help="with --impl: layers outside the course's API whose absence fails, comma- or "
                             "space-separated: gru, lstm_c0 (default: none; absent ones are not_supported)")
    parser.add_argument("--repro", metavar="DIR",
                        help="with --impl: write, for each finding, its minimal case (.npz) and a script that needs "
                             "only numpy and reruns your function on it (<function>-<dtype>.py; "
                             "oracle/report/repro.py)")
    parser.add_argument("--rubric", metavar="TOML",
                        help="with --impl: points per function and the share each finding keeps "
                             "(oracle/targets/rubric.py; "
                             "default: the course family's, oracle/targets/rubrics/course.toml or dlai.toml)")
    parser.add_argument("--gradescope", metavar="PATH",
                        help="with one --impl target: write Gradescope's results.json, one test per function of the "
                             "rubric")
    parser.add_argument("--csv", metavar="PATH",
                        help="with --impl: one row per target (target, points, findings per function) for a gradebook")
    parser.add_argument("--shard", type=_shard, metavar="K/N",
                        help="with several --impl targets: audit only every N-th target from the K-th (merge the "
                             "shards' --json with rnn-oracle merge)")
    parser.add_argument("-j", "--jobs", type=_cases, default=1, metavar="N",
                        help="with several --impl targets, audit N at a time (default 1)")
    parser.add_argument("--references", metavar="DIR",
                        help="keep the references (twin results, float32 rounding spreads) in DIR between runs, or "
                             "read those 'rnn-oracle references build' made; stale or corrupt entries are noted and "
                             "recomputed, never trusted (docs/how-to/reference-store.md)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON (schema: oracle/report/text.py, "
                                                        "or oracle/targets/impl_audit.py with --impl)")
    parser.add_argument("--html", metavar="PATH",
                        help="also write one self-contained HTML page with plots (oracle/report/html.py; "
                             "with several --impl targets, the grader's grid); needs rnn-oracle[report]")


def subcommands() -> dict[str, Subcommand]:
    """Every available subcommand; optional ones only when their module is installed."""
    commands = {"audit": Subcommand("check every layer against its torch twin and finite differences",
                                    add_audit_arguments, run_audit_command)}
    for name, module_name in OPTIONAL_SUBCOMMANDS.items():
        if importlib.util.find_spec(module_name) is not None:
            module = importlib.import_module(module_name)
            commands[name] = Subcommand(_summary(module.__doc__, name), module.add_arguments, module.run)
    return commands


def _summary(docstring: str | None, name: str) -> str:
    """A module docstring's first line without a leading ````rnn-oracle NAME``: ````, for ``--help``."""
    first = (docstring or name).strip().splitlines()[0]
    return re.sub(r"^``[^`]*``:\s*", "", first)


AUDIT_EPILOG = """\
exit status: 0 when every check passed, 1 when any failed, 2 on bad usage
(unknown layer or dtype, a --spec that cannot be loaded, --device cuda
without CUDA, an unwritable --json or --html path, --html without
rnn-oracle[report] installed).

With --spec and no --layers only the loaded specs are audited; with --layers
exactly the named layers are, from the built-in and the loaded specs alike.
Case K of a layer and dtype depends only on (seed, layer, dtype, K), so
--layers L --dtypes D --seed S --cases K+1 reproduces it; every failure
prints that command."""


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The top-level parser with one subparser per :func:`subcommands` entry."""
    parser = argparse.ArgumentParser(prog=prog, description="Reference-verified test oracles for recurrent layers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in subcommands().items():
        epilog = AUDIT_EPILOG if name == "audit" else None
        subparser = commands.add_parser(name, help=command.help, description=command.help, epilog=epilog,
                                        formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(subparser)
        subparser.set_defaults(run=command.run, prog=prog)
    return parser


def select_specs(layers: Sequence[str] | None, spec_targets: Sequence[str]) -> list[LayerSpec]:
    """The specs to audit (see the module docstring for the rules); :class:`UsageError` on bad names or targets."""
    builtin = {spec.name: spec for spec in all_specs()}
    loaded: dict[str, LayerSpec] = {}
    for target in dict.fromkeys(spec_targets):  # naming a target twice loads it once
        try:
            specs = load_specs(target)
        except CALL_ERRORS as error:  # the user's file may raise (or exit) while importing: report, don't crash
            raise UsageError(f"cannot load --spec {target}: {describe_error(error)}") from error
        for spec in specs:
            if spec.name in builtin or spec.name in loaded:
                raise UsageError(f"--spec {target} defines a layer named {spec.name!r}, which is already taken")
            loaded[spec.name] = spec
    if not layers:
        return list((loaded or builtin).values())
    known = {**builtin, **loaded}
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise UsageError(f"unknown layer {', '.join(map(repr, unknown))}; known layers: {', '.join(known)}")
    return [known[name] for name in dict.fromkeys(layers)]


def check_dtypes(dtypes: Sequence[str] | None) -> tuple[str, ...]:
    """The dtypes to audit, in :data:`oracle.judge.audit.DTYPES` order; :class:`UsageError` on an unknown one."""
    chosen = set(dtypes or DTYPES)
    unknown = sorted(chosen - set(DTYPES))
    if unknown:
        raise UsageError(f"unknown dtype {', '.join(unknown)}; expected {', '.join(DTYPES)}")
    return tuple(dtype for dtype in DTYPES if dtype in chosen)


def check_dims(specs: Sequence[LayerSpec], config: AuditConfig) -> None:
    """:class:`UsageError` when ``--dims`` names a dimension no selected layer draws, or a size one refuses."""
    if not config.dims:
        return
    drawn: set[str] = set()
    for spec in specs:
        for case_index in range(min(config.cases, len(PROFILES[config.profile]))):
            setting = case_setting(config.profile, config.dims, case_index)
            source = RandomSource(np.random.default_rng(0), setting.dims, setting.scale)
            try:
                spec.make_inputs(source, np.dtype(np.float64))
            except DimensionError as error:
                raise UsageError(f"--dims: layer {spec.name}: {error}") from error
            drawn.update(source.drawn)
    unknown = [name for name in config.dims if name not in drawn]
    if unknown:
        raise UsageError(f"--dims names {', '.join(unknown)}, which no selected layer draws; they draw "
                         f"{', '.join(sorted(drawn))}")


def check_device(device: str) -> None:
    """:class:`UsageError` when ``device`` is a GPU this machine does not have."""
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise UsageError(f"--device {device} requested, but no CUDA device is available "
                         f"(torch.cuda.is_available() is False; torch {torch.__version__}, "
                         f"built for CUDA {torch.version.cuda}); run with --device cpu")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise UsageError(f"--device {device} requested, but only {torch.cuda.device_count()} CUDA device(s) exist")


@contextlib.contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the previous count.

    The audit's tensors have a few dozen elements: extra threads only add
    synchronisation (measured: the default audit needs about 40% less CPU
    time with one thread on a two-core machine). Restoring keeps in-process
    callers, such as the tests, unaffected.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_json_path(path: str | None, option: str = "--json") -> None:
    """:class:`UsageError` before the audit runs when ``--json PATH`` (or ``option``) could not be written after it."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {option} {path}: not a writable file path")


def check_html_path(path: str | None) -> None:
    """:class:`UsageError` before the audit runs when ``--html PATH`` could not be written after it.

    The page needs the optional extra ``rnn-oracle[report]``; its modules are
    looked for here but imported only when the page is written.
    """
    if path is None:
        return
    missing = [name for name in REPORT_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"--html needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
                         "installed: install rnn-oracle[report] (pip install 'rnn-oracle[report]')")
    check_json_path(path, "--html")


def print_progress(event: Progress) -> None:
    """One stderr line per layer/dtype: ``[3/28] lstm float32 ... 6 cases, 0.41 s, ok``."""
    started = f"[{event.index}/{event.total}] {event.layer} {event.dtype} ..."
    if event.run is None:
        print(started, end=" ", file=sys.stderr, flush=True)
        return
    failed = sum(not check.passed for check in event.run.checks)
    verdict = "ok" if not failed else f"FAIL ({failed} checks)"
    print(f"{started + ' ' if event.alone else ''}{count(event.cases, 'case')}, {event.run.seconds:.2f} s, {verdict}",
          file=sys.stderr, flush=True)


def run_audit_command(args: argparse.Namespace) -> int:
    """Run ``audit`` with parsed ``args``: table and summary on stdout, progress on stderr."""
    if args.impl and args.spec:
        raise UsageError("--impl audits the built-in layers bound to your functions; it takes no --spec")
    if not args.impl and (args.timeout is not None or args.memory != DEFAULT_MEMORY):
        raise UsageError("--timeout and --memory limit the worker that runs --impl targets; without --impl the "
                         "audit runs in this process, where no limit holds (see docs/explanation/judge-and-judged.md)")
    if not args.impl and args.sandbox != "auto":
        raise UsageError("--sandbox confines the worker that runs --impl targets; without --impl the audit runs in "
                         "this process, where no sandbox holds")
    specs = select_specs(_names(args.layers), args.spec)
    if args.family and not args.impl:
        specs = [spec for spec in specs if spec.family == args.family]
    config = AuditConfig(layers=tuple(spec.name for spec in specs), dtypes=check_dtypes(_names(args.dtypes)),
                         cases=args.cases, seed=args.seed, device=args.device, spec_targets=tuple(args.spec),
                         profile=args.profile, dims=args.dims)
    check_dims(specs, config)
    check_device(config.device)
    check_json_path(args.json)
    check_html_path(args.html)
    args.require = _names(args.require)
    known = sorted({spec.requirement for spec in all_specs() if spec.requirement})
    unknown = [name for name in args.require if name not in known]
    if unknown:
        raise UsageError(f"--require {', '.join(unknown)}: expected one of {', '.join(known)}")
    grading = [option for option, value in (("--rubric", args.rubric), ("--gradescope", args.gradescope),
                                            ("--csv", args.csv), ("--shard", args.shard)) if value]
    if grading and not args.impl:
        raise UsageError(f"{', '.join(grading)} grade{'s' if len(grading) == 1 else ''} --impl targets: "
                         "give --impl")
    if args.gradescope and len(dict.fromkeys(args.impl)) != 1:
        raise UsageError("--gradescope writes the results of one submission: give exactly one --impl target")
    if args.shard and len(dict.fromkeys(args.impl)) < 2:
        raise UsageError("--shard splits several --impl targets")
    try:
        args.rubric = load_rubric(args.rubric) if args.rubric else None
    except RubricError as error:
        raise UsageError(str(error)) from error
    check_json_path(args.csv, "--csv")
    check_json_path(args.gradescope, "--gradescope")
    if args.repro is not None and not args.impl:
        raise UsageError("--repro writes reproducers of an --impl target's findings; it needs --impl")
    if args.require and not args.impl:
        raise UsageError("--require says which layers an --impl target must offer; it needs --impl")
    if (args.backend or args.autograd) and not args.impl:
        raise UsageError("--backend and --autograd say how an --impl target is run; they need --impl")
    args.port = PortOptions(backend=args.backend, device=config.device, autograd=args.autograd)
    if args.impl:
        timeout = args.timeout or default_timeout(dict(config.dims))
        args.limits = Limits(timeout=timeout, import_timeout=max(DEFAULT_IMPORT_TIMEOUT, timeout),
                             memory=args.memory, sandbox=args.sandbox)
        if args.sandbox == "off":
            print(f"{args.prog} audit: warning: --sandbox off: every target runs with all of your user's rights "
                  "(it can read and change other targets and the installation, use the network and leave "
                  "processes behind)", file=sys.stderr, flush=True)
        with single_threaded_torch(), reference_store.opened(args.references):
            return run_impl_audit(args, config, list(config.layers), print_progress)
    print(f"{args.prog} audit: {selection(config)}", file=sys.stderr, flush=True)
    with single_threaded_torch(), reference_store.opened(args.references):
        result = run_audit(specs, config, progress=print_progress)
    print(render(result, args.prog))
    if args.json:
        document = to_json(result, args.command_line, args.prog)
        try:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2, allow_nan=False, default=str)
                handle.write("\n")
        except OSError as error:
            raise UsageError(f"cannot write --json {args.json}: {error}") from error
    if args.html:
        from oracle.report.html import write_report  # the optional extra, imported only when asked for

        try:
            write_report(args.html, config, args.command_line, result=result, prog=args.prog)
        except OSError as error:
            raise UsageError(f"cannot write --html {args.html}: {error}") from error
    return EXIT_OK if result.passed else EXIT_FAILED


def main(argv: Sequence[str] | None = None, prog: str = "rnn-oracle") -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return the exit status.

    Never raises ``SystemExit``: argparse's exits (``--help``, errors) become
    return values, so tests and callers get the status as an int.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        if exit_.code is None:
            return EXIT_OK
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    args.command_line = argv
    try:
        return args.run(args)
    except UsageError as error:
        print(f"{prog} {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
