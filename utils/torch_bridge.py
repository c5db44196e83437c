"""Move parameters between the NumPy layers and torch.nn modules.

The NumPy layers (utils.layers) and PyTorch agree on the gate order (i, f, g, o) and on
batch-major inputs, so the bridge is a copy and a transpose:

    NumPy                     torch.nn.LSTM / nn.RNN (batch_first=True, one layer)
    Wx (D, 4H)                weight_ih_l0 (4H, D) = Wx.T
    Wh (H, 4H)                weight_hh_l0 (4H, H) = Wh.T
    b  (4H,)                  bias_ih_l0 (4H,) = b,  bias_hh_l0 (4H,) = 0

PyTorch keeps two bias vectors per layer (one for the input product, one for the recurrent
product) that are only ever added together; the NumPy layers keep their sum. Into torch the
whole bias goes into bias_ih and bias_hh is zero, and back b = bias_ih + bias_hh, so a
NumPy -> torch -> NumPy round trip is exact (adding 0.0 changes no bit).

For an RNN the same table holds with H in place of 4H. The output layer is a Linear:

    Wy (H, V), by (V,)        nn.Linear(H, V): weight (V, H) = Wy.T, bias (V,) = by

A whole utils.models.SequenceModel becomes a `TorchSequenceModel` (recurrent layer + Linear,
same one-hot inputs) with `model_to_torch`, and comes back with `model_from_torch`.

Modules are created without touching torch's global random generator (their random initial
values are overwritten anyway), so converting a model does not change what a later
`torch.manual_seed(...)` cell draws.
"""

import numpy as np
import torch
from torch import nn

from utils.validate import Dims

__all__ = [
    "rnn_to_torch",
    "rnn_from_torch",
    "lstm_to_torch",
    "lstm_from_torch",
    "linear_to_torch",
    "linear_from_torch",
    "TorchSequenceModel",
    "model_to_torch",
    "model_from_torch",
]


def _new_module(cls, *args, **kwargs):
    # nn.RNN/nn.LSTM/nn.Linear draw their initial weights from the global generator; fork it
    # so that building a module for a copy leaves the caller's random stream untouched.
    with torch.random.fork_rng(devices=[]):
        return cls(*args, **kwargs)


def _check_dtype(where, dtype):
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{where}: dtype must be torch.float32 or torch.float64, got {dtype!r}")


def _tensor(a, dtype):
    """A fresh tensor with a copy of the NumPy array `a` (never sharing its memory)."""
    return torch.tensor(np.ascontiguousarray(a), dtype=dtype)


def _numpy(t):
    """A NumPy copy of a parameter, in the parameter's dtype (float32 stays float32)."""
    return t.detach().cpu().numpy().copy()


def _recurrent_to_torch(where, cls, gates, Wx, Wh, b, dtype, **kwargs):
    _check_dtype(where, dtype)
    dims = Dims(where)
    G = f"{gates}H" if gates > 1 else "H"
    Wx = dims.array("Wx", Wx, ("D", G))
    Wh = dims.array("Wh", Wh, ("H", G))
    b = dims.array("b", b, (G,))
    D, H = Wx.shape[0], Wh.shape[0]
    module = _new_module(cls, D, H, num_layers=1, bias=True, batch_first=True, dtype=dtype,
                         **kwargs)
    with torch.no_grad():
        module.weight_ih_l0.copy_(_tensor(Wx.T, dtype))          # (G, D)
        module.weight_hh_l0.copy_(_tensor(Wh.T, dtype))          # (G, H)
        module.bias_ih_l0.copy_(_tensor(b, dtype))
        module.bias_hh_l0.zero_()
    return module


