"""Character n-gram language models with interpolated Kneser-Ney smoothing (lab 05 baselines).

Shapes: `L` characters of text, `V` vocabulary size, `n` the model's order (it reads the last
n - 1 characters), `P` predictions.

An order-n model predicts character w after the context h (the n - 1 characters before it):

    p_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h .)  +  D_k * N_k(h .) / c_k(h .) * p_{k-1}(w | h')

for k = n, n - 1, ..., 1, where h' is h without its first character, p_0(w) = 1 / V,
c_k(h .) = sum_w c_k(h w) and N_k(h .) is the number of distinct w with c_k(h w) > 0. Each
order keeps D_k of every count it has seen and gives that mass to the next lower order, so
the distribution sums to 1 and no character ever gets probability 0. When the context h was
never seen (c_k(h .) = 0), p_k = p_{k-1}. The highest order counts the n-grams themselves;
every lower order counts *continuations* (Kneser-Ney): c_k(g) is the number of distinct
characters that precede the k-gram g in the text. A lower order is only used when the longer
context says little, and "how many different contexts does g follow" predicts that case better
than "how often does g occur" ("Francisco" makes "co" frequent, not "o" after many letters).

The discounts D_1 .. D_n are chosen on a held-out part of the training text (its last 10 %),
counting on the rest; the model is then counted again on the whole training text.

    models = fit_kneser_ney(corpus.train_ids, V, orders=range(1, 7))   # {n: KneserNey}
    models[5].nats(corpus.val_ids)      # mean -ln p(val[t] | val[t-4 .. t-1]) over t = 1 .. L-1
    models[5].probs(vocab.encode("ROME"))   # (V,) the next-character distribution
"""

from __future__ import annotations

import numpy as np

# Discounts tried for each order (coordinate descent, two sweeps from the highest order down).
DISCOUNT_GRID = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
HOLDOUT_FRACTION = 0.1


def _check_ids(name, ids, V, min_len=2):
    if not isinstance(ids, np.ndarray) or ids.ndim != 1 or ids.dtype.kind not in "iu":
        got = f"{ids.dtype} array of shape {ids.shape}" if isinstance(ids, np.ndarray) else type(ids).__name__
        raise TypeError(f"{name} must be a 1-D integer array (L,), got {got}")
    if len(ids) < min_len:
        raise ValueError(f"{name} must hold at least {min_len} characters, got {len(ids)}")
    if len(ids) and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"{name} must lie in [0, V={V}), got values in [{ids.min()}, {ids.max()}]")
    return ids.astype(np.int64, copy=False)


def _check_order(n, V, name="n"):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an int >= 1, got {n!r}")
    if V ** int(n) >= 2 ** 62:       # n-grams are int64 keys sum_j c_j V^(n-1-j)
        raise ValueError(f"{name}={n} is too large for V={V}: V**{name} must stay below 2**62")
    return int(n)


def ngram_keys(ids: np.ndarray, k: int, V: int) -> np.ndarray:
    """(L - k + 1,) int64: the k-gram starting at each position, as the number sum_j ids[s+j] V^(k-1-j)."""
    keys = np.zeros(len(ids) - k + 1, dtype=np.int64)
    for j in range(k):
        keys = keys * V + ids[j : len(ids) - k + 1 + j]
    return keys


