"""Extreme inputs: finite losses and gradients, and no floating-point warnings.

Logits of ±1e4 (softmax cross-entropy) and pre-activations of ±1e4 (sigmoid, tanh, RNN and
LSTM cells), in float64 and float32 (where exp already overflows at 89).

"No warnings" means: every Python warning is an error, and NumPy raises on overflow,
invalid operations (NaN) and division by zero. Underflow is left at NumPy's default
(ignored): exp(-2e4) rounding to 0.0 is the correctly rounded result, not an error, and a
stable softmax or sigmoid must produce it for probabilities below 1e-308.
"""

import contextlib
import warnings

import numpy as np
import pytest

from utils import layers as L

BIG = 1e4


@contextlib.contextmanager
def strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            yield


def assert_finite(**arrays):
    for name, a in arrays.items():
        assert np.all(np.isfinite(a)), f"{name} has non-finite values"


def test_strict_context_catches_overflow():
    """The guard itself works: a naive sigmoid fails under it."""
    with strict(), pytest.raises(FloatingPointError):
        1.0 / (1.0 + np.exp(-np.array([-BIG])))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_saturates_cleanly(dtype):
    x = np.array([-BIG, -100.0, -1.0, 0.0, 1.0, 100.0, BIG], dtype)
    with strict():
        y = L.sigmoid(x)
    assert y.dtype == dtype
    assert y[0] == 0.0 and y[-1] == 1.0 and y[3] == 0.5
    assert np.all(np.diff(y) >= 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("masked", [True, False])
def test_softmax_cross_entropy_with_extreme_logits(dtype, masked):
    rng = np.random.default_rng(31)
    N, T, V = 3, 4, 7
    logits = rng.standard_normal((N, T, V)).astype(dtype)
    targets = rng.integers(0, V, size=(N, T))
    logits[0, 0, targets[0, 0]] = BIG                   # confident and right: loss ~ 0
    logits[0, 1, :] = -BIG                              # confident and wrong: loss ~ 2e4
    logits[0, 1, (targets[0, 1] + 1) % V] = BIG
    logits[1, :, :] = BIG                               # all tied at +1e4: loss = log V
    logits[2, 0, :] = -BIG                              # all tied at -1e4: loss = log V
    mask = None
    if masked:
        mask = np.ones((N, T), bool)
        mask[2, 3] = False
    with strict():
        loss, dlogits = L.softmax_cross_entropy(logits, targets, mask)
    assert_finite(loss=loss, dlogits=dlogits)
    assert dlogits.dtype == dtype
    count = N * T - (1 if masked else 0)
    # Each position contributes softmax - onehot, scaled by 1/count: entries in [-1, 1]/count.
    assert np.abs(dlogits).max() <= 1.0 / count + 1e-6
    np.testing.assert_allclose(dlogits.sum(axis=-1), 0.0, atol=1e-6)

    per_position = {}
    for (n, t) in [(0, 0), (0, 1), (1, 2), (2, 0)]:
        m = np.zeros((N, T), bool)
        m[n, t] = True
        with strict():
            per_position[n, t] = L.softmax_cross_entropy(logits, targets, m)[0]
    assert per_position[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert per_position[0, 1] == pytest.approx(2 * BIG, rel=1e-6)
    assert per_position[1, 2] == pytest.approx(np.log(V), rel=1e-6)
    assert per_position[2, 0] == pytest.approx(np.log(V), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rnn_with_saturated_tanh(dtype):
    rng = np.random.default_rng(32)
    N, T, D, H = 3, 4, 5, 6
    x = (BIG * np.sign(rng.standard_normal((N, T, D)))).astype(dtype)
    Wx, Wh = rng.standard_normal((D, H)).astype(dtype), rng.standard_normal((H, H)).astype(dtype)
    b = rng.standard_normal(H).astype(dtype)
    with strict():
        h, cache = L.rnn_forward(x, None, Wx, Wh, b)
        grads = L.rnn_backward(np.ones_like(h), cache)
        hs, scache = L.rnn_step_forward(x[:, 0], h[:, 0], Wx, Wh, b)
        sgrads = L.rnn_step_backward(np.ones_like(hs), scache)
    assert_finite(h=h, hs=hs, **{f"g{i}": g for i, g in enumerate(grads + sgrads)})
    assert np.abs(h).max() <= 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lstm_with_saturated_gates(dtype):
    rng = np.random.default_rng(33)
    N, T, D, H = 3, 4, 5, 6
    # Pre-activations of order ±1e4 in every gate: every sigmoid is 0 or 1, every tanh ±1.
    x = (BIG * np.sign(rng.standard_normal((N, T, D)))).astype(dtype)
    Wx = rng.standard_normal((D, 4 * H)).astype(dtype)
    Wh = rng.standard_normal((H, 4 * H)).astype(dtype)
    b = rng.standard_normal(4 * H).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    with strict():
        h, cache = L.lstm_forward(x, h0, c0, Wx, Wh, b)
        grads = L.lstm_backward(np.ones_like(h), cache)
        hs, cs, scache = L.lstm_step_forward(x[:, 0], h0, c0, Wx, Wh, b)
        sgrads = L.lstm_step_backward(np.ones_like(hs), np.ones_like(cs), scache)
    assert_finite(h=h, c=cache["c"], hs=hs, cs=cs,
                  **{f"g{i}": g for i, g in enumerate(grads + sgrads)})
    assert np.abs(h).max() <= 1.0
    gates = cache["gates"]
    H = h.shape[-1]
    sig = np.concatenate([gates[..., :2 * H], gates[..., 3 * H:]], axis=-1)
    assert np.all((sig >= 0) & (sig <= 1))               # False for NaN too
