"""The findings of the numerical audit of utils, one test each (they failed before the fixes).

1. Returned outputs never share memory with what a backward reads.
2. The LSTM gates use an exact sigmoid: saturated cells agree with torch and with a
   long-double reference.
3. SGD with momentum and decay is torch.optim.SGD under LambdaLR(1 / (1 + decay * t)).
4. N = 0 works end to end.
5. Many-to-one scores the last real step of each padded sequence.
6. Masked positions never contribute; a NaN or inf that counts is named.
7. Norm clipping is exact.
8. compare_gradients compares the forward with torch's, not only the gradients.
"""

import numpy as np
import pytest
import torch

from utils import layers as L
from utils.gradcheck import LAYERS as GRADCHECK_LAYERS
from utils.gradcheck import (OUTPUT_NAMES, compare_gradients, example_inputs, torch_lstm,
                             torch_lstm_step)
from utils.models import SequenceModel
from utils.optim import SGD, clip_grad_norm, clip_grad_value

EPS64 = np.finfo(np.float64).eps

# ----------------------------------------------------------------------------- 1. aliasing

# layer -> (forward, backward, number of outputs), from the registry of utils.gradcheck
LAYERS = {name: (getattr(L, fwd), getattr(L, bwd), len(OUTPUT_NAMES[name]))
          for name, (fwd, bwd, _) in GRADCHECK_LAYERS.items() if bwd is not None}


@pytest.mark.parametrize("N,T", [(1, 1), (1, 3), (3, 1), (3, 3)])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_editing_a_returned_output_in_place_leaves_the_backward_unchanged(layer, N, T):
    forward, backward, n_out = LAYERS[layer]
    inputs = example_inputs(layer, seed=5, N=N, T=T)
    rng = np.random.default_rng(6)

    def run(edit):
        res = forward(*inputs.values())
        outs, cache = res[:n_out], res[-1]
        douts = [np.random.default_rng(7 + k).standard_normal(o.shape) for k, o in enumerate(outs)]
        if edit:
            for o in outs:                    # what a caller may do: mask, scale, zero
                o *= rng.standard_normal(o.shape)
        return backward(*douts, cache)

    for clean, edited in zip(run(False), run(True)):
        np.testing.assert_array_equal(clean, edited)


# ----------------------------------------------------------------------------- 2. saturated gates

def _sig_ld(a):
    return 1 / (1 + np.exp(-a))          # in long double: exp(50) is far from overflow


def _lstm_step_ld(x, h, c, Wx, Wh, b):
    """Forward and a closure for the backward, written from the equations in long double."""
    H = h.shape[1]
    a = x @ Wx + h @ Wh + b
    i, f, o = _sig_ld(a[:, :H]), _sig_ld(a[:, H:2 * H]), _sig_ld(a[:, 3 * H:])
    g = np.tanh(a[:, 2 * H:3 * H])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)

    def backward(dh, dc):
        tc = np.tanh(c_new)
        dc = dc + dh * o * (1 - tc ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f),
                             dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)
        return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, h.T @ da, da.sum(0)

    return h_new, c_new, backward


def _lstm_seq_ld(x, h0, c0, Wx, Wh, b, dh):
    N, T, _ = x.shape
    h, c, steps, hs = h0, c0, [], []
    for t in range(T):
        h, c, back = _lstm_step_ld(x[:, t], h, c, Wx, Wh, b)
        steps.append(back)
        hs.append(h)
    dx, dWx, dWh, db = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(c0)
    for t in reversed(range(T)):
        dx[:, t], dh_next, dc_next, gWx, gWh, gb = steps[t](dh[:, t] + dh_next, dc_next)
        dWx, dWh, db = dWx + gWx, dWh + gWh, db + gb
    return (np.stack(hs, 1),), (dx, dh_next, dc_next, dWx, dWh, db)


def _saturated(layer, seed):
    """LSTM inputs whose gate pre-activations are about ±50 (every gate shut or open)."""
    inputs = example_inputs(layer, seed=seed)
    rng = np.random.default_rng(100 + seed)
    inputs["b"] = rng.choice([-50.0, 50.0], size=inputs["b"].shape)
    return inputs


