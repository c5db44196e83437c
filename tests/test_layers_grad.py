"""Every backward in utils.layers against central differences in float64.

Tolerances (relative error, see utils.gradcheck.rel_error): 1e-7 for one step and for the
output layers, 1e-6 for whole sequences (T steps of round-off in the numerical gradient).
Sizes are tiny (N=3, T=4, D=5, H=6, V=7) so the whole file runs in a few seconds.
"""

import numpy as np
import pytest

from utils import layers as L
from utils.gradcheck import example_inputs, numerical_gradient, rel_error

STEP_TOL = 1e-7
SEQ_TOL = 1e-6


def check_backward(forward, backward, inputs, tol, n_out=1, seed=1):
    """Analytic gradients of L = sum(out * dout) against numerical ones, for every float input.

    forward(*inputs) returns n_out outputs then a cache; backward(*douts, cache) returns one
    gradient per input. Returns {name: relative error} and asserts each is <= tol.
    """
    names = list(inputs)
    args = [inputs[n] for n in names]
    res = forward(*args)
    outs, cache = res[:n_out], res[-1]
    rng = np.random.default_rng(seed)
    douts = [rng.standard_normal(o.shape) for o in outs]
    grads = backward(*douts, cache)
    assert len(grads) == len(names), f"backward returned {len(grads)} gradients for {names}"

    def objective(_):
        out = forward(*args)[:n_out]
        return sum(np.sum(o * d) for o, d in zip(out, douts))

    errors = {}
    for name, g in zip(names, grads):
        x = inputs[name]
        if not (isinstance(x, np.ndarray) and x.dtype == np.float64):
            continue
        assert g.shape == x.shape, f"d{name} has shape {g.shape}, expected {x.shape}"
        assert g.dtype == np.float64, f"d{name} is {g.dtype}, expected float64"
        errors[name] = rel_error(g, numerical_gradient(objective, x))
    bad = {n: e for n, e in errors.items() if not e <= tol}
    assert not bad, f"gradients off (want <= {tol:.0e}): " + ", ".join(
        f"d{n}: {e:.2e}" for n, e in bad.items())
    return errors


@pytest.mark.parametrize("layer, n_out, tol", [
    ("rnn_step", 1, STEP_TOL),
    ("lstm_step", 2, STEP_TOL),
    ("rnn", 1, SEQ_TOL),
    ("lstm", 1, SEQ_TOL),
    ("affine", 1, STEP_TOL),
])
def test_backward_matches_central_differences(layer, n_out, tol):
    fwd, bwd = {"rnn_step": (L.rnn_step_forward, L.rnn_step_backward),
                "lstm_step": (L.lstm_step_forward, L.lstm_step_backward),
                "rnn": (L.rnn_forward, L.rnn_backward),
                "lstm": (L.lstm_forward, L.lstm_backward),
                "affine": (L.affine_forward, L.affine_backward)}[layer]
    errors = check_backward(fwd, bwd, example_inputs(layer), tol, n_out=n_out)
    # Every differentiable input was checked (h0 and c0 included for the sequences).
    assert set(errors) == {n for n, v in example_inputs(layer).items()
                           if isinstance(v, np.ndarray) and v.dtype == np.float64}


def test_affine_two_dimensional_input():
    rng = np.random.default_rng(2)
    inputs = {"x": rng.standard_normal((3, 6)), "W": rng.standard_normal((6, 7)),
              "b": rng.standard_normal(7)}
    check_backward(L.affine_forward, L.affine_backward, inputs, STEP_TOL)


