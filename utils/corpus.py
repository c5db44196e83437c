"""The character corpus for the language-model lab (lab 05).

`data/tinyshakespeare.txt` (1,115,394 characters, 65 distinct) is read, its sha256 checked,
encoded with a character vocabulary and split *contiguously*: the first 90% of the text is the
training split, the last 10% the validation split. A contiguous split (rather than shuffled
lines) keeps whole scenes out of training, so validation measures generalisation to unseen text.

Shapes: `N` batch, `T` time (characters per row), `V` vocabulary size.

    corpus = load_corpus()                      # verified, split, encoded
    rng = np.random.default_rng(0)
    x, y = sample_batch(corpus.train_ids, N=32, T=64, rng=rng)   # (N, T) int64 each
    # y[:, t] == x[:, t + 1]: the target is the next character.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_PATH = REPO_ROOT / "data" / "tinyshakespeare.txt"
CORPUS_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
VAL_FRACTION = 0.1


def _check_int(name: str, value, minimum: int) -> int:
    """Return `value` as int, or raise a TypeError/ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def _check_ids(name: str, ids) -> np.ndarray:
    if not isinstance(ids, np.ndarray) or ids.ndim != 1 or ids.dtype.kind not in "iu":
        got = f"{ids.dtype} array of shape {ids.shape}" if isinstance(ids, np.ndarray) else type(ids).__name__
        raise TypeError(f"{name} must be a 1-D integer array (T,), got {got}")
    return ids


def sha256_of(path) -> str:
    """Hex sha256 of the file at `path` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_text(path=None, sha256: str | None = CORPUS_SHA256) -> str:
    """Read the corpus as a str after checking its sha256.

    path: defaults to `data/tinyshakespeare.txt` in the repository.
    sha256: the expected hex digest; None skips the check (for other texts).
    Raises FileNotFoundError if the file is missing, ValueError if the digest differs.
    """
    path = CORPUS_PATH if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"corpus not found at {path}; the repository ships it as data/tinyshakespeare.txt"
        )
    if sha256 is not None:
        got = sha256_of(path)
        if got != sha256:
            raise ValueError(
                f"sha256 of {path.name} is {got}, expected {sha256}: the file is modified or "
                "truncated; restore data/tinyshakespeare.txt from the repository"
            )
    return path.read_text(encoding="utf-8")


class CharVocab:
    """A fixed character vocabulary: the sorted distinct characters of a text.

    No special tokens: every character of the corpus is in the vocabulary, and encoding a
    character that is not raises a ValueError (better than silently mapping it to something).
    """

    def __init__(self, text: str):
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty str, got {type(text).__name__} of length "
                             f"{len(text) if hasattr(text, '__len__') else '?'}")
        self.chars: list[str] = sorted(set(text))
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_chars(cls, chars) -> "CharVocab":
        """Rebuild a vocabulary from its list of characters (for example from a checkpoint)."""
        chars = list(chars)
        if sorted(set(chars)) != chars:
            raise ValueError("chars must be sorted and distinct, as CharVocab.chars is")
        return cls("".join(chars))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """str of length T -> (T,) int64 ids."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        try:
            return np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as err:
            raise ValueError(
                f"character {err.args[0]!r} is not in the vocabulary of {len(self)} characters"
            ) from None

    def decode(self, ids) -> str:
        """(T,) ints -> str of length T."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise TypeError(f"ids must be a 1-D integer array (T,), got {ids.dtype} shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must lie in [0, {len(self)}), got values in "
                             f"[{ids.min()}, {ids.max()}]")
        return "".join(self.chars[i] for i in ids.tolist())


def split_ids(ids: np.ndarray, val_fraction: float = VAL_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous split: the first (1 - val_fraction) of `ids` for training, the rest validation.

    ids: (L,) ints. Returns train (L_train,), val (L_val,) views with L_val = round(L * val_fraction).
    """
    ids = _check_ids("ids", ids)
    if not isinstance(val_fraction, (float, int)) or not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    n_val = int(round(len(ids) * val_fraction))
    if n_val < 2 or len(ids) - n_val < 2:
        raise ValueError(f"ids of length {len(ids)} is too short to split with "
                         f"val_fraction={val_fraction} (each split needs >= 2 characters)")
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


@dataclass
class Corpus:
    """The encoded, split corpus. `train_ids` (L_train,) and `val_ids` (L_val,) are int64."""

    text: str
    vocab: CharVocab
    train_ids: np.ndarray
    val_ids: np.ndarray

    def __repr__(self) -> str:  # short: never print a megabyte of text
        return (f"Corpus({len(self.text):,} characters, V={len(self.vocab)}, "
                f"train={len(self.train_ids):,}, val={len(self.val_ids):,})")


