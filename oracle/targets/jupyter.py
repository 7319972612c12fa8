"""The audit inside a running Jupyter kernel: the layers and the model defined there, judged as ``--impl`` judges.

In a notebook::

    from oracle.targets.jupyter import audit_here
    audit_here()                      # every layer; audit_here(layers=["lstm"], cases=4) for fewer

or ``%load_ext oracle`` and then ``%rnn_oracle`` (``%rnn_oracle --layers lstm --cases 4``).

The functions and the ``CaptioningRNN`` that the kernel defines under the
seed's public names are sent by value with cloudpickle (the extra
``rnn-oracle[notebook]``) to a worker process (:mod:`oracle.targets.boundary`), which
runs them, confined as every worker is (:mod:`oracle.targets.sandbox`: it reads
the kernel's working folder and the installation, writes nothing but its scratch
folder, has no network); this kernel judges them. What was imported from a module rather than
defined in the kernel is sent by reference, and the worker imports it from the
kernel's working folder. The result (:class:`KernelAudit`) shows inline as the
HTML report (no script, nothing loaded from the network; with the extra
``rnn-oracle[report]``) and as the text verdicts in a plain terminal.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from oracle.judge.audit import DTYPES, AuditConfig, AuditResult
from oracle.layers import all_specs
from oracle.targets.binding import public_names
from oracle.targets.boundary import DEFAULT_MEMORY, DEFAULT_TIMEOUT, Limits

#: How the kernel's target is named in the report.
KERNEL_LABEL = "<kernel>"


@dataclass(frozen=True)
class KernelAudit:
    """The audit of a kernel's functions: the ``--impl`` JSON entry, the text report and the audit itself."""

    entry: dict
    report: str
    result: AuditResult | None
    config: AuditConfig

    @property
    def passed(self) -> bool:
        """Whether every function passed (a target that could not be run did not)."""
        from oracle.judge.verdicts import NO_FAILURE

        return not self.entry["error"] and all(set(findings) <= set(NO_FAILURE)
                                               for dtypes in self.entry["verdicts"].values()
                                               for findings in dtypes.values())

    def __str__(self) -> str:
        from oracle.targets.impl_audit import render_verdicts

        return render_verdicts(self.entry)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        try:
            from oracle.report.html import render_page
        except ImportError:  # the extra rnn-oracle[report] is missing: the text verdicts, as HTML
            return f"<pre>{escape(str(self))}</pre>"
        return render_page(self.config, ["audit_here()"], result=self.result, entries=[self.entry])


def kernel_objects(namespace: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The objects of ``namespace`` under the public ``names`` (what the kernel defines of the API)."""
    return {name: namespace[name] for name in names if name in namespace}


def audit_here(namespace: Mapping[str, Any] | None = None, *, layers: Sequence[str] = (), cases: int = 16,
               seed: int = 0, dtypes: Sequence[str] = DTYPES, timeout: float = DEFAULT_TIMEOUT,
               memory: int = DEFAULT_MEMORY, sandbox: str = "auto") -> KernelAudit:
    """Audit the layers and the model defined in ``namespace`` (default: the caller's globals, the kernel's).

    Parameters
    ----------
    namespace
        Where the functions are looked up by the seed's public names.
    layers, cases, seed, dtypes
        As ``rnn-oracle audit --layers --cases --seed --dtypes`` (default: every layer, 16 cases, seed 0).
    timeout, memory
        The limits of each call, as ``--timeout`` and ``--memory``.
    sandbox
        As ``--sandbox``: ``"auto"``, ``"require"`` or ``"off"`` (:mod:`oracle.targets.sandbox`).

    Returns
    -------
    KernelAudit
        Shown inline as the HTML report, or as the text verdicts.
    """
    try:
        import cloudpickle
    except ImportError as error:
        raise ImportError("audit_here needs cloudpickle, which is not installed: "
                          "pip install 'rnn-oracle[notebook]'") from error
    from oracle.targets.impl_audit import audit_one, workers_per_target

    if namespace is None:
        namespace = sys._getframe(1).f_globals
    chosen = [spec for spec in all_specs() if not layers or spec.name in layers]
    blob = cloudpickle.dumps(kernel_objects(namespace, public_names(chosen)))
    config = AuditConfig(layers=tuple(spec.name for spec in chosen), dtypes=tuple(dtypes), cases=cases, seed=seed)
    entry, report, result = audit_one(KERNEL_LABEL, config, [spec.name for spec in chosen], "rnn-oracle",
                                      limits=Limits(timeout=timeout, memory=memory, sandbox=sandbox),
                                      parallel=workers_per_target(1), pickled=blob, fork=False)  # a kernel
    return KernelAudit(entry, report, result, config)


def magic_parser() -> argparse.ArgumentParser:
    """The options of ``%rnn_oracle``: a few of ``rnn-oracle audit``'s."""
    parser = argparse.ArgumentParser(prog="%rnn_oracle", add_help=False)
    parser.add_argument("--layers", nargs="+", default=[])
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES))
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    return parser


def rnn_oracle_magic(line: str, namespace: Mapping[str, Any]) -> KernelAudit:
    """``%rnn_oracle [--layers ...] [--cases N] [--seed N] [--dtypes ...] [--timeout S]`` on ``namespace``."""
    args = magic_parser().parse_args(shlex.split(line))
    layers = [name for value in args.layers for name in value.split(",") if name]
    return audit_here(namespace, layers=layers, cases=args.cases, seed=args.seed, dtypes=args.dtypes,
                      timeout=args.timeout)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext oracle``: register the ``%rnn_oracle`` line magic."""

    def rnn_oracle(line: str) -> KernelAudit:
        return rnn_oracle_magic(line, ipython.user_ns)

    ipython.register_magic_function(rnn_oracle, magic_kind="line", magic_name="rnn_oracle")
