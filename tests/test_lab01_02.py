"""Lab-specific tests for labs 01 and 02: the helpers and exercise registrations in
utils/exercises/lab01.py and lab02.py.

The exercise machinery itself (check, verdicts) is tested elsewhere; here we test what the
labs add: the best-accuracy computation for aⁿbⁿ, the references of lab 01 against utils,
and that the registered checks pass the references and catch the common mistakes.
"""

import itertools

import numpy as np
import pytest

from utils import data, layers
from utils.checks import REGISTRY, evaluate, make_cases, run_cases
from utils.exercises import lab01, lab02  # noqa: F401  (registers the exercises)


# ----------------------------------------------------------------------------- lab 01


def _brute_force_best_accuracy(n_values, probs):
    """Best expected accuracy by enumerating every guessing rule (a/b after k a's)."""
    n_values = list(n_values)
    K = max(n_values)
    best = 0.0
    for rule in itertools.product("ab", repeat=K):
        correct = total = 0.0
        for n, p in zip(n_values, probs):
            seq = data.anbn_sequence(n)
            preds = [rule[k - 1] for k in range(1, n + 1)] + ["b"] * (n - 1) + [data.EOS]
            correct += p * sum(a == b for a, b in zip(preds, seq[1:]))
            total += p * (len(seq) - 1)
        best = max(best, correct / total)
    return best


@pytest.mark.parametrize("n_values, probs", [
    ([1, 2, 3, 4, 5, 6, 9, 10, 12], None),
    ([1, 2, 3], [0.2, 0.5, 0.3]),        # not uniform: the best guess after 2 a's is "b"
    ([2, 5, 6], [0.6, 0.1, 0.3]),
    ([4], None),
])
def test_best_accuracy_matches_brute_force(n_values, probs):
    p = probs if probs is not None else [1 / len(n_values)] * len(n_values)
    got = lab01.anbn_best_accuracy(n_values, probs)
    assert got["overall"] == pytest.approx(_brute_force_best_accuracy(n_values, p), abs=1e-12)
    assert got["predictable"] == 1.0


def test_best_accuracy_values():
    # n uniform on 1..3: E[n] = 2; after 1 a: P(n=1)=1/3 < 2/3 -> a (right 2/3 of the time),
    # after 2 a's: P(n=2)=1/3 = P(n=3)=1/3 (tie, right 1/3), after 3 a's: b (right 1/3).
    # Correct unpredictable per sequence: 2/3 + 1/3 + 1/3 = 4/3, out of E[n] = 2.
    got = lab01.anbn_best_accuracy([1, 2, 3])
    assert got["unpredictable"] == pytest.approx(2 / 3)
    assert got["overall"] == pytest.approx((2 + 4 / 3) / 4)
    assert got["guess"][3] == "b" and got["guess"][1] == "a"


@pytest.mark.parametrize("bad", [[], [0, 1], [2, 2]])
def test_best_accuracy_rejects_bad_n(bad):
    with pytest.raises(ValueError, match="n_values"):
        lab01.anbn_best_accuracy(bad)


def test_best_accuracy_rejects_bad_probs():
    with pytest.raises(ValueError, match="probs"):
        lab01.anbn_best_accuracy([1, 2], [0.5, 0.6])


def test_lab01_references_agree_with_vocab():
    corpus = [["the", "cat", "EOS"], ["a", "the", "dog"]]
    stoi = lab01.build_vocab(corpus)
    vocab = data.Vocab([t for s in corpus for t in s])
    assert stoi == vocab.stoi
    tokens = ["the", "zebra", "dog", "EOS"]
    np.testing.assert_array_equal(lab01.encode(tokens, stoi), vocab.encode(tokens))
    assert lab01.encode(tokens, stoi).dtype == np.int64


def test_encode_needs_unk():
    with pytest.raises(ValueError, match="UNK"):
        lab01.encode(["a"], {"a": 0})


# ----------------------------------------------------------------------------- checks


LAB_EXERCISES = ["build_vocab", "encode", "one_hot", "pad_batch", "rnn_step_forward",
                 "rnn_forward", "softmax_cross_entropy", "rnn_step_backward", "rnn_backward"]


def _outcome(name, fn):
    ex = REGISTRY[name]
    cases = make_cases(ex)
    refs = {u: REGISTRY[u].reference for u in ex.uses}
    want = run_cases(ex, ex.reference, cases, refs)
    got = run_cases(ex, fn, cases, refs)
    return evaluate(ex, cases, got, want)


@pytest.mark.parametrize("name", LAB_EXERCISES)
def test_reference_passes_its_own_check(name):
    assert REGISTRY[name].lab in ("01", "02")
    assert _outcome(name, REGISTRY[name].reference).passed


