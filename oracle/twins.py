"""Deprecated path, kept for one release with a DeprecationWarning.

Use ``from oracle import TorchTwin``; the twins themselves are in :mod:`oracle.references.twins`.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
