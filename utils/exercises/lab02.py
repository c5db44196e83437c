"""Lab 02 (an RNN from scratch): exercise registrations.

Exercises (the function names the student writes in solutions/02_rnn_from_scratch.ipynb),
all checked in float64 against utils.layers:

    2.1 rnn_step_forward(x, h_prev, Wx, Wh, b) -> h, cache
    2.2 rnn_forward(x, h0, Wx, Wh, b) -> h, cache
    2.3 softmax_cross_entropy(logits, targets, mask) -> loss, dlogits
    2.4 rnn_step_backward(dh, cache) -> dx, dh_prev, dWx, dWh, db
    2.5 rnn_backward(dh, cache) -> dx, dh0, dWx, dWh, db

The caches are fixed by the notebook's skeletons (the lines outside the solution regions)
and equal utils.layers': step (x, h_prev, Wx, Wh, h), sequence (x, h0, Wx, Wh, h). The
forward checks compare them entry by entry, because the backward exercises read them. The
known mistakes (``bugs``) are in mistakes_lab02.py.
"""

from __future__ import annotations

import numpy as np

from utils import layers
from utils.checks import Case, Exercise, KnownBug, backward_call, register
from utils.exercises import mistakes_lab02 as m

FWD_RTOL, GRAD_RTOL = 1e-7, 1e-6


def _lin(lo, hi, *shape):
    """A fixed, non-trivial fixture: evenly spaced values in [lo, hi] reshaped."""
    return np.linspace(lo, hi, int(np.prod(shape))).reshape(shape)


def _step_fixture(N=2, D=3, H=4):
    x = _lin(-0.4, 0.7, N, D)
    h_prev = _lin(-0.2, 0.5, N, H)
    Wx = _lin(-0.1, 0.9, D, H)
    Wh = _lin(-0.3, 0.7, H, H)
    b = _lin(-0.2, 0.4, H)
    return x, h_prev, Wx, Wh, b


def _step_random(rng, N, D, H):
    return (rng.standard_normal((N, D)), rng.standard_normal((N, H)),
            rng.standard_normal((D, H)) / np.sqrt(D), rng.standard_normal((H, H)) / np.sqrt(H),
            0.5 * rng.standard_normal(H))


def _seq_fixture(N=2, T=3, D=4, H=5):
    x = _lin(-0.4, 0.6, N, T, D)
    h0 = _lin(-0.3, 0.2, N, H)
    Wx = _lin(-0.2, 0.4, D, H)
    Wh = _lin(-0.4, 0.1, H, H)
    b = _lin(-0.7, 0.1, H)
    return x, h0, Wx, Wh, b


def _seq_random(rng, N, T, D, H):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            rng.standard_normal((D, H)) / np.sqrt(D), rng.standard_normal((H, H)) / np.sqrt(H),
            0.5 * rng.standard_normal(H))


# ----------------------------------------------------------------------------- forward


def step_cases(rng):
    cases = [Case(_step_fixture(), label="fixed fixture N=2, D=3, H=4")]
    for N, D, H in [(3, 5, 2), (1, 2, 6)]:
        cases.append(Case(_step_random(rng, N, D, H), label=f"random N={N}, D={D}, H={H}"))
    big = _step_random(rng, 2, 3, 4)
    cases.append(Case((1e4 * big[0],) + big[1:], label="large inputs (tanh saturates)"))
    return cases


register(Exercise(
    name="rnn_step_forward", lab="02", number="2.1",
    reference=layers.rnn_step_forward, cases=step_cases, outputs=("h",),
    rtol=FWD_RTOL, atol=1e-12,
    hints={
        "h": "h = tanh(x @ Wx + h_prev @ Wh + b): inputs on the left of the weights (batch-major), "
             "b added before the tanh.",
        "shape": "h is (N, H): x (N, D) @ Wx (D, H) plus h_prev (N, H) @ Wh (H, H).",
        "error": "Check the shapes: x @ Wx needs x (N, D) and Wx (D, H).",
        "cache": "The cache is fixed by the skeleton: (x, h_prev, Wx, Wh, h) with h the new "
                 "hidden state (after tanh); rnn_step_backward reads it.",
        "return": "Return h and the cache: return h, (x, h_prev, Wx, Wh, h).",
    },
    cache=("x", "h_prev", "Wx", "Wh", "h"),
    bugs=(
        KnownBug("no bias", "The bias is missing: h = tanh(x @ Wx + h_prev @ Wh + b).",
                 m.step_no_bias),
        KnownBug("Wh transposed", "h_prev @ Wh, not h_prev @ Wh.T: row j of Wh holds the "
                 "weights from unit j of h_prev.", m.step_wh_transposed),
        KnownBug("no tanh", "Apply np.tanh to the pre-activation x @ Wx + h_prev @ Wh + b.",
                 m.step_no_tanh),
        KnownBug("cache holds the pre-activation", "The last cache entry must be h after "
                 "the tanh (the backward computes tanh' as 1 - h**2), not the pre-activation.",
                 m.step_caches_preactivation),
    ),
))


