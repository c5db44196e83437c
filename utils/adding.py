"""The adding problem: a long-range regression task no shortcut solves (lab 06).

Each sequence has T steps of two inputs: a value u_t ~ uniform(0, 1) and a marker m_t that is
1 at exactly two steps (one in the first half, one in the second half) and 0 elsewhere. The
target is the sum of the two marked values. Nothing about the target is visible at the end
of the sequence: the network must notice the first marked value, keep it for up to T steps,
and add the second. The best constant answer is E[sum] = 1, with MSE Var(u1 + u2) = 2/12 = 1/6
(about 0.167): a model near 0.167 has learned nothing.

Shapes: N sequences, T steps, x (N, T, 2), y (N,).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from utils.rnn_init import init_recurrent_

__all__ = ["CONSTANT_MSE", "adding_batch", "AddingRNN", "train_adding", "adding_mse", "hidden_grad_norms"]

CONSTANT_MSE = 1.0 / 6.0          # the MSE of always answering 1, the best constant
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM}


def adding_batch(N, T, rng):
    """N sequences of the adding problem: x (N, T, 2) float32 tensor, y (N,) float32 tensor.

    rng: np.random.Generator (the batch order of an experiment, separate from the weights).
    """
    if T < 2:
        raise ValueError(f"adding_batch: T must be >= 2 (one marker in each half), got {T}")
    u = rng.uniform(0.0, 1.0, size=(N, T))
    first = rng.integers(0, T // 2, size=N)              # a marker in the first half
    second = rng.integers(T // 2, T, size=N)             # and one in the second half
    m = np.zeros((N, T))
    m[np.arange(N), first] = 1.0
    m[np.arange(N), second] = 1.0
    x = np.stack([u, m], axis=-1).astype(np.float32)     # (N, T, 2)
    y = (u[np.arange(N), first] + u[np.arange(N), second]).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


class AddingRNN(nn.Module):
    """A recurrent layer (tanh RNN or LSTM, H units) and a linear read-out of the last state.

    init: "default", "orthogonal" or "identity" for the recurrent matrices (utils.rnn_init);
    generator: torch.Generator for every initial weight, so the weights of a run depend on its
    own seed only. forward(x (N, T, 2)) -> prediction (N,).
    """

    def __init__(self, cell="rnn", H=32, init="default", generator=None):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"AddingRNN: cell must be one of {sorted(CELLS)}, got {cell!r}")
        with torch.random.fork_rng(devices=[]):
            if generator is not None:
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            self.rnn = CELLS[cell](2, H, batch_first=True)
            self.out = nn.Linear(H, 1)
        init_recurrent_(self.rnn, init, generator)
        if cell == "lstm":
            with torch.no_grad():                # forget-gate bias 1: keep what is stored
                self.rnn.bias_ih_l0[H:2 * H] = 1.0
                self.rnn.bias_hh_l0[H:2 * H] = 0.0

    def forward(self, x):
        h, _ = self.rnn(x)                                    # (N, T, H)
        return self.out(h[:, -1]).squeeze(-1)                 # (N,)


def adding_mse(model, T, rng, N=1000):
    """MSE of the model on N fresh sequences of length T (rng: its own generator)."""
    x, y = adding_batch(N, T, rng)
    with torch.no_grad():
        return float(((model(x) - y) ** 2).mean())


def train_adding(model, T, steps, lr, rng, N=32, clip=1.0):
    """Adam on fresh batches, gradient norm clipped at `clip`. Returns the per-step losses."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x, y = adding_batch(N, T, rng)
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def hidden_grad_norms(rnn, out, x, y):
    """‖∂L/∂h_t‖ for every t, L the MSE of out(h_T) against y, mean over the batch.

    rnn: a one-layer nn.RNN or nn.LSTM (batch_first); out: nn.Linear(H, 1). The layer is
    unrolled one step at a time with its own weights, so that every h_t is a tensor whose
    gradient autograd keeps. Returns a (T,) float array.
    """
    N, T, _ = x.shape
    lstm = isinstance(rnn, nn.LSTM)
    Wi, Wh = rnn.weight_ih_l0, rnn.weight_hh_l0
    b = rnn.bias_ih_l0 + rnn.bias_hh_l0
    H = rnn.hidden_size
    h = torch.zeros(N, H, dtype=Wi.dtype)
    c = torch.zeros(N, H, dtype=Wi.dtype)
    hs = []
    for t in range(T):
        a = x[:, t] @ Wi.T + h @ Wh.T + b
        if lstm:                                   # gate order i, f, g, o
            i, f, g, o = a.split(H, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:
            h = torch.tanh(a)
        h.retain_grad()
        hs.append(h)
    loss = ((out(h).squeeze(-1) - y) ** 2).mean()
    loss.backward()
    return np.array([float(hh.grad.norm(dim=1).mean()) for hh in hs])
