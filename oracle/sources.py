"""Deprecated path, kept for one release with a DeprecationWarning.

Use ``from oracle import InputSource``; the rest is in :mod:`oracle.specs.sources`.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
