"""utils.torch_bridge: the NumPy RNN/LSTM/affine layers and torch.nn modules agree.

Forward equality with nn.RNN / nn.LSTM / nn.Linear in float64 (relative error <= 1e-10),
exact NumPy -> torch -> NumPy round trips, and clear errors for anything else.
"""

import numpy as np
import pytest
import torch
from torch import nn

from utils import layers as L
from utils.gradcheck import example_inputs, rel_error
from utils.torch_bridge import (linear_from_torch, linear_to_torch, lstm_from_torch,
                                lstm_to_torch, rnn_from_torch, rnn_to_torch)

TOL = 1e-10


def lstm_params(seed=21):
    p = example_inputs("lstm", seed=seed)
    return p["x"], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"]


def rnn_params(seed=22):
    p = example_inputs("rnn", seed=seed)
    return p["x"], p["h0"], p["Wx"], p["Wh"], p["b"]


@pytest.mark.parametrize("with_state", [True, False])
def test_lstm_forward_equals_nn_lstm(with_state):
    x, h0, c0, Wx, Wh, b = lstm_params()
    if not with_state:
        h0 = c0 = None
    h, cache = L.lstm_forward(x, h0, c0, Wx, Wh, b)
    module = lstm_to_torch(Wx, Wh, b)
    assert module.batch_first and module.weight_ih_l0.dtype == torch.float64
    with torch.no_grad():
        if with_state:
            th, (hT, cT) = module(torch.from_numpy(x),
                                  (torch.from_numpy(h0[None]), torch.from_numpy(c0[None])))
        else:
            th, (hT, cT) = module(torch.from_numpy(x))
    assert rel_error(h, th.numpy()) <= TOL
    assert rel_error(cache["c"][:, -1], cT[0].numpy()) <= TOL   # cell states agree too
    assert rel_error(h[:, -1], hT[0].numpy()) <= TOL


@pytest.mark.parametrize("with_state", [True, False])
def test_rnn_forward_equals_nn_rnn(with_state):
    x, h0, Wx, Wh, b = rnn_params()
    if not with_state:
        h0 = None
    h, _ = L.rnn_forward(x, h0, Wx, Wh, b)
    module = rnn_to_torch(Wx, Wh, b)
    assert module.nonlinearity == "tanh" and module.batch_first
    with torch.no_grad():
        th, _ = (module(torch.from_numpy(x), torch.from_numpy(h0[None])) if with_state
                 else module(torch.from_numpy(x)))
    assert rel_error(h, th.numpy()) <= TOL


def test_linear_forward_equals_nn_linear():
    rng = np.random.default_rng(23)
    h, Wy, by = rng.standard_normal((3, 4, 6)), rng.standard_normal((6, 7)), rng.standard_normal(7)
    out, _ = L.affine_forward(h, Wy, by)
    with torch.no_grad():
        tout = linear_to_torch(Wy, by)(torch.from_numpy(h))
    assert rel_error(out, tout.numpy()) <= TOL


def test_float32_modules_match_float32_layers():
    x, h0, c0, Wx, Wh, b = (a.astype(np.float32) for a in lstm_params())
    h, _ = L.lstm_forward(x, h0, c0, Wx, Wh, b)
    module = lstm_to_torch(Wx, Wh, b, dtype=torch.float32)
    with torch.no_grad():
        th, _ = module(torch.from_numpy(x), (torch.from_numpy(h0[None]),
                                             torch.from_numpy(c0[None])))
    assert th.dtype == torch.float32
    assert rel_error(h, th.numpy()) <= 1e-5
    back = lstm_from_torch(module)
    assert all(v.dtype == np.float32 for v in back.values())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trips_are_exact(dtype):
    _, _, _, Wx, Wh, b = lstm_params()
    _, _, rWx, rWh, rb = rnn_params()
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    cases = [
        (lstm_from_torch(lstm_to_torch(Wx.astype(dtype), Wh.astype(dtype), b.astype(dtype),
                                       dtype=tdtype)), {"Wx": Wx, "Wh": Wh, "b": b}),
        (rnn_from_torch(rnn_to_torch(rWx.astype(dtype), rWh.astype(dtype), rb.astype(dtype),
                                     dtype=tdtype)), {"Wx": rWx, "Wh": rWh, "b": rb}),
        (linear_from_torch(linear_to_torch(Wx.astype(dtype), b[:Wx.shape[1]].astype(dtype),
                                           dtype=tdtype)), {"Wy": Wx, "by": b[:Wx.shape[1]]}),
    ]
    for back, original in cases:
        assert set(back) == set(original)
        for k, v in original.items():
            assert back[k].dtype == dtype
            np.testing.assert_array_equal(back[k], v.astype(dtype), err_msg=k)


