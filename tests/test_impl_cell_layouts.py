"""impl.cell_layouts, the one module that spells gate orders, columns and parameter layouts, says what the seed says.

The generic suites read these facts from the module itself, so they cannot
notice a wrong spelling of them; these tests state the seed's conventions
literally (the i, f, o, g layout; ``(D, 4H)`` in messages).
"""

from __future__ import annotations

import re

import pytest

import impl
from impl.cell_layouts import cell_parameter_layouts, check_cell_type, gate_columns


@pytest.mark.mutation_killer
def test_gate_columns_are_consecutive_h_wide_blocks_in_gate_order():
    assert gate_columns("lstm", 3) == {"i": slice(0, 3), "f": slice(3, 6), "o": slice(6, 9), "g": slice(9, 12)}
    assert gate_columns("gru", 2) == {"z": slice(0, 2), "r": slice(2, 4), "n": slice(4, 6)}
    assert gate_columns("rnn", 5) == {"h": slice(0, 5)}


@pytest.mark.mutation_killer
def test_parameter_layouts_as_messages_spell_them():
    assert cell_parameter_layouts("rnn") == {"Wx": "(D, H)", "Wh": "(H, H)", "b": "(H,)"}
    assert cell_parameter_layouts("lstm") == {"Wx": "(D, 4H)", "Wh": "(H, 4H)", "b": "(4H,)"}
    assert cell_parameter_layouts("gru") == {"Wx": "(D, 3H)", "Wh": "(H, 3H)", "b": "(3H,)", "bh": "(3H,)"}


@pytest.mark.mutation_killer
def test_an_unknown_cell_type_names_every_known_one():
    with pytest.raises(ValueError, match=re.escape("unknown cell type 'lstn'; expected one of 'rnn', 'lstm', 'gru'")):
        check_cell_type("lstn")
    with pytest.raises(ValueError, match=re.escape("argument 'cell_type' must be one of 'rnn', 'lstm', 'gru'; "
                                                   "got 'lstn'")):
        impl.CaptioningRNN({"<NULL>": 0, "<START>": 1, "<END>": 2}, cell_type="lstn")
