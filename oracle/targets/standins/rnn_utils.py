"""rnn-oracle's stand-in for deeplearning.ai's ``rnn_utils``, used only when a notebook's folder has none.

The course's helpers that "Building your RNN step by step" imports: ``softmax``
over axis 0 and ``sigmoid``. The audit notes when this stand-in was used.
"""

from impl.dlai import sigmoid, softmax

__all__ = ["sigmoid", "softmax"]
