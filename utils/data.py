"""Data for the labs: a vocabulary, one-hot encoding, the aⁿbⁿ language, padded batches and
the noisy sine series.

Token sequences are lists of strings; encoded sequences are int64 arrays of ids; batches are
(N, T) id arrays with an (N, T) boolean mask that is True on real tokens and False on padding.
"""

from dataclasses import dataclass

import numpy as np

from utils.validate import Dims, positive_int

PAD, UNK, EOS = "PAD", "UNK", "EOS"


class Vocab:
    """A fixed mapping between tokens and integer ids.

    Special tokens come first, so PAD is always id 0. The vocabulary never grows after it is
    built: encoding a token it has not seen gives the UNK id.

    >>> vocab = Vocab(["a", "b"])
    >>> vocab.encode(["a", "b", "c", EOS])      # array([3, 4, 1, 2]): "c" is unknown
    """

    def __init__(self, tokens, specials=(PAD, UNK, EOS)):
        if isinstance(tokens, str):
            tokens = list(tokens)      # a string is a sequence of characters
        self.itos = []
        for tok in list(specials) + list(tokens):
            if not isinstance(tok, str):
                raise TypeError(f"Vocab: tokens must be strings, got {type(tok).__name__} {tok!r}")
            if tok not in self.itos:
                self.itos.append(tok)
        if UNK not in self.itos:
            raise ValueError(f"Vocab: specials must include {UNK!r} so unknown tokens have an id")
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __repr__(self):
        return f"Vocab({len(self)} tokens: {self.itos})"

    @property
    def pad_id(self):
        return self.stoi[PAD]

    @property
    def unk_id(self):
        return self.stoi[UNK]

    @property
    def eos_id(self):
        return self.stoi[EOS]

    def encode(self, tokens):
        """tokens: a sequence of T strings (or one string of characters) -> (T,) int64 ids."""
        if isinstance(tokens, str):
            tokens = list(tokens)
        unk = self.unk_id
        return np.array([self.stoi.get(tok, unk) for tok in tokens], dtype=np.int64)

    def decode(self, ids):
        """ids: (T,) ints in [0, len(vocab)) -> list of T token strings."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise TypeError(f"Vocab.decode: ids must be a 1-D integer array, got shape "
                            f"{ids.shape} dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"Vocab.decode: ids must lie in [0, {len(self)}), "
                             f"got {ids[(ids < 0) | (ids >= len(self))][0]}")
        return [self.itos[i] for i in ids]


def one_hot(ids, V, dtype=np.float64):
    """One-hot encode integer ids of any shape.

    ids: integer array of any shape S, values in [0, V); V: number of classes.
    Returns a float array of shape S + (V,) with a single 1 on the last axis.
    Multiplying it by a (V, E) matrix picks rows: one_hot(ids, V) @ W == W[ids].
    """
    V = positive_int("one_hot", "V", V)
    ids = np.asarray(ids)
    if ids.size and ids.dtype.kind not in "iu":
        raise TypeError(f"one_hot: ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        bad = ids[(ids < 0) | (ids >= V)].ravel()[0]
        raise ValueError(f"one_hot: ids must lie in [0, V) = [0, {V}), got {bad}")
    out = np.zeros(ids.shape + (V,), dtype=dtype)
    np.put_along_axis(out, ids.astype(np.int64)[..., None], 1, axis=-1)
    return out


# ----------------------------------------------------------------------------- aⁿbⁿ


def anbn_sequence(n):
    """The aⁿbⁿ string for one n: ['a'] * n + ['b'] * n + ['EOS']."""
    n = positive_int("anbn_sequence", "n", n)
    return ["a"] * n + ["b"] * n + [EOS]


@dataclass
class AnBnSplits:
    """Sequences of the aⁿbⁿ language for training and two kinds of test.

    There is only one string per n, so a test set that does not repeat training strings must
    use n values that training never sees:
    - `test`: held-out n values inside the training range (interpolation),
    - `extrapolation`: every n above the longest training n (generalisation to longer inputs).
    """
    train: list
    test: list
    extrapolation: list
    train_n: list
    test_n: list
    extrapolation_n: list


def anbn_splits(rng, num_train=300, max_train_n=12, num_test_n=3, max_extrapolation_n=24):
    """Draw training sequences and build the two test sets.

    rng: np.random.Generator; num_train: number of training sequences, n drawn uniformly from
    the training n values; max_train_n: training n values are 1..max_train_n minus the held-out
    test n values; num_test_n: how many n in 2..max_train_n-1 are held out for `test`
    (drawn by rng); max_extrapolation_n: `extrapolation` holds one sequence for each n in
    max_train_n+1..max_extrapolation_n.
    """
    num_train = positive_int("anbn_splits", "num_train", num_train)
    max_train_n = positive_int("anbn_splits", "max_train_n", max_train_n, minimum=3)
    num_test_n = positive_int("anbn_splits", "num_test_n", num_test_n, minimum=0)
    if num_test_n > max_train_n - 2:
        raise ValueError(f"anbn_splits: num_test_n must be <= max_train_n - 2 = {max_train_n - 2} "
                         f"(n=1 and n=max_train_n stay in training), got {num_test_n}")
    max_extrapolation_n = positive_int("anbn_splits", "max_extrapolation_n", max_extrapolation_n,
                                       minimum=max_train_n)
    test_n = sorted(int(n) for n in rng.choice(np.arange(2, max_train_n), num_test_n,
                                               replace=False))
    train_n = [n for n in range(1, max_train_n + 1) if n not in test_n]
    drawn = rng.choice(train_n, size=num_train)
    extra_n = list(range(max_train_n + 1, max_extrapolation_n + 1))
    return AnBnSplits(
        train=[anbn_sequence(int(n)) for n in drawn],
        test=[anbn_sequence(n) for n in test_n],
        extrapolation=[anbn_sequence(n) for n in extra_n],
        train_n=train_n, test_n=test_n, extrapolation_n=extra_n)


# The one aⁿbⁿ split of the whole series (labs 01 to 04 use it, so their numbers compare).
# Held-out n are spread over the training range 1..12, one in each third of it; n = 2 or 3
# would test little, since a network that has not learned to count still gets them right.
# Two further n are kept aside as a validation set for choosing learning rates, so that the
# test n never take part in a choice.
ANBN_TEST_N = (4, 7, 10)
ANBN_VALIDATION_N = (5, 11)
ANBN_MAX_TRAIN_N = 12
ANBN_MAX_EXTRAPOLATION_N = 24


@dataclass
class SeriesSplit(AnBnSplits):
    """AnBnSplits plus the validation strings (`validation`, `validation_n`)."""
    validation: list = None
    validation_n: list = None


def series_anbn_split(num_train=300, seed=0):
    """The course's aⁿbⁿ split: test n = ANBN_TEST_N, validation n = ANBN_VALIDATION_N,
    training n = the other n in 1..12 (num_train strings, n drawn uniformly by
    np.random.default_rng(seed)), extrapolation n = 13..24, one string each."""
    num_train = positive_int("series_anbn_split", "num_train", num_train)
    held = set(ANBN_TEST_N) | set(ANBN_VALIDATION_N)
    train_n = [n for n in range(1, ANBN_MAX_TRAIN_N + 1) if n not in held]
    drawn = np.random.default_rng(seed).choice(train_n, size=num_train)
    extra_n = list(range(ANBN_MAX_TRAIN_N + 1, ANBN_MAX_EXTRAPOLATION_N + 1))
    return SeriesSplit(
        train=[anbn_sequence(int(n)) for n in drawn],
        test=[anbn_sequence(n) for n in ANBN_TEST_N],
        extrapolation=[anbn_sequence(n) for n in extra_n],
        train_n=train_n, test_n=list(ANBN_TEST_N), extrapolation_n=extra_n,
        validation=[anbn_sequence(n) for n in ANBN_VALIDATION_N],
        validation_n=list(ANBN_VALIDATION_N))


def predictable_mask(seqs):
    """Which next-token targets of aⁿbⁿ sequences are determined by what came before.

    For a sequence a^n b^n EOS, the inputs are its first 2n tokens and the targets its last 2n.
    Whether an `a` is followed by another `a` or the first `b` cannot be known; once the first
    `b` has been seen, every remaining `b` and the final EOS are determined by counting.
    seqs: list of N token lists. Returns an (N, T) bool array aligned with `lm_batch`'s
    targets (T = longest sequence length - 1), True at targets t = n .. 2n-1.
    """
    T = max(len(s) for s in seqs) - 1
    mask = np.zeros((len(seqs), T), bool)
    for row, seq in enumerate(seqs):
        n = seq.count("a")
        mask[row, n:2 * n] = True
    return mask


# ----------------------------------------------------------------------------- batches


def pad_batch(seqs, pad_id):
    """Stack variable-length id sequences into one padded array.

    seqs: list of N 1-D int arrays (lengths T_i >= 1); pad_id: the id used for padding.
    Returns ids (N, T) int64 with T = max T_i, and mask (N, T) bool, True on real tokens.
    """
    if len(seqs) == 0:
        raise ValueError("pad_batch: seqs is empty; need at least one sequence")
    arrays = []
    for i, s in enumerate(seqs):
        a = np.asarray(s)
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise TypeError(f"pad_batch: seqs[{i}] must be a 1-D integer array of ids, got "
                            f"shape {a.shape} dtype {a.dtype}")
        if a.size == 0:
            raise ValueError(f"pad_batch: seqs[{i}] is empty; every sequence needs a token")
        arrays.append(a)
    T = max(len(a) for a in arrays)
    ids = np.full((len(arrays), T), pad_id, dtype=np.int64)
    mask = np.zeros((len(arrays), T), bool)
    for i, a in enumerate(arrays):
        ids[i, :len(a)] = a
        mask[i, :len(a)] = True
    return ids, mask


def lm_batch(vocab, seqs):
    """Next-token prediction batch: inputs are tokens 0..L-2, targets tokens 1..L-1.

    vocab: Vocab; seqs: list of N token lists. Returns a dict with
    x (N, T) int64 input ids, y (N, T) int64 target ids and mask (N, T) bool (False on padding),
    where T = longest sequence length - 1.
    """
    ids, mask = pad_batch([vocab.encode(s) for s in seqs], vocab.pad_id)
    return {"x": ids[:, :-1], "y": ids[:, 1:], "mask": mask[:, 1:]}


# ----------------------------------------------------------------------------- noisy sine


def noisy_sine(rng, start=-10.0, stop=10.0, step=0.1, noise=0.1):
    """The regression series y = sin(x) + noise * ε, ε ~ N(0, 1), on a regular grid.

    Returns x (T,) and y (T,) float64 with x from start to stop inclusive in steps of `step`
    (T = 201 for the defaults). The best possible half mean squared error is noise² / 2.
    """
    if step <= 0 or stop <= start:
        raise ValueError(f"noisy_sine: need step > 0 and stop > start, got start={start}, "
                         f"stop={stop}, step={step}")
    x = np.linspace(start, stop, int(round((stop - start) / step)) + 1)
    return x, np.sin(x) + noise * rng.standard_normal(x.shape)


def sine_windows(y, window):
    """Many-to-one windows: predict y[t + window] from y[t : t + window].

    y: (T,) series; window: inputs per example. Returns X (N, window, 1) and Y (N, 1) with
    N = T - window.
    """
    y = Dims("sine_windows").array("y", y, ("T",))
    window = positive_int("sine_windows", "window", window)
    if window >= len(y):
        raise ValueError(f"sine_windows: window must be shorter than the series "
                         f"(len {len(y)}), got {window}")
    idx = np.arange(len(y) - window)[:, None] + np.arange(window)[None, :]
    return y[idx][..., None], y[window:, None]


# The dates of lab 07 live in utils/dates.py; re-exported here with the other data sets.
from utils.dates import date_splits, encode_pairs, write_date  # noqa: E402,F401
