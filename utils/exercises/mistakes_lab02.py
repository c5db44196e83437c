"""Known mistakes of lab 02's exercises, one function per mistake (the catalogue).

Each function is written the way a student would write the mistake, and has the
signature of the exercise. ``utils/exercises/lab02.py`` pairs each with its hint; the check
shows that hint when a student's outputs match the mistake's on every case, and
tests/test_known_bugs.py asserts that every mistake fails with its own hint.
"""

import numpy as np

from utils import layers

# ----------------------------------------------------------------------------- 2.1


def step_no_bias(x, h_prev, Wx, Wh, b):
    h = np.tanh(x @ Wx + h_prev @ Wh)
    return h, (x, h_prev, Wx, Wh, h)


def step_wh_transposed(x, h_prev, Wx, Wh, b):
    h = np.tanh(x @ Wx + h_prev @ Wh.T + b)
    return h, (x, h_prev, Wx, Wh, h)


def step_no_tanh(x, h_prev, Wx, Wh, b):
    h = x @ Wx + h_prev @ Wh + b
    return h, (x, h_prev, Wx, Wh, h)


def step_caches_preactivation(x, h_prev, Wx, Wh, b):
    a = x @ Wx + h_prev @ Wh + b
    return np.tanh(a), (x, h_prev, Wx, Wh, a)


# ----------------------------------------------------------------------------- 2.2


def _seq(x, h0, Wx, Wh, b, carry=True, store_prev=False, from_zeros=False):
    N, T, _ = x.shape
    H = Wh.shape[0]
    if h0 is None:
        h0 = np.zeros((N, H), x.dtype)
    h = np.zeros((N, T, H), x.dtype)
    h_t = np.zeros_like(h0) if from_zeros else h0
    for t in range(T):
        h_new = np.tanh(x[:, t] @ Wx + (h_t if carry else h0) @ Wh + b)
        h[:, t] = h_t if store_prev else h_new
        h_t = h_new
    return h, (x, h0, Wx, Wh, h)


def seq_ignores_h0(x, h0, Wx, Wh, b):
    return _seq(x, h0, Wx, Wh, b, from_zeros=True)


def seq_no_carry(x, h0, Wx, Wh, b):
    return _seq(x, h0, Wx, Wh, b, carry=False)


def seq_stores_previous(x, h0, Wx, Wh, b):
    return _seq(x, h0, Wx, Wh, b, store_prev=True)


# ----------------------------------------------------------------------------- 2.3


def _ce(logits, targets, mask, shift=True, per_all=False, mask_grad=True, scale_grad=True):
    if mask is None:
        mask = np.ones(targets.shape, dtype=bool)
    count = mask.size if per_all else mask.sum()
    shifted = logits - logits.max(axis=-1, keepdims=True) if shift else logits
    e = np.exp(shifted)
    p = e / e.sum(axis=-1, keepdims=True)
    picked = np.take_along_axis(p, targets[..., None], axis=-1)[..., 0]
    loss = -(np.log(picked) * mask).sum() / count
    d = p - np.eye(logits.shape[-1])[targets]
    if mask_grad:
        d = d * mask[..., None]
    if scale_grad:
        d = d / count
    return float(loss), d


def ce_no_max_shift(logits, targets, mask=None):
    return _ce(logits, targets, mask, shift=False)


def ce_divides_by_all(logits, targets, mask=None):
    return _ce(logits, targets, mask, per_all=True)


def ce_grad_not_masked(logits, targets, mask=None):
    return _ce(logits, targets, mask, mask_grad=False)


def ce_grad_not_scaled(logits, targets, mask=None):
    return _ce(logits, targets, mask, scale_grad=False)


# ----------------------------------------------------------------------------- 2.4


def _step_back(dh, cache, da_from="h", dWh_from="h_prev", dh_prev_T=True, db="sum"):
    x, h_prev, Wx, Wh, h = cache
    if da_from == "h":
        da = dh * (1 - h ** 2)
    elif da_from == "h_prev":
        da = dh * (1 - h_prev ** 2)
    else:
        da = dh
    dx = da @ Wx.T
    dh_prev = da @ (Wh.T if dh_prev_T else Wh)
    dWx = x.T @ da
    dWh = (h_prev if dWh_from == "h_prev" else h).T @ da
    dbv = da.sum(axis=0) if db == "sum" else da.mean(axis=0)
    return dx, dh_prev, dWx, dWh, dbv


def step_back_tanh_of_h_prev(dh, cache):
    return _step_back(dh, cache, da_from="h_prev")


def step_back_no_tanh_derivative(dh, cache):
    return _step_back(dh, cache, da_from="none")


def step_back_dWh_with_h(dh, cache):
    return _step_back(dh, cache, dWh_from="h")


def step_back_dh_prev_not_transposed(dh, cache):
    return _step_back(dh, cache, dh_prev_T=False)


def step_back_db_mean(dh, cache):
    return _step_back(dh, cache, db="mean")


# ----------------------------------------------------------------------------- 2.5


def _bptt(dh, cache, add_next=True, accumulate=True, prev_from="h_prev"):
    x, h0, Wx, Wh, h = cache
    N, T, H = h.shape
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H, dtype=h.dtype)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = (h[:, t - 1] if t > 0 else h0) if prev_from == "h_prev" else h[:, t]
        step_cache = (x[:, t], h_prev, Wx, Wh, h[:, t])
        upstream = dh[:, t] + dh_next if add_next else dh[:, t]
        dx[:, t], dh_next, dWx_t, dWh_t, db_t = layers.rnn_step_backward(upstream, step_cache)
        if accumulate:
            dWx += dWx_t
            dWh += dWh_t
            db += db_t
        else:
            dWx, dWh, db = dWx_t, dWh_t, db_t
    return dx, dh_next, dWx, dWh, db


def bptt_no_dh_next(dh, cache):
    return _bptt(dh, cache, add_next=False)


def bptt_overwrites(dh, cache):
    return _bptt(dh, cache, accumulate=False)


def bptt_h_prev_is_h(dh, cache):
    return _bptt(dh, cache, prev_from="h")
