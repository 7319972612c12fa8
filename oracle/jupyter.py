"""Deprecated path, kept for one release with a DeprecationWarning.

Use ``from oracle import audit_here``; the rest is in :mod:`oracle.targets.jupyter`.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
