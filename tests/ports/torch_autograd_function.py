"""A torch port with forward functions only: its tanh is a torch.autograd.Function whose backward has a planted
bug (it takes the derivative of tanh as 1 - y where 1 - y**2 belongs). Audited with --autograd."""

import torch


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        y = torch.tanh(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return dy * (1 - y)


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = Tanh.apply(x @ Wx + prev_h @ Wh + b)
    return next_h, None
