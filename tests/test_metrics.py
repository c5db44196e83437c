"""Metrics for aⁿbⁿ: the trivial rule, whole-string accuracy and the entropy floor."""

from collections import Counter, defaultdict

import numpy as np
import pytest

from utils.data import Vocab, anbn_sequence, series_anbn_split
from utils.metrics import (anbn_entropy_floor, anbn_eval_set, predictable_accuracy,
                           strings_right, trivial_rule_accuracy, trivial_rule_predict,
                           whole_string_accuracy)

VOCAB = Vocab(["a", "b"])


def brute_force_floor(ns):
    # Count, for every prefix of every string, which token comes next; the best model predicts
    # each with its frequency, so the floor is the count-weighted conditional entropy.
    nexts = defaultdict(Counter)
    targets = 0
    for n in ns:
        seq = anbn_sequence(n)
        for t in range(1, len(seq)):
            nexts[tuple(seq[:t])][seq[t]] += 1
            targets += 1
    total = 0.0
    for counter in nexts.values():
        c = np.array(list(counter.values()), float)
        total -= (c * np.log(c / c.sum())).sum()
    return total / targets


@pytest.mark.parametrize("ns", [[1, 2, 3, 4, 5, 6, 9, 10, 12], [3], [2, 2, 5, 7, 7, 7, 1],
                                [s.count("a") for s in series_anbn_split().train]])
def test_entropy_floor_matches_a_brute_force_count(ns):
    assert anbn_entropy_floor(ns) == pytest.approx(brute_force_floor(ns), rel=1e-12)


def test_entropy_floor_of_the_old_lab_splits():
    # The floors quoted in the issue for the three earlier splits of labs 02, 03 and 04.
    assert round(anbn_entropy_floor([1, 2, 3, 4, 5, 6, 9, 10, 12]), 2) == 0.19
    assert round(anbn_entropy_floor([1, 4, 5, 6, 7, 9, 10, 11, 12]), 2) == 0.15
    assert round(anbn_entropy_floor([1, 2, 3, 4, 5, 6, 8, 9, 12]), 2) == 0.20
    with pytest.raises(ValueError, match="need n >= 1"):
        anbn_entropy_floor([0, 3])


def test_trivial_rule_scores_n_minus_1_over_n_and_no_whole_string():
    tok, whole = trivial_rule_accuracy(VOCAB, range(13, 25))
    assert tok == pytest.approx(sum(n - 1 for n in range(13, 25)) / sum(range(13, 25)))
    assert round(100 * tok, 1) == 94.6 and whole == 0.0
    ev = anbn_eval_set(VOCAB, [3])
    assert VOCAB.decode(trivial_rule_predict(VOCAB, ev["x"])[0]) == ["a", "a", "a", "b", "b", "b"]


def test_whole_string_and_token_accuracy():
    ev = anbn_eval_set(VOCAB, [2, 3])
    perfect = ev["y"].copy()
    assert whole_string_accuracy(perfect, ev["y"], ev["mask"]) == 1.0
    one_wrong = perfect.copy()
    one_wrong[1, 5] = VOCAB.stoi["b"]                    # the EOS of n = 3
    assert whole_string_accuracy(one_wrong, ev["y"], ev["mask"]) == 0.5
    assert predictable_accuracy(one_wrong, ev["y"], ev["mask"]) == pytest.approx(4 / 5)
    # Unpredictable positions (the a's, the first b) never count.
    noisy = perfect.copy()
    noisy[:, 0] = VOCAB.eos_id
    assert whole_string_accuracy(noisy, ev["y"], ev["mask"]) == 1.0
    # A leading axis (one row per model) is kept.
    stacked = np.stack([perfect, one_wrong])
    np.testing.assert_allclose(whole_string_accuracy(stacked, ev["y"], ev["mask"]), [1.0, 0.5])
    assert strings_right(stacked, ev["y"], ev["mask"]).tolist() == [[True, True], [True, False]]
    with pytest.raises(ValueError, match="must end in the targets' shape"):
        whole_string_accuracy(perfect[:, :3], ev["y"], ev["mask"])