def test_sequence_gradient_through_time_only():
    """A loss on the last step only: dx at step 0 exists only through the recurrence."""
    inputs = example_inputs("lstm", seed=3)
    h, cache = L.lstm_forward(*inputs.values())
    dh = np.zeros_like(h)
    dh[:, -1] = np.random.default_rng(4).standard_normal(dh[:, -1].shape)
    grads = L.lstm_backward(dh, cache)
    x = inputs["x"]

    def objective(_):
        return np.sum(L.lstm_forward(*inputs.values())[0] * dh)

    assert np.abs(grads[0][:, 0]).max() > 1e-3            # the first step does get a gradient
    assert rel_error(grads[0], numerical_gradient(objective, x)) <= SEQ_TOL
    assert rel_error(grads[4], numerical_gradient(objective, inputs["Wh"])) <= SEQ_TOL


@pytest.mark.parametrize("layer", ["rnn", "lstm"])
def test_sequence_with_zero_initial_state(layer):
    """h0 = None (and c0 = None) means zeros: the gradients equal those with explicit zeros."""
    inputs = example_inputs(layer, seed=5)
    explicit = dict(inputs)
    for k in ("h0", "c0"):
        if k in inputs:
            inputs[k] = None
            explicit[k] = np.zeros_like(explicit[k])
    fwd, bwd = (L.rnn_forward, L.rnn_backward) if layer == "rnn" else (L.lstm_forward,
                                                                       L.lstm_backward)
    h1, c1 = fwd(*inputs.values())
    h2, c2 = fwd(*explicit.values())
    np.testing.assert_array_equal(h1, h2)
    dh = np.random.default_rng(6).standard_normal(h1.shape)
    for g1, g2 in zip(bwd(dh, c1), bwd(dh, c2)):
        np.testing.assert_array_equal(g1, g2)
    check_backward(fwd, bwd, explicit, SEQ_TOL)


def test_sigmoid_derivative():
    x = np.linspace(-6.0, 6.0, 25)
    y = L.sigmoid(x)
    # Elementwise, so the gradient of sum(sigmoid(x)) is the derivative at every point.
    num = numerical_gradient(L.sigmoid, x, df=np.ones_like(x))
    assert rel_error(y * (1 - y), num) <= STEP_TOL
    np.testing.assert_allclose(y, 1.0 / (1.0 + np.exp(-x)), rtol=1e-15, atol=0)


@pytest.mark.parametrize("loss, masked, ndim", [
    ("softmax_cross_entropy", True, 3),
    ("softmax_cross_entropy", False, 3),
    ("softmax_cross_entropy", False, 2),
    ("mse", True, 3),
    ("mse", False, 3),
    ("mse", False, 2),
])
def test_loss_gradient_matches_central_differences(loss, masked, ndim):
    inputs = example_inputs(loss, seed=7, mask=masked)
    if ndim == 2:        # (N, V) / (N, K): one prediction per sequence
        inputs = {k: (v[:, 0] if v is not None else None) for k, v in inputs.items()}
    fn = L.softmax_cross_entropy if loss == "softmax_cross_entropy" else L.mse_loss
    args = list(inputs.values())
    value, dfirst = fn(*args)
    assert np.ndim(value) == 0 and np.isfinite(value)
    first = args[0]
    num = numerical_gradient(lambda _: fn(*args)[0], first)
    assert rel_error(dfirst, num) <= STEP_TOL
    if masked:           # masked positions get exactly zero gradient
        assert np.all(dfirst[~inputs["mask"]] == 0)


def test_masked_loss_is_mean_over_counted_positions():
    """The reported loss is the mean over mask=True positions (what is differentiated)."""
    inputs = example_inputs("softmax_cross_entropy", seed=8)
    logits, targets, mask = inputs.values()
    loss, _ = L.softmax_cross_entropy(logits, targets, mask)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0]
    assert loss == pytest.approx(nll[mask].mean(), rel=1e-12)


def test_float32_stays_float32():
    """Reference code computes in the dtype of its inputs and never upcasts silently."""
    inputs = {k: v.astype(np.float32) for k, v in example_inputs("lstm").items()}
    h, cache = L.lstm_forward(*inputs.values())
    assert h.dtype == np.float32
    grads = L.lstm_backward(np.ones_like(h), cache)
    assert [g.dtype for g in grads] == [np.float32] * 6
