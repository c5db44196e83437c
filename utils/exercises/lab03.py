"""Exercises of lab 03, an LSTM from scratch (solutions/03_lstm_from_scratch.ipynb).

    3.1 sigmoid              a logistic function that never overflows
    3.2 lstm_step_forward    one LSTM step, fused gates in the order i, f, g, o
    3.3 lstm_forward         the LSTM over a sequence, calling the step
    3.4 lstm_step_backward   the gradients of one step
    3.5 lstm_backward        backpropagation through time, carrying dh and dc

Fixed fixtures are np.linspace ramps with non-trivial weights and biases (zeros and
identities hide bugs such as a missing bias or a transposed Wh); random cases come from the
rng the check passes in. Everything is float64, so the tolerances can be tight. The forward checks also compare
the caches the skeletons fix (the backward exercises read them); the known mistakes
(``bugs``) are in mistakes_lab03.py.
"""

import numpy as np

from utils import layers
from utils.checks import Case, Exercise, KnownBug, backward_call, register
from utils.exercises import mistakes_lab03 as m

LAB = "03"


def _ramp(lo, hi, *shape):
    """A deterministic, non-trivial array: a linspace ramp reshaped to `shape`."""
    return np.linspace(lo, hi, int(np.prod(shape))).reshape(shape)


def _fixed_step(N=2, D=3, H=4):
    """(x, h_prev, c_prev, Wx, Wh, b) for one step; gate pre-activations span both signs."""
    x = _ramp(-0.4, 0.7, N, D)
    h_prev = _ramp(-0.3, 0.5, N, H)
    c_prev = _ramp(0.6, -0.8, N, H)
    Wx = _ramp(-0.9, 0.8, D, 4 * H)
    Wh = _ramp(0.5, -0.7, H, 4 * H)
    b = _ramp(-0.2, 0.3, 4 * H)
    return x, h_prev, c_prev, Wx, Wh, b


def _random_step(rng, N, D, H):
    return (rng.standard_normal((N, D)), 0.5 * rng.standard_normal((N, H)),
            0.5 * rng.standard_normal((N, H)), rng.standard_normal((D, 4 * H)) / np.sqrt(D),
            rng.standard_normal((H, 4 * H)) / np.sqrt(H), 0.1 * rng.standard_normal(4 * H))


def _fixed_seq(N=2, T=3, D=3, H=4):
    """(x, h0, c0, Wx, Wh, b) for a sequence."""
    x = _ramp(-0.4, 0.7, N, T, D)
    h0 = _ramp(-0.3, 0.5, N, H)
    c0 = _ramp(0.6, -0.8, N, H)
    Wx = _ramp(-0.9, 0.8, D, 4 * H)
    Wh = _ramp(0.5, -0.7, H, 4 * H)
    b = _ramp(-0.2, 0.3, 4 * H)
    return x, h0, c0, Wx, Wh, b


def _random_seq(rng, N, T, D, H):
    return (rng.standard_normal((N, T, D)), 0.5 * rng.standard_normal((N, H)),
            0.5 * rng.standard_normal((N, H)), rng.standard_normal((D, 4 * H)) / np.sqrt(D),
            rng.standard_normal((H, 4 * H)) / np.sqrt(H), 0.1 * rng.standard_normal(4 * H))


# ----------------------------------------------------------------------------- 3.1 sigmoid


def sigmoid_cases(rng):
    return [
        Case((_ramp(-6.0, 6.0, 3, 4),), label="fixed ramp from -6 to 6, shape (3, 4)"),
        Case((np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4]),),
             label="extreme inputs ±1e4, ±800, ±40, 0"),
        Case((rng.standard_normal((4, 5)) * 10,), label="random shape (4, 5)"),
    ]


def call_sigmoid(fn, case, uses):
    # Overflow is an error here (the check silences warnings otherwise): exp(800) is inf in
    # float64, and a sigmoid that passes through inf is one step away from inf/inf = NaN.
    # Underflow to 0 is harmless and allowed.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        return fn(*case.args)


