"""The ``--impl`` audit inside a user's own test suite: one pytest test per function x dtype x quantity.

In a test module of your project (``tests/test_rnn_oracle.py``)::

    from oracle.targets.pytest_tests import impl_tests

    test_rnn_layers = impl_tests("cs231n")          # the same TARGET as ``rnn-oracle audit --impl``

pytest then reports every check of the audit as a test of its own, with ids
such as ``lstm_step_backward-float64-upstream gradient next_c unchanged`` or
``CaptioningRNN.sample[lstm]-float32-sample captions``, so ``--junitxml``,
``-k`` and CI dashboards see them. A failing test's message is the audit's
failure (which oracles disagree, the worst error, the smallest case). The
audit runs once, when the module is collected; a target that cannot be
imported makes one failing test that says why. As with ``--impl``, the target
is imported and called only in a worker process (:mod:`oracle.targets.boundary`), with
a time limit on every call and the sandbox of ``--sandbox auto``
(:mod:`oracle.targets.sandbox`; ``limits=Limits(sandbox="require")`` to insist on
it): nothing it does (``sys.exit``, a hang, patching numpy or the oracle, writing
files outside its folder) reaches the test session or its verdicts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from oracle.judge.audit import DTYPES, AuditConfig, run_audit
from oracle.judge.verdicts import function_of
from oracle.layers import all_specs
from oracle.targets.binding import bound_specs, family_of, public_names
from oracle.targets.boundary import Limits, open_target
from oracle.targets.loading import TargetError


def impl_tests(target: str, cases: int = 4, seed: int = 0, dtypes: tuple[str, ...] = DTYPES,
               limits: Limits | None = None, family: str | None = None) -> Callable[..., None]:
    """A test function parametrized over the checks of auditing ``target``, for a test module to assign.

    Parameters
    ----------
    target
        A ``.py`` file, package folder or dotted module (see :mod:`oracle.targets.loading`).
    cases, seed, dtypes
        As ``rnn-oracle audit --cases --seed --dtypes``.
    limits
        The time and memory limits of each call (:class:`oracle.targets.boundary.Limits`; ``--timeout``, ``--memory``).
    family
        The course API (``"cs231n"`` or ``"dlai"``; ``--family``); by default the one the target is written for
        (:func:`oracle.targets.binding.family_of`).
    """
    chosen = all_specs()
    try:
        with open_target(target, public_names(chosen), limits or Limits(), base=Path.cwd()) as loaded:
            family = family or family_of(loaded)
            specs = bound_specs([spec for spec in chosen if spec.family == family], loaded)
            config = AuditConfig(layers=tuple(spec.name for spec in specs), dtypes=dtypes, cases=cases, seed=seed,
                                 impl_target=target)
            result = run_audit(specs, config)
    except TargetError as error:
        failure = str(error)

        def cannot_import() -> None:
            pytest.fail(failure, pytrace=False)

        return cannot_import
    by_name = {spec.name: spec for spec in specs}
    outcomes: dict[tuple[str, str, str], list[str]] = {}
    for run in result.runs:
        for check in run.checks:
            key = (function_of(by_name[run.layer], check), run.dtype, check.quantity)
            messages = outcomes.setdefault(key, [])
            messages += [f"{check.subject} vs {check.reference}: {failure.message}" for failure in check.failures[:1]]
    parameters = [pytest.param("\n".join(messages), id="-".join(key)) for key, messages in outcomes.items()]

    @pytest.mark.parametrize("failures", parameters)
    def test_check(failures: str) -> None:
        if failures:
            pytest.fail(failures, pytrace=False)

    return test_check
