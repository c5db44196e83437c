"""The members of an ensemble of recurrent language models, stacked: parameters, forward, backward.

S small models side by side along a leading member axis, so every member's step is one
batched matrix product. The members never interact: each has its own initial weights (from
its own weight seed); utils.ensemble trains them, each in its own batch order.

The equations are those of `torch.nn.RNN` (tanh), `torch.nn.LSTM` (gate order i, f, g, o;
one bias, the sum of PyTorch's two) and `torch.nn.GRU` (gate order r, z, n; PyTorch's
variant, where the reset gate multiplies h W_hn + b_hn, after the product), followed by a
linear output layer at every step; forward and backward are written out in NumPy like the
labs' layers. tests/test_ensemble.py checks the logits against the torch modules and the
gradients against torch.autograd.

Shapes: S members, N sequences, T steps, V vocabulary, H hidden units, G gate width
(H for rnn, 4H for lstm, 3H for gru). Parameters: Wx (S, V, G), Wh (S, H, G), b (S, G),
for the GRU also bh (S, G), Wy (S, H, V), by (S, V).
"""

import math

import numpy as np

from utils.validate import positive_int

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))            # exact, and no overflow for large |a|


def per_member(name, value, S):
    """A number or a length-S sequence (one value per member) -> (S,) float64 array."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(S, float(arr))
    if arr.shape != (S,):
        raise ValueError(f"ensemble: {name} must be a number or have one value per member "
                         f"({S}), got shape {arr.shape}")
    return arr


def init_params(cell, V, H, weight_seeds, forget_bias=0.0, dtype=np.float32):
    """Initial parameters of S = len(weight_seeds) members, arrays of `dtype`.

    float32 is the default: tanh and exp, most of the work, are several times faster in
    float32, and training does not need more precision (the gradient tests use float64).

    Every weight is uniform in ±1/sqrt(H) like torch's recurrent layers (output bias 0),
    member s drawing from np.random.default_rng(weight_seeds[s]). forget_bias (a number or
    one per member) then sets the LSTM's forget-gate bias: torch draws it like the others,
    SequenceModel and RecurrentLM set it to 1, so an experiment must say which it uses.
    """
    if cell not in GATES:
        raise ValueError(f"init_params: cell must be one of {sorted(GATES)}, got {cell!r}")
    V = positive_int("init_params", "V", V)
    H = positive_int("init_params", "H", H)
    S = len(weight_seeds)
    G = GATES[cell] * H
    k = 1.0 / math.sqrt(H)
    shapes = {"Wx": (V, G), "Wh": (H, G), "b": (G,), "Wy": (H, V)}
    if cell == "gru":
        shapes["bh"] = (G,)
    params = {name: np.empty((S,) + shape) for name, shape in shapes.items()}
    for s, seed in enumerate(weight_seeds):
        rng = np.random.default_rng(seed)
        for name, shape in shapes.items():
            params[name][s] = rng.uniform(-k, k, shape)
    params["by"] = np.zeros((S, V))
    if cell == "lstm":
        params["b"][:, H:2 * H] = per_member("forget_bias", forget_bias, S)[:, None]
    return {name: p.astype(dtype) for name, p in params.items()}


def count_parameters(params):
    """Parameters of one member."""
    return int(sum(p[0].size for p in params.values()))


def _cell(params):
    G, H = params["Wh"].shape[2], params["Wh"].shape[1]
    return "gru" if "bh" in params else {H: "rnn", 4 * H: "lstm"}[G]


def forward(params, x):
    """Logits of every member and a cache for backward.

    x: (S, N, T) ids (one batch per member) or (N, T) (the same for all) -> (S, N, T, V).
    """
    cell = _cell(params)
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    S, V, G = Wx.shape
    H = Wh.shape[1]
    x = np.asarray(x)
    if x.ndim == 2:
        x = np.broadcast_to(x, (S,) + x.shape)
    _, N, T = x.shape
    xw = Wx[np.arange(S)[:, None, None], x] + b[:, None, None]    # (S, N, T, G) input part
    dt = Wx.dtype
    h = np.zeros((S, N, H), dt)
    c = np.zeros((S, N, H), dt)
    hs = np.empty((S, N, T + 1, H), dt)                                # hs[:, :, 0] = h_0
    hs[:, :, 0] = h
    cs = np.zeros((S, N, T + 1, H), dt) if cell == "lstm" else None
    acts = np.empty((S, N, T, G), dt)                              # activated gates
    hn = np.empty((S, N, T, H), dt) if cell == "gru" else None        # h W_hn + b_hn (gru)
    for t in range(T):
        a = xw[:, :, t] + h @ Wh                                   # (S, N, G)
        if cell == "rnn":
            h = np.tanh(a)
            acts[:, :, t] = h
        elif cell == "lstm":
            act = np.concatenate([_sigmoid(a[..., :2 * H]), np.tanh(a[..., 2 * H:3 * H]),
                                  _sigmoid(a[..., 3 * H:])], axis=-1)
            i, f, g, o = np.split(act, 4, axis=-1)
            c = f * c + i * g
            h = o * np.tanh(c)
            acts[:, :, t], cs[:, :, t + 1] = act, c
        else:
            hw = h @ Wh + params["bh"][:, None]
            a = xw[:, :, t]
            rz = _sigmoid(a[..., :2 * H] + hw[..., :2 * H])
            z = rz[..., H:]
            n = np.tanh(a[..., 2 * H:] + rz[..., :H] * hw[..., 2 * H:])   # r after the product
            h = (1 - z) * n + z * h
            acts[:, :, t] = np.concatenate([rz, n], axis=-1)
            hn[:, :, t] = hw[..., 2 * H:]
        hs[:, :, t + 1] = h
    logits = hs[:, :, 1:].reshape(S, N * T, H) @ params["Wy"] + params["by"][:, None]
    return logits.reshape(S, N, T, V), (cell, x, hs, cs, acts, hn)


def backward(params, dlogits, cache):
    """Gradients of every member's loss: dlogits (S, N, T, V) -> dict keyed like params."""
    cell, x, hs, cs, acts, hn = cache
    Wh, Wy = params["Wh"], params["Wy"]
    S, N, T, V = dlogits.shape
    H = Wh.shape[1]
    dl = dlogits.reshape(S, N * T, V)
    hflat = hs[:, :, 1:].reshape(S, N * T, H)
    grads = {"Wy": hflat.transpose(0, 2, 1) @ dl, "by": dl.sum(axis=1)}
    dh_out = (dl @ Wy.transpose(0, 2, 1)).reshape(S, N, T, H)
    da_all = np.empty_like(acts)                                   # d(input part) per step
    dWh = np.zeros_like(Wh)
    dbh = np.zeros((S, Wh.shape[2]), Wh.dtype)
    dh_next = np.zeros((S, N, H), Wh.dtype)
    dc_next = np.zeros((S, N, H), Wh.dtype)
    WhT = Wh.transpose(0, 2, 1)
    for t in reversed(range(T)):
        dh = dh_out[:, :, t] + dh_next
        h_prev = hs[:, :, t]
        if cell == "rnn":
            h = acts[:, :, t]
            da = dh * (1 - h * h)
            dgh = da
        elif cell == "lstm":
            i, f, g, o = np.split(acts[:, :, t], 4, axis=-1)
            tc = np.tanh(cs[:, :, t + 1])
            dc = dc_next + dh * o * (1 - tc * tc)
            da = np.concatenate([dc * g * i * (1 - i), dc * cs[:, :, t] * f * (1 - f),
                                 dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=-1)
            dc_next = dc * f
            dgh = da
        else:
            r, z, n = np.split(acts[:, :, t], 3, axis=-1)
            dn = dh * (1 - z)
            dan = dn * (1 - n * n)
            dar = dan * hn[:, :, t] * r * (1 - r)
            daz = dh * (h_prev - n) * z * (1 - z)
            da = np.concatenate([dar, daz, dan], axis=-1)          # into x W_x + b
            dgh = np.concatenate([dar, daz, dan * r], axis=-1)     # into h W_h + b_h
            dbh += dgh.sum(axis=1)
        da_all[:, :, t] = da
        dWh += h_prev.transpose(0, 2, 1) @ dgh
        dh_next = dgh @ WhT + (dh * z if cell == "gru" else 0.0)
    grads["Wh"] = dWh
    grads["b"] = da_all.sum(axis=(1, 2))
    onehot = (x.reshape(S, N * T, 1) == np.arange(params["Wx"].shape[1])).astype(Wh.dtype)
    grads["Wx"] = onehot.transpose(0, 2, 1) @ da_all.reshape(S, N * T, -1)
    if cell == "gru":
        grads["bh"] = dbh
    return grads


def loss_and_grads(params, x, y, mask):
    """Mean masked cross-entropy of each member, (S,), and the gradients of each member's
    own loss. x, y, mask: (S, N, T) or (N, T)."""
    logits, cache = forward(params, x)
    S, N, T, V = logits.shape
    y = np.broadcast_to(y, (S, N, T))
    mask = np.broadcast_to(mask, (S, N, T)).astype(logits.dtype)
    count = mask.sum(axis=(1, 2))                                   # (S,)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    losses = (nll * mask).sum(axis=(1, 2)) / count
    dlogits = np.exp(logp)
    np.put_along_axis(dlogits, y[..., None], np.take_along_axis(dlogits, y[..., None], -1) - 1, -1)
    dlogits *= (mask / count[:, None, None])[..., None]
    return losses, backward(params, dlogits, cache)


def losses(params, x, y, mask):
    """Mean masked cross-entropy of each member, (S,), without gradients."""
    logits, _ = forward(params, x)
    S, N, T, _ = logits.shape
    y = np.broadcast_to(y, (S, N, T))
    mask = np.broadcast_to(mask, (S, N, T))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    return (nll * mask).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))


def select(params, members):
    """The parameters of some members only: members, a list of indices -> params of len(members)."""
    return {k: p[members].copy() for k, p in params.items()}


def predict(params, x):
    """Greedy next-token ids of every member: (N, T) ids -> (S, N, T)."""
    return forward(params, x)[0].argmax(axis=-1)