register(Exercise(
    name="sigmoid", lab=LAB, number="3.1",
    reference=layers.sigmoid, cases=sigmoid_cases, outputs=("s",), call=call_sigmoid,
    hints={
        "error": "1 / (1 + np.exp(-x)) overflows for x < -709: np.exp(-x) is inf. Take exp only "
                 "of -|x| (never positive) and use np.where to pick the formula for each sign.",
        "s": "For x >= 0 use 1 / (1 + exp(-x)); for x < 0 use exp(x) / (1 + exp(x)); both are "
             "the same function.",
        "shape": "sigmoid works elementwise: the output has the shape of x.",
    },
    bugs=(
        KnownBug("naive formula", "1 / (1 + np.exp(-x)) overflows for x < -709: np.exp(-x) is "
                 "inf. Take exp only of -|x| and pick the formula for each sign with np.where.",
                 m.sigmoid_naive),
        KnownBug("tanh", "np.tanh has the range (-1, 1); the sigmoid is 1 / (1 + exp(-x)), in "
                 "(0, 1) (it equals 0.5 * (1 + tanh(x / 2))).", m.sigmoid_is_tanh),
        KnownBug("one branch for every x", "z / (1 + z) with z = exp(-|x|) is sigmoid(-|x|): "
                 "right for x < 0 only. For x >= 0 use 1 / (1 + z); np.where picks per entry.",
                 m.sigmoid_negative_branch_only),
    ),
    rtol=1e-12, atol=0.0,
))


# ----------------------------------------------------------------------------- 3.2 step forward


def step_forward_cases(rng):
    cases = [Case(_fixed_step(), label="fixed fixture N=2, D=3, H=4")]
    for N, D, H in [(3, 5, 2), (1, 2, 6)]:
        cases.append(Case(_random_step(rng, N, D, H), label=f"random N={N}, D={D}, H={H}"))
    return cases


register(Exercise(
    name="lstm_step_forward", lab=LAB, number="3.2",
    reference=layers.lstm_step_forward, cases=step_forward_cases, outputs=("h", "c"),
    hints={
        "c": "c = f * c_prev + i * g, with the gate blocks in the order i, f, g, o: i is "
             "a[:, :H], f is a[:, H:2H], g is a[:, 2H:3H] (tanh, not sigmoid), o is a[:, 3H:].",
        "h": "h = o * tanh(c), with the new c (not c_prev); o is the last block a[:, 3H:].",
        "shape": "a = x @ Wx + h_prev @ Wh + b is (N, 4H); each gate is an (N, H) slice of it.",
        "cache": "The cache is (x, h_prev, c_prev, Wx, Wh, c, gates) with c the new cell state "
                 "and gates the ACTIVATED i, f, g, o side by side (N, 4H): the backward reads "
                 "sigmoid'(a) as i * (1 - i) from them.",
        "return": "Return h, c and the cache: return h, c, (x, h_prev, c_prev, Wx, Wh, c, gates).",
    },
    cache=("x", "h_prev", "c_prev", "Wx", "Wh", "c", "gates"),
    bugs=(
        KnownBug("g through a sigmoid", "The candidate g = tanh(a[:, 2H:3H]) (range -1..1); "
                 "only i, f and o go through the sigmoid.", m.step_g_sigmoid),
        KnownBug("gate order i, f, o, g", "The blocks are in the order i, f, g, o (as in "
                 "torch.nn.LSTM): g is a[:, 2H:3H] and o is a[:, 3H:].", m.step_order_ifog),
        KnownBug("h from c_prev", "h = o * tanh(c) with the NEW c, computed on the line before.",
                 m.step_h_from_c_prev),
        KnownBug("cache holds pre-activations", "Store the activated gates in the cache "
                 "(np.concatenate([i, f, g, o], axis=1)), not the pre-activations a: the "
                 "backward computes sigmoid' as i * (1 - i) from them.",
                 m.step_caches_preactivations),
    ),
    rtol=1e-7, atol=1e-12,
))


