"""Deprecated: use :mod:`oracle.specs.spec` (``LayerSpec``, ...) and :mod:`oracle.references.twins` (``TorchTwin``).

This path is kept for one release, with a DeprecationWarning.
"""

from oracle._deprecated import forwarder

__getattr__ = forwarder('oracle.spec', {
    'Arrays': 'oracle.specs.spec',
    'Evaluation': 'oracle.specs.spec',
    'Twin': 'oracle.specs.spec',
    'ExtraCheck': 'oracle.specs.spec',
    'LayerSpec': 'oracle.specs.spec',
    'CallFailed': 'oracle.specs.spec',
    'CALL_ERRORS': 'oracle.specs.spec',
    'NotImplementedLayer': 'oracle.specs.spec',
    'run_forward': 'oracle.specs.spec',
    'forward_results': 'oracle.specs.spec',
    'run_backward': 'oracle.specs.spec',
    'copies': 'oracle.specs.spec',
    'changed': 'oracle.specs.spec',
    'make_upstream': 'oracle.specs.spec',
    'objective': 'oracle.specs.spec',
    'Change': 'oracle.specs.spec',
    'changed_point': 'oracle.specs.spec',
    'objectives': 'oracle.specs.spec',
    'objectives_later': 'oracle.specs.spec',
    'objective_scale': 'oracle.specs.spec',
    'TorchTwin': 'oracle.references.twins',
})
