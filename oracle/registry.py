"""Deprecated path, kept for one release with a DeprecationWarning.

Use ``from oracle import register``; the built-in tables' ``all_specs`` and ``get_spec`` are in :mod:`oracle.layers`.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
