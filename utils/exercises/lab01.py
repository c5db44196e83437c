"""Lab 01 (one-hot encoding): exercise registrations and the lab's small reference helpers.

Exercises (the function names the student writes in solutions/01_one_hot_encoding.ipynb):

    1.1 build_vocab(seqs) -> stoi dict            reference: utils.data.Vocab(...).stoi
    1.2 encode(tokens, stoi) -> (T,) int64 ids    reference: encode below (= Vocab.encode)
    1.3 one_hot(ids, V) -> ids.shape + (V,)       reference: utils.data.one_hot
    1.4 pad_batch(seqs, pad_id) -> ids, mask      reference: utils.data.pad_batch
    1.5 embedding_backward(dout, ids, V) -> dW    reference: embedding_backward below

`anbn_best_accuracy` computes the best next-token accuracy any model can reach on aⁿbⁿ; the
notebook derives it step by step and compares its own result with this function.
"""

from __future__ import annotations

import numpy as np

from utils import data
from utils.checks import BadReturn, Case, Exercise, KnownBug, register
from utils.exercises import mistakes_lab01 as m

SPECIALS = (data.PAD, data.UNK, data.EOS)


# ----------------------------------------------------------------------------- references


def build_vocab(seqs):
    """seqs: list of token lists. Returns stoi, a dict token -> id: the specials PAD, UNK,
    EOS get ids 0, 1, 2, then every other token in order of first appearance."""
    if isinstance(seqs, str) or not all(isinstance(s, (list, tuple)) for s in seqs):
        raise TypeError("build_vocab: seqs must be a list of token lists")
    return dict(data.Vocab([tok for seq in seqs for tok in seq], specials=SPECIALS).stoi)


def encode(tokens, stoi):
    """tokens: T strings; stoi: dict token -> id with an UNK entry.
    Returns (T,) int64 ids; a token missing from stoi gets stoi[UNK]."""
    if data.UNK not in stoi:
        raise ValueError(f"encode: stoi must contain {data.UNK!r}, got keys {sorted(stoi)[:5]}...")
    unk = stoi[data.UNK]
    return np.array([stoi.get(tok, unk) for tok in tokens], dtype=np.int64)


def embedding_backward(dout, ids, V):
    """The gradient of out = W[ids] (= one_hot(ids, V) @ W) with respect to W.

    dout: ids.shape + (E,) upstream gradient; ids: int array of any shape; V: rows of W.
    Returns dW (V, E): row v is the sum of dout over every position where ids == v (a
    scatter-add, np.add.at, which adds once per occurrence even when an id repeats).
    """
    dout = np.asarray(dout)
    ids = np.asarray(ids)
    if dout.shape[:-1] != ids.shape:
        raise ValueError(f"embedding_backward: dout must have shape ids.shape + (E,) = "
                         f"{ids.shape} + (E,), got {dout.shape}")
    dW = np.zeros((V, dout.shape[-1]), dtype=dout.dtype)
    np.add.at(dW, ids.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dW


def anbn_best_accuracy(n_values, probs=None):
    """The best expected next-token accuracy on aⁿbⁿ when n is drawn from `n_values`.

    n_values: the possible n (distinct positive ints); probs: their probabilities (default
    uniform). Sequence n has 2n targets: n predictable ones (the b's after the first, and
    EOS), always right for a model that counts, and n after 1..n a's, where the best guess
    is whichever of "a" (n > k) and "b" (n == k) is more likely given n >= k.

    Returns a dict of expected accuracies (targets pooled over sequences, as a batch
    scores them): "overall", "unpredictable", "predictable" (= 1.0), and "guess": {k: the
    best guess after k a's}.
    """
    n_values = np.asarray(sorted(int(n) for n in n_values))
    if n_values.size == 0 or n_values.min() < 1 or len(set(n_values)) != n_values.size:
        raise ValueError(f"anbn_best_accuracy: n_values must be distinct positive ints, got "
                         f"{list(n_values)}")
    p = (np.full(n_values.size, 1.0 / n_values.size) if probs is None
         else np.asarray(probs, dtype=np.float64))
    if p.shape != n_values.shape or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"anbn_best_accuracy: probs must be {n_values.size} non-negative "
                         f"numbers summing to 1, got {probs}")
    correct_unpred = 0.0
    guess = {}
    for k in range(1, int(n_values.max()) + 1):
        p_more = p[n_values > k].sum()      # another a follows
        p_stop = p[n_values == k].sum()     # the first b follows
        if p_more + p_stop == 0:
            continue
        guess[k] = "a" if p_more >= p_stop else "b"   # a tie: either is as good
        correct_unpred += max(p_more, p_stop)
    expected_n = float((p * n_values).sum())   # expected predictable (= unpredictable) targets
    return {"overall": (expected_n + correct_unpred) / (2 * expected_n),
            "unpredictable": correct_unpred / expected_n,
            "predictable": 1.0,
            "guess": guess}


# ----------------------------------------------------------------------------- cases

_WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "it"]


