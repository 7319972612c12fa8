"""The independent references a layer is judged against.

Room ``references``: the PyTorch autograd twins (:mod:`oracle.references.twins`)
with the gate-order maps between impl's layout and torch's
(:mod:`~oracle.references.gate_order`), float64 central finite differences
(:mod:`~oracle.references.finite_diff`) and the float32 rounding rule's
spread (:mod:`~oracle.references.rounding`), and the store that keeps the
twins' results and the spreads once computed (:mod:`~oracle.references.store`).
It may import ``specs`` and
:mod:`impl`'s layout facts; it never judges (that is ``judge``).
"""
