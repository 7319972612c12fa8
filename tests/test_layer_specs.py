"""Every registered layer spec against its torch twin, and the properties users rely on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle.layers import all_specs
from tests.layer_checks import ALL_CHECKS

SPECS = all_specs()


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
@given(data=st.data())
def test_layer(spec, check, data):
    check(spec, data.draw)