def _vocab_new_id_for_repeats(seqs):
    # bug: a token seen again gets a new id
    stoi = {data.PAD: 0, data.UNK: 1, data.EOS: 2}
    for s in seqs:
        for t in s:
            stoi[t] = len(stoi)
    return stoi


def _encode_keyerror(tokens, stoi):
    return np.array([stoi[t] for t in tokens], dtype=np.int64)


def _one_hot_1d_only(ids, V):
    out = np.zeros((len(ids), V))
    out[np.arange(len(ids)), ids] = 1.0
    return out


def _pad_float(seqs, pad_id):
    ids, mask = data.pad_batch(seqs, pad_id)
    return ids.astype(float), mask


def _step_no_bias(x, h_prev, Wx, Wh, b):
    h = np.tanh(x @ Wx + h_prev @ Wh)
    return h, (x, h_prev, Wx, Wh, h)


def _forward_restarts(x, h0, Wx, Wh, b):
    # bug: every step starts from h0 instead of the previous state
    N, T, _ = x.shape
    h0 = np.zeros((N, Wh.shape[0])) if h0 is None else h0
    h = np.stack([np.tanh(x[:, t] @ Wx + h0 @ Wh + b) for t in range(T)], axis=1)
    return h, (x, h0, Wx, Wh, h)


def _ce_sum_gradient(logits, targets, mask=None):
    # bug: mean loss, gradient of the sum (loss scale vs gradient scale)
    loss, dlogits = layers.softmax_cross_entropy(logits, targets, mask)
    count = targets.size if mask is None else mask.sum()
    return loss, dlogits * count


def _ce_unstable(logits, targets, mask=None):
    mask = np.ones(targets.shape, bool) if mask is None else mask
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    picked = np.take_along_axis(p, targets[..., None], -1)[..., 0]
    count = mask.sum()
    d = p.copy()
    np.put_along_axis(d, targets[..., None], picked[..., None] - 1, -1)
    return float(-(np.log(picked) * mask).sum() / count), d * mask[..., None] / count


def _step_back_wh(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h * h)
    return da @ Wx.T, da @ Wh, x.T @ da, h_prev.T @ da, da.sum(0)


def _back_no_carry(dh, cache):
    # bug: the gradient from step t+1 is not added
    x, h0, Wx, Wh, h = cache
    T = h.shape[1]
    dx, dWx, dWh, db = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh), 0
    dh_prev = None
    for t in reversed(range(T)):
        hp = h[:, t - 1] if t else h0
        dx[:, t], dh_prev, a, b_, c = layers.rnn_step_backward(dh[:, t], (x[:, t], hp, Wx, Wh, h[:, t]))
        dWx, dWh, db = dWx + a, dWh + b_, db + c
    return dx, dh_prev, dWx, dWh, db


def _back_overwrite(dh, cache):
    # bug: dWh = ... instead of dWh += ..., so only step 0 counts
    x, h0, Wx, Wh, h = cache
    dx, dWx, db = np.zeros_like(x), np.zeros_like(Wx), 0
    dh_next = np.zeros_like(h0)
    for t in reversed(range(h.shape[1])):
        hp = h[:, t - 1] if t else h0
        dx[:, t], dh_next, a, dWh, c = layers.rnn_step_backward(dh[:, t] + dh_next,
                                                                (x[:, t], hp, Wx, Wh, h[:, t]))
        dWx, db = dWx + a, db + c
    return dx, dh_next, dWx, dWh, db


@pytest.mark.parametrize("name, buggy, hint_word", [
    ("build_vocab", _vocab_new_id_for_repeats, "keeps its id"),
    ("encode", _encode_keyerror, "stoi.get"),
    ("one_hot", _one_hot_1d_only, "any shape"),
    ("pad_batch", _pad_float, ""),
    ("rnn_step_forward", _step_no_bias, "bias is missing"),
    ("rnn_forward", _forward_restarts, "Carry h"),
    ("softmax_cross_entropy", _ce_sum_gradient, "same scale"),
    ("softmax_cross_entropy", _ce_unstable, ""),
    ("rnn_step_backward", _step_back_wh, "Wh transposed"),
    ("rnn_backward", _back_no_carry, "step t+1"),
    ("rnn_backward", _back_overwrite, "Accumulate dWh"),
])
def test_check_catches_common_mistakes(name, buggy, hint_word):
    outcome = _outcome(name, buggy)
    assert outcome.status == "failed", f"{name}: the check let a known bug pass"
    assert hint_word in outcome.hint
