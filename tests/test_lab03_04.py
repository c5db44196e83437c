"""Tests for labs 03 and 04: their exercise registrations, the solutions' functions and the
PyTorch model of utils/torch_models.py.

The solution notebooks' exercise cells are executed here (without running the whole
notebook) and checked against the registry, so the functions a notebook teaches and the
references in utils cannot drift apart.
"""

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import layers
from utils.checks import get_exercise, make_cases, run_cases, evaluate
from utils.data import Vocab, anbn_sequence, lm_batch
from utils.models import SequenceModel
from utils.torch_bridge import linear_to_torch, lstm_to_torch
from utils.torch_models import RecurrentLM, gru_lm, masked_accuracy, masked_cross_entropy

ROOT = Path(__file__).resolve().parent.parent
LAB03 = ROOT / "solutions" / "03_lstm_from_scratch.ipynb"
LAB04 = ROOT / "solutions" / "04_pytorch_lstm.ipynb"


def outcome(name, fn, uses=None):
    ex = get_exercise(name)
    cases = make_cases(ex)
    want = run_cases(ex, ex.reference, cases)
    got = run_cases(ex, fn, cases, uses)
    return evaluate(ex, cases, got, want)


def solution_namespace(path, names):
    """Execute the cells of a solution notebook that define `names`; return the namespace."""
    ns = {"np": np, "torch": torch, "nn": nn, "F": F}
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and any(f"def {n}(" in cell.source or f"class {n}(" in cell.source
                                            for n in names):
            exec(compile(cell.source, f"{path.name}", "exec"), ns)
    missing = [n for n in names if n not in ns]
    assert not missing, f"{path.name} defines no {missing}"
    return ns


# ----------------------------------------------------------------------------- lab 03

LAB03_NAMES = ["sigmoid", "lstm_step_forward", "lstm_forward", "lstm_step_backward", "lstm_backward"]


@pytest.mark.parametrize("name", LAB03_NAMES)
def test_lab03_reference_passes_its_check(name):
    assert outcome(name, get_exercise(name).reference).passed


def test_lab03_solution_functions_pass():
    ns = solution_namespace(LAB03, LAB03_NAMES)
    uses = {"lstm_step_backward": {"lstm_step_forward": ns["lstm_step_forward"]},
            "lstm_backward": {"lstm_forward": ns["lstm_forward"]}}
    for name in LAB03_NAMES:
        result = outcome(name, ns[name], uses.get(name))
        assert result.passed, (name, result.problems, result.error)


def test_naive_sigmoid_fails_on_overflow():
    result = outcome("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)))
    assert result.status == "failed"
    assert result.error is not None and result.error.type == "FloatingPointError"


def test_lstm_step_forward_with_wrong_gate_order_fails():
    def swapped(x, h_prev, c_prev, Wx, Wh, b):
        H = h_prev.shape[1]
        perm = np.r_[H:2 * H, 0:H, 2 * H:4 * H]          # f and i exchanged
        return layers.lstm_step_forward(x, h_prev, c_prev, Wx[:, perm], Wh[:, perm], b[perm])

    assert outcome("lstm_step_forward", swapped).status == "failed"


def test_lstm_step_backward_without_dc_fails():
    def no_future(dh, dc, cache):
        return layers.lstm_step_backward(dh, np.zeros_like(dc), cache)

    result = outcome("lstm_step_backward", no_future)
    assert result.status == "failed"
    assert "dc_total" in result.hint and "gets the gradient dc from step t+1" in result.hint_levels[-1]


def test_lstm_backward_that_drops_the_cell_path_fails():
    def reset_dc(dh, cache):
        # BPTT where each step only sees its own dh: the gradient through c is dropped.
        x, h0, c0, Wx, Wh = (cache[k] for k in ("x", "h0", "c0", "Wx", "Wh"))
        hs, cs, gates = cache["h"], cache["c"], cache["gates"]
        N, T, H = hs.shape
        dx = np.zeros_like(x)
        dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H)
        dh_next = np.zeros_like(h0)
        for t in reversed(range(T)):
            h_prev = hs[:, t - 1] if t > 0 else h0
            c_prev = cs[:, t - 1] if t > 0 else c0
            step = (x[:, t], h_prev, c_prev, Wx, Wh, cs[:, t], gates[:, t])
            dx[:, t], dh_next, dc_prev, a, b_, c = layers.lstm_step_backward(
                dh[:, t] + dh_next, np.zeros_like(h0), step)
            dWx += a
            dWh += b_
            db += c
        return dx, dh_next, dc_prev, dWx, dWh, db

    assert outcome("lstm_backward", reset_dc).status == "failed"


# ----------------------------------------------------------------------------- lab 04


