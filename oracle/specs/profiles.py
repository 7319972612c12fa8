"""How the audit's cases are drawn: sizes (``--dims``) and profiles (``--profile``).

By default every dimension a spec asks its source for (``source.dim("T")``)
is drawn from ``[1, 4]`` and floats from ranges of order one. That reaches
bugs of indexing, broadcasting and sizes of 1 cheaply, but not bugs that
exist only at size: a backward pass that truncates backpropagation through
time after ``k`` steps, a kernel's chunk boundary, long-sequence gradient
flow through saturated gates.

``--dims N=64,T=50`` fixes the named dimensions for every case (names as the
specs pass them to ``source.dim``: ``N``, ``T``, ``D``, ``H``, ``M``, ``V``,
``W``; unnamed ones keep their defaults). ``--profile stress`` cycles the
cases through :data:`STRESS`, one setting per case:

``long sequence``
    ``T = 200``: gradient flow over many steps; it also crosses the chunk
    boundary of impl's sequence backward passes (:data:`impl.rnn.CHUNK_ROWS`
    rows, so ``CHUNK_ROWS // N`` steps) whenever ``N >= 3``;
``chunk boundary``
    ``N = 5`` and ``T`` one step past ``CHUNK_ROWS // 5``: a last chunk of a
    single step;
``saturated gates``
    every float range scaled by 4: pre-activations of ten and more, where
    sigmoid and tanh saturate and their derivatives underflow towards 0;
``large inputs``
    every float range scaled by 50: scores and activations far outside the
    range where a naive ``exp`` is safe.

``--dims`` applies on top of either profile. Inputs larger than
:data:`oracle.judge.directional.ELEMENTWISE_LIMIT` elements are checked against
finite differences along random directions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from impl.rnn import CHUNK_ROWS


@dataclass(frozen=True)
class Setting:
    """How one case is drawn: fixed sizes by dimension name, a factor on every float range, simpler values.

    ``values`` maps the index of a float draw (in the order the case draws them) to a simpler value for it,
    ``"zeros"``, ``"ones"`` or ``"integers"`` (:class:`oracle.specs.sources.RandomSource`): what a shrunk case
    (:mod:`oracle.judge.shrink`) is made of.
    """

    name: str
    dims: Mapping[str, int] = field(default_factory=dict)
    scale: float = 1.0
    values: Mapping[int, str] = field(default_factory=dict)

    def with_dims(self, dims: Mapping[str, int]) -> Setting:
        """This setting with ``dims`` fixed on top of its own."""
        return Setting(self.name, {**self.dims, **dims}, self.scale, self.values)


#: The default profile: sizes drawn from [1, 4], floats of order one.
DEFAULT = (Setting("default"),)

#: ``--profile stress`` (see the module docstring), one setting per case in turn.
STRESS = (
    Setting("long sequence", {"T": 200}),
    Setting("chunk boundary", {"N": 5, "T": CHUNK_ROWS // 5 + 1}),
    Setting("saturated gates", scale=4.0),
    Setting("large inputs", scale=50.0),
)

PROFILES: dict[str, tuple[Setting, ...]] = {"default": DEFAULT, "stress": STRESS}


def case_setting(profile: str, dims: Mapping[str, int], case_index: int) -> Setting:
    """The setting of case ``case_index``: the profile's settings in turn, with ``dims`` on top."""
    settings = PROFILES[profile]
    return settings[case_index % len(settings)].with_dims(dims)


def parse_dims(text: str) -> dict[str, int]:
    """``"N=64,T=50"`` -> ``{"N": 64, "T": 50}``; ``ValueError`` with the reason on bad text."""
    dims: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"([A-Za-z_]\w*)=(\d+)", item)
        if match is None:
            raise ValueError(f"expected NAME=SIZE items separated by commas, got {item!r}")
        name, size = match.group(1), int(match.group(2))
        if size < 1:
            raise ValueError(f"{name} must be at least 1, got {size}")
        if name in dims:
            raise ValueError(f"{name} given twice")
        dims[name] = size
    if not dims:
        raise ValueError("expected NAME=SIZE items separated by commas, got nothing")
    return dims


def format_dims(dims: Mapping[str, int]) -> str:
    """``{"N": 64, "T": 50}`` -> ``"N=64,T=50"`` (the inverse of :func:`parse_dims`)."""
    return ",".join(f"{name}={size}" for name, size in dims.items())
