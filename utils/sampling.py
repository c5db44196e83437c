"""Sampling text from a language model's logits (lab 05), in NumPy, for any model.

    probs = next_char_probs(logits, temperature=0.8, top_k=10)      # (V,) or (N, V)
    nucleus = top_p_filter(probs, 0.9)                              # (V,)
    ids = sample_ids(step, state, first_id, 200, temperature=0.8, top_p=0.9, rng=rng)

`step(x, state) -> (logits (V,), new state)` runs the model one id at a time, so the loop
serves a NumPy model and a PyTorch one alike. The same rules in torch, drawing from a seeded
torch.Generator, are `sample_next` and `generate` in utils/charlm.py, which also re-exports
this module.
"""

from __future__ import annotations

import numpy as np


def next_char_probs(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """The distribution to sample the next character from.

    logits: (V,) or (N, V) float. temperature > 0 divides the logits (below 1 sharpens, above 1
    flattens); temperature == 0 means greedy: all the mass on the argmax (the first one on a tie).
    top_k keeps the k largest logits per row and gives the others probability 0 (ties at the
    k-th value are all kept). Returns probabilities of the same shape, rows summing to 1.
    """
    logits = np.asarray(logits)
    if logits.ndim not in (1, 2) or logits.dtype.kind != "f":
        raise TypeError(f"logits must be a float array (V,) or (N, V), got {logits.dtype} "
                        f"shape {logits.shape}")
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
    V = logits.shape[-1]
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or not 1 <= top_k <= V):
        raise ValueError(f"top_k must be None or an int in [1, V={V}], got {top_k!r}")
    if temperature == 0:
        probs = np.zeros_like(logits)
        np.put_along_axis(probs, np.argmax(logits, axis=-1)[..., None], 1.0, axis=-1)
        return probs
    z = logits / temperature
    if top_k is not None:
        kth = np.sort(z, axis=-1)[..., V - top_k][..., None]   # k-th largest per row
        z = np.where(z >= kth, z, -np.inf)
    z = z - z.max(axis=-1, keepdims=True)                      # exp never overflows
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_p_filter(probs: np.ndarray, top_p: float) -> np.ndarray:
    """Nucleus filtering of one distribution: keep the most likely ids, in order, until their
    total reaches top_p (the id that crosses it included, so at least one is kept), zero the
    rest and renormalise. probs: (V,) summing to 1; top_p in (0, 1]. Returns (V,)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(f"probs must be one distribution (V,), got shape {probs.shape}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    order = np.argsort(-probs, kind="stable")                  # most likely first
    before = np.cumsum(probs[order]) - probs[order]            # mass of the ids ahead of each
    keep = order[before < top_p]
    out = np.zeros_like(probs)
    out[keep] = probs[keep]
    return out / out.sum()


def sample_ids(step, state, first_id: int, n: int, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The sampling loop: n ids drawn one at a time, each fed back as the next input.

    step(x, state) -> (logits (V,), new state) runs the model on one id; temperature and
    top_k as in next_char_probs, then top_p (nucleus) filtering when given. Each id is drawn
    with rng.choice(V, p=probs), one call per step. Returns (n,) int64.
    """
    rng = np.random.default_rng() if rng is None else rng
    ids = np.empty(n, dtype=np.int64)
    x = int(first_id)
    for t in range(n):
        logits, state = step(x, state)
        probs = next_char_probs(np.asarray(logits, dtype=np.float64), temperature, top_k)
        if top_p is not None:
            probs = top_p_filter(probs, top_p)
        x = int(rng.choice(len(probs), p=probs))
        ids[t] = x
    return ids
