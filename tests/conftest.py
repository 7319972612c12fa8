"""Hypothesis profiles, chosen by the ``HYPOTHESIS_PROFILE`` environment variable.

``dev`` (default): quick feedback while editing, with Hypothesis's example
database (failures found earlier are replayed first). ``ci``: no deadline,
enough examples to find planted bugs, and no example database, so every run
is independent of earlier ones, as on a fresh CI machine (``--hypothesis-seed``
makes one reproducible); what tox runs. ``full``: ``ci`` with four times its
examples (``tox -e full``). ``thorough``: for audits of a new variant, ten times ``full``.
``catch``: ``dev`` without shrinking, for a test that only asks whether a bug is caught, not for its
smallest example.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile("catch", max_examples=25, phases=[Phase.explicit, Phase.reuse, Phase.generate], **_COMMON)
settings.register_profile("ci", max_examples=25, print_blob=True, database=None, **_COMMON)
settings.register_profile("full", max_examples=100, print_blob=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=1000, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
