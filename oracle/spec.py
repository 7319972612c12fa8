"""Deprecated path, kept for one release with a DeprecationWarning.

Use ``from oracle import LayerSpec, ExtraCheck, Arrays, TorchTwin``; the rest is in :mod:`oracle.specs.spec`.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder(__name__)
