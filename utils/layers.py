"""Reference layers in NumPy: forward returns (out, cache), backward takes (dout, cache).

Shapes (batch-major, like PyTorch's batch_first=True):
    N batch, T time steps, D input features, H hidden units, V output classes.

LSTM weights are fused in PyTorch's gate order i, f, g, o:
    Wx: (D, 4H), Wh: (H, 4H), b: (4H,), so columns [0:H] are the input gate, [H:2H] the
    forget gate, [2H:3H] the candidate g, [3H:4H] the output gate. torch.nn.LSTM stores the
    transposes (weight_ih_l0 = Wx.T), which makes the bridge a copy and a transpose.

Every function computes in the dtype of its inputs (float32 or float64) and checks shapes
and dtypes up front, naming the argument and the expected shape.

Speed: the sequence functions compute x @ Wx for all time steps in one matrix product and
the parameter gradients in one product after the time loop; only the recurrent h @ Wh is
inside the loop. The step functions and the sequence functions share the same cell code
(`_rnn_cell`, `_lstm_cell`), so what a student writes for one step is what runs in time.

Outputs never share memory with the cache: a caller may edit a returned h or c in place
(`h *= mask[..., None]`) and the backward still sees the forward's values.
"""

import numpy as np

from utils.validate import Dims, nonempty_time
# The losses live in utils.losses; they are part of this module's public names too, so
# `from utils.layers import softmax_cross_entropy` keeps working.
from utils.losses import mse_loss, softmax_cross_entropy  # noqa: F401

# ----------------------------------------------------------------------------- activations


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), without overflow for any float input.

    exp is only ever taken of -|x| <= 0, so it lies in (0, 1]; both branches are then exact
    (no 1 - (tiny) cancellation), which keeps gradient checks accurate for large |x|.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"sigmoid: x must be a float array, got dtype {x.dtype}")
    z = np.exp(-np.abs(x))
    s = 1.0 / (1.0 + z)
    return np.where(x >= 0, s, z * s)


# ----------------------------------------------------------------------------- RNN


