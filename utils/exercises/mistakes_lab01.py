"""Known mistakes of lab 01's exercises, one function per mistake (the catalogue).

Written the way a student would write each mistake, with the exercise's signature; paired
with hints in ``utils/exercises/lab01.py`` and asserted in tests/test_known_bugs.py.
"""

import numpy as np

SPECIALS = ("PAD", "UNK", "EOS")

# ----------------------------------------------------------------------------- 1.1


def vocab_sorted(seqs):
    stoi = {s: k for k, s in enumerate(SPECIALS)}
    for tok in sorted({t for seq in seqs for t in seq}):
        stoi.setdefault(tok, len(stoi))
    return stoi


def vocab_specials_last(seqs):
    stoi = {}
    for seq in seqs:
        for tok in seq:
            if tok not in stoi:
                stoi[tok] = len(stoi)
    for s in SPECIALS:
        stoi.setdefault(s, len(stoi))
    return stoi


def vocab_new_id_every_time(seqs):
    stoi = {s: k for k, s in enumerate(SPECIALS)}
    n = len(stoi)
    for seq in seqs:
        for tok in seq:
            stoi[tok] = n           # a repeated token gets a new id (and ids skip numbers)
            n += 1
    return stoi


# ----------------------------------------------------------------------------- 1.2


def encode_unk_is_1(tokens, stoi):
    return np.array([stoi.get(t, 1) for t in tokens], dtype=np.int64)


def encode_unknown_to_pad(tokens, stoi):
    return np.array([stoi.get(t, 0) for t in tokens], dtype=np.int64)


def encode_skips_unknown(tokens, stoi):
    return np.array([stoi[t] for t in tokens if t in stoi], dtype=np.int64)


# ----------------------------------------------------------------------------- 1.3


def one_hot_1d_only(ids, V):
    ids = np.asarray(ids)
    out = np.zeros((ids.shape[0], V))
    out[np.arange(ids.shape[0]), ids] = 1.0
    return out


def one_hot_ints(ids, V):
    return (np.asarray(ids)[..., None] == np.arange(V)).astype(np.int64)


def one_hot_transposed(ids, V):
    return np.moveaxis(np.eye(V)[np.asarray(ids)], -1, 0)


# ----------------------------------------------------------------------------- 1.4


def _pad(seqs, pad_id, left=False, mask_inverted=False):
    T = max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), T), bool)
    for i, s in enumerate(seqs):
        sl = slice(T - len(s), T) if left else slice(0, len(s))
        ids[i, sl] = s
        mask[i, sl] = True
    return ids, (~mask if mask_inverted else mask)


def pad_left(seqs, pad_id):
    return _pad(seqs, pad_id, left=True)


def pad_mask_inverted(seqs, pad_id):
    return _pad(seqs, pad_id, mask_inverted=True)


def pad_with_zeros(seqs, pad_id):
    return _pad(seqs, 0)


# ----------------------------------------------------------------------------- 1.5


def embedding_fancy_index_add(dout, ids, V):
    dW = np.zeros((V, dout.shape[-1]))
    dW[ids.reshape(-1)] += dout.reshape(-1, dout.shape[-1])    # buffered: a repeated id counts once
    return dW


def embedding_mean(dout, ids, V):
    flat, d = ids.reshape(-1), dout.reshape(-1, dout.shape[-1])
    dW = np.zeros((V, d.shape[1]))
    np.add.at(dW, flat, d)
    counts = np.bincount(flat, minlength=V)[:, None]
    return dW / np.maximum(counts, 1)


def embedding_transposed(dout, ids, V):
    d = dout.reshape(-1, dout.shape[-1])
    onehot = (ids.reshape(-1)[:, None] == np.arange(V)).astype(float)
    return d.T @ onehot                                       # (E, V)
