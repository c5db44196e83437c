"""Bad input gets a clear error naming the argument and the expected shape, never a NumPy
broadcasting traceback from deep inside."""

import numpy as np
import pytest

from utils import layers
from utils.models import SequenceModel
from utils.optim import clip_grad_norm, clip_grad_value

N, T, D, H, V = 2, 3, 4, 5, 6


def f64(*shape):
    return np.linspace(-0.5, 0.5, int(np.prod(shape))).reshape(shape)


def rnn_args():
    return dict(x=f64(N, T, D), h0=f64(N, H), Wx=f64(D, H), Wh=f64(H, H), b=f64(H))


def lstm_args():
    return dict(x=f64(N, T, D), h0=f64(N, H), c0=f64(N, H), Wx=f64(D, 4 * H),
                Wh=f64(H, 4 * H), b=f64(4 * H))


@pytest.mark.parametrize("fn, args, name, value, exc, msg", [
    # wrong shapes: the message names the argument, its shape and the expected one
    (layers.rnn_forward, rnn_args, "Wx", f64(H, D), ValueError,
     r"rnn_forward: Wx has shape \(5, 4\), expected \(D, H\) = \(4, 5\)"),
    (layers.rnn_forward, rnn_args, "h0", f64(N + 1, H), ValueError,
     r"h0 has shape \(3, 5\), expected \(N, H\) = \(2, 5\)"),
    (layers.rnn_forward, rnn_args, "x", f64(N, D), ValueError,
     r"x must have 3 dimensions \(N, T, D\), got shape \(2, 4\)"),
    (layers.lstm_forward, lstm_args, "Wh", f64(H, 3 * H), ValueError,
     r"lstm_forward: Wh has shape \(5, 15\), expected \(H, 4H\)"),
    (layers.lstm_forward, lstm_args, "b", f64(H), ValueError,
     r"b has shape \(5,\), expected \(4H,\) = \(20,\)"),
    (layers.lstm_forward, lstm_args, "c0", f64(N, H + 1), ValueError,
     r"c0 has shape \(2, 6\), expected \(N, H\) = \(2, 5\)"),
    # wrong dtypes
    (layers.rnn_forward, rnn_args, "x", np.ones((N, T, D), int), TypeError,
     r"x must be a float array .* got dtype int64"),
    (layers.lstm_forward, lstm_args, "Wx", f64(D, 4 * H).astype(np.float32), TypeError,
     r"Wx is float32 but x is float64"),
    # empty sequences
    (layers.rnn_forward, rnn_args, "x", np.zeros((N, 0, D)), ValueError, r"T=0 time steps"),
    (layers.lstm_forward, lstm_args, "x", np.zeros((N, 0, D)), ValueError, r"T=0 time steps"),
])
def test_sequence_layers_name_the_bad_argument(fn, args, name, value, exc, msg):
    kwargs = args()
    kwargs[name] = value
    with pytest.raises(exc, match=msg):
        fn(**kwargs)


def test_step_layers_and_backward_check_shapes():
    with pytest.raises(ValueError, match=r"rnn_step_forward: h_prev has shape \(2, 4\), "
                                         r"expected \(N, H\) = \(2, 5\)"):
        layers.rnn_step_forward(f64(N, D), f64(N, D), f64(D, H), f64(H, H), f64(H))
    h, cache = layers.rnn_forward(**rnn_args())
    with pytest.raises(ValueError, match=r"rnn_backward: dh must have 3 dimensions "
                                         r"\(2, 3, 5\), got shape \(2, 5\)"):
        layers.rnn_backward(f64(N, H), cache)
    _, _, cache = layers.lstm_step_forward(f64(N, D), f64(N, H), f64(N, H), f64(D, 4 * H),
                                           f64(H, 4 * H), f64(4 * H))
    with pytest.raises(ValueError, match=r"lstm_step_backward: dc has shape"):
        layers.lstm_step_backward(f64(N, H), f64(N, H + 1), cache)


def test_torch_tensor_gets_a_hint():
    torch = pytest.importorskip("torch")
    kwargs = rnn_args()
    kwargs["x"] = torch.zeros(N, T, D, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"x is a torch tensor; pass a NumPy array"):
        layers.rnn_forward(**kwargs)


@pytest.mark.parametrize("targets, mask, exc, msg", [
    (np.full((N, T), V), None, ValueError, r"targets must be class ids in \[0, 6\), got 6"),
    (np.full((N, T), -1), None, ValueError, r"got -1"),
    (np.zeros((N, T)), None, TypeError, r"targets must be an integer array"),
    (np.zeros((N, T + 1), int), None, ValueError, r"targets has shape \(2, 4\), expected"),
    (np.zeros((N, T), int), np.ones((N, T + 1), bool), ValueError,
     r"mask has shape \(2, 4\), expected \(N, T\) = \(2, 3\)"),
    (np.zeros((N, T), int), np.ones((N, T)), TypeError, r"mask must be a boolean array"),
    (np.zeros((N, T), int), np.zeros((N, T), bool), ValueError, r"mask selects no positions"),
])
def test_softmax_cross_entropy_bad_targets_and_masks(targets, mask, exc, msg):
    with pytest.raises(exc, match=msg):
        layers.softmax_cross_entropy(f64(N, T, V), targets, mask)


def test_mse_and_affine_bad_shapes():
    with pytest.raises(ValueError, match=r"mse_loss: target has shape \(2, 3, 2\), expected"):
        layers.mse_loss(f64(N, T, 1), f64(N, T, 2))
    with pytest.raises(ValueError, match=r"affine_forward: W has shape \(4, 6\), "
                                         r"expected \(H, V\) = \(5, 6\)"):
        layers.affine_forward(f64(N, T, H), f64(D, V), f64(V))


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(cell="gru"), ValueError, r"cell must be one of \('rnn', 'lstm'\), got 'gru'"),
    (dict(H=-3), ValueError, r"H must be >= 1, got -3"),
    (dict(D=0), ValueError, r"D must be >= 1, got 0"),
    (dict(V=2.0), TypeError, r"V must be an integer"),
    (dict(dtype=np.int32), TypeError, r"dtype must be a float type"),
])
def test_model_constructor_rejects_bad_sizes(kwargs, exc, msg):
    args = dict(cell="lstm", D=3, H=4, V=3, rng=np.random.default_rng(0)) | kwargs
    with pytest.raises(exc, match=msg):
        SequenceModel(**args)


def test_model_rejects_out_of_range_token_ids_and_wrong_feature_size():
    model = SequenceModel("rnn", 3, 4, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"one_hot: ids must lie in \[0, V\) = \[0, 3\), got 3"):
        model.loss({"x": np.array([[0, 3]]), "y": np.array([[0, 1]])})
    with pytest.raises(ValueError, match=r"x has shape \(1, 2, 5\), expected \(N, T, 3\)"):
        model.forward(np.zeros((1, 2, 5)))


def test_clipping_rejects_nonpositive_limits_and_clips():
    g = {"w": np.array([3.0, 4.0])}
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(g["w"], [0.6, 0.8])
    g = {"w": np.array([3.0, -4.0])}
    clip_grad_value(g, 1.0)
    np.testing.assert_array_equal(g["w"], [1.0, -1.0])
    with pytest.raises(ValueError, match="max_norm must be > 0, got 0"):
        clip_grad_norm(g, 0)
    with pytest.raises(ValueError, match="clip must be > 0, got -1"):
        clip_grad_value(g, -1)
