"""What the user reads: the text, JSON and HTML reports, their plots and template, reproducers, progress.

Room ``report`` (:mod:`oracle.report.text`, :mod:`~oracle.report.html` with
:mod:`~oracle.report.plots` and ``templates/``, :mod:`~oracle.report.repro`,
:mod:`~oracle.report.progress`). It may import ``layers``, ``judge``,
``references``, ``specs`` and :mod:`impl`; only ``targets`` and the command
line import it.
"""