def _random_corpus(rng, n_seqs, max_len, words=_WORDS):
    return [[str(w) for w in rng.choice(words, size=int(rng.integers(1, max_len + 1)))]
            for _ in range(n_seqs)]


def vocab_cases(rng):
    cases = [
        Case(([["the", "cat", "sat"], ["the", "dog", "sat", "on", "the", "mat"]],),
             label="two sentences"),
        Case(([list("aab"), list("abb"), list("ab")],), label="aⁿbⁿ characters"),
        Case(([["EOS", "x"], ["x", "y", "PAD"]],), label="a corpus that already holds specials"),
    ]
    cases.append(Case((_random_corpus(rng, 5, 6),), label="random corpus of 5 sentences"))
    return cases


def call_vocab(fn, case, uses):
    """Turn the returned dict into arrays: the ids of every special and corpus token, and
    the vocabulary size."""
    seqs = case.args[0]
    stoi = fn(*case.args)
    if not isinstance(stoi, dict):
        raise BadReturn(f"returned a {type(stoi).__name__}, want a dict token -> id")
    probe = list(SPECIALS) + [tok for s in seqs for tok in s]
    missing = [tok for tok in probe if tok not in stoi]
    if missing:
        raise KeyError(f"the returned dict has no id for {missing[0]!r}")
    return np.array([stoi[tok] for tok in probe], dtype=np.int64), np.array(len(stoi))


def vocab_entry_name(case, output, idx):
    """The token whose id differs: "the id of 'cat'" rather than "ids[5]"."""
    if output != "ids" or len(idx) != 1:
        return ""
    probe = list(SPECIALS) + [tok for s in case.args[0] for tok in s]
    return f"the id of {probe[idx[0]]!r}" if idx[0] < len(probe) else ""


register(Exercise(
    name="build_vocab", lab="01", number="1.1",
    reference=build_vocab, cases=vocab_cases, call=call_vocab, outputs=("ids", "size"),
    entry_name=vocab_entry_name,
    bugs=(
        KnownBug("sorted tokens", "Ids follow the order of FIRST APPEARANCE in the corpus, not "
                 "alphabetical order: walk the sequences in order and give each new token the "
                 "next id.", m.vocab_sorted),
        KnownBug("specials last", "The specials come first: PAD = 0, UNK = 1, EOS = 2, then the "
                 "corpus tokens from id 3.", m.vocab_specials_last),
        KnownBug("new id for a repeated token", "A token that is already in the dict keeps its "
                 "id: only add it when `tok not in stoi`, with id len(stoi).",
                 m.vocab_new_id_every_time),
    ),
    hints={
        "ids": "Specials first (PAD=0, UNK=1, EOS=2), then each new token in the order it first "
               "appears; a token already in the dict keeps its id.",
        "size": "Each distinct token once: do not add a token (or a special) twice.",
        "error": "Return a dict token -> id that also holds PAD, UNK and EOS.",
    },
))


def encode_cases(rng):
    stoi = {"PAD": 0, "UNK": 1, "EOS": 2, "the": 3, "cat": 4, "sat": 5}
    cases = [
        Case((["the", "cat", "sat"], stoi), label="known tokens"),
        Case((["the", "dog", "sat", "EOS"], stoi), label="an unknown word"),
        Case(([], stoi), label="an empty sequence"),
        # UNK need not be id 1: read it from stoi
        Case((["b", "z", "a"], {"<unk>": 0, "UNK": 7, "a": 3, "b": 4}), label="UNK at id 7"),
    ]
    words = _WORDS + ["zebra", "moon"]
    stoi_r = build_vocab(_random_corpus(rng, 4, 5))
    cases.append(Case(([str(w) for w in rng.choice(words, size=9)], stoi_r),
                      label="random tokens, some unknown"))
    return cases


register(Exercise(
    name="encode", lab="01", number="1.2",
    reference=encode, cases=encode_cases, outputs=("ids",),
    hints={
        "ids": "Unknown tokens map to stoi['UNK'] (dict.get(tok, unk_id)); never add them to "
               "the vocabulary. Return np.int64 ids.",
        "shape": "One id per token: shape (T,), also for T = 0.",
        "error": "A KeyError means an unknown token was looked up with stoi[tok]; use "
                 "stoi.get(tok, unk_id).",
    },
    bugs=(
        KnownBug("UNK hard-coded as 1", "Read the unknown id from the dict, unk_id = "
                 "stoi['UNK']: it need not be 1.", m.encode_unk_is_1),
        KnownBug("unknown to PAD", "Unknown tokens get stoi['UNK'], not the padding id 0.",
                 m.encode_unknown_to_pad),
        KnownBug("unknown skipped", "Every token gets an id, unknown ones too (stoi['UNK']): the "
                 "ids have the length of the tokens.", m.encode_skips_unknown),
    ),
))


def one_hot_cases(rng):
    cases = [
        Case((np.array([3, 0, 4, 1]), 5), label="4 ids, V=5"),
        Case((np.array([[2, 2, 0], [1, 4, 3]]), 6), label="a (2, 3) batch of ids, V=6"),
        Case((np.array([0]), 1), label="V=1"),
    ]
    cases.append(Case((rng.integers(0, 7, size=(3, 4, 2)), 7), label="random (3, 4, 2) ids, V=7"))
    return cases


