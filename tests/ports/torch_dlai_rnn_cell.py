"""A correct torch port of deeplearning.ai's rnn_cell_forward, with no backward: audited with --autograd."""

import torch


def rnn_cell_forward(xt, a_prev, parameters):
    Wax, Waa, Wya, ba, by = (parameters[name] for name in ("Wax", "Waa", "Wya", "ba", "by"))
    a_next = torch.tanh(Wax @ xt + Waa @ a_prev + ba)
    yt_pred = torch.softmax(Wya @ a_next + by, dim=0)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)
