"""Known mistakes of lab 05's exercises, one function per mistake (the catalogue).

Written the way a student would write each mistake, with the exercise's signature; paired
with hints in ``utils/exercises/lab05.py`` and asserted in tests/test_known_bugs.py.
"""

import numpy as np

# ----------------------------------------------------------------------------- 5.1


def bits_log10(nats):
    return nats / np.log10(2.0), np.exp(nats)


def bits_times_ln2(nats):
    return nats * np.log(2.0), np.exp(nats)


def perplexity_base_2(nats):
    return nats / np.log(2.0), 2.0 ** nats


def bits_loop_first_axis(nats):
    bits = np.array([n / np.log(2.0) for n in nats])
    return bits, np.exp(nats)


# ----------------------------------------------------------------------------- 5.2


def _bigram(train_ids, val_ids, V, alpha=1.0, smooth=True, fit_on=None, axis=1):
    ids = train_ids if fit_on is None else fit_on
    C = np.zeros((V, V))
    np.add.at(C, (ids[:-1], ids[1:]), 1)
    if smooth:
        C = C + alpha
    P = C / C.sum(axis=axis, keepdims=True)
    return float(-np.log(P[val_ids[:-1], val_ids[1:]]).mean())


def bigram_no_smoothing(train_ids, val_ids, V, alpha=1.0):
    return _bigram(train_ids, val_ids, V, alpha, smooth=False)


def bigram_fit_on_val(train_ids, val_ids, V, alpha=1.0):
    return _bigram(train_ids, val_ids, V, alpha, fit_on=val_ids)


def bigram_columns(train_ids, val_ids, V, alpha=1.0):
    return _bigram(train_ids, val_ids, V, alpha, axis=0)


# ----------------------------------------------------------------------------- 5.3


def _probs(logits, temperature=1.0, top_k=None, shift=True, multiply=False, greedy=True,
           use_k=True):
    logits = np.asarray(logits)
    if temperature == 0 and greedy:
        probs = np.zeros_like(logits)
        np.put_along_axis(probs, np.argmax(logits, axis=-1)[..., None], 1.0, axis=-1)
        return probs
    z = logits * temperature if multiply else logits / temperature
    if top_k is not None and use_k:
        kth = np.sort(z, axis=-1)[..., z.shape[-1] - top_k][..., None]
        z = np.where(z >= kth, z, -np.inf)
    if shift:
        z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def probs_no_shift(logits, temperature=1.0, top_k=None):
    return _probs(logits, temperature, top_k, shift=False)


def probs_times_temperature(logits, temperature=1.0, top_k=None):
    return _probs(logits, temperature, top_k, multiply=True)


def probs_ignore_top_k(logits, temperature=1.0, top_k=None):
    return _probs(logits, temperature, top_k, use_k=False)


def probs_temperature_zero_divides(logits, temperature=1.0, top_k=None):
    return _probs(logits, temperature, top_k, greedy=False)


# ----------------------------------------------------------------------------- 5.4


def _loop(step, state, first_id, n, temperature=1.0, top_k=None, top_p=None, rng=None,
          carry_state=True, feed_back=True, strict_nucleus=False, use_temperature=True):
    from utils.charlm import next_char_probs
    ids = np.empty(n, dtype=np.int64)
    x, s0 = first_id, state
    for t in range(n):
        logits, new_state = step(x if feed_back else first_id, state)
        state = new_state if carry_state else s0
        probs = next_char_probs(logits, temperature if use_temperature else 1.0, top_k)
        if top_p is not None:
            order = np.argsort(-probs, kind="stable")
            cum = np.cumsum(probs[order])
            keep = order[cum < top_p] if strict_nucleus else order[cum - probs[order] < top_p]
            kept = np.zeros_like(probs)
            kept[keep] = probs[keep]
            probs = kept / kept.sum()
        x = int(rng.choice(len(probs), p=probs))
        ids[t] = x
    return ids


def loop_state_not_carried(step, state, first_id, n, temperature=1.0, top_k=None, top_p=None,
                           rng=None):
    return _loop(step, state, first_id, n, temperature, top_k, top_p, rng, carry_state=False)


def loop_no_feedback(step, state, first_id, n, temperature=1.0, top_k=None, top_p=None, rng=None):
    return _loop(step, state, first_id, n, temperature, top_k, top_p, rng, feed_back=False)


def loop_nucleus_too_small(step, state, first_id, n, temperature=1.0, top_k=None, top_p=None,
                           rng=None):
    return _loop(step, state, first_id, n, temperature, top_k, top_p, rng, strict_nucleus=True)


def loop_temperature_ignored(step, state, first_id, n, temperature=1.0, top_k=None, top_p=None,
                             rng=None):
    return _loop(step, state, first_id, n, temperature, top_k, top_p, rng, use_temperature=False)


# ----------------------------------------------------------------------------- 5.5


def _train(model, optimizer, x, y, clip=1.0, zero=True, step=True, clip_on=True):
    import torch
    import torch.nn.functional as F
    model.train()
    logits, _ = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    if zero:
        optimizer.zero_grad()
    loss.backward()
    if clip_on:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    if step:
        optimizer.step()
    return loss.item()


def train_no_zero_grad(model, optimizer, x, y, clip=1.0):
    return _train(model, optimizer, x, y, clip, zero=False)


def train_no_step(model, optimizer, x, y, clip=1.0):
    return _train(model, optimizer, x, y, clip, step=False)


def train_no_clip(model, optimizer, x, y, clip=1.0):
    return _train(model, optimizer, x, y, clip, clip_on=False)
