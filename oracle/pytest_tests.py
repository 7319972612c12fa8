"""Deprecated: use :mod:`oracle.targets.pytest_tests` (this path is kept for one release, with a DeprecationWarning)."""

from oracle._deprecated import forwarder

__getattr__ = forwarder('oracle.pytest_tests', {
    'impl_tests': 'oracle.targets.pytest_tests',
})
