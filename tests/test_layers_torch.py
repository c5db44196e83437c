"""Every backward in utils.layers against torch.autograd, in float64 (relative error <= 1e-10).

Two independent torch sides:
* the references in utils.gradcheck (the formulas written with torch ops), layer by layer;
* torch.nn.RNN / nn.LSTM / nn.Linear / F.cross_entropy, for a whole model with a masked loss,
  with parameters copied through utils.torch_bridge. This also checks the references
  themselves, and that the NumPy gate order and bias convention are torch's.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import layers as L
from utils.gradcheck import LAYERS, OUTPUT_NAMES, TORCH_REFERENCES, example_inputs, rel_error
from utils.torch_bridge import linear_to_torch, lstm_to_torch, rnn_to_torch

TOL = 1e-10

# Every layer that utils.gradcheck registers with a backward, read from its registry so that a
# layer added there is tested here too: name -> (forward, backward, number of forward outputs).
LAYER_FUNCS = {name: (getattr(L, fwd), getattr(L, bwd), len(OUTPUT_NAMES[name]))
               for name, (fwd, bwd, _) in LAYERS.items() if bwd is not None}


def torch_leaves(inputs):
    return [torch.tensor(v, requires_grad=v.dtype == np.float64) if isinstance(v, np.ndarray)
            else v for v in inputs.values()]


@pytest.mark.parametrize("layer", sorted(LAYER_FUNCS))
def test_backward_matches_autograd(layer):
    forward, backward, n_out = LAYER_FUNCS[layer]
    inputs = example_inputs(layer, seed=11)
    res = forward(*inputs.values())
    outs, cache = res[:n_out], res[-1]
    rng = np.random.default_rng(12)
    douts = [rng.standard_normal(o.shape) for o in outs]
    grads = backward(*douts, cache)

    leaves = torch_leaves(inputs)
    touts = TORCH_REFERENCES[layer](*leaves)
    touts = touts if isinstance(touts, tuple) else (touts,)
    for o, t in zip(outs, touts):                     # same forward first
        assert rel_error(o, t.detach().numpy()) <= TOL
    objective = sum((t * torch.from_numpy(d)).sum() for t, d in zip(touts, douts))
    tgrads = torch.autograd.grad(objective, leaves)
    for name, g, tg in zip(inputs, grads, tgrads):
        err = rel_error(g, tg.numpy())
        assert err <= TOL, f"{layer}: d{name} differs from autograd by {err:.2e}"


@pytest.mark.parametrize("masked", [True, False])
def test_softmax_cross_entropy_matches_autograd(masked):
    logits, targets, mask = example_inputs("softmax_cross_entropy", seed=13,
                                           mask=masked).values()
    loss, dlogits = L.softmax_cross_entropy(logits, targets, mask)
    t = torch.tensor(logits, requires_grad=True)
    # F.cross_entropy wants classes on dim 1: (N, V, T).
    nll = F.cross_entropy(t.permute(0, 2, 1), torch.from_numpy(targets), reduction="none")
    m = torch.ones_like(nll, dtype=torch.bool) if mask is None else torch.from_numpy(mask)
    tloss = nll[m].mean()
    tloss.backward()
    assert abs(loss - tloss.item()) <= TOL * abs(loss)
    assert rel_error(dlogits, t.grad.numpy()) <= TOL


@pytest.mark.parametrize("masked", [True, False])
def test_mse_matches_autograd(masked):
    pred, target, mask = example_inputs("mse", seed=14, mask=masked).values()
    loss, dpred = L.mse_loss(pred, target, mask)
    t = torch.tensor(pred, requires_grad=True)
    sq = 0.5 * (t - torch.from_numpy(target)) ** 2          # (N, T, K)
    tloss = sq.mean() if mask is None else sq[torch.from_numpy(mask)].mean()
    tloss.backward()
    assert abs(loss - tloss.item()) <= TOL * abs(loss)
    assert rel_error(dpred, t.grad.numpy()) <= TOL


def test_sigmoid_matches_torch():
    x = np.linspace(-30.0, 30.0, 61)
    assert rel_error(L.sigmoid(x), torch.sigmoid(torch.from_numpy(x)).numpy()) <= 1e-15


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_model_with_masked_loss_matches_torch_modules(cell):
    """lstm/rnn -> affine -> masked softmax cross-entropy, against nn.LSTM/nn.RNN + nn.Linear.

    Compares the loss and the gradients of every parameter, of x and of the initial state.
    """
    N, T, D, H, V = 3, 4, 5, 6, 7
    p = example_inputs(cell, seed=15, N=N, T=T, D=D, H=H)
    x, h0, Wx, Wh, b = p["x"], p["h0"], p["Wx"], p["Wh"], p["b"]
    c0 = p.get("c0")
    rng = np.random.default_rng(16)
    Wy, by = rng.standard_normal((H, V)) / np.sqrt(H), 0.1 * rng.standard_normal(V)
    targets = rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) < 0.6
    mask[0, 0] = True

    # NumPy forward and backward.
    if cell == "lstm":
        h, cache = L.lstm_forward(x, h0, c0, Wx, Wh, b)
    else:
        h, cache = L.rnn_forward(x, h0, Wx, Wh, b)
    logits, acache = L.affine_forward(h, Wy, by)
    loss, dlogits = L.softmax_cross_entropy(logits, targets, mask)
    dh, dWy, dby = L.affine_backward(dlogits, acache)
    if cell == "lstm":
        dx, dh0, dc0, dWx, dWh, db = L.lstm_backward(dh, cache)
    else:
        dx, dh0, dWx, dWh, db = L.rnn_backward(dh, cache)

    # The same model in torch.
    rec = (lstm_to_torch if cell == "lstm" else rnn_to_torch)(Wx, Wh, b)
    lin = linear_to_torch(Wy, by)
    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0[None], requires_grad=True)                # (1, N, H)
    if cell == "lstm":
        tc0 = torch.tensor(c0[None], requires_grad=True)
        th, _ = rec(tx, (th0, tc0))
    else:
        th, _ = rec(tx, th0)
    tlogits = lin(th)                                                # (N, T, V)
    nll = F.cross_entropy(tlogits.permute(0, 2, 1), torch.from_numpy(targets), reduction="none")
    tloss = nll[torch.from_numpy(mask)].mean()
    tloss.backward()

    assert abs(loss - tloss.item()) <= TOL * abs(loss)
    pairs = {
        "dx": (dx, tx.grad), "dh0": (dh0, th0.grad[0]),
        "dWx": (dWx, rec.weight_ih_l0.grad.T), "dWh": (dWh, rec.weight_hh_l0.grad.T),
        # b feeds both torch biases, so each of their gradients is db.
        "db (bias_ih)": (db, rec.bias_ih_l0.grad), "db (bias_hh)": (db, rec.bias_hh_l0.grad),
        "dWy": (dWy, lin.weight.grad.T), "dby": (dby, lin.bias.grad),
    }
    if cell == "lstm":
        pairs["dc0"] = (dc0, tc0.grad[0])
    errors = {k: rel_error(a, t.numpy()) for k, (a, t) in pairs.items()}
    assert max(errors.values()) <= TOL, errors
