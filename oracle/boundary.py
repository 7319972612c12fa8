"""Deprecated path, kept for one release with a DeprecationWarning.

Use ``from oracle import Limits``; the rest is in :mod:`oracle.targets.boundary`.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
