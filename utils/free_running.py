"""Teacher forcing, free running and scheduled sampling on a one-dimensional series (lab 06).

A SineRNN reads a series one value at a time and predicts the next value. Trained with
**teacher forcing**, its input at every step is the true previous value. **Free running**
(generation) feeds its own prediction back in instead, so its inputs come from a distribution
it never trained on, and the errors compound: **exposure bias**. **Scheduled sampling**
(Bengio et al., 2015) trains with a mix: at each step the input is the model's own previous
prediction with probability p (raised from 0 during training), the true value otherwise.

Shapes: N series (batch), T steps; values are (N, T) tensors.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["SineRNN", "teacher_forcing_loss", "free_run", "scheduled_sampling_loss"]


class SineRNN(nn.Module):
    """nn.RNN(1, H, tanh) and a linear read-out: forward(y (N, T), state) -> (pred (N, T), state).

    pred[:, t] is the prediction of the value after y[:, t]. generator: torch.Generator for the
    initial weights.
    """

    def __init__(self, H=16, generator=None):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            if generator is not None:
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            self.rnn = nn.RNN(1, H, batch_first=True)
            self.out = nn.Linear(H, 1)

    def forward(self, y, state=None):
        h, state = self.rnn(y.unsqueeze(-1), state)           # (N, T, H)
        return self.out(h).squeeze(-1), state                 # (N, T)


def teacher_forcing_loss(model, y):
    """MSE of the one-step predictions when every input is the true value. y: (N, T)."""
    pred, _ = model(y[:, :-1])                                # (N, T - 1)
    return ((pred - y[:, 1:]) ** 2).mean()


def free_run(model, prompt, steps):
    """Generate `steps` values after a prompt, feeding each prediction back in.

    prompt: (N, P) tensor of true values, read with teacher forcing to build the state.
    Returns (N, steps): the first column is the prediction made after the last prompt
    value, each later one the prediction after reading the previous prediction.
    """
    with torch.no_grad():
        pred, state = model(prompt)                           # (N, P)
        value = pred[:, -1:]                                  # (N, 1)
        out = []
        for _ in range(steps):
            out.append(value)
            pred, state = model(value, state)                 # one step from the carried state
            value = pred[:, -1:]
        return torch.cat(out, dim=1)                          # (N, steps)


def scheduled_sampling_loss(model, y, use_model):
    """The training loss of one scheduled-sampling step.

    y: (N, T) true series. The model reads T - 1 inputs and predicts y[:, 1:]. The input of
    step 0 is y[:, 0]; for t = 1 .. T - 2 the input of step t is the model's own prediction of
    y[:, t] (made at step t - 1) where use_model[:, t - 1] is True, the true y[:, t] otherwise.
    use_model: (N, T - 2) bool tensor, drawn by the caller with probability p. A fed-back
    prediction is detached: it is an input, like a teacher-forced value, not a path for the
    gradient. Returns the MSE of the T - 1 predictions against y[:, 1:], a scalar tensor.
    """
    N, T = y.shape
    state, prev, preds = None, None, []
    for t in range(T - 1):
        inp = y[:, t]
        if t > 0:
            inp = torch.where(use_model[:, t - 1], prev.detach(), inp)
        pred, state = model(inp[:, None], state)              # (N, 1): one step
        prev = pred[:, 0]
        preds.append(prev)
    return ((torch.stack(preds, dim=1) - y[:, 1:]) ** 2).mean()
