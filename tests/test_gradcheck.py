"""utils.gradcheck itself: the numerical gradient, rel_error, and compare_gradients.

The central claim: compare_gradients catches a wrong backward (the cases below break one
line of a real layer the way students do) and passes a correct one.
"""

import numpy as np
import pytest

from utils import layers as L
from utils.gradcheck import (LAYERS, compare_gradients, example_inputs, numerical_gradient,
                             rel_error)


# ----------------------------------------------------------------------------- numerical_gradient

def test_numerical_gradient_of_a_scalar_function():
    x = np.linspace(-2.0, 3.0, 12).reshape(3, 4)
    grad = numerical_gradient(lambda z: np.sum(z ** 3) + np.sum(np.sin(z)), x)
    assert rel_error(grad, 3 * x ** 2 + np.cos(x)) < 1e-9


def test_numerical_gradient_with_upstream_gradient_and_tuple_output():
    rng = np.random.default_rng(41)
    x, W = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    df = rng.standard_normal((3, 5))
    assert rel_error(numerical_gradient(lambda z: z @ W, x, df=df), df @ W.T) < 1e-9
    # Two outputs: L = sum(out1 * df1) + sum(out2 * df2).
    df2 = rng.standard_normal((3, 4))
    grad = numerical_gradient(lambda z: (z @ W, np.tanh(z)), x, df=(df, df2))
    assert rel_error(grad, df @ W.T + df2 * (1 - np.tanh(x) ** 2)) < 1e-9


