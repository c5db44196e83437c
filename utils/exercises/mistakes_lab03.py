"""Known mistakes of lab 03's exercises, one function per mistake (the catalogue).

Written the way a student would write each mistake, with the exercise's signature; paired
with hints in ``utils/exercises/lab03.py`` and asserted in tests/test_known_bugs.py.
"""

import numpy as np

from utils import layers

# ----------------------------------------------------------------------------- 3.1


def sigmoid_naive(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x)))


def sigmoid_is_tanh(x):
    return np.tanh(np.asarray(x))


def sigmoid_negative_branch_only(x):
    z = np.exp(-np.abs(np.asarray(x)))
    return z / (1.0 + z)


# ----------------------------------------------------------------------------- 3.2


def _step(x, h_prev, c_prev, Wx, Wh, b, g_act=np.tanh, order="ifgo", h_from="c", cache_pre=False):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    blocks = dict(zip(order, (a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:])))
    i, f, o = (layers.sigmoid(blocks[k]) for k in "ifo")
    g = g_act(blocks["g"])
    c = f * c_prev + i * g
    h = o * np.tanh(c if h_from == "c" else c_prev)
    gates = a if cache_pre else np.concatenate([i, f, g, o], axis=1)
    return h, c, (x, h_prev, c_prev, Wx, Wh, c, gates)


def step_g_sigmoid(x, h_prev, c_prev, Wx, Wh, b):
    return _step(x, h_prev, c_prev, Wx, Wh, b, g_act=layers.sigmoid)


def step_order_ifog(x, h_prev, c_prev, Wx, Wh, b):
    return _step(x, h_prev, c_prev, Wx, Wh, b, order="ifog")


def step_h_from_c_prev(x, h_prev, c_prev, Wx, Wh, b):
    return _step(x, h_prev, c_prev, Wx, Wh, b, h_from="c_prev")


def step_caches_preactivations(x, h_prev, c_prev, Wx, Wh, b):
    return _step(x, h_prev, c_prev, Wx, Wh, b, cache_pre=True)


# ----------------------------------------------------------------------------- 3.3


def _seq(x, h0, c0, Wx, Wh, b, carry_c=True, store_prev_c=False, swap=False):
    N, T, _ = x.shape
    H = Wh.shape[0]
    h0 = np.zeros((N, H), x.dtype) if h0 is None else h0
    c0 = np.zeros((N, H), x.dtype) if c0 is None else c0
    hs = np.zeros((N, T, H), x.dtype)
    cs = np.zeros((N, T, H), x.dtype)
    gates = np.zeros((N, T, 4 * H), x.dtype)
    h, c = (c0, h0) if swap else (h0, c0)
    for t in range(T):
        c_in = c if carry_c else c0
        h, c_new, step_cache = layers.lstm_step_forward(x[:, t], h, c_in, Wx, Wh, b)
        hs[:, t], cs[:, t] = h, (c_in if store_prev_c else c_new)
        gates[:, t] = step_cache[-1]
        c = c_new
    cache = {"x": x, "h0": h0, "c0": c0, "Wx": Wx, "Wh": Wh, "h": hs, "c": cs, "gates": gates}
    return hs, cache


def seq_c_not_carried(x, h0, c0, Wx, Wh, b):
    return _seq(x, h0, c0, Wx, Wh, b, carry_c=False)


def seq_stores_c_prev(x, h0, c0, Wx, Wh, b):
    return _seq(x, h0, c0, Wx, Wh, b, store_prev_c=True)


def seq_h0_c0_swapped(x, h0, c0, Wx, Wh, b):
    return _seq(x, h0, c0, Wx, Wh, b, swap=True)


# ----------------------------------------------------------------------------- 3.4


def _step_back(dh, dc, cache, dc_term=True, tanh_prime="1-g^2", f_uses="c_prev",
               order="ifgo", dc_prev_times_f=True):
    x, h_prev, c_prev, Wx, Wh, c, gates = cache
    H = c.shape[1]
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    tanh_c = np.tanh(c)
    dc_total = dh * o * (1 - tanh_c ** 2) + (dc if dc_term else 0)
    blocks = {
        "i": dc_total * g * i * (1 - i),
        "f": dc_total * (c_prev if f_uses == "c_prev" else c) * f * (1 - f),
        "g": dc_total * i * ((1 - g ** 2) if tanh_prime == "1-g^2" else (1 - g)),
        "o": dh * tanh_c * o * (1 - o),
    }
    da = np.concatenate([blocks[k] for k in order], axis=1)
    dc_prev = dc_total * f if dc_prev_times_f else dc_total
    return da @ Wx.T, da @ Wh.T, dc_prev, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def step_back_missing_dc(dh, dc, cache):
    return _step_back(dh, dc, cache, dc_term=False)


def step_back_one_minus_g(dh, dc, cache):
    return _step_back(dh, dc, cache, tanh_prime="1-g")


def step_back_f_uses_c(dh, dc, cache):
    return _step_back(dh, dc, cache, f_uses="c")


def step_back_order_ifog(dh, dc, cache):
    return _step_back(dh, dc, cache, order="ifog")


def step_back_dc_prev_without_f(dh, dc, cache):
    return _step_back(dh, dc, cache, dc_prev_times_f=False)


# ----------------------------------------------------------------------------- 3.5


def _bptt(dh, cache, carry_dc=True, add_next=True, accumulate=True):
    x, h0, c0, Wx, Wh = (cache[k] for k in ("x", "h0", "c0", "Wx", "Wh"))
    hs, cs, gates = cache["h"], cache["c"], cache["gates"]
    N, T, H = hs.shape
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H, x.dtype)
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(c0)
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0
        c_prev = cs[:, t - 1] if t > 0 else c0
        step = (x[:, t], h_prev, c_prev, Wx, Wh, cs[:, t], gates[:, t])
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = layers.lstm_step_backward(
            dh[:, t] + dh_next if add_next else dh[:, t],
            dc_next if carry_dc else np.zeros_like(c0), step)
        if accumulate:
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        else:
            dWx, dWh, db = dWx_t, dWh_t, db_t
    return dx, dh_next, dc_next, dWx, dWh, db


def bptt_dc_reset(dh, cache):
    return _bptt(dh, cache, carry_dc=False)


def bptt_no_dh_next(dh, cache):
    return _bptt(dh, cache, add_next=False)


def bptt_overwrites(dh, cache):
    return _bptt(dh, cache, accumulate=False)
