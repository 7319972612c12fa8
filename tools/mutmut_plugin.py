"""pytest plugin for mutation runs: find the first failure fast, and never shrink it.

mutmut (configured in ``setup.cfg``) loads this with ``-p tools.mutmut_plugin``.
Per mutant, mutmut runs the tests that called the mutated function with
``-x``; a mutant is killed by the first failing example. Three things make
that slow by default, and this plugin removes them:

- Hypothesis shrinks a failing example for a readable report, which can take
  minutes per mutant (whole runs timed out). The ``mutation`` profile has no
  shrink phase, reports only the first bug, derandomizes the draws (two runs
  over the same code give the same verdicts) and keeps no example database
  (one mutant's failures are not replayed into the next). It is loaded in
  ``pytest_configure``, after ``tests/conftest.py`` loaded its own profile,
  so it wins over ``HYPOTHESIS_PROFILE``. ``MUTATION_MAX_EXAMPLES`` overrides
  the example count.
- On a first failure, Hypothesis imports its patch writer (libcst), about a
  second per forked worker; importing it here does it once in mutmut's fork
  server.
- mutmut hands pytest the tests in arbitrary order, and with ``-x`` the
  cost of a killed mutant is the time until its first failing test. The
  plugin records which test killed each mutant (``mutants/mutmut-kills.jsonl``,
  one line per kill) and runs first the tests that killed most mutants of the
  same function, then of the same module, then the rest by the durations
  mutmut measured (``mutants/mutmut-stats.json``), cheapest first. For a
  validation helper (a function whose name mentions "check") the contract
  suite goes first.

``setup.cfg`` also passes ``--tb=no`` (formatting a traceback re-parses the
mutated modules, which are tens of thousands of lines long) and
``-p no:unraisableexception`` (its garbage collection at the end of every
session costs about 0.3 s per mutant).

None of this changes a verdict: the same tests run, in another order.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

with contextlib.suppress(ImportError):  # optional: only speeds up the first failure in each worker
    import hypothesis.extra._patching  # noqa: F401

settings.register_profile(
    "mutation",
    max_examples=int(os.environ.get("MUTATION_MAX_EXAMPLES", "20")),
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    report_multiple_bugs=False,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_STATS = Path("mutmut-stats.json")  # mutmut runs pytest inside mutants/
_KILLS = Path("mutmut-kills.jsonl")


def _durations() -> dict[str, float]:
    try:
        return dict(json.loads(_STATS.read_text())["duration_by_test"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _mutated_function() -> str:
    """``impl.gru.x_gru_backward`` while mutant ``impl.gru.x_gru_backward__mutmut_7`` is under test, else ""."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name.rsplit("__mutmut_", 1)[0] if "__mutmut_" in name else ""


def _kills(function: str) -> tuple[Counter, Counter]:
    """Kills per test among mutants of ``function``, and of its module."""
    same_function: Counter = Counter()
    same_module: Counter = Counter()
    module = function.rpartition(".")[0]
    try:
        lines = _KILLS.read_text().splitlines()
    except OSError:
        return same_function, same_module
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("function") == function:
            same_function[record.get("test")] += 1
        if record.get("function", "").rpartition(".")[0] == module:
            same_module[record.get("test")] += 1
    return same_function, same_module


def pytest_configure(config) -> None:
    settings.load_profile("mutation")


def pytest_collection_modifyitems(session, config, items) -> None:
    function = _mutated_function()
    durations = _durations()
    same_function, same_module = _kills(function) if function else (Counter(), Counter())
    contract_first = "check" in function.rpartition(".")[2]

    def priority(item) -> tuple:
        contract = "test_input_contract.py" in item.nodeid
        return (-same_function[item.nodeid], -same_module[item.nodeid], not contract if contract_first else False,
                durations.get(item.nodeid, 0.0))

    items.sort(key=priority)


def pytest_runtest_logreport(report) -> None:
    function = _mutated_function()
    if function and report.failed:
        line = json.dumps({"function": function, "test": report.nodeid}) + "\n"
        # One short O_APPEND write per kill: atomic, so parallel workers never interleave lines.
        descriptor = os.open(_KILLS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)
