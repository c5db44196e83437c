"""Exercises of lab 04, the LSTM in PyTorch (solutions/04_pytorch_lstm.ipynb).

    4.1 masked_cross_entropy   the mean cross-entropy over real (unpadded) positions, in torch
    4.2 SequenceGRU            the language model of the lab with nn.GRU in place of nn.LSTM
    4.3 gru_step               one GRU step from tensor operations, checked against nn.GRU

Everything runs in float64 on the CPU with weights that do not come from a random generator
(linspace ramps), so the student's module and the reference see the same numbers whatever
order they create their parameters in.
"""

import numpy as np
import torch
from torch import nn

from utils.checks import BadReturn, Case, Exercise, KnownBug, register
from utils.exercises import mistakes_lab04 as m
from utils.torch_models import gru_lm, gru_step_nn, masked_cross_entropy

LAB = "04"


def _tensor(a, dtype=torch.float64):
    return torch.tensor(np.ascontiguousarray(a), dtype=dtype)


# The cases hold NumPy arrays, never tensors: the grader sends them to the sandboxed notebook
# as plain data. Each `call` below makes the tensors the student's function receives.


# ----------------------------------------------------------------------------- 4.1 loss


def loss_cases(rng):
    N, T, V = 2, 4, 5
    logits = np.linspace(-2.0, 3.0, N * T * V).reshape(N, T, V)
    targets = (np.arange(N * T).reshape(N, T) * 3) % V
    mask = np.array([[True, True, True, False], [True, True, False, False]])   # padded ends
    cases = [Case((logits, targets, mask), label="fixed fixture N=2, T=4, V=5, padded ends")]
    for N, T, V in [(3, 6, 4), (1, 3, 7)]:
        m = rng.random((N, T)) < 0.6
        m[0, 0] = True                                  # never an empty mask
        cases.append(Case((3 * rng.standard_normal((N, T, V)), rng.integers(0, V, size=(N, T)), m),
                          label=f"random N={N}, T={T}, V={V}"))
    return cases


def call_loss(fn, case, uses):
    """fn on logits that require grad, as in training; then loss.backward(), as the lab does.

    Returns the loss and dloss/dlogits, so a loss that is right in value but cut from the
    graph (.item(), NumPy, a new tensor) fails here rather than in the training cell.
    """
    logits, targets, mask = case.args
    logits = _tensor(logits).requires_grad_(True)
    targets, mask = torch.as_tensor(targets, dtype=torch.int64), torch.as_tensor(mask, dtype=torch.bool)
    loss = fn(logits, targets, mask)
    if not isinstance(loss, torch.Tensor):
        raise BadReturn(f"returned a {type(loss).__name__}, want a scalar torch tensor "
                        f"(training calls loss.backward())")
    if loss.ndim != 0:
        raise BadReturn(f"returned a tensor of shape {tuple(loss.shape)}, want a scalar "
                        f"(shape ()): the mean over the counted positions")
    if not loss.requires_grad:
        raise BadReturn("returned a tensor that does not require grad (cut from the graph), "
                        "want one computed from logits with torch operations (training calls "
                        "loss.backward())")
    loss.backward()
    grad = logits.grad if logits.grad is not None else torch.zeros_like(logits)
    return loss.detach(), grad


