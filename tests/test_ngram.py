"""Kneser-Ney character n-grams: normalised, equal to a direct implementation, fitted on train only."""

import math
from collections import Counter

import numpy as np
import pytest

from utils import ngram
from utils.corpus import load_corpus
from utils.ngram import DISCOUNT_GRID, KneserNey, NgramCounts, choose_discounts, fit_kneser_ney


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def direct_kneser_ney(train, V, n, D):
    """p(w | h) by the textbook formulas, with tuples and Counters (slow, for tiny texts)."""
    raw = {k: Counter(tuple(train[s : s + k]) for s in range(len(train) - k + 1)) for k in range(1, n + 1)}
    # Continuation count of a k-gram g: how many distinct characters x make x g occur.
    cont = {k: Counter(g[1:] for g in raw[k + 1]) for k in range(1, n)}

    def p(w, h):
        prob = 1.0 / V
        for k in range(1, min(n, len(h) + 1) + 1):
            ctx = tuple(h[len(h) - (k - 1):]) if k > 1 else ()
            table = raw[k] if k == n else cont[k]
            under = [c for g, c in table.items() if g[:-1] == ctx]
            if not under:                      # unseen context: keep the lower order
                continue
            c = table.get(ctx + (w,), 0)
            prob = (max(c - D[k - 1], 0) + D[k - 1] * len(under) * prob) / sum(under)
        return prob
    return p


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_matches_the_direct_formulas_on_a_tiny_text(corpus, n):
    V = len(corpus.vocab)
    train, text = corpus.train_ids[:3000], corpus.train_ids[3000:3400]
    D = [0.45, 0.6, 0.7, 0.85][:n]
    model = KneserNey(NgramCounts(train, V, n), n, D)
    p = direct_kneser_ney(train.tolist(), V, n, D)
    want = [math.log(p(text[t], tuple(text[max(0, t - n + 1) : t]))) for t in range(1, len(text))]
    np.testing.assert_allclose(model.log_probs(text), want, rtol=1e-12)
    # and the full distribution after one context, including characters never seen there
    context = text[:7]
    np.testing.assert_allclose(model.probs(context), [p(w, tuple(context[len(context) - n + 1:]) if n > 1 else ())
                                                      for w in range(V)], rtol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 6])
def test_probabilities_sum_to_one_over_the_vocabulary(corpus, n):
    V = len(corpus.vocab)
    model = KneserNey(NgramCounts(corpus.train_ids[:200_000], V, n), n, np.linspace(0.3, 0.9, n))
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(corpus.val_ids) - 10, size=60)
    contexts = [corpus.val_ids[s : s + rng.integers(0, 10)] for s in starts]      # seen text
    contexts += [rng.integers(0, V, size=8) for _ in range(20)]                    # mostly unseen
    for context in contexts:
        p = model.probs(context)
        assert p.shape == (V,) and (p > 0).all()
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_discounts_are_chosen_on_the_held_out_end_of_train(corpus):
    V, train = len(corpus.vocab), corpus.train_ids[:300_000]
    models = fit_kneser_ney(train, V, orders=[1, 3])
    cut = len(train) - 30_000
    fit_counts, heldout = NgramCounts(train[:cut], V, 3), train[cut:]
    for n, model in models.items():
        np.testing.assert_array_equal(model.discounts, choose_discounts(fit_counts, heldout, n))
        # The returned model counts all of train (not only the part the discounts were fitted on).
        assert model.counts.raw[1].counts.sum() == len(train)
        # Each discount is the best grid value on the held-out text with the others fixed.
        def heldout_nats(D):
            return KneserNey(fit_counts, n, D).nats(heldout)
        best = heldout_nats(model.discounts)
        for k in range(n):
            for d in DISCOUNT_GRID:
                other = model.discounts.copy()
                other[k] = d
                assert heldout_nats(other) >= best - 1e-12


def test_the_shakespeare_figures_the_lab_prints(corpus):
    V = len(corpus.vocab)
    models = fit_kneser_ney(corpus.train_ids, V, orders=range(1, 8))
    nats = {n: m.nats(corpus.val_ids) for n, m in models.items()}
    assert all(nats[n] > nats[n + 1] for n in range(1, 7))         # more context helps up to 7
    # The unigram is the add-one unigram within 0.001 nats; the 5-gram far below the bigram.
    assert abs(nats[1] - 3.347) < 1e-3 and round(nats[5], 3) == 1.564 and round(nats[7], 3) == 1.520


def test_bad_input():
    counts = NgramCounts(np.array([0, 1, 2, 1, 0]), 3, 2)
    with pytest.raises(ValueError, match=r"discounts must be 2 numbers in \(0, 1\)"):
        KneserNey(counts, 2, [0.5, 1.0])
    with pytest.raises(ValueError, match="n=3 needs counts of order >= 3, got max_order=2"):
        KneserNey(counts, 3, [0.5] * 3)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, V=3\)"):
        KneserNey(counts, 2, [0.5, 0.5]).log_probs(np.array([0, 3]))
    with pytest.raises(TypeError, match="train_ids must be a 1-D integer array"):
        fit_kneser_ney(np.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="too large for V=65"):
        NgramCounts(np.arange(65), 65, 11)
    assert ngram.ngram_keys(np.array([1, 2, 0]), 2, 3).tolist() == [5, 6]
