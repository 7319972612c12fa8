"""Deprecated: use :mod:`oracle.specs.sources` (this path is kept for one release, with a DeprecationWarning)."""

from oracle._deprecated import forwarder

__getattr__ = forwarder('oracle.sources', {
    'MASK_PATTERNS': 'oracle.specs.sources',
    'InputSource': 'oracle.specs.sources',
    'weight_matrix': 'oracle.specs.sources',
    'mask_from_pattern': 'oracle.specs.sources',
    'DimensionError': 'oracle.specs.sources',
    'RandomSource': 'oracle.specs.sources',
})