register(Exercise(
    name="masked_cross_entropy", lab=LAB, number="4.1",
    reference=masked_cross_entropy, cases=loss_cases, outputs=("loss", "dlogits"), call=call_loss,
    bugs=(
        KnownBug("mean over all positions", "Average over the positions where mask is True "
                 "only: (losses * m).sum() / m.sum(), not losses.mean() (which divides by N*T).",
                 m.ce_mean_over_all),
        KnownBug("cut from the graph", "Return the tensor itself, computed from logits with "
                 "torch operations: no .item(), no NumPy, no torch.tensor(...) around a number; "
                 "training calls loss.backward(), which needs the graph.", m.ce_item),
        KnownBug("sum instead of mean", "Divide the masked sum by the number of counted "
                 "positions, m.sum(): the loss is a mean per position.", m.ce_sum),
    ),
    hints={
        "loss": "Average over the positions where mask is True only: divide the sum of the "
                "masked per-position losses by mask.sum(), not by N*T. Use "
                "F.cross_entropy(..., reduction='none') on logits reshaped to (N*T, V).",
        "shape": "Return one number: a scalar tensor (the mean), not the (N, T) losses.",
        "dlogits": "The gradient follows from the loss: make the loss right and it is right too "
                   "(mask the per-position losses, divide by mask.sum()).",
        "return": "Return a scalar torch tensor computed from logits with torch operations "
                  "(training calls loss.backward()).",
        "error": "F.cross_entropy expects the classes on axis 1: reshape logits (N, T, V) to "
                 "(N*T, V) and targets (N, T) to (N*T,).",
    },
    rtol=1e-10, atol=1e-12,
))


# ----------------------------------------------------------------------------- 4.2 GRU


def gru_cases(rng):
    V, H = 5, 3
    ids = np.array([[3, 3, 4, 4, 2], [3, 4, 2, 0, 0]])        # a a b b EOS / a b EOS PAD PAD
    cases = [Case((V, H, ids, 0.0), label="fixed weights V=5, H=3, two aⁿbⁿ strings")]
    for V, H, N, T in [(4, 2, 3, 6), (6, 5, 2, 4)]:
        cases.append(Case((V, H, rng.integers(0, V, size=(N, T)),
                           float(rng.uniform(-0.5, 0.5))),
                          label=f"ramp weights with random offset, V={V}, H={H}, N={N}, T={T}"))
    return cases


def _only(model, kind, what):
    found = [m for m in model.modules() if isinstance(m, kind)]
    if len(found) != 1:
        raise TypeError(f"the model must contain exactly one {what}, found {len(found)}")
    return found[0]


def call_gru(fn, case, uses):
    """Build the model with fn(V, H), give it deterministic weights, run it on the ids.

    Weights are set through the nn.GRU and nn.Linear it contains (whatever their attribute
    names), so the check does not depend on the order the parameters were created in.
    """
    V, H, ids, offset = case.args
    with torch.random.fork_rng(devices=[]):             # leave the notebook's stream alone
        torch.manual_seed(0)
        model = fn(V, H)
    if not isinstance(model, nn.Module):
        raise TypeError(f"SequenceGRU(V, H) must build an nn.Module, got {type(model).__name__}")
    gru = _only(model, nn.GRU, "nn.GRU")
    out = _only(model, nn.Linear, "nn.Linear (the output layer)")
    model = model.double()
    with torch.no_grad():
        for k, (name, p) in enumerate(sorted(list(gru.named_parameters()) + [
                ("out." + n, q) for n, q in out.named_parameters()])):
            ramp = np.linspace(-0.8, 0.9, p.numel()) * (1 + 0.3 * np.sin(k + 1)) + offset
            p.copy_(torch.tensor(ramp.reshape(tuple(p.shape))))
        return model(torch.as_tensor(ids, dtype=torch.int64)).detach().numpy()


