"""A training loop for NumPy models with `params` and `loss(batch) -> (loss, grads)`."""

import math

import numpy as np
from tqdm.auto import tqdm

from utils.optim import clip_grad_norm, clip_grad_value, global_norm
from utils.validate import positive_int


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message says when and what to try."""


def minibatches(data, batch_size, rng):
    """Yield dicts of arrays holding `batch_size` rows of `data` each, in a random order.

    data: dict of arrays that all have N rows (first axis); the last batch may be smaller.
    """
    sizes = {k: len(v) for k, v in data.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"minibatches: every array in data needs the same number of rows, "
                         f"got {sizes}")
    N = next(iter(sizes.values()))
    order = rng.permutation(N)
    for start in range(0, N, batch_size):
        rows = order[start:start + batch_size]
        yield {k: v[rows] for k, v in data.items()}


def train(model, data, optimizer, epochs, batch_size, rng, clip_norm=None, clip_value=None,
          metrics=None, progress=True):
    """Train `model` on `data` for a number of epochs and return the history.

    model: has `params` and `loss(batch) -> (loss, grads)`; data: dict of arrays with N rows
    (for example {"x": (N, T), "y": (N, T), "mask": (N, T)}); optimizer: from utils.optim;
    rng: np.random.Generator for the batch order; clip_norm / clip_value: gradient clipping
    by global norm / by value (at most one); metrics: {name: f(model) -> float}, evaluated
    after each epoch; progress: show a tqdm progress bar.

    Returns history: {"loss": per-step losses, "grad_norm": per-step global gradient norms
    before clipping, "epoch_loss": per-epoch mean loss, and one per-epoch list per metric}.
    Raises TrainingDiverged as soon as a loss is NaN or infinite.
    """
    epochs = positive_int("train", "epochs", epochs)
    batch_size = positive_int("train", "batch_size", batch_size)
    if clip_norm is not None and clip_value is not None:
        raise ValueError("train: pass clip_norm or clip_value, not both")
    metrics = metrics or {}
    history = {"loss": [], "grad_norm": [], "epoch_loss": [], **{k: [] for k in metrics}}
    N = len(next(iter(data.values())))
    steps = epochs * math.ceil(N / batch_size)
    bar = tqdm(total=steps, desc="training", unit="step", disable=not progress)
    try:
        for epoch in range(epochs):
            losses = []
            for batch in minibatches(data, batch_size, rng):
                where = f"epoch {epoch + 1}, step {len(history['loss']) + 1}"
                try:
                    loss, grads = model.loss(batch)
                except FloatingPointError as exc:    # NaN/inf outputs, named by the loss
                    raise TrainingDiverged(f"training stopped at {where}: {exc}") from exc
                if not np.isfinite(loss):
                    raise TrainingDiverged(
                        f"training stopped at {where}: the loss became {loss}. Try a smaller learning rate or gradient "
                        f"clipping (clip_norm=1.0).")
                if clip_norm is not None:
                    norm = clip_grad_norm(grads, clip_norm)
                elif clip_value is not None:
                    norm = clip_grad_value(grads, clip_value)
                else:
                    norm = global_norm(grads)
                optimizer.step(model.params, grads)
                history["loss"].append(loss)
                history["grad_norm"].append(norm)
                losses.append(loss)
                bar.update(1)
            history["epoch_loss"].append(float(np.mean(losses)))
            for name, fn in metrics.items():
                history[name].append(float(fn(model)))
            bar.set_postfix(loss=f"{history['epoch_loss'][-1]:.3f}")
    finally:
        bar.close()
    return history