def _torch_side(layer, inputs, douts):
    ts = [torch.tensor(v, requires_grad=True) for v in inputs.values()]
    fn = torch_lstm_step if layer == "lstm_step" else torch_lstm
    outs = fn(*ts)
    outs = outs if isinstance(outs, tuple) else (outs,)
    sum(((o * torch.tensor(d)).sum() for o, d in zip(outs, douts))).backward()
    return [o.detach().numpy() for o in outs], [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("layer", ["lstm_step", "lstm"])
def test_saturated_lstm_agrees_with_torch_and_with_long_double(layer, seed):
    forward, backward, n_out = LAYERS[layer]
    inputs = _saturated(layer, seed)
    res = forward(*inputs.values())
    outs, cache = res[:n_out], res[-1]
    rng = np.random.default_rng(seed)
    douts = [rng.standard_normal(o.shape) for o in outs]
    ours = list(outs) + list(backward(*douts, cache))

    t_outs, t_grads = _torch_side(layer, inputs, douts)
    theirs = t_outs + t_grads

    ld = {k: v.astype(np.longdouble) for k, v in inputs.items()}
    if layer == "lstm_step":
        h, c, back = _lstm_step_ld(*ld.values())
        ref = [h, c] + list(back(*(d.astype(np.longdouble) for d in douts)))
    else:
        o, g = _lstm_seq_ld(*ld.values(), douts[0].astype(np.longdouble))
        ref = list(o) + list(g)

    for k, (a, t, r) in enumerate(zip(ours, theirs, ref)):
        # Against torch, where the values are not tiny: the same function to 1e-10.
        big = np.abs(t) > 1e-6 * np.abs(t).max()
        rel = np.abs(a - t)[big] / np.abs(t)[big]
        assert rel.max(initial=0) <= 1e-10, (k, rel.max())
        # Against long double: our worst error within 10x torch's worst, plus a few ulps.
        # The forward outputs relative to each entry, tiny ones included (a shut gate's
        # h of 1e-44 must not become 0); the gradients, sums whose rounding depends on the
        # order of summation, relative to the scale of each array.
        if k < n_out:
            scale = np.where(r == 0, 1, np.abs(r))
        else:
            scale = np.abs(r).max()
        err_ours = float((np.abs(a - r) / scale).max())
        err_torch = float((np.abs(t - r) / scale).max())
        assert err_ours <= 10 * err_torch + 8 * EPS64, (k, err_ours, err_torch)


def test_saturated_lstm_passes_compare_gradients_against_autograd():
    """The audit's symptom: a correct saturated LSTM flagged WRONG by the autograd column."""
    for seed in range(19):
        report = compare_gradients("lstm_step", inputs=_saturated("lstm_step", seed),
                                   verbose=False)
        for name, r in report.items():
            assert r["ok"] or (r["kind"] == "gradient" and r["autograd"] <= 1e-10), (seed, name, r)


def test_gate_sigmoid_keeps_relative_precision_far_below_zero():
    a = np.array([-20.0, -30.0, -40.0, -700.0])
    gates = np.zeros((1, 4 * 4))
    x = np.zeros((1, 1))
    h, c, cache = L.lstm_step_forward(x, np.zeros((1, 4)), np.zeros((1, 4)), np.zeros((1, 16)),
                                      np.zeros((4, 16)), np.tile(a, 4))
    gates = cache[-1]
    want = np.exp(a.astype(np.longdouble)) / (1 + np.exp(a.astype(np.longdouble)))
    np.testing.assert_allclose(gates[0, :4], want.astype(np.float64), rtol=4 * EPS64)


# ----------------------------------------------------------------------------- 3. SGD as torch

@pytest.mark.parametrize("momentum,decay", [(0.9, 0.05), (0.95, 0.01), (0.0, 0.1), (0.5, 0.0)])
def test_sgd_follows_torch_with_lambda_lr(momentum, decay):
    rng = np.random.default_rng(0)
    ours = {"w": rng.standard_normal(5), "b": rng.standard_normal(3)}
    tparams = [torch.tensor(v.copy(), requires_grad=True) for v in ours.values()]
    opt = SGD(lr=0.1, momentum=momentum, decay=decay)
    topt = torch.optim.SGD(tparams, lr=0.1, momentum=momentum)
    sched = torch.optim.lr_scheduler.LambdaLR(topt, lambda t: 1 / (1 + decay * t))
    for _ in range(200):
        grads = {k: np.sin(3 * v) + 0.1 * rng.standard_normal(v.shape) for k, v in ours.items()}
        for t, g in zip(tparams, grads.values()):
            t.grad = torch.tensor(g)
        opt.step(ours, grads)
        topt.step()
        sched.step()
    for v, t in zip(ours.values(), tparams):
        np.testing.assert_allclose(v, t.detach().numpy(), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- 4. N = 0

@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_empty_batch_runs_forward_and_backward(layer):
    forward, backward, n_out = LAYERS[layer]
    inputs = example_inputs(layer, N=0)
    res = forward(*inputs.values())
    outs, cache = res[:n_out], res[-1]
    grads = backward(*(np.zeros_like(o) for o in outs), cache)
    for (name, v), g in zip(inputs.items(), grads):
        assert g.shape == v.shape, name
        assert np.all(g == 0), name


# ----------------------------------------------------------------------------- 5. many-to-one

@pytest.mark.parametrize("loss,y", [("cross_entropy", np.array([1, 0, 2])),
                                    ("mse", np.array([[0.5], [-1.0], [2.0]]))])
def test_many_to_one_scores_the_last_real_step(loss, y):
    rng = np.random.default_rng(0)
    V = 3 if loss == "cross_entropy" else 1
    model = SequenceModel("lstm", 2, 4, V, np.random.default_rng(1), loss=loss)
    lengths = np.array([5, 2, 3])
    x = rng.standard_normal((3, 5, 2))
    mask = np.arange(5)[None] < lengths[:, None]                  # (N, T) real steps
    x[~mask] = 1e3                                                # padding that would matter
    by_mask = model.loss({"x": x, "y": y, "mask": mask})
    by_lengths = model.loss({"x": x, "y": y, "lengths": lengths})
    # The reference: each sequence alone, unpadded, scored at its last step.
    alone = [model.loss({"x": x[n:n + 1, :L], "y": y[n:n + 1]}) for n, L in enumerate(lengths)]
    assert by_mask[0] == pytest.approx(np.mean([a[0] for a in alone]), rel=1e-12)
    for k in model.params:
        want = np.mean([a[1][k] for a in alone], axis=0)
        np.testing.assert_allclose(by_mask[1][k], want, rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(by_mask[1][k], by_lengths[1][k])


def test_many_to_one_rejects_an_empty_mask_row_and_both_mask_and_lengths():
    model = SequenceModel("rnn", 2, 3, 2, np.random.default_rng(0))
    x, y = np.zeros((2, 3, 2)), np.array([0, 1])
    mask = np.array([[True, True, False], [False, False, False]])
    with pytest.raises(ValueError, match="mask row 1 has no True step"):
        model.loss({"x": x, "y": y, "mask": mask})
    with pytest.raises(ValueError, match="not both"):
        model.loss({"x": x, "y": y, "mask": mask, "lengths": np.array([2, 1])})
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=3\]"):
        model.loss({"x": x, "y": y, "lengths": np.array([2, 4])})


# ----------------------------------------------------------------------------- 6. non-finite

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_masked_out_positions_never_contribute_whatever_they_hold(bad):
    inp = example_inputs("softmax_cross_entropy", seed=3)
    logits, targets, mask = inp["logits"], inp["targets"], inp["mask"]
    poisoned = logits.copy()
    poisoned[~mask] = bad
    clean = L.softmax_cross_entropy(logits, targets, mask)
    dirty = L.softmax_cross_entropy(poisoned, targets, mask)
    assert dirty[0] == clean[0]
    np.testing.assert_array_equal(dirty[1], clean[1])

    inp = example_inputs("mse", seed=3)
    pred, target, mask = inp["pred"], inp["target"], inp["mask"]
    for name in ("pred", "target"):
        args = {"pred": pred.copy(), "target": target.copy()}
        args[name][~mask] = bad
        got = L.mse_loss(args["pred"], args["target"], mask)
        assert got[0] == L.mse_loss(pred, target, mask)[0]
        assert np.all(np.isfinite(got[1]))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_value_that_counts_is_named(bad):
    inp = example_inputs("softmax_cross_entropy", seed=3)
    logits = inp["logits"].copy()
    logits[0, 0, 2] = bad                               # mask[0, 0] is always True
    with pytest.raises(FloatingPointError, match=r"logits has the non-finite value .* \(0, 0, 2\)"):
        L.softmax_cross_entropy(logits, inp["targets"], inp["mask"])
    inp = example_inputs("mse", seed=3)
    target = inp["target"].copy()
    target[0, 0, 1] = bad
    with pytest.raises(FloatingPointError, match=r"mse_loss: target has the non-finite value"):
        L.mse_loss(inp["pred"], target, inp["mask"])


def test_clipping_refuses_non_finite_gradients():
    for clip in (clip_grad_norm, clip_grad_value):
        with pytest.raises(FloatingPointError, match=r"grads\['b'\] contains NaN or inf"):
            clip({"w": np.ones(3), "b": np.array([1.0, np.nan])}, 1.0)


# ----------------------------------------------------------------------------- 7. exact clipping

@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e6])
def test_norm_clipping_is_exact(scale):
    rng = np.random.default_rng(0)
    grads = {"a": scale * rng.standard_normal(7), "b": scale * rng.standard_normal((2, 3))}
    norm = clip_grad_norm(grads, max_norm=scale / 10)
    after = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    assert norm > scale / 10
    assert after == pytest.approx(scale / 10, rel=4 * EPS64, abs=0)


# ----------------------------------------------------------------------------- 8. forward checked

def test_compare_gradients_flags_a_shifted_forward(capsys):
    def shifted(*args):
        h, cache = L.rnn_step_forward(*args)
        return h + 0.1, cache                          # same derivatives, wrong values

    report = compare_gradients("rnn_step", shifted, L.rnn_step_backward,
                               inputs=example_inputs("rnn_step"))
    out = capsys.readouterr().out
    assert not report["h"]["ok"] and report["h"]["torch"] > 1e-3
    assert all(r["ok"] for k, r in report.items() if r["kind"] == "gradient")
    assert "the forward output h differs from the torch reference" in out
