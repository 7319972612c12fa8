"""Progress of a class's run on stderr: a bar (tqdm) on a terminal, plain lines otherwise.

On a terminal, with tqdm installed (it comes with ``rnn-oracle[oracle]``), the
bar shows the targets done, how many have a finding and the estimated time
left. Elsewhere (a CI log, a pipe, a file), one line per target:
``[3/30] sub3/cs231n done (5.2 s): 1 of 3 with findings``.
"""

from __future__ import annotations

import sys
from typing import Any


class ClassProgress:
    """A context manager; :meth:`done` after each target."""

    def __init__(self, total: int) -> None:
        self.total, self.count, self.failing = total, 0, 0
        self._bar: Any = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:  # no bar without tqdm: the plain lines still say everything
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit="target", file=sys.stderr, dynamic_ncols=True)

    def __enter__(self) -> ClassProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def done(self, entry: dict, failing: bool) -> None:
        """``entry`` (an ``--impl`` entry) is judged; ``failing``: it has a finding or could not be imported."""
        self.count += 1
        self.failing += failing
        if self._bar is not None:
            self._bar.set_postfix(with_findings=self.failing, refresh=False)
            self._bar.update(1)
            return
        print(f"[{self.count}/{self.total}] {entry['target']} done ({entry['seconds']:.1f} s): "
              f"{self.failing} of {self.count} with findings", file=sys.stderr, flush=True)