# ----------------------------------------------------------------------------- 3.3 sequence forward


def forward_cases(rng):
    cases = [Case(_fixed_seq(), label="fixed fixture N=2, T=3, D=3, H=4")]
    x, _, _, Wx, Wh, b = _fixed_seq()
    cases.append(Case((x, None, None, Wx, Wh, b), label="fixed fixture with h0 = c0 = None"))
    for N, T, D, H in [(3, 5, 2, 3), (1, 7, 4, 2)]:
        cases.append(Case(_random_seq(rng, N, T, D, H), label=f"random N={N}, T={T}, D={D}, H={H}"))
    return cases


register(Exercise(
    name="lstm_forward", lab=LAB, number="3.3",
    reference=layers.lstm_forward, cases=forward_cases, outputs=("h",),
    hints={
        "h": "Carry both h and c from one step to the next (c_prev of step t is the c of step "
             "t-1), start from h0 and c0 (zeros when None), and store h at every step.",
        "shape": "h holds every step's hidden state: (N, T, H).",
        "error": "x[:, t] is the (N, D) input of step t; h0 and c0 may be None (use zeros).",
        "cache": "Fill the arrays of the cache at every step: hs[:, t] = h, cs[:, t] = c (the new "
                 "c) and gates[:, t] = the step's activated gates (the last entry of its cache); "
                 "lstm_backward reads all three.",
        "return": "Return hs and the cache dict the skeleton builds: return hs, cache.",
    },
    cache=("x", "h0", "c0", "Wx", "Wh", "h", "c", "gates"), cache_dict=True,
    bugs=(
        KnownBug("c not carried", "Carry c like h: step t's c_prev is the c of step t-1 "
                 "(c0 at t = 0), not c0 at every step.", m.seq_c_not_carried),
        KnownBug("stores c_prev", "Store the NEW c of step t at cs[:, t] (the one the step "
                 "returned), not the c_prev it started from.", m.seq_stores_c_prev),
        KnownBug("h0 and c0 swapped", "lstm_step_forward takes (x, h_prev, c_prev, ...): start "
                 "with h = h0 and c = c0, in that order.", m.seq_h0_c0_swapped),
    ),
    rtol=1e-7, atol=1e-12,
))


# ----------------------------------------------------------------------------- 3.4 step backward


def step_backward_cases(rng):
    N, D, H = 2, 3, 4
    cases = [Case((_ramp(-1.0, 0.8, N, H), _ramp(0.7, -0.5, N, H)) + _fixed_step(N, D, H),
                  label="fixed fixture N=2, D=3, H=4")]
    cases.append(Case((np.zeros((N, H)), _ramp(0.7, -0.5, N, H)) + _fixed_step(N, D, H),
                      label="fixed fixture with dh = 0 (gradient only through c)"))
    for N, D, H in [(3, 5, 2), (1, 2, 6)]:
        cases.append(Case((rng.standard_normal((N, H)), rng.standard_normal((N, H)))
                          + _random_step(rng, N, D, H), label=f"random N={N}, D={D}, H={H}"))
    # diagnostic cases: the gradient through h only, and a single unit
    cases.append(Case((_ramp(-1.0, 0.8, N, H), np.zeros((N, H))) + _fixed_step(N, D, H),
                      label="fixed fixture with dc = 0 (gradient only through h)"))
    cases.append(Case((_ramp(-1.0, 0.8, 2, 1), _ramp(0.7, -0.5, 2, 1)) + _fixed_step(2, 3, 1),
                      label="fixed fixture with a single unit H=1"))
    return cases