class _Table:
    """Sorted k-gram keys with their counts, and per context (key // V) the total and the types."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, V: int):
        self.keys, self.counts = keys, counts.astype(np.float64)     # sorted, (G,)
        ctx = keys // V                                               # sorted too
        self.ctx_keys, first = np.unique(ctx, return_index=True)
        self.ctx_total = np.add.reduceat(self.counts, first)         # c_k(h .)
        self.ctx_types = np.diff(np.append(first, len(keys))).astype(np.float64)   # N_k(h .)

    @staticmethod
    def _lookup(keys, values, query):
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        return np.where(keys[pos] == query, values[pos], 0.0)

    def stats(self, gram: np.ndarray, V: int):
        """gram: (P,) int64 keys -> count (P,), context total (P,), context types (P,)."""
        ctx = gram // V
        pos = np.minimum(np.searchsorted(self.ctx_keys, ctx), len(self.ctx_keys) - 1)
        known = self.ctx_keys[pos] == ctx
        return (self._lookup(self.keys, self.counts, gram),
                np.where(known, self.ctx_total[pos], 0.0), np.where(known, self.ctx_types[pos], 0.0))


class NgramCounts:
    """Counts of a text for every order up to max_order, shared by models of any order <= max_order.

    raw[k]: the k-grams and how often each occurs; cont[k] (k < max_order): the k-grams and how
    many distinct characters precede each (continuation counts).
    """

    def __init__(self, ids: np.ndarray, V: int, max_order: int):
        if isinstance(V, bool) or not isinstance(V, (int, np.integer)) or V < 2:
            raise ValueError(f"V must be an int >= 2 (the vocabulary size), got {V!r}")
        self.V = int(V)
        self.max_order = _check_order(max_order, self.V, "max_order")
        ids = _check_ids("ids", ids, self.V, min_len=self.max_order)
        self.raw, self.cont = {}, {}
        for k in range(1, self.max_order + 1):
            keys, counts = np.unique(ngram_keys(ids, k, self.V), return_counts=True)
            self.raw[k] = _Table(keys, counts, self.V)
        for k in range(1, self.max_order):
            # Each distinct (k+1)-gram x g adds one to the continuation count of its suffix g.
            suffix = self.raw[k + 1].keys % self.V ** k
            keys, counts = np.unique(suffix, return_counts=True)
            self.cont[k] = _Table(keys, counts, self.V)

    def lookup(self, history: np.ndarray, target: np.ndarray):
        """Counts for predicting target after history, for every order k = 1 .. m + 1.

        history: (P, m) context ids, -1 before the start of the text; target: (P,) ids.
        Returns a list over k of (valid, raw, cont): valid (P,) bool says the text holds the
        k - 1 characters of context; raw and cont are (count, total, types), each (P,) float,
        from the raw and the continuation counts (cont is None for k = max_order).
        """
        m = history.shape[1]
        if m + 1 > self.max_order:
            raise ValueError(f"a history of {m} characters needs counts of order >= {m + 1}, "
                             f"got max_order={self.max_order}")
        out, gram, valid = [], target.astype(np.int64), np.ones(len(target), dtype=bool)
        for k in range(1, m + 2):
            if k > 1:                                  # extend the k-gram one character left
                c = history[:, m + 1 - k]
                valid = valid & (c >= 0)
                gram = np.where(valid, c * self.V ** (k - 1) + gram, gram)
            cont = self.cont[k].stats(gram, self.V) if k in self.cont else None
            out.append((valid, self.raw[k].stats(gram, self.V), cont))
        return out


def _order_stats(lookups, n):
    """What a model of order n needs from lookups: continuation counts below n, raw counts at n.

    Returns a list over k = 1..n of (where, count, 1 / total, types / total): the positions
    whose context of k - 1 characters occurs in the counts, and their statistics, each (S_k,).
    """
    stats = []
    for k, (valid, raw, cont) in enumerate(lookups[:n], 1):
        count, total, types = raw if k == n else cont
        where = np.flatnonzero(valid & (total > 0))
        stats.append((where, count[where], 1.0 / total[where], types[where] / total[where]))
    return stats


def _step(p, stats, D):
    """One order of the recursion: p_{k-1} (P,) -> p_k (P,); unseen contexts keep p_{k-1}."""
    where, count, inv_total, type_ratio = stats
    p = p.copy()
    p[where] = np.maximum(count - D, 0.0) * inv_total + D * type_ratio * p[where]
    return p


def _interpolate(stats, discounts, V, P):
    """p_n(target | history) (P,) from _order_stats and the discounts D_1..D_n."""
    p = np.full(P, 1.0 / V)
    for order, D in zip(stats, discounts):
        p = _step(p, order, D)
    return p


def _histories(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Contexts and targets for predicting ids[t] from ids[t-n+1 .. t-1], t = 1 .. L-1.

    Returns history (L - 1, n - 1) with -1 before the start of the text, target (L - 1,).
    """
    padded = np.concatenate([np.full(n - 1, -1, dtype=np.int64), ids])
    history = np.lib.stride_tricks.sliding_window_view(padded, n - 1)[1 : len(ids)] if n > 1 \
        else np.zeros((len(ids) - 1, 0), dtype=np.int64)
    return history, ids[1:]