def test_numerical_gradient_restores_x_exactly():
    x = np.random.default_rng(42).standard_normal((4, 3))
    before = x.copy()
    numerical_gradient(lambda z: np.sum(np.exp(z)), x)
    np.testing.assert_array_equal(x, before)
    # Also when f fails half-way through.
    calls = []

    def failing(z):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return float(np.sum(z))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(failing, x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_works_through_a_closure():
    """f may ignore its argument and read x from outside: x is perturbed in place."""
    x = np.array([1.0, 2.0, 3.0])
    assert rel_error(numerical_gradient(lambda _: np.sum(x ** 2), x), 2 * x) < 1e-9


def test_numerical_gradient_rejects_bad_input():
    with pytest.raises(TypeError, match="x must be float64.*float32"):
        numerical_gradient(np.sum, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        numerical_gradient(np.sum, [1.0, 2.0])
    with pytest.raises(ValueError, match="f returned an array of shape \\(3,\\) but df is None"):
        numerical_gradient(lambda z: z * 2, np.ones(3))
    with pytest.raises(ValueError, match="df has shape"):
        numerical_gradient(lambda z: z * 2, np.ones(3), df=np.ones(4))
    with pytest.raises(ValueError, match="h must be a positive number"):
        numerical_gradient(np.sum, np.ones(3), h=0)
    readonly = np.ones(3)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="x must be writeable"):
        numerical_gradient(np.sum, readonly)


# ----------------------------------------------------------------------------- rel_error

def test_rel_error_values():
    a = np.array([1.0, -2.0, 0.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(a, -a) == 1.0
    # max |a-b| = 0.1, max(|a|+|b|) = 4.1 (the -2 entry): one scale for the whole array.
    assert rel_error(a, a + np.array([0.0, 0.0, 0.1])) == pytest.approx(0.1 / 4.0)
    assert rel_error(a, a + np.array([0.1, 0.0, 0.0])) == pytest.approx(0.1 / 4.0)
    assert rel_error(3.0, 3.0) == 0.0
    assert isinstance(rel_error(a, a), float)


def test_rel_error_non_finite_and_shapes():
    assert rel_error(np.array([np.nan]), np.array([np.nan])) == float("inf")
    assert rel_error(np.array([np.inf]), np.array([np.inf])) == float("inf")
    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(1, 3\)"):
        rel_error(np.zeros(3), np.zeros((1, 3)))


# ----------------------------------------------------------------------------- compare_gradients

def _wrong_rnn_step_backward(dh, cache):
    """The classic slip: Wh instead of Wh.T in the gradient that flows into h_prev."""
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h * h)
    return da @ Wx.T, da @ Wh, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def _lstm_backward_forgetting_dc(dh, cache):
    """Drops the gradient that flows through the cell state (a frequent LSTM bug)."""
    dx, dh0, dc0, dWx, dWh, db = L.lstm_backward(dh, cache)
    return dx, dh0, np.zeros_like(dc0), dWx, dWh, db


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_compare_gradients_passes_the_reference_layers(layer, capsys):
    report = compare_gradients(layer, inputs=example_inputs(layer))
    out = capsys.readouterr().out
    assert all(r["ok"] for r in report.values()), report
    assert "✓" in out and "WRONG" not in out and "the forward and" in out
    for r in report.values():
        if r["kind"] == "gradient":
            assert r["numerical"] <= LAYERS[layer][2] and r["autograd"] <= 1e-10
        else:
            assert r["torch"] <= 1e-10


def test_compare_gradients_catches_a_wrong_backward(capsys):
    inputs = example_inputs("rnn_step")
    report = compare_gradients("rnn_step", L.rnn_step_forward, _wrong_rnn_step_backward,
                               inputs=inputs)
    out = capsys.readouterr().out
    assert not report["dh_prev"]["ok"]
    assert report["dh_prev"]["numerical"] > 0.1 and report["dh_prev"]["autograd"] > 0.1
    assert all(report[g]["ok"] for g in ("h", "dx", "dWx", "dWh", "db"))
    assert "✗ rnn_step: dh_prev is off" in out and "WRONG" in out
    with pytest.raises(AssertionError, match="dh_prev is off"):
        compare_gradients("rnn_step", L.rnn_step_forward, _wrong_rnn_step_backward,
                          inputs=inputs, verbose=False, raise_on_fail=True)


def test_compare_gradients_catches_a_missing_cell_gradient():
    report = compare_gradients("lstm", L.lstm_forward, _lstm_backward_forgetting_dc,
                               inputs=example_inputs("lstm"), verbose=False)
    assert not report["dc0"]["ok"] and report["dc0"]["numerical"] == pytest.approx(1.0)
    assert report["dWh"]["ok"]


def test_compare_gradients_autograd_catches_what_differences_cannot():
    """An error of 1e-8 hides below the numerical tolerance but not below autograd's."""
    def slightly_off(dh, cache):
        g = list(L.rnn_step_backward(dh, cache))
        g[3] = g[3] * (1 + 1e-8)
        return tuple(g)

    report = compare_gradients("rnn_step", L.rnn_step_forward, slightly_off,
                               inputs=example_inputs("rnn_step"), verbose=False)
    assert report["dWh"]["numerical"] <= 1e-7
    assert report["dWh"]["autograd"] > 1e-10 and not report["dWh"]["ok"]


def test_compare_gradients_catches_a_wrong_loss_gradient():
    def half_gradient(logits, targets, mask):
        loss, dlogits = L.softmax_cross_entropy(logits, targets, mask)
        return loss, dlogits * 2          # e.g. dividing by count/2 instead of count

    report = compare_gradients("softmax_cross_entropy", half_gradient,
                               inputs=example_inputs("softmax_cross_entropy"), verbose=False)
    assert report["dlogits"]["numerical"] == pytest.approx(1 / 3, rel=1e-6)


def test_compare_gradients_table_is_stable_and_rounded(capsys):
    inputs = example_inputs("rnn_step")
    compare_gradients("rnn_step", L.rnn_step_forward, _wrong_rnn_step_backward, inputs=inputs)
    first = capsys.readouterr().out
    compare_gradients("rnn_step", L.rnn_step_forward, _wrong_rnn_step_backward, inputs=inputs)
    assert capsys.readouterr().out == first
    lines = first.splitlines()
    assert lines[1].split() == ["value", "shape", "vs", "numerical", "(tol", "1e-07)", "vs",
                                "torch", "(tol", "1e-10)", "verdict"]
    # Every row prints the measured error, two significant digits (like 5.9e-01).
    row = next(line for line in lines if line.strip().startswith("dh_prev"))
    assert row.split()[-1] == "WRONG" and len(row.split()[3].split("e")[0]) == 3
    dx_row = next(line for line in lines if line.strip().startswith("dx "))
    num, auto = (float(v) for v in dx_row.split()[3:5])
    assert 0 <= num <= 1e-7 and 0 <= auto <= 1e-10 and dx_row.split()[-1] == "ok"
    h_row = next(line for line in lines if line.strip().startswith("h "))
    assert h_row.split()[3] == "-" and float(h_row.split()[4]) <= 1e-10


def test_compare_gradients_leaves_inputs_unchanged():
    inputs = example_inputs("lstm_step")
    before = {k: v.copy() for k, v in inputs.items()}
    compare_gradients("lstm_step", inputs=inputs, verbose=False)
    for k in inputs:
        np.testing.assert_array_equal(inputs[k], before[k])


def test_compare_gradients_with_custom_functions_and_wrt():
    """A layer outside the registry: forward/backward/torch_fn given explicitly."""
    import torch

    def scale_forward(x, w):
        return x * w, (x, w)

    def scale_backward(dout, cache):
        x, w = cache
        return dout * w, dout * x

    rng = np.random.default_rng(43)
    inputs = {"x": rng.standard_normal(4), "w": rng.standard_normal(4)}
    report = compare_gradients("scale", scale_forward, scale_backward, inputs,
                               torch_fn=torch.mul, wrt=["w"], verbose=False)
    assert list(report) == ["out", "dw"] and report["dw"]["ok"] and report["out"]["ok"]
    report = compare_gradients("scale", scale_forward, scale_backward, inputs, verbose=False)
    assert report["dx"]["autograd"] is None and report["dx"]["ok"]   # no torch reference
    assert report["out"]["torch"] is None


def test_compare_gradients_reports_missing_or_misshapen_gradients():
    def no_db(dh, cache):
        g = L.rnn_step_backward(dh, cache)
        return g[:4] + (None,)

    report = compare_gradients("rnn_step", L.rnn_step_forward, no_db,
                               inputs=example_inputs("rnn_step"), verbose=False)
    assert not report["db"]["ok"] and "db is None" in report["db"]["note"]


def test_compare_gradients_rejects_bad_calls():
    inputs = example_inputs("rnn_step")
    with pytest.raises(TypeError, match="x is float32"):
        compare_gradients("rnn_step", inputs={**inputs, "x": inputs["x"].astype(np.float32)})
    with pytest.raises(ValueError, match="unknown layer 'gru'"):
        compare_gradients("gru", inputs=inputs)
    with pytest.raises(ValueError, match="backward returned 4 gradients"):
        compare_gradients("rnn_step", L.rnn_step_forward,
                          lambda dh, c: L.rnn_step_backward(dh, c)[:4], inputs, verbose=False)
    with pytest.raises(ValueError, match="wrt names 'targets'"):
        compare_gradients("softmax_cross_entropy",
                          inputs=example_inputs("softmax_cross_entropy"), wrt="targets")
    with pytest.raises(TypeError, match="inputs must be a non-empty dict"):
        compare_gradients("rnn_step", inputs=[1, 2])
    with pytest.raises(ValueError, match="unknown layer"):
        example_inputs("gru")


@pytest.mark.parametrize("layer", ["rnn", "lstm"])
def test_compare_gradients_with_zero_initial_state(layer):
    """h0 = None (and c0 = None) is passed through to both the NumPy layer and torch."""
    inputs = example_inputs(layer)
    for k in ("h0", "c0"):
        if k in inputs:
            inputs[k] = None
    report = compare_gradients(layer, inputs=inputs, verbose=False)
    assert set(report) == {"h", "dx", "dWx", "dWh", "db"}
    assert all(r["ok"] for r in report.values())


def test_compare_gradients_needs_backward_with_a_custom_forward():
    with pytest.raises(TypeError, match="lstm needs its backward function too"):
        compare_gradients("lstm", L.lstm_forward, inputs=example_inputs("lstm"))
