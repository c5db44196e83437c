"""Many small recurrent language models trained at once, for experiments over seeds.

A comparison in a lab (clipping by norm or by value, RNN or LSTM, LSTM or GRU) is run over
several seeds and learning rates. Trained one by one, each run pays Python's per-step
overhead; stacked along a leading member axis S, every member's step is one batched matrix
product, so 30 runs cost a few times one. The members never interact: each has its own
initial weights (from its own weight seed), its own batch order (from its own order seed),
learning rate, clipping and forget-gate bias.

The members themselves (parameters, forward and backward with PyTorch's RNN, LSTM and GRU
equations, losses, predictions) are in utils/ensemble_model.py, re-exported here; this
module trains them.
"""

import math

import numpy as np

from utils.ensemble_model import (GATES, backward, count_parameters, forward, init_params,
                                  loss_and_grads, losses, per_member, predict, select)
from utils.validate import positive_int

__all__ = [
    # utils.ensemble_model
    "GATES", "init_params", "count_parameters", "forward", "backward", "loss_and_grads",
    "losses", "select", "predict",
    # this module
    "train", "one_cycle_factors",
]


def train(params, data, lr, epochs, batch_size, order_seeds, optimizer="adam", momentum=0.0,
          decay=0.0, clip_norm=math.inf, clip_value=math.inf, lr_factors=None, evaluate=None):
    """Train every member on the same data, each in its own batch order; updates params.

    data: {"x", "y", "mask"} arrays (N, T); lr, clip_norm, clip_value: a number or one per
    member (inf: no clipping; the norm is each member's global gradient norm, rescaled like
    torch.nn.utils.clip_grad_norm_); order_seeds: one per member, the batch order of every
    epoch is np.random.default_rng(seed).permutation(N).
    optimizer: "adam" (betas 0.9, 0.999, eps 1e-8) or "sgd" (torch convention:
    v = momentum v + g; p -= lr_t v), with lr_t = lr / (1 + decay t) at update t (from 0),
    times lr_factors[t] when given (one schedule shared by every member).
    evaluate: optional f(params) -> dict of (S,) arrays, called after every epoch.

    Returns history: "epoch_loss" (epochs, S), "grad_norm" (updates, S) before clipping, and
    one (epochs, S) array per evaluate key.
    """
    S = params["Wx"].shape[0]
    if len(order_seeds) != S:
        raise ValueError(f"ensemble.train: need one order seed per member ({S}), "
                         f"got {len(order_seeds)}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"ensemble.train: optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    epochs = positive_int("ensemble.train", "epochs", epochs)
    batch_size = positive_int("ensemble.train", "batch_size", batch_size)
    lr, clip_norm, clip_value = (per_member(name, v, S) for name, v in
                                 (("lr", lr), ("clip_norm", clip_norm), ("clip_value", clip_value)))
    x_all, y_all, m_all = (np.asarray(data[k]) for k in ("x", "y", "mask"))
    N = len(x_all)
    rngs = [np.random.default_rng(seed) for seed in order_seeds]
    moments = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in params.items()}
    history = {"epoch_loss": [], "grad_norm": []}
    step = 0
    for _ in range(epochs):
        orders = np.stack([rng.permutation(N) for rng in rngs])                 # (S, N)
        total = np.zeros(S)
        for start in range(0, N, batch_size):
            rows = orders[:, start:start + batch_size]                          # (S, B)
            losses, grads = loss_and_grads(params, x_all[rows], y_all[rows], m_all[rows])
            if not np.all(np.isfinite(losses)):
                raise FloatingPointError(
                    f"ensemble.train: members {np.flatnonzero(~np.isfinite(losses)).tolist()} "
                    f"diverged at update {step + 1}; lower their learning rate")
            norm = np.sqrt(sum((g.reshape(S, -1) ** 2).sum(axis=1) for g in grads.values()))
            dt = params["Wx"].dtype
            scale = np.minimum(clip_norm / (norm + 1e-6), 1.0).astype(dt)
            rate = (lr / (1.0 + decay * step)
                    * (1.0 if lr_factors is None else lr_factors[step])).astype(dt)
            for k, p in params.items():
                shape = (S,) + (1,) * (p.ndim - 1)
                cv = clip_value.reshape(shape).astype(dt)
                g = np.clip(grads[k] * scale.reshape(shape), -cv, cv)
                m, v = moments[k]
                if optimizer == "sgd":
                    m *= momentum
                    m += g
                    p -= rate.reshape(shape) * m
                else:
                    m *= 0.9
                    m += 0.1 * g
                    v *= 0.999
                    v += 0.001 * g * g
                    m_hat = m / (1 - 0.9 ** (step + 1))
                    v_hat = v / (1 - 0.999 ** (step + 1))
                    p -= rate.reshape(shape) * m_hat / (np.sqrt(v_hat) + 1e-8)
            history["grad_norm"].append(norm)
            total += losses * rows.shape[1]
            step += 1
        history["epoch_loss"].append(total / N)
        if evaluate is not None:
            for key, value in evaluate(params).items():
                history.setdefault(key, []).append(np.asarray(value, dtype=float))
    return {k: np.array(v) for k, v in history.items()}


def one_cycle_factors(steps, pct_start=0.3):
    """The learning-rate multipliers of torch.optim.lr_scheduler.OneCycleLR (its defaults:
    cosine, from max/25 up to max over pct_start of the updates, then down to max/1e4),
    one per update, so that each member follows the same schedule from its own maximum."""
    import torch
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0, momentum=0.9)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=steps,
                                                   pct_start=pct_start)
    factors = []
    for _ in range(steps):
        factors.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    return np.array(factors)
