"""What a model of aⁿbⁿ gets right, beside what a rule that cannot count gets right.

After the first `b` of aⁿbⁿ every target is determined: n - 1 more b's, then EOS. The rule
"after a b, say b; never say EOS" gets all of them right except the EOS, a fraction (n-1)/n
of the predictable targets of each string, without counting at all. So every table of
predictable-token accuracy prints that rule's figure beside the model's, and the headline
metric is whole-string accuracy (every predictable target of a string right), on which the
rule scores 0: only a model that counts gets an EOS right.

Predictions are arrays of ids aligned with `lm_batch` targets: (..., N, T) for N strings
(a leading axis, for example one row per model of an ensemble, is kept in the result).
"""

import numpy as np

from utils.data import anbn_sequence, lm_batch, predictable_mask


def anbn_eval_set(vocab, ns):
    """Inputs, targets and predictable-target mask of the strings aⁿbⁿ, n in ns.

    Returns a dict: x (N, T), y (N, T) int64, mask (N, T) bool (True on predictable
    targets only), n (N,) int.
    """
    ns = [int(n) for n in ns]
    if not ns:
        raise ValueError("anbn_eval_set: ns is empty; need at least one n")
    seqs = [anbn_sequence(n) for n in ns]
    batch = lm_batch(vocab, seqs)
    return {"x": batch["x"], "y": batch["y"], "mask": predictable_mask(seqs), "n": np.array(ns)}


def _right(pred, y, mask):
    pred = np.asarray(pred)
    if pred.shape[-2:] != y.shape:
        raise ValueError(f"predictions must end in the targets' shape {y.shape}, "
                         f"got {pred.shape}")
    return pred == y, np.broadcast_to(mask, pred.shape)


def predictable_accuracy(pred, y, mask):
    """Fraction of the predictable targets predicted right: pred (..., N, T) -> (...)."""
    right, mask = _right(pred, y, mask)
    return (right & mask).sum(axis=(-2, -1)) / mask.sum(axis=(-2, -1))


def whole_string_accuracy(pred, y, mask):
    """Fraction of strings with every predictable target right: pred (..., N, T) -> (...)."""
    right, mask = _right(pred, y, mask)
    return (right | ~mask).all(axis=-1).mean(axis=-1)


def strings_right(pred, y, mask):
    """For each string, whether every predictable target is right: (..., N, T) -> (..., N)."""
    right, mask = _right(pred, y, mask)
    return (right | ~mask).all(axis=-1)


def trivial_rule_predict(vocab, x):
    """The rule that cannot count: after a `b` say `b`, otherwise `a`; never EOS.

    x: (N, T) input ids -> (N, T) predicted ids.
    """
    b, a = vocab.stoi["b"], vocab.stoi["a"]
    return np.where(np.asarray(x) == b, b, a)


def trivial_rule_accuracy(vocab, ns):
    """The rule's predictable-token and whole-string accuracy on the strings aⁿbⁿ, n in ns:
    (n-1)/n of each string's predictable targets, summed over strings; 0 whole strings."""
    ev = anbn_eval_set(vocab, ns)
    pred = trivial_rule_predict(vocab, ev["x"])
    return (float(predictable_accuracy(pred, ev["y"], ev["mask"])),
            float(whole_string_accuracy(pred, ev["y"], ev["mask"])))


def anbn_entropy_floor(ns):
    """The lowest mean cross-entropy (nats per target) any model can reach on the strings
    aⁿbⁿ, one per n in ns (repeat an n to weight it; pass the training strings' n to get the
    floor of the training loss).

    After k a's the next token is `b` when n = k and `a` when n > k; the best model predicts
    them with the frequencies P(n = k | n >= k) and P(n > k | n >= k) of ns, and is certain
    after the first b. Mean over all 2n targets of every string.
    """
    ns = np.asarray([int(n) for n in ns])
    if ns.size == 0 or ns.min() < 1:
        raise ValueError(f"anbn_entropy_floor: need n >= 1 for every string, got {ns.tolist()}")
    total = 0.0
    for k in range(1, ns.max() + 1):
        reach = (ns >= k).sum()                       # strings that show k a's in a row
        for count in ((ns == k).sum(), (ns > k).sum()):
            if count:
                total -= count * np.log(count / reach)
    return total / (2 * ns.sum())