def seq_cases(rng):
    x, h0, Wx, Wh, b = _seq_fixture()
    cases = [Case((x, h0, Wx, Wh, b), label="fixed fixture N=2, T=3, D=4, H=5"),
             Case((x, None, Wx, Wh, b), label="fixed fixture with h0=None (zeros)")]
    for N, T, D, H in [(3, 6, 2, 4), (1, 1, 3, 2)]:
        cases.append(Case(_seq_random(rng, N, T, D, H), label=f"random N={N}, T={T}, D={D}, H={H}"))
    return cases


register(Exercise(
    name="rnn_forward", lab="02", number="2.2",
    reference=layers.rnn_forward, cases=seq_cases, outputs=("h",),
    rtol=FWD_RTOL, atol=1e-12,
    hints={
        "h": "Each step takes the previous step's h (h0 at t=0) and x[:, t]; store every step's "
             "h at h[:, t].",
        "shape": "h is (N, T, H): one hidden state per sequence and time step.",
        "error": "h0=None means zeros of shape (N, H); x[:, t] is the (N, D) input of step t.",
        "cache": "The cache is (x, h0, Wx, Wh, h), with h the (N, T, H) array you filled and "
                 "h0 the zeros when h0 was None; rnn_backward reads it.",
        "return": "Return h and the cache: return h, (x, h0, Wx, Wh, h).",
    },
    cache=("x", "h0", "Wx", "Wh", "h"),
    bugs=(
        KnownBug("h0 ignored", "Start from the given h0 (zeros only when h0 is None).",
                 m.seq_ignores_h0),
        KnownBug("h not carried", "Carry h: step t's h_prev is the h of step t-1, not h0 at "
                 "every step.", m.seq_no_carry),
        KnownBug("stores the previous h", "Store the new h at h[:, t] after computing the step, "
                 "not the h_prev it started from.", m.seq_stores_previous),
    ),
))


def ce_cases(rng):
    N, T, V = 2, 3, 4
    logits = _lin(-1.5, 2.0, N, T, V)
    targets = np.array([[0, 3, 1], [2, 2, 0]])
    mask = np.array([[True, True, False], [True, False, True]])
    cases = [Case((logits, targets, None), label="fixed fixture N=2, T=3, V=4, no mask"),
             Case((logits, targets, mask), label="fixed fixture with a mask")]
    lg = rng.standard_normal((3, 5, 6))
    cases.append(Case((lg, rng.integers(0, 6, size=(3, 5)), rng.random((3, 5)) < 0.6),
                      label="random N=3, T=5, V=6 with a mask"))
    cases.append(Case((1e4 * lg[:, :2], rng.integers(0, 6, size=(3, 2)), None),
                      label="large logits (±1e4)"))
    return cases


register(Exercise(
    name="softmax_cross_entropy", lab="02", number="2.3",
    reference=layers.softmax_cross_entropy, cases=ce_cases, outputs=("loss", "dlogits"),
    rtol=FWD_RTOL, atol=1e-12,
    hints={
        "loss": "The mean of -log p(target) over the positions where mask is True (all if mask "
                "is None): divide by the number of counted positions, not by N*T.",
        "dlogits": "dlogits = (softmax - one_hot(target)) * mask / count: the same scale as the "
                   "loss, and zero on masked positions.",
        "shape": "dlogits has the shape of logits (N, T, V).",
        "error": "Subtract the max of each row before exp, so exp never overflows.",
        "return": "Return the loss (a float) and dlogits (N, T, V): return loss, dlogits.",
    },
    bugs=(
        KnownBug("no max subtraction", "exp overflows for large logits: subtract each row's "
                 "max first (shifted = logits - logits.max(axis=-1, keepdims=True)); softmax "
                 "does not change.", m.ce_no_max_shift),
        KnownBug("divides by N*T", "Divide by the number of counted positions, mask.sum(), not "
                 "by N*T: padded positions are not predictions.", m.ce_divides_by_all),
        KnownBug("gradient not masked", "dlogits must be zero on masked positions: multiply "
                 "by mask[..., None].", m.ce_grad_not_masked),
        KnownBug("gradient not scaled", "The loss is a mean, so dlogits is divided by the "
                 "count too: (softmax - one_hot) * mask / count.", m.ce_grad_not_scaled),
    ),
))


# ----------------------------------------------------------------------------- backward


