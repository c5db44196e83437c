"""The character corpus: sha256 verification, vocabulary, contiguous split, (N, T) batches."""

import shutil

import numpy as np
import pytest

from utils.corpus import (CORPUS_PATH, CORPUS_SHA256, CharVocab, load_corpus, load_text,
                          sample_batch, scoring_rows, sequential_rows, sha256_of,
                          split_ids)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def test_shipped_corpus_has_the_published_sha256():
    assert sha256_of(CORPUS_PATH) == CORPUS_SHA256


def test_a_modified_copy_fails_verification_and_an_exact_copy_passes(tmp_path):
    copy = tmp_path / "tinyshakespeare.txt"
    shutil.copyfile(CORPUS_PATH, copy)
    assert load_text(copy)[:14] == "First Citizen:"
    data = bytearray(copy.read_bytes())
    data[1000] = ord("#") if data[1000] != ord("#") else ord("%")   # one changed byte
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256 of tinyshakespeare.txt is [0-9a-f]{64}, expected 86c4e6"):
        load_text(copy)
    with pytest.raises(ValueError, match="sha256"):
        load_corpus(copy)
    assert len(load_text(copy, sha256=None)) == len(data)   # other texts can skip the check


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus not found"):
        load_text(tmp_path / "nope.txt")


def test_split_sizes_are_contiguous_90_10(corpus):
    assert len(corpus.text) == 1_115_394
    assert len(corpus.vocab) == 65
    assert len(corpus.val_ids) == round(0.1 * 1_115_394) == 111_539
    assert len(corpus.train_ids) + len(corpus.val_ids) == len(corpus.text)
    # Contiguous: train is the head of the text and validation its tail.
    assert corpus.vocab.decode(corpus.train_ids[:14]) == "First Citizen:"
    assert corpus.vocab.decode(corpus.val_ids) == corpus.text[-111_539:]
    assert corpus.train_ids.dtype == corpus.val_ids.dtype == np.int64
    assert "111,539" in repr(corpus) and len(repr(corpus)) < 200


def test_vocab_round_trip_and_errors(corpus):
    vocab = corpus.vocab
    text = "ROMEO:\nO, she doth teach the torches to burn bright!"
    ids = vocab.encode(text)
    assert ids.shape == (len(text),) and ids.dtype == np.int64
    assert vocab.decode(ids) == text
    assert vocab.chars == sorted(vocab.chars) and vocab.chars[0] == "\n"
    assert CharVocab.from_chars(vocab.chars).chars == vocab.chars
    with pytest.raises(ValueError, match=r"character '~' is not in the vocabulary of 65"):
        vocab.encode("a~b")
    with pytest.raises(TypeError, match="text must be a str"):
        vocab.encode(["a"])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 65\), got values in \[0, 65\]"):
        vocab.decode(np.array([0, 65]))
    with pytest.raises(ValueError, match="sorted and distinct"):
        CharVocab.from_chars(["b", "a"])
    with pytest.raises(ValueError, match="non-empty str"):
        CharVocab("")


def test_split_ids_contiguous_and_bad_fractions():
    ids = np.arange(100)
    train, val = split_ids(ids, 0.25)
    assert train.tolist() == list(range(75)) and val.tolist() == list(range(75, 100))
    for bad in (0.0, 1.0, -0.1, "0.1"):
        with pytest.raises(ValueError, match="val_fraction must be a number in"):
            split_ids(ids, bad)
    with pytest.raises(ValueError, match="too short to split"):
        split_ids(np.arange(5), 0.1)
    with pytest.raises(TypeError, match="ids must be a 1-D integer array"):
        split_ids(np.zeros(10), 0.1)


def test_batches_have_shape_N_T_and_targets_shifted_by_one(corpus):
    rng = np.random.default_rng(0)
    x, y = sample_batch(corpus.train_ids, N=5, T=17, rng=rng)
    assert x.shape == y.shape == (5, 17) and x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    # Every row is a real window of the text, and y continues it by one character.
    text = corpus.vocab.decode(corpus.train_ids)
    for row_x, row_y in zip(x, y):
        window = corpus.vocab.decode(row_x) + corpus.vocab.decode(row_y[-1:])
        assert window in text


def test_batches_are_seeded_and_reach_both_ends():
    ids = np.arange(12)
    a = sample_batch(ids, 4, 3, np.random.default_rng(7))
    b = sample_batch(ids, 4, 3, np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    x, y = sample_batch(ids, 2000, 3, np.random.default_rng(1))
    assert x[:, 0].min() == 0 and y[:, -1].max() == 11     # first and last character used
    np.testing.assert_array_equal(y, x + 1)                # ids are 0..11: shift is +1


def test_batch_bad_input_errors():
    ids, rng = np.arange(10), np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"T=10 needs ids of length >= T \+ 1 = 11, got length 10"):
        sample_batch(ids, 2, 10, rng)
    with pytest.raises(ValueError, match="N must be an int >= 1, got 0"):
        sample_batch(ids, 0, 3, rng)
    with pytest.raises(TypeError, match="T must be an int >= 1, got float 2.5"):
        sample_batch(ids, 2, 2.5, rng)
    with pytest.raises(TypeError, match="rng must be a np.random.Generator"):
        sample_batch(ids, 2, 3, 0)
    with pytest.raises(TypeError, match=r"ids must be a 1-D integer array \(T,\), got float64"):
        sample_batch(np.zeros((3, 4)), 2, 3, rng)


@pytest.mark.parametrize("L, rows, warmup", [(101, 4, 7), (50, 3, 0), (10, 4, 20), (1000, 32, 16), (2, 1, 5)])
def test_scoring_rows_score_every_character_once_after_a_warm_up(L, rows, warmup):
    ids = np.arange(L)                            # each id is its position: the layout is visible
    x, y, mask = scoring_rows(ids, rows, warmup)
    assert x.shape == y.shape == mask.shape and len(x) <= rows + 1
    np.testing.assert_array_equal(y[mask], np.arange(1, L))          # each prediction once, in order
    np.testing.assert_array_equal((y == x + 1)[mask], True)          # y is the next character
    for r in range(len(x)):                       # reading a row: contiguous text from its start
        n = int(np.flatnonzero(mask[r])[-1]) + 1
        np.testing.assert_array_equal(np.diff(x[r, :n]), 1)
        first = int(np.argmax(mask[r]))
        # every prediction sees at least `warmup` characters, or the whole text before it
        assert first >= min(warmup, L - 1) or x[r, 0] == 0


def test_scoring_rows_bad_input():
    with pytest.raises(ValueError, match="rows must be an int >= 1, got 0"):
        scoring_rows(np.arange(5), 0, 2)
    with pytest.raises(ValueError, match="ids must hold at least 2 characters, got 1"):
        scoring_rows(np.arange(1), 1, 2)


def test_sequential_rows_cover_the_text_once():
    ids = np.arange(23)
    x, y = sequential_rows(ids, 4)                # L = (23 - 1) // 4 = 5
    assert x.shape == y.shape == (4, 5)
    np.testing.assert_array_equal(x.ravel(), np.arange(20))
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(ValueError, match="N=30 rows need ids of length >= N \\+ 1 = 31"):
        sequential_rows(ids, 30)