_GATES = (
    ("input gate i", "i = sigmoid(a_i)", "i * (1 - i)", "di = dc_total * g",
     "da[:, :H] = dc_total * g * i * (1 - i)"),
    ("forget gate f", "f = sigmoid(a_f)", "f * (1 - f)", "df = dc_total * c_prev",
     "da[:, H:2H] = dc_total * c_prev * f * (1 - f)"),
    ("candidate g", "g = tanh(a_g)", "1 - g**2", "dg = dc_total * i",
     "da[:, 2H:3H] = dc_total * i * (1 - g**2)"),
    ("output gate o", "o = sigmoid(a_o)", "o * (1 - o)", "do = dh * tanh(c)",
     "da[:, 3H:] = dh * tanh(c) * o * (1 - o)"),
)


def explain_step_backward(cases, got, want):
    """Which gate's block of da is wrong, read from db (db = da summed over the batch, so its
    four blocks are the four gates): first the gate, then its local derivative, then the
    formula. () when every gate is right (then the per-output hint says more)."""
    for g, w in zip(got, want):
        if not isinstance(g, dict) or g["db"].shape != w["db"].shape:
            continue
        H = w["db"].shape[0] // 4
        for k, (gate, forward, local, upstream, formula) in enumerate(_GATES):
            block = slice(k * H, (k + 1) * H)
            if not np.allclose(g["db"][block], w["db"][block], rtol=1e-6, atol=1e-10):
                return (f"The gradient of the {gate} (block {k} of da, seen in db) is the first "
                        f"that is wrong.",
                        f"{forward}: its local derivative is {local}, and {upstream} (with "
                        f"dc_total = dc + dh * o * (1 - tanh(c)**2)).",
                        formula + ".")
    return ()


register(Exercise(
    name="lstm_step_backward", lab=LAB, number="3.4", explain=explain_step_backward,
    reference=layers.lstm_step_backward, cases=step_backward_cases,
    outputs=("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"),
    call=backward_call("lstm_step_forward", n_upstream=2), uses=("lstm_step_forward",),
    hints={
        "dc_prev": "dc_prev = dc_total * f, where dc_total = dc + dh * o * (1 - tanh(c)^2): the "
                   "cell state gets gradient from h = o * tanh(c) and from the next step.",
        "dx": "Build da (N, 4H), the gradient at the pre-activations (di * i(1-i), df * f(1-f), "
              "dg * (1-g^2), do * o(1-o)), then dx = da @ Wx.T.",
        "dh_prev": "dh_prev = da @ Wh.T (transposed: the forward multiplies h_prev @ Wh).",
        "dWx": "dWx = x.T @ da, with da the (N, 4H) pre-activation gradient in the order i, f, g, o.",
        "dWh": "dWh = h_prev.T @ da (h_prev, not h).",
        "db": "db sums da over the batch (axis 0).",
        "error": "The cache is (x, h_prev, c_prev, Wx, Wh, c, gates) with gates the activated "
                 "(N, 4H) values i, f, g, o.",
        "return": "Return the six gradients as a tuple: return dx, dh_prev, dc_prev, dWx, dWh, db.",
    },
    bugs=(
        KnownBug("missing dc term", "The cell state also gets the gradient dc from step t+1: "
                 "dc_total = dc + dh * o * (1 - tanh(c)**2). (With dh = 0 your gradients are "
                 "all zero.)", m.step_back_missing_dc, steps=(
                     "The gradients of the gates i, f and g are wrong and o is right: what the "
                     "three share is dc_total, the gradient into c. On the case dh = 0 all your "
                     "gradients are zero.",)),
        KnownBug("tanh' as 1 - g", "The derivative of g = tanh(a) is 1 - g**2, not 1 - g.",
                 m.step_back_one_minus_g, steps=(
                     "Only the candidate g's block of da (columns 2H:3H) is wrong.",
                     "g = tanh(a_g): multiply dg = dc_total * i by tanh's local derivative.")),
        KnownBug("df with c", "df = dc_total * c_prev: in c = f * c_prev + i * g, f multiplies "
                 "the PREVIOUS cell state.", m.step_back_f_uses_c, steps=(
                     "Only the forget gate f's block of da (columns H:2H) is wrong.",
                     "The local derivative f * (1 - f) is right; check df, what multiplies f in "
                     "c = f * c_prev + i * g.")),
        KnownBug("da in the order i, f, o, g", "Put the blocks of da in the forward's order "
                 "i, f, g, o: [di, df, dg, do] side by side.", m.step_back_order_ifog, steps=(
                     "The blocks of g and o in da (columns 2H:3H and 3H:4H) are wrong, i and f "
                     "are right.",)),
        KnownBug("dc_prev without f", "dc_prev = dc_total * f: c_prev reaches c only through "
                 "the product f * c_prev.", m.step_back_dc_prev_without_f, steps=(
                     "Every gate's gradient is right; only dc_prev, the gradient sent back "
                     "along the cell path, is wrong.",)),
    ),
    rtol=1e-7, atol=1e-12,
))


