"""Optimizers and gradient clipping for models that keep `params` and `grads` as dicts.

An optimizer never computes gradients; `step(params, grads)` updates each params[k] in
place from grads[k], after checking that the two dicts have the same keys and shapes.
"""

import numpy as np


def _check_pairs(where, params, grads):
    if set(params) != set(grads):
        raise ValueError(f"{where}: params and grads must have the same keys; "
                         f"params has {sorted(params)}, grads has {sorted(grads)}")
    for k, p in params.items():
        g = grads[k]
        if np.shape(g) != p.shape:
            raise ValueError(f"{where}: grads[{k!r}] has shape {np.shape(g)}, "
                             f"expected {p.shape} like params[{k!r}]")
    _check_finite(where, grads)


def _check_finite(where, grads):
    for k, g in grads.items():
        if not np.all(np.isfinite(g)):
            raise FloatingPointError(f"{where}: grads[{k!r}] contains NaN or inf; "
                                     f"lower the learning rate or clip the gradients")


class SGD:
    """Stochastic gradient descent with optional momentum and learning-rate decay.

    At update t (counted from 0): lr_t = lr / (1 + decay * t);
    with momentum: v = momentum * v + g;  p -= lr_t * v.   Without: p -= lr_t * g.

    This is torch.optim.SGD's convention (v starts at 0, so the first v is g), and with decay
    it equals torch.optim.SGD under LambdaLR(lambda t: 1 / (1 + decay * t)). The other common
    form, v = momentum * v - lr_t * g; p += v, is the same only for a constant learning rate:
    there a change of lr_t acts on the next gradient only, here on the whole velocity.
    """

    def __init__(self, lr, momentum=0.0, decay=0.0):
        if lr <= 0 or not 0 <= momentum < 1 or decay < 0:
            raise ValueError(f"SGD: need lr > 0, 0 <= momentum < 1 and decay >= 0, got "
                             f"lr={lr}, momentum={momentum}, decay={decay}")
        self.lr, self.momentum, self.decay = lr, momentum, decay
        self.t = 0
        self.velocity = {}

    @property
    def current_lr(self):
        return self.lr / (1.0 + self.decay * self.t)

    def step(self, params, grads):
        _check_pairs("SGD.step", params, grads)
        lr = self.current_lr
        for k, p in params.items():
            if self.momentum:
                v = self.velocity.setdefault(k, np.zeros_like(p))
                v *= self.momentum
                v += grads[k]
                p -= lr * v
            else:
                p -= lr * grads[k]
        self.t += 1


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction; lr_t = lr / (1 + decay * t)."""

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, decay=0.0):
        if lr <= 0 or not 0 <= beta1 < 1 or not 0 <= beta2 < 1 or eps <= 0 or decay < 0:
            raise ValueError(f"Adam: need lr > 0, 0 <= beta1, beta2 < 1, eps > 0, decay >= 0, "
                             f"got lr={lr}, beta1={beta1}, beta2={beta2}, eps={eps}, decay={decay}")
        self.lr, self.beta1, self.beta2, self.eps, self.decay = lr, beta1, beta2, eps, decay
        self.t = 0
        self.m, self.v = {}, {}

    @property
    def current_lr(self):
        return self.lr / (1.0 + self.decay * self.t)

    def step(self, params, grads):
        _check_pairs("Adam.step", params, grads)
        lr = self.current_lr
        self.t += 1
        for k, p in params.items():
            g = grads[k]
            m = self.m.setdefault(k, np.zeros_like(p))
            v = self.v.setdefault(k, np.zeros_like(p))
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g * g - v)
            m_hat = m / (1 - self.beta1 ** self.t)
            v_hat = v / (1 - self.beta2 ** self.t)
            p -= lr * m_hat / (np.sqrt(v_hat) + self.eps)


def global_norm(grads):
    """The L2 norm of all gradients taken together, sqrt(sum_k ||grads[k]||²)."""
    return float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))


def clip_grad_norm(grads, max_norm):
    """Scale all gradients in place so their global norm is at most max_norm.

    The direction of the update is kept; only its length is capped, to max_norm exactly.
    Returns the global norm before clipping (useful to plot). A NaN or inf gradient raises
    FloatingPointError naming it: there is no direction to keep.
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be > 0, got {max_norm}")
    _check_finite("clip_grad_norm", grads)
    norm = global_norm(grads)
    if norm > max_norm:
        scale = max_norm / norm          # norm > max_norm > 0: no epsilon needed
        for g in grads.values():
            g *= scale
    return norm


def clip_grad_value(grads, clip):
    """Clip every gradient entry into [-clip, clip] in place (changes the direction).

    Returns the global norm before clipping.
    """
    if clip <= 0:
        raise ValueError(f"clip_grad_value: clip must be > 0, got {clip}")
    _check_finite("clip_grad_value", grads)
    norm = global_norm(grads)
    for g in grads.values():
        np.clip(g, -clip, clip, out=g)
    return norm
