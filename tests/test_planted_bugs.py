"""The suite's worth is the bugs it catches: each planted bug must make its check fail.

Every check runs with the active Hypothesis profile's example budget, so this
also proves the profile is strong enough to find the bug.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tests import layer_checks
from tests.planted_bugs import PLANTED_BUGS, PlantedBug


@pytest.mark.parametrize("bug", PLANTED_BUGS, ids=lambda bug: bug.name)
def test_planted_bug_is_caught(bug: PlantedBug) -> None:
    check = getattr(layer_checks, bug.caught_by)
    broken = bug.broken_spec()

    @settings(database=None, phases=[Phase.generate])
    @given(data=st.data())
    def run_check(data):
        check(broken, data.draw)

    with pytest.raises((AssertionError, ExceptionGroup)):
        run_check()
