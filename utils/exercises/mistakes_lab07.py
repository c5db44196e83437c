"""Known mistakes of lab 07's exercises, one function per mistake (the catalogue).

Written the way a student would write each mistake, with the exercise's signature; paired
with hints in ``utils/exercises/lab07.py`` and asserted in tests/test_known_bugs.py.
"""

import numpy as np
import torch

from utils.attention import masked_softmax_np

# ----------------------------------------------------------------------------- 7.1


def np_mask_after_softmax(scores, mask):
    z = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True) * mask


def np_minus_inf_nan(scores, mask):
    z = np.where(mask, scores, -np.inf)
    z = z - z.max(axis=-1, keepdims=True)          # -inf - -inf = nan on an all-masked row
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def np_no_max_shift(scores, mask):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(scores) * mask
        total = e.sum(axis=-1, keepdims=True)
        return e / np.where(total > 0, total, 1.0)


def np_wrong_axis(scores, mask):
    return masked_softmax_np(scores, mask, axis=0)


# ----------------------------------------------------------------------------- 7.2


def torch_mask_after_softmax(scores, mask):
    return torch.softmax(scores, dim=-1) * mask


def torch_minus_inf_nan(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def torch_filled_with_zero(scores, mask):
    w = torch.softmax(scores.masked_fill(~mask, 0.0), dim=-1)
    return w * mask.any(dim=-1, keepdim=True)


def torch_wrong_dim(scores, mask):
    w = torch.softmax(scores.masked_fill(~mask, -1e9), dim=0)
    return w * mask


# ----------------------------------------------------------------------------- 7.3


def _additive(query, keys, mask, Wq, Wk, v, act=np.tanh, swap=False, use_mask=True):
    q, k = (query @ Wk, keys @ Wq) if swap else (query @ Wq, keys @ Wk)
    scores = act(q[:, None, :] + k) @ v
    weights = masked_softmax_np(scores, mask if use_mask else np.ones_like(mask))
    return np.einsum("ns,nsh->nh", weights, keys), weights


def additive_no_tanh(query, keys, mask, Wq, Wk, v):
    return _additive(query, keys, mask, Wq, Wk, v, act=lambda a: a)


def additive_weights_swapped(query, keys, mask, Wq, Wk, v):
    return _additive(query, keys, mask, Wq, Wk, v, swap=True)


def additive_mask_ignored(query, keys, mask, Wq, Wk, v):
    return _additive(query, keys, mask, Wq, Wk, v, use_mask=False)


def additive_context_unweighted(query, keys, mask, Wq, Wk, v):
    _, weights = _additive(query, keys, mask, Wq, Wk, v)
    context = (keys * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
    return context, weights


# ----------------------------------------------------------------------------- 7.4


def step_context_from_new_state(dec, y_prev, h_prev, enc_out, mask):
    emb = dec.embed(y_prev)
    context, _ = dec.attention(h_prev, enc_out, mask)
    h = dec.cell(torch.cat([emb, context], dim=-1), h_prev)
    context, weights = dec.attention(h, enc_out, mask)     # attends again, with h_t
    return dec.out(torch.cat([h, context], dim=-1)), h, weights


def step_concat_swapped(dec, y_prev, h_prev, enc_out, mask):
    emb = dec.embed(y_prev)
    context, weights = dec.attention(h_prev, enc_out, mask)
    h = dec.cell(torch.cat([context, emb], dim=-1), h_prev)
    return dec.out(torch.cat([h, context], dim=-1)), h, weights


def step_output_from_previous_state(dec, y_prev, h_prev, enc_out, mask):
    emb = dec.embed(y_prev)
    context, weights = dec.attention(h_prev, enc_out, mask)
    h = dec.cell(torch.cat([emb, context], dim=-1), h_prev)
    return dec.out(torch.cat([h_prev, context], dim=-1)), h, weights


def step_weights_not_renormalised(dec, y_prev, h_prev, enc_out, mask):
    emb = dec.embed(y_prev)
    att = dec.attention
    scores = att.v(torch.tanh(att.Wq(h_prev)[:, None, :] + att.Wk(enc_out)))[..., 0]
    weights = torch.softmax(scores, dim=-1) * mask           # padding zeroed, rows sum < 1
    context = torch.bmm(weights[:, None, :], enc_out)[:, 0]
    h = dec.cell(torch.cat([emb, context], dim=-1), h_prev)
    return dec.out(torch.cat([h, context], dim=-1)), h, weights


# ----------------------------------------------------------------------------- 7.5


def _beam(step, state, bos, eos, beam_size=3, max_len=12, alpha=1.0, norm=True, stop=True,
          combine=np.add):
    seqs, logps = [[]], np.zeros(1)
    states, last, finished = np.asarray(state)[None], np.array([bos]), []
    for _ in range(max_len):
        logp, new_states = step(last, states)
        cand = combine(logps[:, None], logp).ravel()
        best = np.argsort(-cand, kind="stable")[:beam_size]
        V = logp.shape[1]
        keep = []
        for flat in best:
            row, tok = divmod(int(flat), V)
            if tok == eos and stop:
                finished.append((seqs[row] + [tok], float(cand[flat])))
            else:
                keep.append((seqs[row] + [tok], cand[flat], row, tok))
        seqs = [k[0] for k in keep]
        logps = np.array([k[1] for k in keep])
        if not seqs:
            break
        states = np.asarray(new_states)[[k[2] for k in keep]]
        last = np.array([k[3] for k in keep])
    pool = finished + [(s, float(lp)) for s, lp in zip(seqs, logps)]
    a = alpha if norm else 0.0
    seq, lp = max(pool, key=lambda p: p[1] / len(p[0]) ** a)
    return np.array(seq, dtype=np.int64), lp / len(seq) ** a


def beam_no_length_norm(step, state, bos, eos, beam_size=3, max_len=12, alpha=1.0):
    return _beam(step, state, bos, eos, beam_size, max_len, alpha, norm=False)


def beam_finished_expanded(step, state, bos, eos, beam_size=3, max_len=12, alpha=1.0):
    return _beam(step, state, bos, eos, beam_size, max_len, alpha, stop=False)


def beam_logps_multiplied(step, state, bos, eos, beam_size=3, max_len=12, alpha=1.0):
    return _beam(step, state, bos, eos, beam_size, max_len, alpha, combine=np.multiply)
