"""Padded batches, packing and the last real state of each sequence (lab 06).

A batch of sequences of different lengths is padded at the end to (N, T). A left-to-right
layer computes the real positions correctly whatever the padding (lab 04), but its output at
the last column, h[:, -1], is the state after reading the padding too. A classifier that reads
"the final state" must read each sequence's own last real step, h[n, lengths[n] - 1], or run
the layer on a packed sequence (torch.nn.utils.rnn.pack_padded_sequence), whose final state
h_n is taken at each sequence's own length.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["last_real_state", "pad_sequences", "LastStateClassifier"]


def last_real_state(h, lengths):
    """h[n, lengths[n] - 1] for every n: the state after each sequence's last real step.

    h: (N, T, H) tensor of outputs of a padded batch; lengths: (N,) int64 tensor, 1 <= lengths[n] <= T.
    Returns (N, H).
    """
    idx = (lengths.long() - 1).view(-1, 1, 1).expand(-1, 1, h.shape[2])   # (N, 1, H)
    return h.gather(1, idx).squeeze(1)                                     # (N, H)


def pad_sequences(seqs, pad_value=0.0):
    """A list of (T_n, D) tensors -> padded (N, T, D) tensor and lengths (N,) int64."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    return nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=pad_value), lengths


class LastStateClassifier(nn.Module):
    """A recurrent layer (nn.LSTM, optionally bidirectional) and a linear layer on one state.

    read: "padded" reads h[:, -1] of the padded batch (the mistake), "last_real" reads
    last_real_state (one direction), "packed" runs a packed sequence and reads h_n (both
    directions concatenated when bidirectional). forward(x (N, T, D), lengths (N,)) -> logits
    (N, C).
    """

    def __init__(self, D, H, C, read="packed", bidirectional=False, generator=None):
        super().__init__()
        if read not in ("padded", "last_real", "packed"):
            raise ValueError(f"LastStateClassifier: read must be padded, last_real or packed, got {read!r}")
        if bidirectional and read != "packed":
            raise ValueError("LastStateClassifier: a bidirectional layer is read through packing "
                             "(the backward direction ends at step 0, not at the last real step)")
        with torch.random.fork_rng(devices=[]):
            if generator is not None:
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            self.rnn = nn.LSTM(D, H, batch_first=True, bidirectional=bidirectional)
            self.out = nn.Linear(H * (2 if bidirectional else 1), C)
        self.read = read

    def forward(self, x, lengths):
        if self.read == "packed":
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                       enforce_sorted=False)
            _, (h_n, _) = self.rnn(packed)                  # (directions, N, H)
            z = torch.cat(list(h_n), dim=1)                 # (N, directions * H)
        else:
            h, _ = self.rnn(x)                              # (N, T, H)
            z = h[:, -1] if self.read == "padded" else last_real_state(h, lengths)
        return self.out(z)
