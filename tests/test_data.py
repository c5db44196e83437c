"""Vocabulary, one-hot, aⁿbⁿ splits, padded batches and the sine series."""

import numpy as np
import pytest

from utils.data import (EOS, PAD, UNK, Vocab, anbn_sequence, anbn_splits, lm_batch, noisy_sine,
                        one_hot, pad_batch, predictable_mask, series_anbn_split, sine_windows)


def test_vocab_specials_come_first_and_unknown_maps_to_unk_without_growing():
    vocab = Vocab(["a", "b"])
    assert vocab.itos[:3] == [PAD, UNK, EOS] and vocab.pad_id == 0
    ids = vocab.encode(["a", "b", "zebra", EOS])
    assert ids.dtype == np.int64
    assert ids.tolist() == [vocab.stoi["a"], vocab.stoi["b"], vocab.unk_id, vocab.eos_id]
    assert len(vocab) == 5 and "zebra" not in vocab
    assert vocab.decode(ids) == ["a", "b", UNK, EOS]


def test_vocab_of_characters_and_duplicates():
    vocab = Vocab("hello")
    assert len(vocab) == 3 + 4                      # h, e, l, o once each
    assert vocab.decode(vocab.encode("hole")) == list("hole")


def test_vocab_bad_input():
    with pytest.raises(TypeError, match="tokens must be strings"):
        Vocab(["a", 3])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\), got 7"):
        Vocab(["a", "b"]).decode(np.array([1, 7]))
    with pytest.raises(TypeError, match="1-D integer array"):
        Vocab(["a"]).decode(np.array([0.5]))


def test_one_hot_any_shape_and_lookup():
    ids = np.array([[0, 2], [1, 1]])
    oh = one_hot(ids, 3)
    assert oh.shape == (2, 2, 3)
    np.testing.assert_array_equal(oh.argmax(-1), ids)
    np.testing.assert_array_equal(oh.sum(-1), 1)
    W = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(oh @ W, W[ids])   # a one-hot product is a table lookup
    assert one_hot(np.array(2), 4).tolist() == [0, 0, 1, 0]


@pytest.mark.parametrize("ids, V, exc, msg", [
    (np.array([0, 3]), 3, ValueError, r"\[0, 3\), got 3"),
    (np.array([-1]), 3, ValueError, "got -1"),
    (np.array([0.0]), 3, TypeError, "integers"),
    (np.array([0]), -2, ValueError, "V must be >= 1, got -2"),
    (np.array([0]), 2.5, TypeError, "V must be an integer"),
])
def test_one_hot_bad_input(ids, V, exc, msg):
    with pytest.raises(exc, match=msg):
        one_hot(ids, V)


def test_anbn_sequence():
    assert anbn_sequence(2) == ["a", "a", "b", "b", EOS]
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        anbn_sequence(0)


def test_anbn_splits_measure_real_generalisation():
    sp = anbn_splits(np.random.default_rng(0), num_train=200, max_train_n=12, num_test_n=3,
                     max_extrapolation_n=24)
    train_strings = {tuple(s) for s in sp.train}
    # No test or extrapolation string ever occurs in training.
    assert not train_strings & {tuple(s) for s in sp.test}
    assert not train_strings & {tuple(s) for s in sp.extrapolation}
    assert all(1 < n < 12 for n in sp.test_n) and len(sp.test_n) == 3
    assert sp.extrapolation_n == list(range(13, 25))
    assert max(s.count("a") for s in sp.train) == 12
    # Seeded: the same rng seed gives the same split.
    again = anbn_splits(np.random.default_rng(0), num_train=200)
    assert again.test_n == sp.test_n and again.train == sp.train


def test_series_split_is_fixed_spread_and_disjoint():
    sp = series_anbn_split()
    assert sp.test_n == [4, 7, 10] and sp.validation_n == [5, 11]
    assert set(sp.train_n) == set(range(1, 13)) - {4, 5, 7, 10, 11}
    assert {s.count("a") for s in sp.train} == set(sp.train_n) and len(sp.train) == 300
    held = {tuple(s) for s in sp.test + sp.validation + sp.extrapolation}
    assert not held & {tuple(s) for s in sp.train}
    assert sp.extrapolation_n == list(range(13, 25))
    # Held-out n spread over the training range: one in each third of 1..12.
    assert [(n - 1) // 4 for n in sp.test_n] == [0, 1, 2]
    assert series_anbn_split().train == sp.train


def test_anbn_splits_bad_sizes():
    with pytest.raises(ValueError, match="num_train must be >= 1, got -5"):
        anbn_splits(np.random.default_rng(0), num_train=-5)
    with pytest.raises(ValueError, match="num_test_n must be <= max_train_n - 2"):
        anbn_splits(np.random.default_rng(0), max_train_n=4, num_test_n=3)


def test_predictable_mask_marks_every_b_after_the_first_and_eos():
    seqs = [anbn_sequence(3), anbn_sequence(1)]
    vocab = Vocab(["a", "b"])
    batch = lm_batch(vocab, seqs)
    mask = predictable_mask(seqs)
    assert mask.shape == batch["y"].shape == (2, 6)
    # n=3: inputs a a a b b b, targets a a b b b EOS; predictable: targets 3..5 (b, b, EOS).
    assert mask[0].tolist() == [False, False, False, True, True, True]
    assert vocab.decode(batch["y"][0][mask[0]]) == ["b", "b", EOS]
    # n=1: targets b EOS; only EOS is predictable.
    assert mask[1].tolist() == [False, True, False, False, False, False]
    assert not (mask & ~batch["mask"]).any()        # never on padding


def test_pad_batch_and_mask():
    ids, mask = pad_batch([np.array([4, 5, 6]), np.array([7])], pad_id=0)
    assert ids.tolist() == [[4, 5, 6], [7, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    assert ids.dtype == np.int64 and mask.dtype == bool


@pytest.mark.parametrize("seqs, exc, msg", [
    ([], ValueError, "seqs is empty"),
    ([np.array([1]), np.array([], dtype=np.int64)], ValueError, r"seqs\[1\] is empty"),
    ([np.array([1.5])], TypeError, r"seqs\[0\] must be a 1-D integer array"),
    ([np.array([[1, 2]])], TypeError, "shape \\(1, 2\\)"),
])
def test_pad_batch_bad_input(seqs, exc, msg):
    with pytest.raises(exc, match=msg):
        pad_batch(seqs, pad_id=0)


def test_noisy_sine_grid_and_noise_level():
    x, y = noisy_sine(np.random.default_rng(0))
    assert x.shape == y.shape == (201,)
    assert x[0] == -10 and x[-1] == 10 and np.allclose(np.diff(x), 0.1)
    noise = y - np.sin(x)
    assert 0.08 < noise.std() < 0.12             # 0.1 · N(0, 1)
    with pytest.raises(ValueError, match="step > 0"):
        noisy_sine(np.random.default_rng(0), step=-0.1)


def test_sine_windows_many_to_one():
    y = np.arange(10.0)
    X, Y = sine_windows(y, 3)
    assert X.shape == (7, 3, 1) and Y.shape == (7, 1)
    assert X[0, :, 0].tolist() == [0, 1, 2] and Y[0, 0] == 3
    assert X[-1, :, 0].tolist() == [6, 7, 8] and Y[-1, 0] == 9
    with pytest.raises(ValueError, match="window must be shorter"):
        sine_windows(y, 10)