def _rnn_cell(a_x, h_prev, Wh):
    """h = tanh(a_x + h_prev @ Wh), where a_x = x @ Wx + b is computed by the caller."""
    return np.tanh(a_x + h_prev @ Wh)


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One time step of a tanh RNN: h = tanh(x @ Wx + h_prev @ Wh + b).

    x: (N, D); h_prev: (N, H); Wx: (D, H); Wh: (H, H); b: (H,)
    Returns h: (N, H) and a cache for rnn_step_backward.
    """
    dims = Dims("rnn_step_forward")
    x = dims.array("x", x, ("N", "D"))
    Wx = dims.array("Wx", Wx, ("D", "H"))
    h_prev = dims.array("h_prev", h_prev, ("N", "H"))
    Wh = dims.array("Wh", Wh, ("H", "H"))
    b = dims.array("b", b, ("H",))
    h = _rnn_cell(x @ Wx + b, h_prev, Wh)
    return h, (x, h_prev, Wx, Wh, h.copy())      # the copy: h may be edited by the caller


def rnn_step_backward(dh, cache):
    """Backward of rnn_step_forward.

    dh: (N, H) upstream gradient of the loss with respect to h.
    Returns dx (N, D), dh_prev (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, h_prev, Wx, Wh, h = cache
    dh = Dims("rnn_step_backward").array("dh", dh, h.shape)
    da = dh * (1.0 - h * h)            # tanh'(a) = 1 - tanh(a)^2 = 1 - h^2
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """A tanh RNN over a whole sequence.

    x: (N, T, D); h0: (N, H) or None for zeros; Wx: (D, H); Wh: (H, H); b: (H,)
    Returns h: (N, T, H), the hidden state at every step, and a cache for rnn_backward.
    """
    dims = Dims("rnn_forward")
    x = dims.array("x", x, ("N", "T", "D"))
    nonempty_time("rnn_forward", "x", x.shape[1])
    Wh = dims.array("Wh", Wh, ("H", "H"))     # first: Wh alone fixes H unambiguously
    Wx = dims.array("Wx", Wx, ("D", "H"))
    b = dims.array("b", b, ("H",))
    N, T, _ = x.shape
    H = Wh.shape[0]
    h0 = np.zeros((N, H), x.dtype) if h0 is None else dims.array("h0", h0, ("N", "H"))

    a_x = x @ Wx + b                   # (N, T, H): the input part of every step at once
    hs = np.empty((N, T, H), x.dtype)
    h = h0
    for t in range(T):
        h = hs[:, t] = _rnn_cell(a_x[:, t], h, Wh)
    return hs.copy(), (x, h0, Wx, Wh, hs)        # the copy: the output may be edited in place


def rnn_backward(dh, cache):
    """Backpropagation through time for rnn_forward.

    dh: (N, T, H) gradient of the loss with respect to every hidden state (from the
    output layer; zero where a step has no loss).
    Returns dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, h0, Wx, Wh, hs = cache
    dh = Dims("rnn_backward").array("dh", dh, hs.shape)
    N, T, H = hs.shape
    D = x.shape[2]
    da = np.empty_like(hs)             # (N, T, H) gradient at each step's pre-activation
    dh_next = np.zeros_like(h0)        # what flows into h_t from step t+1
    for t in reversed(range(T)):
        da[:, t] = (dh[:, t] + dh_next) * (1.0 - hs[:, t] * hs[:, t])
        dh_next = da[:, t] @ Wh.T
    h_prevs = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)   # (N, T, H): h_{t-1}
    da2 = da.reshape(N * T, H)
    dx = (da2 @ Wx.T).reshape(N, T, D)           # explicit sizes: -1 is ambiguous when N = 0
    dWx = x.reshape(N * T, D).T @ da2
    dWh = h_prevs.reshape(N * T, H).T @ da2
    return dx, dh_next, dWx, dWh, da2.sum(axis=0)


# ----------------------------------------------------------------------------- LSTM


def _sigmoid_inplace(a):
    """a <- sigmoid(a), in place, computed exactly as `sigmoid` does.

    With z = exp(-|a|) in (0, 1]: sigmoid(a) = 1 / (1 + z) for a >= 0 and z / (1 + z) for
    a < 0. Neither form subtracts nearly equal numbers, so every value keeps full relative
    precision (the shorter 0.5 * (1 + tanh(a / 2)) loses it all below a = -38, where it
    returns exactly 0 for a gate that is 1e-17, not 0).
    """
    negative = a < 0
    np.abs(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)                                 # z
    numerator = np.where(negative, a, 1.0)           # z where a < 0, else 1
    a += 1.0
    np.divide(numerator, a, out=a)
    return a


def _lstm_cell(a, h_prev, c_prev, Wh, h_out=None, c_out=None):
    """One LSTM step given a = x @ Wx + b, an (N, 4H) array that is overwritten.

    On return `a` holds the activated gates i, f, g, o. h_out, c_out: optional (N, H)
    buffers for h and c (the sequence writes straight into its (T, N, H) storage).
    Returns h, c (both (N, H)) and the gates `a`.
    """
    H = h_prev.shape[1]
    a += h_prev @ Wh                                 # (N, 4H) pre-activations
    _sigmoid_inplace(a[:, :2 * H])                   # i, f
    np.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])   # g
    _sigmoid_inplace(a[:, 3 * H:])                   # o
    i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    c = np.multiply(f, c_prev, out=c_out)
    c += i * g
    h = np.tanh(c, out=h_out)
    h *= o
    return h, c, a


def _lstm_cell_backward(dh, dc, c_prev, c, gates, da=None):
    """Gradient at the pre-activations (N, 4H), and dc_prev (N, H), for one LSTM step.

    dh: (N, H) total gradient into h_t; dc: (N, H) gradient into c_t from step t+1.
    da: optional (N, 4H) buffer for the result.
    """
    H = c.shape[1]
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    tanh_c = np.tanh(c)
    dc = dc + dh * o * (1.0 - tanh_c * tanh_c)       # h = o * tanh(c) also depends on c
    if da is None:
        da = np.empty_like(gates)
    da[:, :H] = dc * g * i * (1.0 - i)               # di * sigmoid'
    da[:, H:2 * H] = dc * c_prev * f * (1.0 - f)     # df * sigmoid'
    da[:, 2 * H:3 * H] = dc * i * (1.0 - g * g)      # dg * tanh'
    da[:, 3 * H:] = dh * tanh_c * o * (1.0 - o)      # do * sigmoid'
    return da, dc * f


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step, gates in the order i, f, g, o:

        a = x @ Wx + h_prev @ Wh + b                 (N, 4H)
        i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
        c = f * c_prev + i * g;  h = o * tanh(c)

    x: (N, D); h_prev, c_prev: (N, H); Wx: (D, 4H); Wh: (H, 4H); b: (4H,)
    Returns h: (N, H), c: (N, H) and a cache for lstm_step_backward.
    """
    dims = Dims("lstm_step_forward")
    x = dims.array("x", x, ("N", "D"))
    h_prev = dims.array("h_prev", h_prev, ("N", "H"))
    c_prev = dims.array("c_prev", c_prev, ("N", "H"))
    Wx = dims.array("Wx", Wx, ("D", "4H"))
    Wh = dims.array("Wh", Wh, ("H", "4H"))
    b = dims.array("b", b, ("4H",))
    h, c, gates = _lstm_cell(x @ Wx + b, h_prev, c_prev, Wh)
    return h, c, (x, h_prev, c_prev, Wx, Wh, c.copy(), gates)   # c may be edited by the caller


def lstm_step_backward(dh, dc, cache):
    """Backward of lstm_step_forward.

    dh: (N, H) gradient into h; dc: (N, H) gradient into c from later steps (zeros if none).
    Returns dx (N, D), dh_prev (N, H), dc_prev (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, h_prev, c_prev, Wx, Wh, c, gates = cache
    dims = Dims("lstm_step_backward")
    dh = dims.array("dh", dh, c.shape)
    dc = dims.array("dc", dc, c.shape)
    da, dc_prev = _lstm_cell_backward(dh, dc, c_prev, c, gates)
    return da @ Wx.T, da @ Wh.T, dc_prev, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, c0, Wx, Wh, b):
    """An LSTM over a whole sequence.

    x: (N, T, D); h0, c0: (N, H) or None for zeros; Wx: (D, 4H); Wh: (H, 4H); b: (4H,)
    Returns h: (N, T, H) and a cache for lstm_backward. The cache keeps the cell states
    `cache["c"]` (N, T, H) and the activated gates `cache["gates"]` (N, T, 4H) for plotting.
    """
    dims = Dims("lstm_forward")
    x = dims.array("x", x, ("N", "T", "D"))
    nonempty_time("lstm_forward", "x", x.shape[1])
    Wh = dims.array("Wh", Wh, ("H", "4H"))    # first: Wh alone fixes H unambiguously
    Wx = dims.array("Wx", Wx, ("D", "4H"))
    b = dims.array("b", b, ("4H",))
    N, T, _ = x.shape
    H = Wh.shape[0]
    h0 = np.zeros((N, H), x.dtype) if h0 is None else dims.array("h0", h0, ("N", "H"))
    c0 = np.zeros((N, H), x.dtype) if c0 is None else dims.array("c0", c0, ("N", "H"))

    # Time-major storage (T, N, .): the slice of step t is one contiguous block, which the
    # matrix product and the element-wise work of every step read and write at full speed.
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))             # (T, N, D)
    gates = (xt.reshape(T * N, x.shape[2]) @ Wx).reshape(T, N, 4 * H)   # x @ Wx, all steps at once
    gates += b                                                  # becomes the activated gates
    hs = np.empty((T, N, H), x.dtype)
    cs = np.empty((T, N, H), x.dtype)
    h, c = h0, c0
    for t in range(T):
        h, c, _ = _lstm_cell(gates[t], h, c, Wh, h_out=hs[t], c_out=cs[t])
    # The cache shows (N, T, .) views of the same memory; lstm_backward transposes them back.
    cache = {"x": x, "h0": h0, "c0": c0, "Wx": Wx, "Wh": Wh, "h": hs.transpose(1, 0, 2),
             "c": cs.transpose(1, 0, 2), "gates": gates.transpose(1, 0, 2)}
    # A copy, always: np.ascontiguousarray would return the cached memory itself when
    # N == 1 or T == 1, and the caller may edit the output in place.
    return hs.transpose(1, 0, 2).copy(), cache


def lstm_backward(dh, cache):
    """Backpropagation through time for lstm_forward.

    dh: (N, T, H) gradient of the loss with respect to every hidden state.
    Returns dx (N, T, D), dh0 (N, H), dc0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, h0, c0, Wx, Wh = (cache[k] for k in ("x", "h0", "c0", "Wx", "Wh"))
    dh = Dims("lstm_backward").array("dh", dh, cache["h"].shape)
    # Back to time-major (T, N, .): for the cache of lstm_forward these are the original
    # contiguous arrays, not copies.
    hs, cs, gates = (cache[k].transpose(1, 0, 2) for k in ("h", "c", "gates"))
    T, N, H = hs.shape
    D = x.shape[2]
    dht = dh.transpose(1, 0, 2)                      # (T, N, H) view
    da = np.empty((T, N, 4 * H), gates.dtype)        # gradient at the pre-activations
    dh_next = np.zeros_like(h0)
    dc_next = np.zeros_like(c0)
    WhT = np.ascontiguousarray(Wh.T)                 # (4H, H), read T times
    for t in reversed(range(T)):
        c_prev = cs[t - 1] if t > 0 else c0
        _, dc_next = _lstm_cell_backward(dht[t] + dh_next, dc_next, c_prev, cs[t], gates[t],
                                         da=da[t])
        dh_next = da[t] @ WhT
    da2 = da.reshape(T * N, 4 * H)
    dx = (da2 @ Wx.T).reshape(T, N, D).transpose(1, 0, 2)           # (N, T, D)
    xt = x.transpose(1, 0, 2).reshape(T * N, D)                      # (T*N, D), rows like da2
    dWx = xt.T @ da2
    h_prevs = np.concatenate([h0[None], hs[:-1]], axis=0)           # (T, N, H): h_{t-1}
    dWh = h_prevs.reshape(T * N, H).T @ da2
    return np.ascontiguousarray(dx), dh_next, dc_next, dWx, dWh, da2.sum(axis=0)


# ----------------------------------------------------------------------------- output layers


def affine_forward(x, W, b):
    """A time-distributed affine layer: out = x @ W + b at every step.

    x: (N, T, H) or (N, H); W: (H, V); b: (V,)
    Returns out: (N, T, V) or (N, V), and a cache for affine_backward.
    """
    dims = Dims("affine_forward")
    x = np.asarray(x)
    x = dims.array("x", x, ("N", "T", "H") if x.ndim == 3 else ("N", "H"))
    W = dims.array("W", W, ("H", "V"))
    b = dims.array("b", b, ("V",))
    return x @ W + b, (x, W)


def affine_backward(dout, cache):
    """dout: like the forward output. Returns dx (like x), dW (H, V), db (V,)."""
    x, W = cache
    dout = Dims("affine_backward").array("dout", dout, x.shape[:-1] + (W.shape[1],))
    H, V = W.shape
    rows = int(np.prod(x.shape[:-1]))                # N*T (or N); explicit, since -1 fails at 0
    dout2 = dout.reshape(rows, V)                    # (N*T, V)
    return dout @ W.T, x.reshape(rows, H).T @ dout2, dout2.sum(axis=0)
