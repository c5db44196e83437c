"""Losses in NumPy: each returns (loss, dinput), the mean it reports and its gradient.

Shapes: logits (N, T, V) or (N, V); targets (N, T) or (N,); pred/target (N, T, K) or (N, K);
masks have the shape of the targets (bool, True = the position counts).
"""

import numpy as np

from utils.validate import Dims


def softmax_cross_entropy(logits, targets, mask=None):
    """Mean cross-entropy of softmax(logits) against integer targets, over unmasked positions.

    logits: (N, T, V) or (N, V); targets: (N, T) or (N,) ints in [0, V);
    mask: like targets, bool (True = counts), or None for all positions.
    Returns loss (a float, in nats per counted position) and dlogits (like logits), the
    gradient of that same mean: what is reported is what is differentiated.

    Stable for any finite logits (±1e4 included): the row maximum is subtracted before exp,
    so exp never overflows, and log-probabilities come from a log-sum-exp, never log(0).
    Masked-out positions never contribute, whatever they hold (padding may be NaN); a NaN or
    inf in a counted position raises a FloatingPointError that names it.
    """
    dims = Dims("softmax_cross_entropy")
    logits = np.asarray(logits)
    lead = ("N", "T") if logits.ndim == 3 else ("N",)
    logits = dims.array("logits", logits, lead + ("V",))
    targets = dims.array("targets", targets, lead, kind="int")
    V = logits.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        bad = targets[(targets < 0) | (targets >= V)]
        raise ValueError(f"softmax_cross_entropy: targets must be class ids in [0, {V}), "
                         f"got {bad.ravel()[0]}")
    if mask is None:
        mask = np.ones(targets.shape, bool)
    mask = dims.array("mask", mask, lead, kind="bool")
    count = int(mask.sum())
    if count == 0:
        raise ValueError("softmax_cross_entropy: mask selects no positions; nothing to average")
    logits = _counted_finite("softmax_cross_entropy", "logits", logits, mask)

    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=-1, keepdims=True)
    log_probs = shifted - np.log(sum_exp)
    picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    loss = -(picked * mask).sum() / count

    dlogits = exp / sum_exp                          # softmax
    np.put_along_axis(dlogits, targets[..., None],
                      np.take_along_axis(dlogits, targets[..., None], axis=-1) - 1.0, axis=-1)
    dlogits *= mask[..., None] / count
    return float(loss), dlogits.astype(logits.dtype, copy=False)


def mse_loss(pred, target, mask=None):
    """Half mean squared error, 0.5 * mean((pred - target)^2), over unmasked positions.

    pred, target: same shape, (N, T, K) or (N, K); mask: pred.shape[:-1] bool, or None.
    Returns loss (float) and dpred (like pred). Masked-out positions never contribute,
    whatever they hold; a NaN or inf in a counted position raises a FloatingPointError
    naming it.
    """
    dims = Dims("mse_loss")
    pred = np.asarray(pred)
    spec = ("N", "T", "K") if pred.ndim == 3 else ("N", "K")
    pred = dims.array("pred", pred, spec)
    target = dims.array("target", target, spec)
    if mask is None:
        mask = np.ones(pred.shape[:-1], bool)
    mask = dims.array("mask", mask, spec[:-1], kind="bool")
    count = int(mask.sum()) * pred.shape[-1]
    if count == 0:
        raise ValueError("mse_loss: mask selects no positions; nothing to average")
    pred = _counted_finite("mse_loss", "pred", pred, mask)
    target = _counted_finite("mse_loss", "target", target, mask)
    diff = (pred - target) * mask[..., None]
    return float(0.5 * (diff * diff).sum() / count), diff / count


def _counted_finite(where, name, values, mask):
    """`values` (mask.shape + (K,)) with masked-out rows set to 0, after checking that every
    counted entry is finite. A copy only when something needs replacing.

    Multiplying by the mask is not enough: NaN * 0 is NaN, so a NaN in padding would poison
    the whole loss.
    """
    finite = np.isfinite(values)
    if finite.all():
        return values
    bad = ~finite & mask[..., None]
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FloatingPointError(f"{where}: {name} has the non-finite value {values[pos]} at index "
                         f"{pos}, a position the mask counts; expected finite values there "
                         f"(a NaN or inf usually comes from a diverging model: lower the "
                         f"learning rate or clip the gradients)")
    return np.where(mask[..., None], values, 0).astype(values.dtype, copy=False)