register(Exercise(
    name="one_hot", lab="01", number="1.3",
    reference=data.one_hot, cases=one_hot_cases, outputs=("out",), rtol=0, atol=0,
    hints={
        "out": "out[..., k] is 1.0 exactly where ids == k, else 0.0; one 1 per position.",
        "shape": "The output has the shape of ids plus one last axis of length V: "
                 "ids.shape + (V,), for ids of any shape.",
        "error": "Work for ids of any shape: np.zeros(ids.shape + (V,)) then set the ones, or "
                 "compare ids[..., None] with np.arange(V).",
    },
    bugs=(
        KnownBug("1-D ids only", "ids can have any shape, e.g. a batch (N, T): build "
                 "np.zeros(ids.shape + (V,)) or compare ids[..., None] == np.arange(V).",
                 m.one_hot_1d_only),
        KnownBug("integer output", "Return floats (np.float64): the one-hot vectors are "
                 "multiplied by float weights; use .astype(np.float64).", m.one_hot_ints),
        KnownBug("class axis first", "The classes go on the LAST axis: ids.shape + (V,), not "
                 "(V,) + ids.shape.", m.one_hot_transposed),
    ),
))


def pad_cases(rng):
    cases = [
        Case(([np.array([3, 4, 2]), np.array([3, 2]), np.array([4, 4, 4, 2])], 0),
             label="3 sequences, pad_id 0"),
        Case(([np.array([5])], 0), label="a single sequence"),
        Case(([np.array([1, 2]), np.array([3, 4, 5])], 9), label="pad_id 9"),
    ]
    seqs = [rng.integers(1, 8, size=int(rng.integers(1, 7))) for _ in range(5)]
    cases.append(Case((seqs, 0), label="5 random sequences"))
    return cases


register(Exercise(
    name="pad_batch", lab="01", number="1.4",
    reference=data.pad_batch, cases=pad_cases, outputs=("ids", "mask"),
    hints={
        "ids": "Fill an (N, T) int64 array with pad_id first (T = the longest length), then copy "
               "each sequence to the start of its row.",
        "mask": "mask is a bool array, True on real tokens and False on padding.",
        "shape": "ids and mask are both (N, T) with T the length of the longest sequence.",
    },
    bugs=(
        KnownBug("padded on the left", "Copy each sequence to the START of its row "
                 "(ids[i, :len(s)] = s); the padding goes at the end.", m.pad_left),
        KnownBug("mask inverted", "mask is True on the real tokens and False on the padding.",
                 m.pad_mask_inverted),
        KnownBug("padded with 0", "Fill with the given pad_id (np.full((N, T), pad_id)), which "
                 "need not be 0.", m.pad_with_zeros),
    ),
))


def embedding_cases(rng):
    ids = np.array([[2, 0, 2], [1, 2, 4]])                       # id 2 three times, 3 never
    dout = np.linspace(-0.9, 0.8, 2 * 3 * 3).reshape(2, 3, 3)
    cases = [Case((dout, ids, 5), label="fixed (2, 3) ids with a repeated id, E=3, V=5"),
             Case((np.linspace(0.1, 0.4, 4).reshape(2, 2), np.array([1, 1]), 3),
                  label="the same id twice, (2,) ids, E=2, V=3")]
    r_ids = rng.integers(0, 6, size=(3, 4))
    cases.append(Case((rng.standard_normal((3, 4, 2)), r_ids, 6), label="random (3, 4) ids, E=2, V=6"))
    return cases


register(Exercise(
    name="embedding_backward", lab="01", number="1.5",
    reference=embedding_backward, cases=embedding_cases, outputs=("dW",), rtol=1e-12, atol=1e-14,
    hints={
        "dW": "Row v of dW adds up dout at every position where ids == v: "
              "np.add.at(dW, ids.reshape(-1), dout.reshape(-1, E)), or one_hot(ids, V) reshaped "
              "to (-1, V), transposed, times dout reshaped to (-1, E).",
        "shape": "dW has the shape of W: (V, E), one row per vocabulary entry.",
        "error": "Flatten first: ids.reshape(-1) (positions) and dout.reshape(-1, E).",
    },
    bugs=(
        KnownBug("buffered fancy-index add", "dW[ids] += dout adds each repeated id only ONCE "
                 "(NumPy buffers the writes); np.add.at(dW, ids, dout) adds once per "
                 "occurrence.", m.embedding_fancy_index_add),
        KnownBug("mean over occurrences", "The gradient of a row used k times is the SUM of the "
                 "k upstream gradients (each use adds to the loss), not their mean.",
                 m.embedding_mean),
        KnownBug("(E, V) instead of (V, E)", "dW has the shape of W, (V, E): one_hot.T @ dout, "
                 "not dout.T @ one_hot.", m.embedding_transposed),
    ),
))
