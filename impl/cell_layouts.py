"""The one place that says how each recurrent cell lays out its parameters.

impl, the oracle (specs, twins, benchmark) and the tests read these facts
from here; nothing else spells a gate count, a gate order or a parameter
shape. The module imports nothing, so :mod:`impl` stays numpy-only.

Layout of a cell with ``G`` gates and hidden size ``H`` (``G`` = 1, 4, 3 for
``"rnn"``, ``"lstm"``, ``"gru"``):

- ``Wx (D, G*H)``, ``Wh (H, G*H)``, ``b (G*H,)`` and, for the GRU only,
  ``bh (G*H,)``;
- gate ``k`` of :data:`GATE_ORDER` owns columns ``k*H .. (k+1)*H - 1`` of
  each of them: LSTM ``i, f, o, g`` (input, forget, output, candidate), GRU
  ``z, r, n`` (update, reset, candidate), RNN a single block ``h``.
"""

from __future__ import annotations

#: Gate blocks along the ``G*H`` axis of ``Wx``, ``Wh``, ``b`` (and ``bh``), in impl's order.
GATE_ORDER: dict[str, tuple[str, ...]] = {"rnn": ("h",), "lstm": ("i", "f", "o", "g"), "gru": ("z", "r", "n")}

#: The cell types, in the order reports list them.
CELL_TYPES: tuple[str, ...] = tuple(GATE_ORDER)

#: Parameter names of each cell, in the order of the layer functions' arguments.
CELL_PARAMETERS: dict[str, tuple[str, ...]] = {
    "rnn": ("Wx", "Wh", "b"), "lstm": ("Wx", "Wh", "b"), "gru": ("Wx", "Wh", "b", "bh"),
}

#: Parameter names of a ``CaptioningRNN`` with each cell, in the order the oracle passes them.
CAPTIONING_PARAMETERS: dict[str, tuple[str, ...]] = {
    cell: ("W_proj", "b_proj", "W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab", *CELL_PARAMETERS[cell][3:])
    for cell in CELL_TYPES
}


def check_cell_type(cell: str) -> None:
    """Raise ``ValueError`` unless ``cell`` is one of :data:`CELL_TYPES`."""
    if cell not in GATE_ORDER:
        raise ValueError(f"unknown cell type {cell!r}; expected one of {', '.join(map(repr, CELL_TYPES))}")


def gate_count(cell: str) -> int:
    """``G``: the number of ``H``-wide gate blocks of ``cell`` (1, 4 or 3)."""
    check_cell_type(cell)
    return len(GATE_ORDER[cell])


def gate_columns(cell: str, hidden_dim: int) -> dict[str, slice]:
    """Gate name -> the columns of ``Wx``, ``Wh``, ``b`` (and ``bh``) that belong to it."""
    return {gate: slice(k * hidden_dim, (k + 1) * hidden_dim) for k, gate in enumerate(GATE_ORDER[cell])}


def cell_parameter_shapes(cell: str, input_dim: int, hidden_dim: int) -> dict[str, tuple[int, ...]]:
    """Shapes of ``cell``'s parameters for input size ``D = input_dim`` and hidden size ``H``."""
    width = gate_count(cell) * hidden_dim
    shapes = {"Wx": (input_dim, width), "Wh": (hidden_dim, width), "b": (width,), "bh": (width,)}
    return {name: shapes[name] for name in CELL_PARAMETERS[cell]}


def cell_parameter_layouts(cell: str) -> dict[str, str]:
    """The symbolic shape of each parameter as error messages spell it, e.g. ``"(D, 4H)"``."""
    width = f"{gate_count(cell)}H" if gate_count(cell) > 1 else "H"
    layouts = {"Wx": f"(D, {width})", "Wh": f"(H, {width})", "b": f"({width},)", "bh": f"({width},)"}
    return {name: layouts[name] for name in CELL_PARAMETERS[cell]}


def captioning_parameter_shapes(cell: str, input_dim: int, wordvec_dim: int, hidden_dim: int,
                                vocab_size: int) -> dict[str, tuple[int, ...]]:
    """Shapes of a ``CaptioningRNN``'s parameters, in :data:`CAPTIONING_PARAMETERS` order.

    ``W_proj (D, H)``, ``b_proj (H,)``, ``W_embed (V, W)``, the cell's
    parameters for input size ``W``, ``W_vocab (H, V)``, ``b_vocab (V,)``.
    """
    shapes = {"W_proj": (input_dim, hidden_dim), "b_proj": (hidden_dim,), "W_embed": (vocab_size, wordvec_dim),
              "W_vocab": (hidden_dim, vocab_size), "b_vocab": (vocab_size,),
              **cell_parameter_shapes(cell, wordvec_dim, hidden_dim)}
    return {name: shapes[name] for name in CAPTIONING_PARAMETERS[cell]}
