"""Exercises of lab 06, training recurrent networks in practice (solutions/06_training_rnns.ipynb).

    6.1 tbptt_epoch              stateful truncated BPTT: carry the state, detach it, one step per chunk
    6.2 orthogonal_from_gaussian orthogonal initialisation from the QR decomposition
    6.3 last_real_state          the state after each padded sequence's last real step
    6.4 free_run                 generation: feed each prediction back in
    6.5 scheduled_sampling_loss  one training loss with a mix of true and fed-back inputs

The references live in utils/tbptt.py, utils/rnn_init.py, utils/packing.py and
utils/free_running.py. Models are built inside the checks in float64 with weights that do not
come from a random generator (linspace ramps), so the student's code and the reference see the
same numbers. Cases hold plain NumPy arrays (the grader sends them to another process); the
calls turn them into tensors. Each exercise compares several outputs, so that each known mistake is reported
on its own output with its own hint; the catalogue of known mistakes is
utils/exercises/mistakes_lab06.py (asserted in tests/test_known_bugs.py).
"""

import numpy as np
import torch
from torch import nn

from utils.checks import BadReturn, Case, Exercise, KnownBug, register
from utils.exercises import mistakes_lab06 as m
from utils.free_running import SineRNN, free_run, scheduled_sampling_loss
from utils.packing import last_real_state
from utils.rnn_init import orthogonal_from_gaussian
from utils.tbptt import tbptt_epoch

LAB = "06"


def _ramp_(module, offset=0.0):
    """Deterministic float64 weights: a different linspace ramp for every parameter (by name)."""
    module.double()
    with torch.no_grad():
        for k, (name, p) in enumerate(sorted(module.named_parameters())):
            ramp = np.linspace(-0.8, 0.9, p.numel()) * (1 + 0.3 * np.sin(k + 1)) + offset
            p.copy_(torch.tensor(ramp.reshape(tuple(p.shape))))
    return module


# ----------------------------------------------------------------------------- 6.1 TBPTT


class TinyLM(nn.Module):
    """Embedding (V, 3) -> nn.LSTM(3, 4) -> Linear(4, V): the model of the TBPTT check."""

    def __init__(self, V):
        super().__init__()
        self.embed = nn.Embedding(V, 3)
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, V)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def tbptt_cases(rng):
    V = 5
    fixed = (np.arange(2 * 13) * 3 % V).reshape(2, 13)                         # (2, 13) ids
    cases = [Case((V, fixed[:, :-1], fixed[:, 1:], 4, 0.0), label="fixed ids N=2, L=12, T=4")]
    for N, L, T in [(3, 10, 5), (2, 12, 3)]:
        ids = rng.integers(0, V, size=(N, L + 1))
        cases.append(Case((V, ids[:, :-1], ids[:, 1:], T, float(rng.uniform(-0.2, 0.2))),
                          label=f"random ids N={N}, L={L}, T={T}"))
    return cases


def call_tbptt(fn, case, uses):
    V, x, y, T, offset = case.args
    model = _ramp_(TinyLM(V), offset)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    result = fn(model, torch.tensor(x), torch.tensor(y), T, optimizer)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("tbptt_epoch must return (losses, state)")
    losses, state = result
    if any(isinstance(loss, torch.Tensor) for loss in losses):
        raise BadReturn("returned the losses as tensors: append loss.item(), a float, for each "
                        "chunk (a tensor keeps the chunk's whole graph alive)")
    h = state[0] if isinstance(state, (tuple, list)) else state
    return np.asarray(losses, dtype=np.float64), h.detach()


