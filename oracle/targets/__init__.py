"""The user's code: loading it, running it in worker processes, and grading several targets.

Room ``targets``: finding and importing a target (:mod:`oracle.targets.loading`,
:mod:`~oracle.targets.notebooks`), the worker process and the wire format
to it (:mod:`~oracle.targets.worker`, :mod:`~oracle.targets.wire`,
:mod:`~oracle.targets.boundary`, :mod:`~oracle.targets.placeholders`,
:mod:`~oracle.targets.imports`, :mod:`~oracle.targets.frames`, ``standins/``),
a port's arrays in its library and its autograd (:mod:`~oracle.targets.backends`,
:mod:`~oracle.targets.autograd`), the worker's sandbox
(:mod:`~oracle.targets.sandbox`, what it may reach and what held;
:mod:`~oracle.targets.confine`, applying it), binding specs to a target
(:mod:`~oracle.targets.binding`), auditing one or a class of them
(:mod:`~oracle.targets.impl_audit`, :mod:`~oracle.targets.grading`,
:mod:`~oracle.targets.rubric` with ``rubrics/``, :mod:`~oracle.targets.merge`),
Jupyter and pytest (:mod:`~oracle.targets.jupyter`,
:mod:`~oracle.targets.pytest_tests`) and a user's own specs
(:mod:`~oracle.targets.spec_files`). It may import every room below it
(``report``, ``layers``, ``judge``, ``references``, ``specs``); only the
command line and the benchmark import it. The modules the worker runs next to
the user's code (confine, loading, worker, wire, placeholders, imports,
frames, notebooks, backends, autograd) import neither the judge nor torch, JAX
or CuPy until a port needs its library.
"""