def test_lab04_solution_functions_pass():
    ns = solution_namespace(LAB04, ["masked_cross_entropy", "SequenceGRU"])
    for name in ("masked_cross_entropy", "SequenceGRU"):
        result = outcome(name, ns[name])
        assert result.passed, (name, result.problems, result.error)


def test_masked_cross_entropy_matches_numpy_loss():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 5, 4))
    targets = rng.integers(0, 4, size=(3, 5))
    mask = rng.random((3, 5)) < 0.6
    mask[0, 0] = True
    want, _ = layers.softmax_cross_entropy(logits, targets, mask)
    got = masked_cross_entropy(torch.tensor(logits), torch.tensor(targets), torch.tensor(mask))
    assert abs(got.item() - want) < 1e-12


def test_unmasked_mean_fails_the_check():
    def all_positions(logits, targets, mask):
        V = logits.shape[-1]
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))

    assert outcome("masked_cross_entropy", all_positions).status == "failed"


def test_gru_without_batch_first_fails_the_check():
    class TimeMajor(nn.Module):
        def __init__(self, V, H):
            super().__init__()
            self.V = V
            self.gru = nn.GRU(V, H)                      # reads axis 0 as time
            self.out = nn.Linear(H, V)

        def forward(self, x):
            return self.out(self.gru(F.one_hot(x, self.V).to(self.out.weight.dtype))[0])

    assert outcome("SequenceGRU", TimeMajor).status == "failed"
    assert outcome("SequenceGRU", gru_lm).passed


def test_recurrent_lm_matches_the_numpy_model():
    vocab = Vocab(["a", "b"])
    V = len(vocab)
    batch = lm_batch(vocab, [anbn_sequence(n) for n in (2, 5, 1)])
    np_model = SequenceModel("lstm", V, 6, V, np.random.default_rng(1))
    p = np_model.params
    model = RecurrentLM(V, 6).double()
    model.rnn = lstm_to_torch(p["Wx"], p["Wh"], p["b"], dtype=torch.float64)
    model.out = linear_to_torch(p["Wy"], p["by"], dtype=torch.float64)
    want, _ = np_model.forward(batch["x"])
    with torch.no_grad():
        got = model(torch.from_numpy(batch["x"])).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_recurrent_lm_packed_equals_padded_at_real_positions():
    vocab = Vocab(["a", "b"])
    batch = lm_batch(vocab, [anbn_sequence(n) for n in (3, 1, 6)])
    x, mask = torch.from_numpy(batch["x"]), torch.from_numpy(batch["mask"])
    for cell in ("lstm", "gru", "rnn"):
        torch.manual_seed(0)
        model = RecurrentLM(len(vocab), 4, cell=cell).double()
        with torch.no_grad():
            padded, packed = model(x), model(x, lengths=mask.sum(dim=1))
        assert torch.allclose(padded[mask], packed[mask], atol=1e-12), cell
        assert not torch.allclose(padded[~mask], packed[~mask]), cell


def test_recurrent_lm_forget_bias():
    model = RecurrentLM(5, 3, forget_bias=1.0)
    b = (model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0).detach()
    assert torch.allclose(b[3:6], torch.ones(3))


def test_masked_accuracy():
    logits = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])      # predicts 1, 0, 1
    targets = torch.tensor([[1, 1, 0]])
    mask = torch.tensor([[True, True, False]])
    assert masked_accuracy(logits, targets, mask) == 0.5


@pytest.mark.parametrize("make, exc, words", [
    (lambda: RecurrentLM(5, 3, cell="transformer"), ValueError, "cell must be one of"),
    (lambda: RecurrentLM(5, 0), ValueError, "H must be a positive int"),
    (lambda: RecurrentLM(5, 3)(torch.zeros(2, 3)), ValueError, "int64 tensor of token ids"),
    (lambda: RecurrentLM(5, 3)(np.zeros((2, 3), int)), TypeError, "must be a torch.Tensor"),
    (lambda: RecurrentLM(5, 3)(torch.full((2, 3), 7)), ValueError, "must lie in [0, 5)"),
    (lambda: RecurrentLM(5, 3)(torch.zeros(2, 3, dtype=torch.long), lengths=[3]), ValueError,
     "lengths must have shape (2,)"),
    (lambda: masked_cross_entropy(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.long),
                                  torch.zeros(2, 3, dtype=torch.bool)), ValueError, "selects no positions"),
    (lambda: masked_cross_entropy(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.long),
                                  torch.ones(2, 3)), TypeError, "mask must be a bool tensor"),
    (lambda: masked_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long),
                                  torch.ones(2, 3, dtype=torch.bool)), ValueError, "logits must be (N, T, V)"),
])
def test_bad_input_raises_clear_errors(make, exc, words):
    with pytest.raises(exc, match=None) as info:
        make()
    assert words in str(info.value)