def test_torch_biases_are_summed_back():
    """A module trained in torch has two non-zero biases; the NumPy b is their sum."""
    gen = torch.Generator().manual_seed(24)
    module = nn.LSTM(5, 6, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    params = lstm_from_torch(module)
    assert params["Wx"].shape == (5, 24) and params["Wh"].shape == (6, 24)
    np.testing.assert_array_equal(
        params["b"], (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy())
    x = np.random.default_rng(25).standard_normal((2, 3, 5))
    h, _ = L.lstm_forward(x, None, None, params["Wx"], params["Wh"], params["b"])
    with torch.no_grad():
        th, _ = module(torch.from_numpy(x))
    assert rel_error(h, th.numpy()) <= TOL


def test_module_holds_copies_and_leaves_global_rng_alone():
    _, _, _, Wx, Wh, b = lstm_params()
    saved = Wx.copy()
    state = torch.random.get_rng_state()
    module = lstm_to_torch(Wx, Wh, b)
    assert torch.equal(state, torch.random.get_rng_state())
    with torch.no_grad():
        module.weight_ih_l0.add_(1.0)
    np.testing.assert_array_equal(Wx, saved)
    back = lstm_from_torch(module)
    back["Wx"] += 1.0
    assert torch.equal(module.weight_ih_l0, torch.from_numpy(saved.T + 1.0))


# ----------------------------------------------------------------------------- bad input

def test_shape_mismatch_names_the_argument():
    _, _, _, Wx, Wh, b = lstm_params()
    with pytest.raises(ValueError, match=r"lstm_to_torch: Wh has shape \(6, 20\)"):
        lstm_to_torch(Wx, Wh[:, :20], b)
    with pytest.raises(ValueError, match=r"lstm_to_torch: b has shape \(23,\)"):
        lstm_to_torch(Wx, Wh, b[:-1])
    with pytest.raises(ValueError, match=r"rnn_to_torch: Wh"):
        rnn_to_torch(Wx[:, :6], Wh[:, :5], b[:6])
    with pytest.raises(ValueError, match=r"linear_to_torch: by has shape \(3,\)"):
        linear_to_torch(Wx, b[:3])


def test_bad_types_are_rejected():
    _, _, _, Wx, Wh, b = lstm_params()
    with pytest.raises(TypeError, match="dtype must be torch.float32 or torch.float64"):
        lstm_to_torch(Wx, Wh, b, dtype=np.float64)
    with pytest.raises(TypeError, match="Wx must be a float array"):
        lstm_to_torch(Wx.astype(int), Wh, b)
    with pytest.raises(TypeError, match="Wx is a torch tensor"):
        lstm_to_torch(torch.from_numpy(Wx), Wh, b)
    with pytest.raises(TypeError, match="must be a torch.nn.LSTM, got RNN"):
        lstm_from_torch(nn.RNN(5, 6))
    with pytest.raises(TypeError, match="must be a torch.nn.Linear"):
        linear_from_torch(nn.LSTM(5, 6))


@pytest.mark.parametrize("kwargs, message", [
    ({"num_layers": 2}, "num_layers=2"),
    ({"bidirectional": True}, "bidirectional=True"),
    ({"bias": False}, "bias=False"),
    ({"proj_size": 3}, "proj_size=3"),
])
def test_unsupported_lstm_modules_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lstm_from_torch(nn.LSTM(5, 6, batch_first=True, **kwargs))


def test_unsupported_rnn_and_linear_are_rejected():
    with pytest.raises(ValueError, match="nonlinearity='relu'"):
        rnn_from_torch(nn.RNN(5, 6, nonlinearity="relu"))
    with pytest.raises(ValueError, match="bias=False"):
        linear_from_torch(nn.Linear(6, 7, bias=False))


# ----------------------------------------------------------------------------- whole models

@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_sequence_model_round_trip_and_loss_gradients(cell):
    """SequenceModel -> TorchSequenceModel: same logits, same masked loss and gradients."""
    from utils.models import SequenceModel
    from utils.torch_bridge import model_from_torch, model_to_torch

    rng = np.random.default_rng(26)
    model = SequenceModel(cell, 5, 6, 7, rng)
    ids = rng.integers(0, 5, size=(3, 4))
    targets = rng.integers(0, 7, size=(3, 4))
    mask = rng.random((3, 4)) < 0.6
    mask[0, 0] = True
    loss, grads = model.loss({"x": ids, "y": targets, "mask": mask})

    tmodel = model_to_torch(model)
    logits = tmodel(torch.from_numpy(ids))
    assert rel_error(model.forward(ids)[0], logits.detach().numpy()) <= TOL
    nll = torch.nn.functional.cross_entropy(logits.permute(0, 2, 1), torch.from_numpy(targets),
                                            reduction="none")
    tloss = nll[torch.from_numpy(mask)].mean()
    tloss.backward()
    assert abs(loss - tloss.item()) <= TOL * loss
    tgrads = {"Wx": tmodel.rnn.weight_ih_l0.grad.T, "Wh": tmodel.rnn.weight_hh_l0.grad.T,
              "b": tmodel.rnn.bias_ih_l0.grad, "Wy": tmodel.out.weight.grad.T,
              "by": tmodel.out.bias.grad}
    for k, g in grads.items():
        assert rel_error(g, tgrads[k].numpy()) <= TOL, k

    back = model_from_torch(tmodel)
    for k, v in model.params.items():
        np.testing.assert_array_equal(back[k], v, err_msg=k)
    # Writing back into a model updates its arrays in place.
    with torch.no_grad():
        tmodel.out.bias.add_(1.0)
    by = model.params["by"]
    model_from_torch(tmodel, model)
    assert model.params["by"] is by and np.array_equal(by, back["by"] + 1.0)


def test_model_bridge_rejects_wrong_objects():
    from utils.models import SequenceModel
    from utils.torch_bridge import model_from_torch, model_to_torch

    with pytest.raises(TypeError, match="model must be a utils.models.SequenceModel"):
        model_to_torch({"Wx": 1})
    with pytest.raises(TypeError, match="module must be a TorchSequenceModel"):
        model_from_torch(nn.LSTM(5, 6))
    tmodel = model_to_torch(SequenceModel("lstm", 5, 6, 7, np.random.default_rng(27)))
    with pytest.raises(ValueError, match="cell 'lstm'"):
        model_from_torch(tmodel, SequenceModel("rnn", 5, 6, 7, np.random.default_rng(28)))
    with pytest.raises(ValueError, match=r"Wx has shape \(5, 24\) in the torch model but \(4, 24\)"):
        model_from_torch(tmodel, SequenceModel("lstm", 4, 6, 7, np.random.default_rng(29)))
