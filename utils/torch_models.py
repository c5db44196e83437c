"""A small PyTorch sequence model for lab 04, and the masked loss and accuracy it trains with.

    x (N, T) ids --one-hot--> (N, T, V) --nn.LSTM / nn.GRU / nn.RNN--> h (N, T, H)
                 --nn.Linear--> logits (N, T, V)

The layout mirrors utils.models.SequenceModel (one-hot inputs, batch-major, one recurrent
layer, a time-distributed affine output), so the NumPy weights of lab 03 load into it with
utils.torch_bridge and the two compute the same logits.

Padding: batches are padded at the end (utils.data.pad_batch). A one-directional recurrent
layer reads left to right, so the outputs at real positions never depend on the padding
after them; the padded positions are only excluded from the loss and the accuracy with the
mask. (Packing with nn.utils.rnn.pack_padded_sequence matters when the final state is used,
and saves the work on padding; `RecurrentLM.forward(x, lengths)` supports it.)
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CELLS", "RecurrentLM", "gru_lm", "gru_step_nn", "masked_cross_entropy",
           "masked_accuracy"]

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def _positive_int(where, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


def _ids(where, x, V):
    """Check that x is an (N, T) integer tensor of ids in [0, V)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: x must be a torch.Tensor of token ids (N, T), "
                        f"got {type(x).__name__}")
    if x.ndim != 2 or x.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{where}: x must be an (N, T) int64 tensor of token ids, got shape "
                         f"{tuple(x.shape)} dtype {x.dtype}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= V):
        raise ValueError(f"{where}: token ids must lie in [0, {V}), got values from "
                         f"{int(x.min())} to {int(x.max())}")
    return x


class RecurrentLM(nn.Module):
    """One-hot inputs, one recurrent layer, a linear output at every step.

    V: vocabulary size (inputs and outputs); H: hidden units; cell: "lstm", "gru" or "rnn";
    forget_bias: for an LSTM, the initial forget-gate bias (bias_ih + bias_hh), 1.0 like
    utils.models.SequenceModel, so the cell keeps what it holds early in training.

    Attributes: `rnn` (nn.LSTM / nn.GRU / nn.RNN with batch_first=True) and `out`
    (nn.Linear(H, V)). Initial weights come from torch's global generator: seed it with
    torch.manual_seed before building the model for a reproducible start.
    """

    def __init__(self, V, H, cell="lstm", forget_bias=1.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"RecurrentLM: cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.V = _positive_int("RecurrentLM", "V", V)
        self.H = _positive_int("RecurrentLM", "H", H)
        self.cell = cell
        self.rnn = CELLS[cell](self.V, self.H, batch_first=True)
        self.out = nn.Linear(self.H, self.V)
        if cell == "lstm" and forget_bias is not None:
            with torch.no_grad():
                # torch adds bias_ih and bias_hh; split the wanted value between them.
                self.rnn.bias_ih_l0[self.H:2 * self.H] = forget_bias / 2
                self.rnn.bias_hh_l0[self.H:2 * self.H] = forget_bias / 2

    def forward(self, x, lengths=None):
        """x: (N, T) int64 ids; lengths: optional (N,) true lengths for packing.

        Returns logits (N, T, V) in the dtype of the parameters. With lengths, the padded
        positions are skipped by the recurrent layer and their logits are those of a zero
        hidden state (mask them out of the loss either way).
        """
        x = _ids("RecurrentLM.forward", x, self.V)
        inputs = F.one_hot(x.long(), self.V).to(self.out.weight.dtype)     # (N, T, V)
        if lengths is None:
            h, _ = self.rnn(inputs)                                         # (N, T, H)
        else:
            lengths = torch.as_tensor(lengths).cpu()
            if lengths.shape != (x.shape[0],):
                raise ValueError(f"RecurrentLM.forward: lengths must have shape ({x.shape[0]},), "
                                 f"got {tuple(lengths.shape)}")
            packed = nn.utils.rnn.pack_padded_sequence(inputs, lengths, batch_first=True,
                                                       enforce_sorted=False)
            h, _ = self.rnn(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        return self.out(h)                                                  # (N, T, V)


def gru_lm(V, H):
    """RecurrentLM(V, H, cell="gru"): the reference for lab 04's GRU exercise."""
    return RecurrentLM(V, H, cell="gru")


def gru_step_nn(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One GRU step computed by torch.nn.GRU with the given weights copied in: the reference
    for lab 04's exercise that writes the same step from tensor operations.

    x: (N, D); h_prev: (N, H); W_ih: (3H, D); W_hh: (3H, H); b_ih, b_hh: (3H,) tensors, in
    nn.GRU's layout (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0; gate order r, z, n).
    Returns h: (N, H), differentiable in every input.
    """
    H, D = W_hh.shape[1], W_ih.shape[1]
    gru = nn.GRU(D, H, batch_first=True).to(x.dtype)
    # torch.func.functional_call runs the module with these tensors as its parameters, so the
    # result stays differentiable in them (a copy_ into the parameters would not).
    params = {"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    out, _ = torch.func.functional_call(gru, params, (x[:, None], h_prev[None]))
    return out[:, 0]                                                     # (N, H)


def _check_masked(where, logits, targets, mask):
    for name, t in (("logits", logits), ("targets", targets), ("mask", mask)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{where}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if logits.ndim != 3:
        raise ValueError(f"{where}: logits must be (N, T, V), got shape {tuple(logits.shape)}")
    if targets.shape != logits.shape[:2] or mask.shape != logits.shape[:2]:
        raise ValueError(f"{where}: targets and mask must be (N, T) = {tuple(logits.shape[:2])}, "
                         f"got {tuple(targets.shape)} and {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise TypeError(f"{where}: mask must be a bool tensor, got {mask.dtype}")
    if not bool(mask.any()):
        raise ValueError(f"{where}: mask selects no positions; nothing to average")


def masked_cross_entropy(logits, targets, mask):
    """Mean cross-entropy over the positions where mask is True.

    logits: (N, T, V) float tensor; targets: (N, T) int64 class ids; mask: (N, T) bool.
    Returns a scalar tensor (nats per counted position), differentiable in logits. The same
    number as utils.layers.softmax_cross_entropy(logits, targets, mask)[0].
    """
    _check_masked("masked_cross_entropy", logits, targets, mask)
    V = logits.shape[-1]
    # F.cross_entropy wants classes on axis 1, so flatten (N, T, V) to (N*T, V).
    losses = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long(),
                             reduction="none")                             # (N*T,)
    m = mask.reshape(-1).to(logits.dtype)
    return (losses * m).sum() / m.sum()


def masked_accuracy(logits, targets, mask):
    """Fraction (a float) of the masked positions where argmax(logits) equals the target."""
    _check_masked("masked_accuracy", logits, targets, mask)
    right = (logits.argmax(dim=-1) == targets) & mask
    return float(right.sum()) / float(mask.sum())
