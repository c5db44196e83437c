"""Human-written dates and their ISO form: the translation task of lab 07.

A seeded generator writes every day from 1970-01-01 to 2029-12-31 in many formats
("tuesday 25 june 2009", "25.06.09", "June 25, 2009", ...); the target is always the ISO date
"2009-06-25". Two-digit years stand for 1970-2069 (70-99 -> 19yy, 00-69 -> 20yy), so every
format is unambiguous. Month and day names are English and written here, not taken from the
locale, so the data are the same on every machine.

Three splits, all drawn from one ``np.random.Generator``:

* ``train``: training dates in the training formats;
* ``test_dates``: dates never seen in training (a held-out tenth of the days), training formats;
* ``test_formats``: the same held-out dates in formats never seen in training.

Sequences are characters. The source vocabulary holds PAD (id 0) and every character any
format can write; the target vocabulary PAD (0), BOS (1), EOS (2), the digits and "-".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FIRST, LAST = dt.date(1970, 1, 1), dt.date(2029, 12, 31)
TARGET_LEN = 10                      # "yyyy-mm-dd"


def _ordinal(d):
    return str(d) + ("th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th"))


def _fields(date):
    m, wd = MONTHS[date.month - 1], DAYS[date.weekday()]
    return dict(d=date.day, dd=f"{date.day:02d}", mm=f"{date.month:02d}", m=date.month,
                yyyy=f"{date.year}", yy=f"{date.year % 100:02d}", month=m, mon=m[:3],
                Month=m.capitalize(), Mon=m[:3].capitalize(), MONTH=m.upper(), wd=wd,
                Wd=wd.capitalize(), wdy=wd[:3], Wdy=wd[:3].capitalize(), dth=_ordinal(date.day))


# Each format is a str.format template over the fields above.
TRAIN_FORMATS = (
    "{wd} {d} {month} {yyyy}",       # tuesday 25 june 2009
    "{dd}.{mm}.{yy}",                # 25.06.09
    "{Month} {d}, {yyyy}",           # June 25, 2009
    "{dd}/{mm}/{yyyy}",              # 25/06/2009
    "{d} {mon} {yyyy}",              # 25 jun 2009
    "{Wdy}, {d} {Mon} {yyyy}",       # Tue, 25 Jun 2009
    "{d} {Month} {yyyy}",            # 25 June 2009
    "{month} {dth}, {yyyy}",         # june 25th, 2009
    "{dd}-{MONTH}-{yy}",             # 25-JUNE-09
    "{yyyy}{mm}{dd}",                # 20090625
    "{yyyy}/{mm}/{dd}",              # 2009/06/25
    "{mon} {d} {yyyy}",              # jun 25 2009
    "{d}.{m}.{yyyy}",                # 25.6.2009
    "{Wd}, {Month} {dth} {yyyy}",    # Tuesday, June 25th 2009
)
# Formats never seen in training: the same pieces, arranged or separated differently.
HELD_OUT_FORMATS = (
    "{dd}-{mm}-{yyyy}",              # 25-06-2009
    "{Mon}. {d}, {yyyy}",            # Jun. 25, 2009
    "{wdy} {dth} {month} {yy}",      # tue 25th june 09
    "{yyyy} {month} {d}",            # 2009 june 25
)


def write_date(date: dt.date, fmt: str) -> str:
    """The date written in one format (a template of TRAIN_FORMATS or HELD_OUT_FORMATS)."""
    if not isinstance(date, dt.date):
        raise TypeError(f"write_date: want a datetime.date, got {type(date).__name__}")
    if not (FIRST <= date <= LAST):
        raise ValueError(f"write_date: {date} is outside {FIRST}..{LAST}")
    return fmt.format(**_fields(date))


def iso(date: dt.date) -> str:
    """'2009-06-25'."""
    return date.isoformat()


class CharVocab:
    """Characters <-> ids with PAD = 0 (and, for targets, BOS = 1, EOS = 2).

    encode(str) -> (L,) int64; decode(ids) -> str, stopping at EOS and skipping PAD/BOS.
    """

    def __init__(self, chars, specials=("<pad>",)):
        self.itos = list(specials) + sorted(set(chars))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.specials = tuple(specials)

    def __len__(self):
        return len(self.itos)

    def encode(self, text: str) -> np.ndarray:
        bad = sorted(set(text) - set(self.stoi))
        if bad:
            raise ValueError(f"cannot encode {text!r}: the characters {''.join(bad)!r} are not in "
                             f"the vocabulary {''.join(self.itos[len(self.specials):])!r}")
        return np.array([self.stoi[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            tok = self.itos[i]
            if tok == "<eos>":
                break
            if tok not in self.specials:
                out.append(tok)
        return "".join(out)


PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def _all_chars():
    probe = [dt.date(2000, m, d) for m in range(1, 13) for d in (1, 2, 3, 11, 22, 28)]
    probe += [dt.date(2001, 1, d) for d in range(1, 8)]
    return {c for f in TRAIN_FORMATS + HELD_OUT_FORMATS for day in probe for c in write_date(day, f)}


SOURCE_VOCAB = CharVocab(_all_chars())
TARGET_VOCAB = CharVocab("0123456789-", specials=("<pad>", "<bos>", "<eos>"))


@dataclass
class DatePairs:
    """Source texts, target texts and the format index of each pair (into its format list)."""
    sources: list
    targets: list
    formats: np.ndarray
    dates: list

    def __len__(self):
        return len(self.sources)


@dataclass
class DateSplits:
    train: DatePairs
    test_dates: DatePairs
    test_formats: DatePairs


def _pairs(dates, formats, rng, n):
    days = rng.choice(len(dates), size=n)
    fmts = rng.integers(len(formats), size=n)
    picked = [dates[i] for i in days]
    return DatePairs([write_date(d, formats[f]) for d, f in zip(picked, fmts)],
                     [iso(d) for d in picked], fmts.astype(np.int64), picked)


def date_splits(seed: int = 0, n_train: int = 6000, n_test: int = 1000,
                held_out_fraction: float = 0.1) -> DateSplits:
    """The three splits of the module docstring, from np.random.default_rng(seed).

    The held-out days are a random tenth of all days (held_out_fraction), never in train.
    """
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"date_splits: {name} must be a positive int, got {v!r}")
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"date_splits: held_out_fraction must be in (0, 1), got {held_out_fraction!r}")
    rng = np.random.default_rng(seed)
    all_days = [FIRST + dt.timedelta(days=k) for k in range((LAST - FIRST).days + 1)]
    order = rng.permutation(len(all_days))
    n_held = int(round(held_out_fraction * len(all_days)))
    held = [all_days[i] for i in np.sort(order[:n_held])]
    seen = [all_days[i] for i in np.sort(order[n_held:])]
    return DateSplits(train=_pairs(seen, TRAIN_FORMATS, rng, n_train),
                      test_dates=_pairs(held, TRAIN_FORMATS, rng, n_test),
                      test_formats=_pairs(held, HELD_OUT_FORMATS, rng, n_test))


def encode_pairs(pairs: DatePairs):
    """Padded id arrays for a split.

    Returns src (N, S) int64 (PAD = 0 after each source), src_len (N,) int64, and tgt
    (N, TARGET_LEN + 2) int64: BOS, the 10 ISO characters, EOS.
    """
    src_ids = [SOURCE_VOCAB.encode(s) for s in pairs.sources]
    src_len = np.array([len(s) for s in src_ids], dtype=np.int64)
    src = np.zeros((len(src_ids), int(src_len.max())), dtype=np.int64)
    for i, s in enumerate(src_ids):
        src[i, : len(s)] = s
    tgt = np.array([[BOS_ID, *TARGET_VOCAB.encode(t), EOS_ID] for t in pairs.targets], dtype=np.int64)
    return src, src_len, tgt


def exact_match(predicted, targets) -> float:
    """Fraction of predicted strings equal to their targets, whole string."""
    predicted, targets = list(predicted), list(targets)
    if len(predicted) != len(targets):
        raise ValueError(f"exact_match: {len(predicted)} predictions for {len(targets)} targets")
    return float(np.mean([p == t for p, t in zip(predicted, targets)]))


def char_accuracy(predicted, targets) -> float:
    """Fraction of the 10 target positions predicted right (a shorter prediction is padded)."""
    hits = [sum(a == b for a, b in zip(p.ljust(TARGET_LEN), t)) / TARGET_LEN
            for p, t in zip(predicted, targets)]
    return float(np.mean(hits))


def digits_in_order(source: str) -> str:
    """A trivial baseline: the source's first 8 digits written as yyyy-mm-dd (right only for
    formats that write the year, month and day in that order, with all their digits)."""
    digits = "".join(c for c in source if c.isdigit())[:8].ljust(8, "0")
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"


LENGTH_BINS = (0, 10, 14, 18, 22, 100)   # source length bins [lo, hi), characters


def length_bin_labels(bins=LENGTH_BINS):
    """['0-9', '10-13', ...] for the bins [lo, hi)."""
    return [f"{lo}-{hi - 1}" if hi < 100 else f"{lo}+" for lo, hi in zip(bins, bins[1:])]


def exact_by_length(predicted, pairs: DatePairs, bins=LENGTH_BINS) -> dict:
    """{bin label: {"n": examples, "exact": exact match or None}} by source length."""
    lengths = np.array([len(s) for s in pairs.sources])
    hits = np.array([p == t for p, t in zip(predicted, pairs.targets)])
    out = {}
    for label, lo, hi in zip(length_bin_labels(bins), bins, bins[1:]):
        sel = (lengths >= lo) & (lengths < hi)
        out[label] = {"n": int(sel.sum()), "exact": float(hits[sel].mean()) if sel.any() else None}
    return out
