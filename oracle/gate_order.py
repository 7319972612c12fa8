"""Deprecated path, kept for one release with a DeprecationWarning.

Use :mod:`oracle.references.gate_order`.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