class KneserNey:
    """An interpolated Kneser-Ney model of order n with discounts D_1..D_n over shared counts."""

    def __init__(self, counts: NgramCounts, n: int, discounts):
        self.n = _check_order(n, counts.V)
        if self.n > counts.max_order:
            raise ValueError(f"n={n} needs counts of order >= {n}, got max_order={counts.max_order}")
        discounts = np.asarray(discounts, dtype=np.float64)
        if discounts.shape != (self.n,) or not np.all((discounts > 0) & (discounts < 1)):
            raise ValueError(f"discounts must be {self.n} numbers in (0, 1) (D_1..D_n), got {discounts}")
        self.counts, self.V, self.discounts = counts, counts.V, discounts

    def __repr__(self):
        return f"KneserNey(n={self.n}, discounts={np.round(self.discounts, 2).tolist()})"

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        """(L - 1,) ln p(ids[t] | the n - 1 characters before it within ids), t = 1 .. L-1."""
        ids = _check_ids("ids", ids, self.V)
        history, target = _histories(ids, self.n)
        stats = _order_stats(self.counts.lookup(history, target), self.n)
        return np.log(_interpolate(stats, self.discounts, self.V, len(target)))

    def nats(self, ids: np.ndarray) -> float:
        """Mean next-character cross-entropy (nats/char) over ids[1:], each from the text before it."""
        return float(-self.log_probs(ids).mean())

    def probs(self, context: np.ndarray) -> np.ndarray:
        """(V,) the distribution of the character after `context` (ints; only the last n - 1 count)."""
        context = np.asarray(context, dtype=np.int64).reshape(-1)
        if len(context) and (context.min() < 0 or context.max() >= self.V):
            raise ValueError(f"context must lie in [0, V={self.V}), got values in "
                             f"[{context.min()}, {context.max()}]")
        history = np.full(self.n - 1, -1, dtype=np.int64)
        if self.n > 1 and len(context):
            tail = context[-(self.n - 1):]
            history[len(history) - len(tail):] = tail
        target = np.arange(self.V)
        history = np.broadcast_to(history, (self.V, self.n - 1))
        stats = _order_stats(self.counts.lookup(history, target), self.n)
        return _interpolate(stats, self.discounts, self.V, self.V)


def choose_discounts(counts: NgramCounts, heldout_ids: np.ndarray, n: int,
                     grid=DISCOUNT_GRID, sweeps: int = 2, lookups=None) -> np.ndarray:
    """D_1..D_n that minimise the loss on heldout_ids, by coordinate descent over `grid`.

    counts must come from text that does not contain heldout_ids. Each sweep sets D_n, then
    D_{n-1}, ..., D_1, each to the grid value that gives the lowest held-out loss with the
    others fixed. lookups: counts.lookup(...) of heldout_ids for any order >= n, to share
    between several n. Returns (n,) float64.
    """
    if lookups is None:
        heldout_ids = _check_ids("heldout_ids", heldout_ids, counts.V)
        lookups = counts.lookup(*_histories(heldout_ids, n))
    stats, P = _order_stats(lookups, n), len(lookups[0][0])
    D = np.full(n, 0.75)
    for _ in range(sweeps):
        # p_n is affine in p_k once D_{k+1..n} are fixed: p_n = A + B p_k, folded from the top.
        A, B = np.zeros(P), np.ones(P)
        for k in reversed(range(n)):
            below = np.full(P, 1.0 / counts.V)            # p_{k-1}, fixed while D_k moves
            for j in range(k):
                below = _step(below, stats[j], D[j])
            losses = [-np.log(A + B * _step(below, stats[k], d)).mean() for d in grid]
            D[k] = grid[int(np.argmin(losses))]
            where, count, inv_total, type_ratio = stats[k]
            A[where] += B[where] * np.maximum(count - D[k], 0.0) * inv_total
            B[where] *= D[k] * type_ratio
    return D


def fit_kneser_ney(train_ids: np.ndarray, V: int, orders=range(1, 7),
                   holdout_fraction: float = HOLDOUT_FRACTION) -> dict[int, KneserNey]:
    """One Kneser-Ney model per order in `orders`, from the training text only.

    The discounts of each model are chosen with counts of the first (1 - holdout_fraction) of
    train_ids, scored on its last holdout_fraction; the models returned count all of train_ids.
    Returns {n: KneserNey}.
    """
    orders = sorted({_check_order(n, V) for n in orders})
    if not orders:
        raise ValueError("orders must name at least one order n >= 1")
    if not isinstance(holdout_fraction, float) or not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be a float in (0, 1), got {holdout_fraction!r}")
    train_ids = _check_ids("train_ids", train_ids, V)
    cut = len(train_ids) - int(round(len(train_ids) * holdout_fraction))
    if cut < max(orders) or len(train_ids) - cut < 2:
        raise ValueError(f"train_ids of length {len(train_ids)} is too short to hold out "
                         f"{holdout_fraction} of it for orders up to {max(orders)}")
    fit_counts = NgramCounts(train_ids[:cut], V, max(orders))
    lookups = fit_counts.lookup(*_histories(train_ids[cut:], max(orders)))     # once for all n
    discounts = {n: choose_discounts(fit_counts, None, n, lookups=lookups) for n in orders}
    counts = NgramCounts(train_ids, V, max(orders))
    return {n: KneserNey(counts, n, discounts[n]) for n in orders}