register(Exercise(
    name="tbptt_epoch", lab=LAB, number="6.1",
    reference=tbptt_epoch, cases=tbptt_cases, outputs=("losses", "h"), call=call_tbptt,
    hints={
        "losses": "Start from state = None once, before the loop, and pass each chunk's final "
                  "state into the next chunk (a fresh None per chunk is lab 05's random-window "
                  "training). Call optimizer.zero_grad() before each backward, or the gradients "
                  "of earlier chunks add up. Each loss is the MEAN cross-entropy of its chunk "
                  "(F.cross_entropy's default reduction).",
        "shape": "One loss per chunk: for start in range(0, L, T), chunk x[:, start:start + T].",
        "error": "Detach the carried state before using it (state = tuple(s.detach() for s in "
                 "state)): without it the second backward reaches into the graph of the first "
                 "chunk, which backward() has already freed.",
    },
    bugs=(
        KnownBug("state not detached", "Detach the carried state before the next chunk reads "
                 "it (state = tuple(s.detach() for s in state)): without it the second "
                 "backward reaches into the first chunk's graph, which backward() has already "
                 "freed (and would cost more with every chunk).", m.tbptt_no_detach),
        KnownBug("state reset every chunk", "Set state = None once, BEFORE the loop, and feed "
                 "each chunk's final state into the next: a fresh None per chunk is lab 05's "
                 "random-window training, every chunk from a zero state.",
                 m.tbptt_state_reset_every_chunk),
        KnownBug("cell state not carried", "An LSTM's state is the pair (h, c): carry and "
                 "detach both. Resetting c to zeros throws away the memory the LSTM keeps in "
                 "its cell.", m.tbptt_cell_state_not_carried),
        KnownBug("no zero_grad", "Call optimizer.zero_grad() before each loss.backward(): "
                 "gradients ADD UP across backward calls, so each step also used the earlier "
                 "chunks' gradients.", m.tbptt_no_zero_grad),
    ),
    rtol=1e-8, atol=1e-10,
))


# ----------------------------------------------------------------------------- 6.2 orthogonal


def orthogonal_cases(rng):
    fixed = np.array([[0.5, -1.2, 0.3], [1.1, 0.4, -0.7], [-0.2, 0.9, 1.3]])   # R has a negative diagonal
    return [
        Case((fixed,), {"gain": 1.0}, label="fixed 3x3 matrix, gain 1"),
        Case((fixed,), {"gain": 1.5}, label="fixed 3x3 matrix, gain 1.5"),
        Case((rng.standard_normal((5, 5)),), {"gain": float(rng.uniform(0.5, 2.0))},
             label="random 5x5 Gaussian matrix"),
    ]


def call_orthogonal(fn, case, uses):
    Q = np.asarray(fn(*case.args, **case.kwargs), dtype=np.float64)
    if Q.shape != case.args[0].shape:
        return Q, Q, Q                                    # reported as a shape problem
    gram = Q.T @ Q
    scale2 = float(np.mean(np.diag(gram)))
    return gram / scale2, np.sqrt(scale2), Q


