"""Tests for lab 06 (training recurrent networks in practice): its exercise registrations,
mistakes outside the catalogue (utils/exercises/mistakes_lab06.py, asserted with every other
lab's in tests/test_known_bugs.py) and the hint each gets, correct variants that must pass, the
solution notebook's functions, the reference helpers in utils, and grading the lab.
"""

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import adding, packing, rnn_init, tbptt
from utils.checks import evaluate, get_exercise, make_cases, run_cases
from utils.corpus import sequential_rows
from utils.exercises.mistakes_lab06 import free_run_variant, scheduled_variant
from utils.free_running import SineRNN, free_run, scheduled_sampling_loss, teacher_forcing_loss

ROOT = Path(__file__).resolve().parent.parent
LAB06 = sorted((ROOT / "solutions").glob("06_*.ipynb"))
NAMES = ["tbptt_epoch", "orthogonal_from_gaussian", "last_real_state", "free_run", "scheduled_sampling_loss"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def outcome(name, fn):
    ex = get_exercise(name)
    cases = make_cases(ex)
    return evaluate(ex, cases, run_cases(ex, fn, cases), run_cases(ex, ex.reference, cases))


def assert_hint(name, fn, key):
    """fn fails the check of `name`, and the hint shown is the one registered under `key`."""
    result = outcome(name, fn)
    assert result.status == "failed", (name, key, result)
    assert result.hint == get_exercise(name).hints[key], (name, key, result.problems, result.error, result.hint)


# ----------------------------------------------------------------------------- references, notebook


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_its_check(name):
    assert outcome(name, get_exercise(name).reference).passed


@pytest.mark.skipif(not LAB06, reason="solutions/06_*.ipynb is not written yet")
def test_solution_functions_pass():
    ns = {"np": np, "torch": torch, "nn": nn, "F": F}
    nb = nbformat.read(LAB06[0], as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and any(f"def {n}(" in cell.source for n in NAMES):
            exec(compile(cell.source, LAB06[0].name, "exec"), ns)
    for name in NAMES:
        result = outcome(name, ns[name])
        assert result.passed, (name, result.problems, result.error)


# ----------------------------------------------------------------------------- 6.1 tbptt_epoch


def tbptt_variant(carry=True, detach=True, zero_grad=True, stride=0, detach_style="tuple"):
    def tbptt_epoch(model, x_rows, y_rows, T, optimizer):
        losses, state = [], None
        for start in range(0, x_rows.shape[1], T + stride):
            x, y = x_rows[:, start:start + T], y_rows[:, start:start + T]
            if not carry:
                state = None
            elif detach and state is not None and detach_style == "tuple":
                state = tuple(s.detach() for s in state)
            elif detach and state is not None and detach_style == "list":
                state = [s.detach() for s in state]
            logits, state = model(x, None if state is None else tuple(state))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if detach and detach_style == "after":
                state = (state[0].detach(), state[1].detach())
            losses.append(float(loss))
        return losses, state
    return tbptt_epoch


@pytest.mark.parametrize("mistake, key", [
    (dict(stride=-1), "shape"),             # overlapping chunks: the wrong number of losses
])
def test_tbptt_mistakes_get_their_hint(mistake, key):
    assert_hint("tbptt_epoch", tbptt_variant(**mistake), key)


@pytest.mark.parametrize("style", ["tuple", "list", "after"])
def test_tbptt_correct_variants_pass(style):
    assert outcome("tbptt_epoch", tbptt_variant(detach_style=style)).passed


def test_tbptt_epoch_carries_the_state():
    # The loss of chunk 2 after chunk 1 (no update in between, lr 0) equals the loss of
    # the same positions in one long forward pass: the state really is carried.
    from utils.exercises.lab06 import TinyLM
    torch.manual_seed(0)
    lm = TinyLM(5).double()
    x = torch.tensor(np.arange(2 * 9).reshape(2, 9) % 5)
    y = torch.tensor((np.arange(2 * 9).reshape(2, 9) + 1) % 5)
    losses, _ = tbptt.tbptt_epoch(lm, x, y, 3, torch.optim.SGD(lm.parameters(), lr=0.0))
    with torch.no_grad():
        logits, _ = lm(x)
    per_chunk = [float(F.cross_entropy(logits[:, s:s + 3].reshape(-1, 5), y[:, s:s + 3].reshape(-1)))
                 for s in (0, 3, 6)]
    np.testing.assert_allclose(losses, per_chunk, rtol=1e-12)


def test_sequential_chunks_continue_each_row():
    ids = np.arange(1000) % 65
    x, y = tbptt.sequential_chunks(ids, N=4, T=24)
    assert x.shape[1] % 24 == 0 and x.shape == y.shape
    xr, _ = sequential_rows(ids, 4)
    np.testing.assert_array_equal(x, xr[:, :x.shape[1]])
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])


