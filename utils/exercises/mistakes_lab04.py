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
