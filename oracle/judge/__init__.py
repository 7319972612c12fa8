"""Judging: running a case, comparing it with the references, and folding the checks into verdicts.

Room ``judge``: one case's run (:mod:`oracle.judge.checks`), the comparisons
and their localisation (:mod:`~oracle.judge.compare`,
:mod:`~oracle.judge.localize`), directional checks at large sizes
(:mod:`~oracle.judge.directional`), the metamorphic relations
(:mod:`~oracle.judge.metamorphic`), greedy sampling
(:mod:`~oracle.judge.sampling`), the audit over cases
(:mod:`~oracle.judge.audit`), the minimal failing case
(:mod:`~oracle.judge.shrink`) and the findings per function
(:mod:`~oracle.judge.verdicts`). It may import ``references``, ``specs`` and
:mod:`impl`.
"""