def test_detach_state_cuts_the_graph():
    h = torch.ones(2, requires_grad=True) * 2
    assert tbptt.detach_state(None) is None
    assert not tbptt.detach_state(h).requires_grad
    assert not any(s.requires_grad for s in tbptt.detach_state((h, h)))


def test_training_recipes_run_and_learn():
    from utils.charlm import CharLSTM
    ids = (np.arange(4000) % 7).astype(np.int64)          # a periodic text: easy to learn
    for fn in (tbptt.train_random_windows, tbptt.train_stateful):
        torch.manual_seed(0)
        model = CharLSTM(7, E=4, H=8)
        losses = fn(model, ids, 8, 8, 60, 0.03, np.random.default_rng(0))
        assert losses.shape == (60,) and losses[-5:].mean() < 0.5 * losses[:5].mean(), fn.__name__
        assert tbptt.window_nats(model, ids, 8, max_windows=50) < np.log(7)


# ----------------------------------------------------------------------------- 6.2 orthogonal


def test_fixed_case_has_a_negative_diagonal_in_r():
    A = make_cases(get_exercise("orthogonal_from_gaussian"))[0].args[0]
    assert (np.diag(np.linalg.qr(A)[1]) < 0).any()       # so a missing sign fix is caught


@pytest.mark.parametrize("fn, key", [
    (lambda A, gain=1.0: gain * A / np.linalg.norm(A, axis=0), "QtQ_over_gain2"),   # not orthogonal
    (lambda A, gain=1.0: gain * np.linalg.qr(A)[1], "QtQ_over_gain2"),              # R, not Q
    (lambda A, gain=1.0: rnn_init.orthogonal_from_gaussian(A, gain)[:-1], "shape"),
])
def test_orthogonal_mistakes_get_their_hint(fn, key):
    assert_hint("orthogonal_from_gaussian", fn, key)


def test_orthogonal_correct_variants_pass():
    def with_torch(A, gain=1.0):
        Q, R = torch.linalg.qr(torch.tensor(A))
        return (gain * Q @ torch.diag(torch.sign(torch.diag(R)))).numpy()
    assert outcome("orthogonal_from_gaussian", with_torch).passed


def test_orthogonal_matches_torch_init():
    torch.manual_seed(3)
    W = torch.empty(6, 6, dtype=torch.float64)
    nn.init.orthogonal_(W, gain=1.3)
    torch.manual_seed(3)
    A = torch.empty(6, 6, dtype=torch.float64).normal_(0, 1)
    np.testing.assert_allclose(rnn_init.orthogonal_from_gaussian(A.numpy(), 1.3), W.numpy(), atol=1e-12)


