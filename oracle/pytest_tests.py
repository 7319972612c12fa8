"""Deprecated path, kept for one release with a DeprecationWarning.

Use ``from oracle import impl_tests``.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