def step_back_cases(rng):
    x, h_prev, Wx, Wh, b = _step_fixture()
    dh = _lin(-0.8, 0.9, 2, 4)
    cases = [Case((dh, x, h_prev, Wx, Wh, b), label="fixed fixture N=2, D=3, H=4")]
    for N, D, H in [(3, 5, 2), (2, 2, 6)]:
        args = _step_random(rng, N, D, H)
        cases.append(Case((rng.standard_normal((N, H)),) + args,
                          label=f"random N={N}, D={D}, H={H}"))
    return cases


register(Exercise(
    name="rnn_step_backward", lab="02", number="2.4",
    reference=layers.rnn_step_backward, cases=step_back_cases, call=backward_call("rnn_step_forward"),
    uses=("rnn_step_forward",), outputs=("dx", "dh_prev", "dWx", "dWh", "db"),
    rtol=GRAD_RTOL, atol=1e-12,
    hints={
        "dx": "First da = dh * (1 - h**2) (the tanh derivative, with this step's h), then "
              "dx = da @ Wx.T.",
        "dh_prev": "dh_prev = da @ Wh.T: the gradient flows back through Wh transposed.",
        "dWx": "dWx = x.T @ da: (D, N) @ (N, H), summed over the batch by the product.",
        "dWh": "dWh = h_prev.T @ da: the input of Wh is h_prev, not h.",
        "db": "db = da.sum(axis=0): b is added to every row of the batch.",
        "error": "The cache is (x, h_prev, Wx, Wh, h), as rnn_step_forward returns it.",
        "return": "Return the five gradients as a tuple: return dx, dh_prev, dWx, dWh, db.",
    },
    bugs=(
        KnownBug("tanh' of h_prev", "The tanh derivative uses this step's output: "
                 "da = dh * (1 - h**2), with h from the cache, not h_prev.",
                 m.step_back_tanh_of_h_prev),
        KnownBug("no tanh derivative", "Go through the tanh first: da = dh * (1 - h**2), then "
                 "use da (not dh) in every product.", m.step_back_no_tanh_derivative),
        KnownBug("dWh from h", "dWh = h_prev.T @ da: the input of Wh is h_prev, not h.",
                 m.step_back_dWh_with_h),
        KnownBug("dh_prev not transposed", "dh_prev = da @ Wh.T: the forward multiplies "
                 "h_prev @ Wh, so the gradient goes back through Wh transposed.",
                 m.step_back_dh_prev_not_transposed),
        KnownBug("db is a mean", "db = da.sum(axis=0): b is added to every row, so its gradient "
                 "sums the rows (the 1/N is already in dh).", m.step_back_db_mean),
    ),
))


def seq_back_cases(rng):
    x, h0, Wx, Wh, b = _seq_fixture()
    dh = _lin(-0.9, 0.8, 2, 3, 5)
    cases = [Case((dh, x, h0, Wx, Wh, b), label="fixed fixture N=2, T=3, D=4, H=5")]
    for N, T, D, H in [(3, 6, 2, 4), (1, 1, 3, 2)]:
        args = _seq_random(rng, N, T, D, H)
        cases.append(Case((rng.standard_normal((N, T, H)),) + args,
                          label=f"random N={N}, T={T}, D={D}, H={H}"))
    return cases


register(Exercise(
    name="rnn_backward", lab="02", number="2.5",
    reference=layers.rnn_backward, cases=seq_back_cases, call=backward_call("rnn_forward"),
    uses=("rnn_forward",), outputs=("dx", "dh0", "dWx", "dWh", "db"),
    rtol=GRAD_RTOL, atol=1e-12,
    hints={
        "dx": "Go backwards in time; at step t the gradient into h_t is dh[:, t] plus the "
              "dh_prev that step t+1 sent back. Both must pass through that step's tanh.",
        "dh0": "dh0 is the dh_prev returned by step 0, after the whole backward loop.",
        "dWx": "The weights are shared by every step: add (+=) each step's dWx, do not overwrite.",
        "dWh": "Accumulate dWh over all steps; each step uses its own h_prev (h0 at t=0).",
        "db": "Accumulate db over all steps.",
        "error": "The cache is (x, h0, Wx, Wh, h) with h (N, T, H); step t's cache is "
                 "(x[:, t], h_prev, Wx, Wh, h[:, t]).",
        "return": "Return the five gradients as a tuple: return dx, dh0, dWx, dWh, db.",
    },
    bugs=(
        KnownBug("dh_next not added", "Step t gets dh[:, t] + dh_next: the loss at t and what "
                 "step t+1 sent back through h_t.", m.bptt_no_dh_next),
        KnownBug("gradients overwritten", "The weights are shared by every step: dWx += ..., "
                 "dWh += ..., db += ... (with = only step 0's gradient is left).",
                 m.bptt_overwrites),
        KnownBug("h_prev is h", "Step t's h_prev is h[:, t-1] (h0 at t = 0), not h[:, t].",
                 m.bptt_h_prev_is_h),
    ),
))