register(Exercise(
    name="SequenceGRU", lab=LAB, number="4.2",
    reference=gru_lm, cases=gru_cases, outputs=("logits",), call=call_gru,
    hints={
        "logits": "Create nn.GRU(V, H, batch_first=True): without batch_first the GRU reads "
                  "axis 0 as time. Feed it one-hot inputs F.one_hot(x, V) in the dtype of the "
                  "weights, and apply the nn.Linear(H, V) to every step's hidden state.",
        "shape": "forward(x) takes (N, T) ids and returns logits (N, T, V).",
        "error": "The model needs exactly one nn.GRU(V, H, batch_first=True) and one "
                 "nn.Linear(H, V); one-hot inputs must be float: "
                 "F.one_hot(x, V).to(self.out.weight.dtype).",
    },
    bugs=(
        KnownBug("time-major GRU", "Create nn.GRU(V, H, batch_first=True): without batch_first "
                 "the GRU reads axis 0 (the batch) as time.", m.GRUTimeMajor),
        KnownBug("last step only", "Apply the output layer to EVERY step's hidden state: "
                 "self.out(h) with h (N, T, H), not h[:, -1].", m.GRULastStepOnly),
        KnownBug("no output layer", "forward returns logits: pass the GRU's hidden states "
                 "(N, T, H) through self.out, nn.Linear(H, V).", m.GRUNoOutputLayer),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 4.3 GRU step


def gru_step_cases(rng):
    def ramp(lo, hi, *shape):
        return np.linspace(lo, hi, int(np.prod(shape))).reshape(shape)

    N, D, H = 2, 3, 4
    cases = [Case((ramp(-0.6, 0.8, N, D), ramp(0.5, -0.4, N, H), ramp(-0.7, 0.6, 3 * H, D),
                   ramp(0.4, -0.5, 3 * H, H), ramp(-0.3, 0.4, 3 * H), ramp(0.5, -0.2, 3 * H)),
                  label="fixed fixture N=2, D=3, H=4")]
    for N, D, H in [(3, 5, 2), (1, 2, 6)]:
        cases.append(Case((rng.standard_normal((N, D)), rng.standard_normal((N, H)),
                           rng.standard_normal((3 * H, D)) / np.sqrt(D),
                           rng.standard_normal((3 * H, H)) / np.sqrt(H),
                           0.5 * rng.standard_normal(3 * H), 0.5 * rng.standard_normal(3 * H)),
                          label=f"random N={N}, D={D}, H={H}"))
    return cases


def call_gru_step(fn, case, uses):
    """fn on float64 tensors (plain arrays in the case, so the grader can store them); returns
    h and dL/dh_prev for L = sum(h * ramp), so a step cut from the graph fails here."""
    x, h_prev, W_ih, W_hh, b_ih, b_hh = (torch.tensor(a, dtype=torch.float64) for a in case.args)
    h_prev.requires_grad_(True)
    h = fn(x, h_prev, W_ih, W_hh, b_ih, b_hh)
    if not isinstance(h, torch.Tensor):
        raise BadReturn(f"returned a {type(h).__name__}, want a torch tensor h (N, H)")
    if tuple(h.shape) != tuple(h_prev.shape):
        raise BadReturn(f"returned h of shape {tuple(h.shape)}, want (N, H) = {tuple(h_prev.shape)}")
    if not h.requires_grad:
        raise BadReturn("returned a tensor cut from the graph (no grad), want h computed with "
                        "torch operations")
    weights = torch.linspace(-1.0, 1.0, h.numel(), dtype=torch.float64).reshape(h.shape)
    (h * weights).sum().backward()
    return h.detach(), h_prev.grad


register(Exercise(
    name="gru_step", lab=LAB, number="4.3",
    reference=gru_step_nn, cases=gru_step_cases, outputs=("h", "dh_prev"), call=call_gru_step,
    hints={
        "h": "r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr), z likewise, "
             "n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)), h' = (1 - z) * n + z * h; "
             "the blocks of W_ih, W_hh, b_ih, b_hh are in the order r, z, n.",
        "dh_prev": "Use only torch operations on the given tensors (no .detach(), no NumPy), so "
                   "autograd can differentiate the step.",
        "error": "The weights are in nn.GRU's layout: W_ih (3H, D), so x @ W_ih.T is (N, 3H).",
    },
    bugs=(
        KnownBug("b_hn outside r", "In n, r multiplies the WHOLE recurrent part including its "
                 "bias: tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)) (torch's GRU, unlike the "
                 "original paper).", m.gru_bias_outside_r),
        KnownBug("z and 1 - z swapped", "h' = (1 - z) * n + z * h_prev: z is how much of the OLD "
                 "state is kept.", m.gru_z_swapped),
        KnownBug("gate order z, r, n", "nn.GRU stores the blocks in the order r, z, n: r is "
                 "rows [0:H] of W_ih, z rows [H:2H], n rows [2H:3H].", m.gru_order_zrn),
    ),
    rtol=1e-10, atol=1e-12,
))