def test_init_recurrent_schemes():
    for cell in (nn.RNN(2, 5), nn.LSTM(2, 5)):
        rnn_init.init_recurrent_(cell, "orthogonal", torch.Generator().manual_seed(0))
        for k in range(cell.weight_hh_l0.shape[0] // 5):
            block = cell.weight_hh_l0[k * 5:(k + 1) * 5].detach().double()
            np.testing.assert_allclose(block @ block.T, np.eye(5), atol=1e-6)
        rnn_init.init_recurrent_(cell, "identity")
        np.testing.assert_array_equal(cell.weight_hh_l0[:5].detach(), torch.eye(5))
    W = torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
    assert rnn_init.spectral_radius(rnn_init.scale_to_spectral_radius(W, 1.2)) == pytest.approx(1.2)
    with pytest.raises(ValueError, match="scheme must be one of"):
        rnn_init.init_recurrent_(nn.RNN(2, 3), "xavier")
    with pytest.raises(ValueError, match="square"):
        rnn_init.orthogonal_from_gaussian(np.ones((2, 3)))


# ----------------------------------------------------------------------------- adding problem


def test_adding_batch_and_constant_baseline():
    x, y = adding.adding_batch(20_000, 12, np.random.default_rng(0))
    assert x.shape == (20_000, 12, 2) and y.shape == (20_000,)
    m = x[..., 1].numpy()
    assert (m.sum(1) == 2).all() and (m[:, :6].sum(1) == 1).all()
    np.testing.assert_allclose(y.numpy(), (x[..., 0] * x[..., 1]).sum(1).numpy(), rtol=1e-6)
    assert float(((y - 1) ** 2).mean()) == pytest.approx(adding.CONSTANT_MSE, abs=0.005)
    with pytest.raises(ValueError, match="T must be >= 2"):
        adding.adding_batch(3, 1, np.random.default_rng(0))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_hidden_grad_norms_match_autograd_through_the_layer(cell):
    m = adding.AddingRNN(cell, H=6, generator=torch.Generator().manual_seed(0)).double()
    x, y = adding.adding_batch(4, 7, np.random.default_rng(1))
    x, y = x.double(), y.double()
    g = adding.hidden_grad_norms(m.rnn, m.out, x, y)
    # the same loss through nn.RNN / nn.LSTM: the gradient w.r.t. the last output is dL/dh_T
    h, _ = m.rnn(x)
    h.retain_grad()
    ((m.out(h[:, -1]).squeeze(-1) - y) ** 2).mean().backward()
    assert g.shape == (7,)
    assert g[-1] == pytest.approx(float(h.grad[:, -1].norm(dim=1).mean()), rel=1e-10)
    # one step earlier, dL/dh_{T-1} comes only through the recurrence: compare with autograd
    h0 = h[:, -2].detach().requires_grad_(True)
    _, last = m.rnn(x[:, -1:], h0[None] if cell == "rnn" else (h0[None], _c_before_last(m.rnn, x)))
    last = last if cell == "rnn" else last[0]
    ((m.out(last[0]).squeeze(-1) - y) ** 2).mean().backward()
    assert g[-2] == pytest.approx(float(h0.grad.norm(dim=1).mean()), rel=1e-8)


def _c_before_last(lstm, x):
    """The LSTM's cell state after all but the last step (the initial c of the last step)."""
    _, (_, c) = lstm(x[:, :-1])
    return c.detach()


def test_adding_models_separate_weight_seeds():
    a = adding.AddingRNN("rnn", 4, generator=torch.Generator().manual_seed(1))
    b = adding.AddingRNN("rnn", 4, generator=torch.Generator().manual_seed(1))
    c = adding.AddingRNN("rnn", 4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.rnn.weight_hh_l0, b.rnn.weight_hh_l0)
    assert not torch.equal(a.rnn.weight_hh_l0, c.rnn.weight_hh_l0)


# ----------------------------------------------------------------------------- 6.3 last real state


@pytest.mark.parametrize("fn, key", [
    (lambda h, lengths: h[:, 0], "last"),                                           # the first step
    (lambda h, lengths: h[torch.arange(h.shape[0]), lengths - 1][:, None], "shape"),
])
def test_last_real_state_mistakes_get_their_hint(fn, key):
    assert_hint("last_real_state", fn, key)


def test_last_real_state_correct_variants_pass():
    assert outcome("last_real_state", lambda h, lengths: torch.stack(
        [h[n, int(l) - 1] for n, l in enumerate(lengths)])).passed
    assert outcome("last_real_state", lambda h, lengths: h[torch.arange(len(lengths)), lengths - 1]).passed


def test_last_real_state_equals_packed_final_state():
    torch.manual_seed(0)
    lengths = torch.tensor([4, 1, 6])
    x = torch.randn(3, 6, 2)
    layer = nn.LSTM(2, 3, batch_first=True)
    h, _ = layer(x)
    _, (h_n, _) = layer(nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    torch.testing.assert_close(packing.last_real_state(h, lengths), h_n[0])


def test_classifier_readers():
    x = torch.randn(3, 5, 2)
    lengths = torch.tensor([5, 2, 3])
    for kw in (dict(read="padded"), dict(read="last_real"), dict(read="packed", bidirectional=True)):
        clf = packing.LastStateClassifier(2, 4, 3, generator=torch.Generator().manual_seed(0), **kw)
        assert clf(x, lengths).shape == (3, 3)
    with pytest.raises(ValueError, match="bidirectional"):
        packing.LastStateClassifier(2, 4, 3, read="last_real", bidirectional=True)
    padded, lens = packing.pad_sequences([torch.ones(2, 1), torch.ones(4, 1)])
    assert padded.shape == (2, 4, 1) and lens.tolist() == [2, 4]


# ----------------------------------------------------------------------------- 6.4 free running


def test_free_run_mistakes_get_their_hint():
    def one_short(model, prompt, steps):                 # steps - 1 values
        return free_run_variant()(model, prompt, steps)[:, :-1]
    assert_hint("free_run", one_short, "shape")


def test_free_run_by_rereading_everything_passes():
    def reread(model, prompt, steps):
        seq = prompt
        with torch.no_grad():
            for _ in range(steps):
                pred, _ = model(seq)
                seq = torch.cat([seq, pred[:, -1:]], dim=1)
        return seq[:, prompt.shape[1]:]
    assert outcome("free_run", reread).passed


# ----------------------------------------------------------------------------- 6.5 scheduled sampling


@pytest.mark.parametrize("mistake, key", [
    (dict(reduce=False), "shape"),           # per-step losses instead of one number
])
def test_scheduled_sampling_mistakes_get_their_hint(mistake, key):
    assert_hint("scheduled_sampling_loss", scheduled_variant(**mistake), key)


def test_scheduled_sampling_float_mix_passes():
    assert outcome("scheduled_sampling_loss", scheduled_variant(float_mix=True)).passed


def test_scheduled_sampling_without_feedback_is_teacher_forcing():
    model = SineRNN(4, generator=torch.Generator().manual_seed(0)).double()
    y = torch.tensor(np.sin(np.linspace(0, 4, 3 * 9)).reshape(3, 9))
    never = torch.zeros(3, 7, dtype=torch.bool)
    torch.testing.assert_close(scheduled_sampling_loss(model, y, never), teacher_forcing_loss(model, y))
    always = torch.ones(3, 7, dtype=torch.bool)
    # always feeding back = free running from one true value
    preds = free_run(model, y[:, :1], 8)
    torch.testing.assert_close(scheduled_sampling_loss(model, y, always), ((preds - y[:, 1:]) ** 2).mean())


# ----------------------------------------------------------------------------- grading


@pytest.mark.slow
@pytest.mark.skipif(not LAB06, reason="solutions/06_*.ipynb is not written yet")
def test_grader_grades_lab06(tmp_path):
    from tests.grading.builders import grade_lab
    from tools.grading import sandbox, scoring

    assert [ex.name for ex in scoring.lab_exercises("06")] == NAMES
    limits = sandbox.Limits(notebook_timeout=300, cell_timeout=120, exercise_timeout=60)
    rows = grade_lab("06", LAB06[0], tmp_path, limits, partly=["last_real_state"], jobs=1)
    assert float(rows["correct"]["total"]) == len(NAMES) and rows["correct"]["status"] == "ok", rows["correct"]
    assert float(rows["untouched"]["total"]) == 0, rows["untouched"]
    assert float(rows["partly"]["total"]) == 1, rows["partly"]