def _recurrent_from_torch(where, cls, module):
    if not isinstance(module, cls):
        raise TypeError(f"{where}: module must be a torch.nn.{cls.__name__}, "
                        f"got {type(module).__name__}")
    problems = []
    if module.num_layers != 1:
        problems.append(f"num_layers={module.num_layers} (expected 1)")
    if module.bidirectional:
        problems.append("bidirectional=True (expected False)")
    if not module.bias:
        problems.append("bias=False (expected True)")
    if getattr(module, "proj_size", 0):
        problems.append(f"proj_size={module.proj_size} (expected 0)")
    if cls is nn.RNN and module.nonlinearity != "tanh":
        problems.append(f"nonlinearity={module.nonlinearity!r} (expected 'tanh')")
    if problems:
        raise ValueError(f"{where}: the NumPy layer is a single-layer, one-directional "
                         f"{cls.__name__} with biases; this module has " + ", ".join(problems))
    # batch_first only changes how inputs are laid out, not the parameters, so it is not
    # required here.
    Wx = _numpy(module.weight_ih_l0).T.copy()                    # (D, G)
    Wh = _numpy(module.weight_hh_l0).T.copy()                    # (H, G)
    b = _numpy(module.bias_ih_l0) + _numpy(module.bias_hh_l0)   # (G,)
    return {"Wx": Wx, "Wh": Wh, "b": b}


def rnn_to_torch(Wx, Wh, b, dtype=torch.float64):
    """An nn.RNN(D, H, nonlinearity="tanh", batch_first=True) computing the NumPy rnn_forward.

    Wx: (D, H); Wh: (H, H); b: (H,). dtype: torch.float32 or torch.float64.
    The module holds copies: changing it later does not change the arrays, and vice versa.
    Its forward `module(x, h0[None])` with x (N, T, D) returns (h (N, T, H), h_T (1, N, H)).
    """
    return _recurrent_to_torch("rnn_to_torch", nn.RNN, 1, Wx, Wh, b, dtype,
                               nonlinearity="tanh")


def rnn_from_torch(module):
    """The parameters of a one-layer tanh nn.RNN as NumPy arrays.

    Returns {"Wx": (D, H), "Wh": (H, H), "b": (H,)}, in the module's dtype, with
    b = bias_ih_l0 + bias_hh_l0.
    """
    return _recurrent_from_torch("rnn_from_torch", nn.RNN, module)


def lstm_to_torch(Wx, Wh, b, dtype=torch.float64):
    """An nn.LSTM(D, H, batch_first=True) computing the NumPy lstm_forward.

    Wx: (D, 4H); Wh: (H, 4H); b: (4H,), gates in the order i, f, g, o (torch's order, so no
    reordering is needed). dtype: torch.float32 or torch.float64. The module holds copies.
    Its forward `module(x, (h0[None], c0[None]))` with x (N, T, D) returns
    (h (N, T, H), (h_T (1, N, H), c_T (1, N, H))).
    """
    return _recurrent_to_torch("lstm_to_torch", nn.LSTM, 4, Wx, Wh, b, dtype)


def lstm_from_torch(module):
    """The parameters of a one-layer nn.LSTM as NumPy arrays.

    Returns {"Wx": (D, 4H), "Wh": (H, 4H), "b": (4H,)}, in the module's dtype, with
    b = bias_ih_l0 + bias_hh_l0.
    """
    return _recurrent_from_torch("lstm_from_torch", nn.LSTM, module)


def linear_to_torch(Wy, by, dtype=torch.float64):
    """An nn.Linear(H, V) computing the NumPy affine_forward(h, Wy, by).

    Wy: (H, V); by: (V,). The module holds copies (weight = Wy.T, bias = by).
    """
    _check_dtype("linear_to_torch", dtype)
    dims = Dims("linear_to_torch")
    Wy = dims.array("Wy", Wy, ("H", "V"))
    by = dims.array("by", by, ("V",))
    module = _new_module(nn.Linear, Wy.shape[0], Wy.shape[1], bias=True, dtype=dtype)
    with torch.no_grad():
        module.weight.copy_(_tensor(Wy.T, dtype))                # (V, H)
        module.bias.copy_(_tensor(by, dtype))
    return module


def linear_from_torch(module):
    """The parameters of an nn.Linear(H, V) as {"Wy": (H, V), "by": (V,)} NumPy arrays."""
    if not isinstance(module, nn.Linear):
        raise TypeError(f"linear_from_torch: module must be a torch.nn.Linear, "
                        f"got {type(module).__name__}")
    if module.bias is None:
        raise ValueError("linear_from_torch: the module has bias=False; the NumPy affine "
                         "layer needs a bias (build it with nn.Linear(H, V, bias=True))")
    return {"Wy": _numpy(module.weight).T.copy(), "by": _numpy(module.bias)}


