"""Known mistakes of lab 04's exercises, one function or class per mistake (the catalogue).

Written the way a student would write each mistake, with the exercise's signature; paired
with hints in ``utils/exercises/lab04.py`` and asserted in tests/test_known_bugs.py.
"""

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- 4.1


def _losses(logits, targets):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")


def ce_mean_over_all(logits, targets, mask):
    losses = _losses(logits, targets) * mask.reshape(-1).to(logits.dtype)
    return losses.mean()


def ce_item(logits, targets, mask):
    m = mask.reshape(-1).to(logits.dtype)
    return ((_losses(logits, targets) * m).sum() / m.sum()).item()


def ce_sum(logits, targets, mask):
    return (_losses(logits, targets) * mask.reshape(-1).to(logits.dtype)).sum()


# ----------------------------------------------------------------------------- 4.2


class _GRU(nn.Module):
    batch_first, last_only, skip_out = True, False, False

    def __init__(self, V, H):
        super().__init__()
        self.V = V
        self.gru = nn.GRU(V, H, batch_first=self.batch_first)
        self.out = nn.Linear(H, V)

    def forward(self, x, lengths=None):
        h, _ = self.gru(F.one_hot(x, self.V).to(self.out.weight.dtype))
        if self.skip_out:
            return h
        return self.out(h[:, -1] if self.last_only else h)


class GRUTimeMajor(_GRU):
    batch_first = False


class GRULastStepOnly(_GRU):
    last_only = True


class GRUNoOutputLayer(_GRU):
    skip_out = True


# ----------------------------------------------------------------------------- 4.3


def _gru(x, h_prev, W_ih, W_hh, b_ih, b_hh, r_outside=False, z_swapped=False, order="rzn"):
    H = h_prev.shape[1]
    gi, gh = x @ W_ih.T + b_ih, h_prev @ W_hh.T + b_hh
    blocks = {k: (gi[:, j * H:(j + 1) * H], gh[:, j * H:(j + 1) * H]) for j, k in enumerate(order)}
    r = torch.sigmoid(blocks["r"][0] + blocks["r"][1])
    z = torch.sigmoid(blocks["z"][0] + blocks["z"][1])
    if r_outside:   # r multiplies h_prev @ W_hn.T only, and b_hn is added outside
        n = torch.tanh(blocks["n"][0] + r * (h_prev @ W_hh[2 * H:].T) + b_hh[2 * H:])
    else:
        n = torch.tanh(blocks["n"][0] + r * blocks["n"][1])
    return z * n + (1 - z) * h_prev if z_swapped else (1 - z) * n + z * h_prev


def gru_bias_outside_r(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    return _gru(x, h_prev, W_ih, W_hh, b_ih, b_hh, r_outside=True)


def gru_z_swapped(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    return _gru(x, h_prev, W_ih, W_hh, b_ih, b_hh, z_swapped=True)


def gru_order_zrn(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    return _gru(x, h_prev, W_ih, W_hh, b_ih, b_hh, order="zrn")
