"""Deprecated path, kept for one release with a DeprecationWarning.

Use ``from oracle import Tolerance``; the table is in :mod:`oracle.specs.tolerances`.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