def load_corpus(path=None, val_fraction: float = VAL_FRACTION,
                sha256: str | None = CORPUS_SHA256) -> Corpus:
    """Read, verify, encode and split the corpus (defaults: tinyshakespeare, last 10% validation)."""
    text = load_text(path, sha256=sha256)
    vocab = CharVocab(text)
    train_ids, val_ids = split_ids(vocab.encode(text), val_fraction)
    return Corpus(text=text, vocab=vocab, train_ids=train_ids, val_ids=val_ids)


def sample_batch(ids: np.ndarray, N: int, T: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """N windows of T + 1 characters at random offsets, as inputs and next-character targets.

    ids: (L,) ints, L >= T + 1.  rng: np.random.Generator (seeded by the caller).
    Returns x (N, T) int64 and y (N, T) int64 with y[:, t] == x[:, t + 1] (and y[:, -1] the
    character after the window).
    """
    ids = _check_ids("ids", ids)
    N = _check_int("N", N, 1)
    T = _check_int("T", T, 1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    if len(ids) < T + 1:
        raise ValueError(f"T={T} needs ids of length >= T + 1 = {T + 1}, got length {len(ids)}")
    starts = rng.integers(0, len(ids) - T, size=N)             # (N,), last start = L - T - 1
    window = starts[:, None] + np.arange(T + 1)[None, :]        # (N, T + 1)
    chunk = ids[window].astype(np.int64, copy=False)
    return chunk[:, :-1], chunk[:, 1:]


def sequential_rows(ids: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut `ids` into N contiguous rows for evaluation with a carried hidden state.

    Returns x (N, L) and y (N, L) int64 with L = (len(ids) - 1) // N and y = x shifted by one
    character: row n reads characters n L .. (n + 1) L - 1 and predicts n L + 1 .. (n + 1) L,
    so each of the first N L + 1 characters is read or predicted exactly once.
    """
    ids = _check_ids("ids", ids)
    N = _check_int("N", N, 1)
    L = (len(ids) - 1) // N
    if L < 1:
        raise ValueError(f"N={N} rows need ids of length >= N + 1 = {N + 1}, got {len(ids)}")
    x = ids[: N * L].reshape(N, L).astype(np.int64, copy=False)
    y = ids[1 : N * L + 1].reshape(N, L).astype(np.int64, copy=False)
    return x, y


def scoring_rows(ids: np.ndarray, rows: int, warmup: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay out a text so that a recurrent model scores every character after the first once.

    The predictions t = 1 .. L-1 (of ids[t] from the text before it) are cut into `rows`
    contiguous stretches read side by side with a carried state. Each stretch is read from
    `warmup` characters before its first prediction (those steps are not scored), so every
    prediction sees at least `warmup` characters of text, or all of it near the start: the
    first `warmup` predictions form one more row that starts at the beginning of the text.

    Returns x (R, C), y (R, C) int64 and mask (R, C) bool with y[r, j] the character after
    x[r, j] and mask True where y is scored; y[mask] (read row by row) is ids[1:].
    """
    ids = _check_ids("ids", ids)
    rows = _check_int("rows", rows, 1)
    warmup = _check_int("warmup", warmup, 0)
    L = len(ids)
    if L < 2:
        raise ValueError(f"ids must hold at least 2 characters, got {L}")
    warmup = min(warmup, L - 1)
    head = [(1, warmup + 1)] if warmup else []           # targets [1, warmup], read from the start
    rest = L - 1 - warmup
    width = -(-rest // rows) if rest else 0             # ceil: predictions per row
    stretches = head + [(s, min(s + width, L)) for s in range(warmup + 1, L, width or 1)]
    C = max(warmup + width, warmup)
    x = np.zeros((len(stretches), C), dtype=np.int64)
    y = np.zeros((len(stretches), C), dtype=np.int64)
    mask = np.zeros((len(stretches), C), dtype=bool)
    for r, (s, e) in enumerate(stretches):
        first = max(s - 1 - warmup, 0)                  # the head row starts at the text's start
        n = e - 1 - first                               # inputs ids[first : e - 1]
        x[r, :n] = ids[first : e - 1]
        y[r, :n] = ids[first + 1 : e]
        mask[r, s - 1 - first : n] = True
    return x, y, mask
