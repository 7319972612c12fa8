"""What a layer is and how its inputs are drawn: the facts every other room reads.

Room ``specs`` (:mod:`oracle.specs.spec`: :class:`~oracle.specs.spec.LayerSpec`;
:mod:`~oracle.specs.contract`: input contracts and gate layouts;
:mod:`~oracle.specs.sources`: input sources; :mod:`~oracle.specs.profiles`:
case settings and sizes; :mod:`~oracle.specs.tolerances`: the one tolerance
table; :mod:`~oracle.specs.calls`: how the course APIs are called, shared
with the worker; :mod:`~oracle.specs.families`: the course APIs;
:mod:`~oracle.specs.mistakes`: the error models of a layer's known mistakes;
:mod:`~oracle.specs.registry`). It imports nothing of the oracle's other
rooms: only :mod:`impl` (its layout facts) and numpy.
"""
