"""The course APIs a user's code may be written for: the spec families (:attr:`oracle.specs.spec.LayerSpec.family`)."""

from __future__ import annotations

#: The course API families (:attr:`oracle.specs.spec.LayerSpec.family`), each with the public names that mark a
#: target as written for it; a target that defines none of them is the first family's.
FAMILIES: dict[str, tuple[str, ...]] = {"cs231n": (), "dlai": ("rnn_cell_forward", "lstm_cell_forward")}

#: How reports name each family's course.
COURSE_NAMES = {"cs231n": "CS231n", "dlai": "deeplearning.ai Sequence Models"}