register(Exercise(
    name="orthogonal_from_gaussian", lab=LAB, number="6.2",
    reference=orthogonal_from_gaussian, cases=orthogonal_cases,
    outputs=("QtQ_over_gain2", "gain", "Q"), call=call_orthogonal,
    hints={
        "QtQ_over_gain2": "The columns are not orthonormal: take Q from Q, R = np.linalg.qr(A) "
                          "(not A itself, not R).",
        "gain": "Multiply the orthogonal matrix by gain: every singular value must be gain.",
        "Q": "Q is orthogonal with the right gain but not the matrix of the recipe: take Q, R = "
             "np.linalg.qr(A) (not another orthogonal matrix, e.g. U @ Vt from the SVD), multiply "
             "column j of Q by np.sign(R[j, j]) (broadcast Q * np.sign(np.diag(R))), and do not "
             "transpose it.",
        "shape": "Return an (H, H) matrix, the shape of A.",
    },
    bugs=(
        KnownBug("no sign fix", "Q from np.linalg.qr is orthogonal but not unique (nor uniformly "
                 "distributed): multiply column j by np.sign(R[j, j]), Q * np.sign(np.diag(R)).",
                 m.orthogonal_no_sign_fix),
        KnownBug("transposed", "Return Q (times the signs and the gain) as it is, not its "
                 "transpose: Q.T is orthogonal too, but it is not the matrix the recipe (and "
                 "torch.nn.init.orthogonal_) gives.", m.orthogonal_transposed),
        KnownBug("gain forgotten", "Multiply by gain at the end: every singular value of the "
                 "result must be gain, not 1.", m.orthogonal_gain_forgotten),
        KnownBug("signs on the rows", "The sign of R[j, j] belongs to COLUMN j of Q: "
                 "Q * np.sign(np.diag(R)) broadcasts over the columns; "
                 "np.sign(np.diag(R))[:, None] * Q flips rows.", m.orthogonal_signs_on_rows),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 6.3 last real state


def last_state_cases(rng):
    N, T, H = 3, 5, 2
    h = np.linspace(-1.0, 1.0, N * T * H).reshape(N, T, H)
    cases = [Case((h, np.array([5, 2, 3])), label="fixed h (3, 5, 2), lengths [5, 2, 3]")]
    for N, T, H in [(4, 6, 3), (2, 3, 4)]:
        lengths = rng.integers(1, T + 1, size=N)
        lengths[0] = T                                    # one full-length sequence
        cases.append(Case((rng.standard_normal((N, T, H)), lengths),
                          label=f"random h ({N}, {T}, {H}), lengths {lengths.tolist()}"))
    return cases


def call_last_state(fn, case, uses):
    h, lengths = case.args                     # plain arrays in the case, tensors for the function
    return fn(torch.tensor(h), torch.tensor(lengths, dtype=torch.int64))


register(Exercise(
    name="last_real_state", lab=LAB, number="6.3",
    reference=last_real_state, cases=last_state_cases, outputs=("last",), call=call_last_state,
    hints={
        "last": "h[:, -1] is the state after the padding. Take h[n, lengths[n] - 1] for each n "
                "(h[torch.arange(N), lengths - 1]).",
        "shape": "Return (N, H): one state per sequence (squeeze the time axis).",
        "error": "The last real step of a sequence of length l is l - 1 (indices start at 0); "
                 "index with int64 tensors.",
    },
    bugs=(
        KnownBug("padded last column", "h[:, -1] is the state after the padding too. Take "
                 "h[n, lengths[n] - 1] for each n: h[torch.arange(N), lengths - 1].",
                 m.last_state_padded_column),
        KnownBug("off by one", "A sequence of length l ends at index l - 1 (indices start at "
                 "0): h[torch.arange(N), lengths] runs past the end of a full-length sequence.",
                 m.last_state_off_by_one),
        KnownBug("no batch index", "h[:, lengths - 1] takes every sequence at every length, "
                 "(N, N, H): pair each row with its own length, h[torch.arange(N), lengths - 1].",
                 m.last_state_no_batch_index),
        KnownBug("gather index not expanded", "h.gather(1, idx) needs idx of shape (N, 1, H): "
                 "expand (lengths - 1).view(-1, 1, 1) over the H units, or it gathers unit 0 "
                 "only.", m.last_state_gather_not_expanded),
    ),
    rtol=1e-12, atol=1e-12,
))


# ----------------------------------------------------------------------------- 6.4 free running


def free_run_cases(rng):
    prompt = np.sin(np.linspace(0.0, 2.0, 2 * 6)).reshape(2, 6)
    cases = [Case((prompt, 5, 0.0), label="fixed prompt (2, 6) of sin values, 5 steps")]
    for N, P, steps in [(3, 4, 7), (1, 8, 3)]:
        cases.append(Case((rng.uniform(-1, 1, size=(N, P)), steps,
                           float(rng.uniform(-0.2, 0.2))), label=f"random prompt ({N}, {P}), {steps} steps"))
    return cases


def call_free_run(fn, case, uses):
    prompt, steps, offset = case.args
    model = _ramp_(SineRNN(H=3), offset)
    out = fn(model, torch.tensor(prompt), steps)
    out = out.detach() if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))
    if tuple(out.shape) != (prompt.shape[0], steps):
        return out, out                                   # reported as a shape problem
    return out[:, 0], out[:, 1:]


register(Exercise(
    name="free_run", lab=LAB, number="6.4",
    reference=free_run, cases=free_run_cases, outputs=("first", "rest"), call=call_free_run,
    hints={
        "first": "Read the prompt once, model(prompt); the first generated value is the "
                 "prediction at its last step, pred[:, -1:] (do not read the last prompt value twice).",
        "rest": "Feed each prediction back in as the next input, (N, 1), with the state returned "
                "by the previous call: model(value, state). A state of None restarts from zero.",
        "shape": "Return (N, steps): the generated values only, without the prompt, the "
                 "(N, 1) predictions side by side (torch.cat(values, dim=1)).",
        "error": "Feed each prediction back as an (N, 1) tensor, pred[:, -1:]: pred[:, -1] is "
                 "(N,), which nn.RNN reads as ONE unbatched sequence of N steps.",
    },
    bugs=(
        KnownBug("last prompt value read twice", "model(prompt) has already read the last "
                 "prompt value: its prediction pred[:, -1:] is the first generated value. "
                 "Reading prompt[:, -1:] again steps the model once too often.",
                 m.free_run_prompt_end_read_twice),
        KnownBug("state restarted", "Pass the state returned by the previous call on: "
                 "model(value, state). With None each step starts from zero and forgets the "
                 "prompt.", m.free_run_state_restarted),
        KnownBug("prediction not fed back", "Feed each PREDICTION back in as the next input, "
                 "model(value, state); feeding the last true value again and again is not "
                 "free running (and is not available beyond the prompt).",
                 m.free_run_truth_fed_instead),
        KnownBug("prompt value returned", "Return the `steps` generated values only, (N, "
                 "steps): the last prompt value is not a prediction.",
                 m.free_run_prompt_value_returned),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 6.5 scheduled sampling


def scheduled_cases(rng):
    y = np.sin(np.linspace(0.0, 3.0, 2 * 7)).reshape(2, 7)
    mask = np.array([[True, False, True, True, False], [False, True, False, True, True]])
    cases = [Case((y, mask, 0.0), label="fixed y (2, 7), half the inputs fed back")]
    for N, T, p in [(3, 6, 0.5), (2, 8, 0.8)]:
        cases.append(Case((rng.uniform(-1, 1, size=(N, T)), rng.random((N, T - 2)) < p,
                           float(rng.uniform(-0.2, 0.2))),
                          label=f"random y ({N}, {T}), p = {p}"))
    return cases


def call_scheduled(fn, case, uses):
    y, mask, offset = case.args
    model = _ramp_(SineRNN(H=3), offset)
    loss = fn(model, torch.tensor(y), torch.tensor(mask))
    if not isinstance(loss, torch.Tensor):
        raise BadReturn(f"returned a {type(loss).__name__}, want a 0-d tensor (no .item()): the "
                        f"training loop calls loss.backward()")
    if loss.ndim != 0:
        return loss.detach(), loss.detach()              # reported as a shape problem
    model.zero_grad()
    loss.backward()
    grad = torch.cat([p.grad.reshape(-1) for _, p in sorted(model.named_parameters())])
    return loss.detach(), grad


register(Exercise(
    name="scheduled_sampling_loss", lab=LAB, number="6.5",
    reference=scheduled_sampling_loss, cases=scheduled_cases, outputs=("loss", "grad"),
    call=call_scheduled,
    hints={
        "loss": "Step t (t >= 1) reads the previous prediction where use_model[:, t - 1] is True "
                "and y[:, t] where it is False; the T - 1 predictions are compared with y[:, 1:], "
                "and the loss is the MEAN of the N (T - 1) squared errors.",
        "grad": "The loss is right but the gradient is not: detach the fed-back prediction "
                "(prev.detach()), so it acts as an input, like a teacher-forced value.",
        "shape": "Return one number, the mean over all N (T - 1) squared errors.",
        "error": "Run the model one step at a time, model(inp[:, None], state), carrying the "
                 "state; use_model has T - 2 columns: step t (t >= 1) reads use_model[:, t - 1].",
    },
    bugs=(
        KnownBug("probability inverted", "use_model[:, t - 1] True means FEED BACK the "
                 "previous prediction; False means read the true y[:, t]. The roles are "
                 "swapped.", m.scheduled_inverted),
        KnownBug("fed-back value not detached", "The loss is right but the gradient is not: "
                 "detach the fed-back prediction (prev.detach()), so it acts as an input, like "
                 "a teacher-forced value.", m.scheduled_not_detached),
        KnownBug("one decision for the whole batch", "Each sequence has its own coin: "
                 "torch.where(use_model[:, t - 1], prev, y[:, t]) chooses per row; one row's "
                 "choice must not decide for the whole batch.",
                 m.scheduled_shared_across_batch),
        KnownBug("targets not shifted", "Prediction t is of the NEXT value: compare the T - 1 "
                 "predictions with y[:, 1:], not with the inputs y[:, :-1].",
                 m.scheduled_targets_not_shifted),
    ),
    rtol=1e-8, atol=1e-12,
))