# ----------------------------------------------------------------------------- whole models

class TorchSequenceModel(nn.Module):
    """The torch twin of utils.models.SequenceModel: nn.RNN/nn.LSTM then nn.Linear.

    forward(x): x (N, T) int64 token ids (one-hot encoded to D features, as in the NumPy
    model) or (N, T, D) floats -> out (N, T, V), logits or regression outputs.
    Attributes: cell ("rnn" or "lstm"), D, H, V, rnn (the recurrent module), out (Linear).
    """

    def __init__(self, cell, rnn, out):
        super().__init__()
        self.cell, self.rnn, self.out = cell, rnn, out
        self.D, self.H, self.V = rnn.input_size, rnn.hidden_size, out.out_features

    def forward(self, x):
        if not torch.is_floating_point(x):
            x = nn.functional.one_hot(x.long(), self.D).to(self.out.weight.dtype)  # (N, T, D)
        h, _ = self.rnn(x)                                   # (N, T, H), zero initial state
        return self.out(h)                                   # (N, T, V)


def model_to_torch(model, dtype=None):
    """A TorchSequenceModel with copies of a utils.models.SequenceModel's parameters.

    model: a SequenceModel (cell "rnn" or "lstm", params Wx, Wh, b, Wy, by).
    dtype: torch.float32 or torch.float64; default: the model's own dtype.
    """
    params = getattr(model, "params", None)
    cell = getattr(model, "cell", None)
    if not isinstance(params, dict) or cell not in ("rnn", "lstm"):
        raise TypeError(f"model_to_torch: model must be a utils.models.SequenceModel "
                        f"(with .cell 'rnn'/'lstm' and .params), got {type(model).__name__}")
    missing = {"Wx", "Wh", "b", "Wy", "by"} - set(params)
    if missing:
        raise ValueError(f"model_to_torch: model.params lacks {sorted(missing)}")
    if dtype is None:
        dtype = torch.float64 if np.dtype(params["Wx"].dtype) == np.float64 else torch.float32
    to_torch = lstm_to_torch if cell == "lstm" else rnn_to_torch
    rnn = to_torch(params["Wx"], params["Wh"], params["b"], dtype=dtype)
    out = linear_to_torch(params["Wy"], params["by"], dtype=dtype)
    if out.in_features != rnn.hidden_size:
        raise ValueError(f"model_to_torch: Wy has {out.in_features} rows but the recurrent "
                         f"layer has H={rnn.hidden_size} units")
    return TorchSequenceModel(cell, rnn, out)


def model_from_torch(module, model=None):
    """The parameters of a TorchSequenceModel as a dict Wx, Wh, b, Wy, by of NumPy arrays.

    model: optional SequenceModel; if given, its params are overwritten in place (shapes must
    match, values are cast to the model's dtype) and the same dict is returned.
    """
    if not isinstance(module, TorchSequenceModel):
        raise TypeError(f"model_from_torch: module must be a TorchSequenceModel (from "
                        f"model_to_torch), got {type(module).__name__}")
    from_torch = lstm_from_torch if module.cell == "lstm" else rnn_from_torch
    params = {**from_torch(module.rnn), **linear_from_torch(module.out)}
    if model is None:
        return params
    if getattr(model, "cell", None) != module.cell or not isinstance(getattr(model, "params", None), dict):
        raise ValueError(f"model_from_torch: model must be a SequenceModel with cell "
                         f"{module.cell!r}, got {getattr(model, 'cell', type(model).__name__)!r}")
    for k, v in params.items():
        if model.params[k].shape != v.shape:
            raise ValueError(f"model_from_torch: {k} has shape {v.shape} in the torch model but "
                             f"{model.params[k].shape} in the NumPy model")
    for k, v in params.items():
        model.params[k][...] = v                         # in place: optimizers may hold refs
    return model.params
