"""How a character language model's loss is read, and the baselines it must beat (lab 05).

The loss of a language model is the average cross-entropy of the next character,
    loss = -(1 / count) * sum_t ln p(x_{t+1} | x_1 .. x_t)   in nats per character;
divided by ln 2 it is bits per character, and exp(loss) is the perplexity: the model is as
unsure as a uniform choice among `perplexity` characters.

The baselines need no training beyond counting: uniform (ln V), unigram and bigram, each
fitted on the training split and scored on the validation split. The Kneser-Ney n-grams of
longer contexts are in utils/ngram.py. Re-exported by utils.charlm.

    val = baselines(corpus.train_ids, corpus.val_ids, V)     # {"uniform", "unigram", "bigram"}
    bits_per_char(val["bigram"]), perplexity(val["bigram"])
"""

from __future__ import annotations

import math

import numpy as np

# ----------------------------------------------------------------------------- units


def bits_per_char(nats: float) -> float:
    """Cross-entropy in nats/char -> bits/char (divide by ln 2)."""
    return float(nats) / math.log(2.0)


def perplexity(nats: float) -> float:
    """Cross-entropy in nats/char -> perplexity exp(nats): an effective number of choices."""
    return float(math.exp(nats))


def bits_and_perplexity(nats):
    """Array version of both conversions (exercise 5.1). nats: any shape, float.

    Returns bits = nats / ln 2 and perplexity = exp(nats), each of the shape of `nats`.
    """
    nats = np.asarray(nats)
    if nats.dtype.kind != "f":
        raise TypeError(f"nats must be a float array, got dtype {nats.dtype}")
    return nats / np.log(2.0), np.exp(nats)


# ----------------------------------------------------------------------------- baselines
# Fitted on the training split, measured on the validation split, with add-alpha smoothing so
# a character (or pair) never seen in training still gets a non-zero probability.


def _check_ids(name, ids, V):
    if not isinstance(ids, np.ndarray) or ids.ndim != 1 or ids.dtype.kind not in "iu":
        got = f"{ids.dtype} array of shape {ids.shape}" if isinstance(ids, np.ndarray) else type(ids).__name__
        raise TypeError(f"{name} must be a 1-D integer array (L,), got {got}")
    if len(ids) < 2:
        raise ValueError(f"{name} must hold at least 2 characters, got {len(ids)}")
    if ids.min() < 0 or ids.max() >= V:
        raise ValueError(f"{name} must lie in [0, V={V}), got values in [{ids.min()}, {ids.max()}]")


def _check_V(V):
    if isinstance(V, bool) or not isinstance(V, (int, np.integer)) or V < 2:
        raise ValueError(f"V must be an int >= 2 (the vocabulary size), got {V!r}")


def uniform_nats(V: int) -> float:
    """Uniform model: every character has probability 1/V, so the loss is ln V nats/char."""
    _check_V(V)
    return float(math.log(V))


def unigram_nats(train_ids: np.ndarray, val_ids: np.ndarray, V: int, alpha: float = 1.0) -> float:
    """Unigram model p(c) = (count(c) + alpha) / (L + alpha V) from train; mean -ln p on val.

    Every validation character is scored except the first, so the count matches the bigram and
    the neural models, which need one character of context.
    """
    _check_V(V)
    _check_ids("train_ids", train_ids, V)
    _check_ids("val_ids", val_ids, V)
    counts = np.bincount(train_ids, minlength=V).astype(np.float64)   # (V,)
    p = (counts + alpha) / (counts.sum() + alpha * V)
    return float(-np.log(p[val_ids[1:]]).mean())


def bigram_counts(ids: np.ndarray, V: int) -> np.ndarray:
    """(V, V) float64 counts C[a, b] = number of times character b follows character a."""
    C = np.zeros((V, V), dtype=np.float64)
    np.add.at(C, (ids[:-1], ids[1:]), 1.0)
    return C


def bigram_nats(train_ids: np.ndarray, val_ids: np.ndarray, V: int, alpha: float = 1.0) -> float:
    """Bigram model p(b | a) = (C[a, b] + alpha) / (C[a].sum() + alpha V); mean -ln p on val."""
    _check_V(V)
    _check_ids("train_ids", train_ids, V)
    _check_ids("val_ids", val_ids, V)
    C = bigram_counts(train_ids, V) + alpha                           # (V, V)
    P = C / C.sum(axis=1, keepdims=True)
    return float(-np.log(P[val_ids[:-1], val_ids[1:]]).mean())


def baselines(train_ids: np.ndarray, val_ids: np.ndarray, V: int) -> dict[str, float]:
    """{"uniform", "unigram", "bigram"} -> validation nats/char."""
    return {
        "uniform": uniform_nats(V),
        "unigram": unigram_nats(train_ids, val_ids, V),
        "bigram": bigram_nats(train_ids, val_ids, V),
    }