# ----------------------------------------------------------------------------- 3.5 BPTT


def backward_cases(rng):
    N, T, D, H = 2, 3, 3, 4
    cases = [Case((_ramp(-1.0, 0.8, N, T, H),) + _fixed_seq(N, T, D, H),
                  label="fixed fixture N=2, T=3, D=3, H=4")]
    dh_last = np.zeros((N, T, H))
    dh_last[:, -1] = _ramp(-1.0, 0.8, N, H)
    cases.append(Case((dh_last,) + _fixed_seq(N, T, D, H),
                      label="fixed fixture, loss on the last step only"))
    for N, T, D, H in [(3, 5, 2, 3), (1, 7, 4, 2)]:
        cases.append(Case((rng.standard_normal((N, T, H)),) + _random_seq(rng, N, T, D, H),
                          label=f"random N={N}, T={T}, D={D}, H={H}"))
    return cases


register(Exercise(
    name="lstm_backward", lab=LAB, number="3.5",
    reference=layers.lstm_backward, cases=backward_cases,
    outputs=("dx", "dh0", "dc0", "dWx", "dWh", "db"),
    call=backward_call("lstm_forward"), uses=("lstm_forward",),
    hints={
        "dWh": "Each step's parameter gradients must be added up (+=) over all T steps, and each "
               "step gets dh[:, t] plus the dh_prev of step t+1.",
        "dWx": "Add up dWx over all T steps (+=, not =).",
        "db": "Add up db over all T steps (+=, not =).",
        "dx": "Step t gets dh[:, t] + dh_next (from step t+1) and dc_next; go through t in "
              "reversed order.",
        "dh0": "dh0 is the dh_prev of step 0, after the loop has run over every t in reverse.",
        "dc0": "dc0 is the dc_prev of step 0: the cell gradient must be carried from step to "
               "step too (dc_next), not reset to zero.",
        "error": "For step t, c_prev is c[:, t-1], or c0 when t == 0; rebuild the step's cache "
                 "(x[:, t], h_prev, c_prev, Wx, Wh, c[:, t], gates[:, t]).",
        "return": "Return the six gradients as a tuple: return dx, dh0, dc0, dWx, dWh, db.",
    },
    bugs=(
        KnownBug("dc_next reset", "Carry dc_next from step to step (the dc_prev that step t+1 "
                 "returned); resetting it to zero cuts the cell-state path the LSTM is built for.",
                 m.bptt_dc_reset),
        KnownBug("dh_next not added", "Step t gets dh[:, t] + dh_next: the loss at step t and "
                 "what step t+1 sent back through h_t.", m.bptt_no_dh_next),
        KnownBug("gradients overwritten", "The weights are shared by every step: dWx += ..., "
                 "dWh += ..., db += ... (with = only step 0's gradient is left).",
                 m.bptt_overwrites),
    ),
    rtol=1e-7, atol=1e-12,
))
