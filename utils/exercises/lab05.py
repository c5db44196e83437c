"""Exercises of lab 05, a character-level language model (solutions/05_char_language_model.ipynb).

    5.1 bits_and_perplexity   nats/char -> bits/char and perplexity
    5.2 bigram_nats           the bigram baseline, fitted on train with add-alpha smoothing
    5.3 next_char_probs       the sampling distribution: temperature, greedy, top-k
    5.4 sample_ids            the sampling loop, with temperature, top-k and top-p (nucleus)
    5.5 train_step            one training step of the PyTorch model

The references live in utils/lm_baselines.py (5.1, 5.2), utils/sampling.py (5.3, 5.4) and
utils/charlm.py (5.5), which re-exports the others. Fixed fixtures first (small,
hand-checkable), then random cases from the rng the check passes in. Everything is float64.
"""

import numpy as np

from utils import charlm, lm_baselines, sampling
from utils.checks import BadReturn, Case, Exercise, KnownBug, register
from utils.exercises import mistakes_lab05 as m

LAB = "05"


# ----------------------------------------------------------------------------- 5.1


def bits_and_perplexity_cases(rng):
    return [
        Case((np.array([np.log(2.0), np.log(65.0), 0.0, 1.0]),),
             label="fixed nats [ln 2, ln 65, 0, 1]"),
        Case((np.linspace(0.5, 4.5, 6).reshape(2, 3),), label="fixed ramp 0.5..4.5, shape (2, 3)"),
        Case((rng.uniform(0.0, 5.0, size=(3, 4)),), label="random nats in [0, 5), shape (3, 4)"),
        # the lab calls it on np.array(one number): a 0-d array must work too
        Case((np.array(1.5),), label="a 0-d array np.array(1.5), as the lab passes it"),
    ]


register(Exercise(
    name="bits_and_perplexity", lab=LAB, number="5.1",
    reference=lm_baselines.bits_and_perplexity,
    cases=bits_and_perplexity_cases,
    outputs=("bits", "perplexity"),
    hints={
        "bits": "One bit is ln 2 nats: divide by np.log(2) (not log10, not multiply).",
        "perplexity": "Perplexity is e to the power of the loss in nats: np.exp(nats).",
        "error": "Work on the whole array at once with np.log / np.exp (no math.log on arrays).",
    },
    bugs=(
        KnownBug("log10", "One bit is ln 2 nats: divide by np.log(2) (the natural log), not "
                 "np.log10(2).", m.bits_log10),
        KnownBug("multiplied by ln 2", "Going from nats to bits DIVIDES by ln 2 (a bit is the "
                 "larger unit: 1 bit = 0.693 nats).", m.bits_times_ln2),
        KnownBug("perplexity 2**nats", "Perplexity is e**nats = 2**bits: with the loss in nats "
                 "use np.exp(nats).", m.perplexity_base_2),
        KnownBug("loop over the first axis", "Work on the whole array at once (nats / np.log(2)): "
                 "a loop over the first axis fails on the 0-d arrays the lab passes in.",
                 m.bits_loop_first_axis),
    ),
    rtol=1e-10, atol=1e-12,
))


# ----------------------------------------------------------------------------- 5.2


def bigram_nats_cases(rng):
    # V=3 by hand: train "0 1 0 1 2 0", val "0 1 2" -> counts C[0,1]=2, C[1,0]=1, C[1,2]=1, C[2,0]=1.
    train = np.array([0, 1, 0, 1, 2, 0], dtype=np.int64)
    val = np.array([0, 1, 2], dtype=np.int64)
    V = 6
    rtrain = rng.integers(0, V, size=200).astype(np.int64)
    rval = rng.integers(0, V, size=40).astype(np.int64)
    rval[:3] = [5, 5, 5]  # a pair that may be unseen in training: smoothing must handle it
    return [
        Case((train, val, 3), {"alpha": 1.0}, label="fixed V=3, train [0 1 0 1 2 0], val [0 1 2], alpha=1"),
        Case((train, val, 3), {"alpha": 0.5}, label="fixed V=3, same texts, alpha=0.5"),
        Case((rtrain, rval, V), {"alpha": 1.0}, label="random V=6, 200 train and 40 val characters"),
    ]


register(Exercise(
    name="bigram_nats", lab=LAB, number="5.2",
    reference=lm_baselines.bigram_nats,
    cases=bigram_nats_cases,
    outputs=("nats",),
    hints={
        "nats": "Count pairs (a, b) = (ids[t], ids[t+1]) on train only, add alpha to every cell, "
                "normalise each row a, then average -log p(b | a) over the L_val - 1 validation pairs.",
        "error": "np.add.at(C, (ids[:-1], ids[1:]), 1) counts pairs; C has shape (V, V).",
    },
    bugs=(
        KnownBug("no smoothing", "Add alpha to every cell of the counts before normalising: a "
                 "pair never seen in training would get probability 0 (an infinite loss).",
                 m.bigram_no_smoothing),
        KnownBug("fitted on validation", "Count the pairs of the TRAINING ids only; the "
                 "validation ids are only scored.", m.bigram_fit_on_val),
        KnownBug("columns normalised", "p(b | a) normalises each ROW a of the counts: "
                 "C / C.sum(axis=1, keepdims=True).", m.bigram_columns),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 5.3


def next_char_probs_cases(rng):
    logits = np.array([[2.0, 1.0, 0.5, -1.0, 3.0], [0.0, -2.0, 4.0, 1.5, 1.0]])  # (2, 5)
    r = rng.standard_normal((3, 7)) * 2
    return [
        Case((logits,), {"temperature": 1.0, "top_k": None}, label="fixed (2, 5) logits, temperature 1"),
        Case((logits,), {"temperature": 0.5, "top_k": None}, label="fixed (2, 5) logits, temperature 0.5"),
        Case((logits,), {"temperature": 2.0, "top_k": 2}, label="fixed (2, 5) logits, temperature 2, top_k 2"),
        Case((logits,), {"temperature": 0.0, "top_k": None}, label="fixed (2, 5) logits, temperature 0 (greedy)"),
        Case((np.array([1000.0, 999.0, -1000.0]),), {"temperature": 1.0, "top_k": None},
             label="large logits [1000, 999, -1000] (overflow?)"),
        Case((r,), {"temperature": float(rng.uniform(0.3, 1.5)), "top_k": 3},
             label="random (3, 7) logits, top_k 3"),
    ]


register(Exercise(
    name="next_char_probs", lab=LAB, number="5.3",
    reference=sampling.next_char_probs,
    cases=next_char_probs_cases,
    outputs=("probs",),
    hints={
        "probs": "Divide the logits by the temperature, set all but the top_k largest to -inf, "
                 "subtract the row max before np.exp, and normalise each row (axis=-1). "
                 "Temperature 0 puts probability 1 on the argmax.",
        "shape": "Keep the input's shape: (V,) in, (V,) out; (N, V) in, (N, V) out.",
        "error": "Handle temperature == 0 before dividing by it.",
    },
    bugs=(
        KnownBug("no max subtraction", "np.exp overflows for large logits: subtract each row's "
                 "max (z - z.max(axis=-1, keepdims=True)) before exp; the probabilities do not "
                 "change.", m.probs_no_shift),
        KnownBug("multiplied by the temperature", "DIVIDE the logits by the temperature: below "
                 "1 it sharpens the distribution, above 1 it flattens it.",
                 m.probs_times_temperature),
        KnownBug("top_k ignored", "With top_k, keep the k largest logits of each row and set the "
                 "others to -inf before the softmax (they get probability 0).",
                 m.probs_ignore_top_k),
        KnownBug("temperature 0 divides by zero", "Temperature 0 means greedy: return "
                 "probability 1 on the argmax (np.put_along_axis) before dividing by it.",
                 m.probs_temperature_zero_divides),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 5.4


def sample_ids_cases(rng):
    V = 6
    table = np.linspace(-1.5, 2.0, V * V).reshape(V, V) * np.cos(np.arange(V * V)).reshape(V, V)
    r_table = 2 * rng.standard_normal((V, V))
    return [
        Case((table, 2, 12), {"temperature": 1.0, "top_k": None, "top_p": None, "seed": 0},
             label="fixed bigram table V=6, 12 ids, temperature 1"),
        Case((table, 0, 12), {"temperature": 0.5, "top_k": 3, "top_p": None, "seed": 1},
             label="fixed table, temperature 0.5, top_k 3"),
        Case((table, 4, 12), {"temperature": 1.2, "top_k": None, "top_p": 0.7, "seed": 2},
             label="fixed table, temperature 1.2, top_p 0.7"),
        Case((table, 1, 6), {"temperature": 0.0, "top_k": None, "top_p": None, "seed": 3},
             label="fixed table, temperature 0 (greedy)"),
        Case((r_table, int(rng.integers(V)), 15),
             {"temperature": 0.8, "top_k": 4, "top_p": 0.8, "seed": int(rng.integers(1000))},
             label="random table, temperature 0.8, top_k 4, top_p 0.8"),
    ]


def call_sample_ids(fn, case, uses):
    """A toy model: step(x, state) returns row x of a logit table plus a drift that grows with
    the state (the number of steps taken), so a loop must feed back both the id and the state."""
    table, first_id, n = case.args
    kw = dict(case.kwargs)
    rng = np.random.default_rng(kw.pop("seed"))
    drift = np.linspace(0.3, -0.3, table.shape[1])

    def step(x, state):
        return table[x] + drift * state, state + 1

    ids = fn(step, 0, first_id, n, rng=rng, **kw)
    if ids is None:
        return None
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise BadReturn(f"returned {ids.dtype} values, want the (n,) int ids that were drawn")
    return ids


register(Exercise(
    name="sample_ids", lab=LAB, number="5.4",
    reference=sampling.sample_ids, cases=sample_ids_cases, outputs=("ids",), call=call_sample_ids,
    rtol=0, atol=0,
    hints={
        "ids": "At each step: logits, state = step(x, state); probs = next_char_probs(logits, "
               "temperature, top_k); the nucleus filter when top_p is given; x = "
               "int(rng.choice(V, p=probs)); store x and feed it back.",
        "shape": "Return the n drawn ids as an (n,) int array (not the first id, not the "
                 "probabilities).",
        "error": "step(x, state) takes one int id and returns (logits (V,), new state).",
    },
    bugs=(
        KnownBug("state not carried", "Keep the state the step returns and pass it to the next "
                 "call: logits, state = step(x, state). (The model's memory is that state.)",
                 m.loop_state_not_carried),
        KnownBug("drawn id not fed back", "Feed the id you just drew back in as the next input "
                 "x; feeding first_id again and again ignores what was generated.",
                 m.loop_no_feedback),
        KnownBug("nucleus without the crossing id", "The nucleus keeps ids, most likely first, "
                 "while the mass BEFORE each is below top_p: the id that crosses top_p is kept "
                 "(so at least one id always survives).", m.loop_nucleus_too_small),
        KnownBug("temperature ignored", "Pass the temperature (and top_k) on to "
                 "next_char_probs: next_char_probs(logits, temperature, top_k).",
                 m.loop_temperature_ignored),
    ),
))


# ----------------------------------------------------------------------------- 5.5


def train_step_cases(rng):
    V, N, T = 5, 2, 6
    x = (np.arange(N * T).reshape(N, T) * 2) % V
    y = (x + 1) % V
    r = rng.integers(0, V, size=(3, 5))
    return [
        Case((V, x, y), {"clip": 0.05, "lr": 0.5}, label="fixed ids V=5, N=2, T=6, clip 0.05"),
        Case((V, x, y), {"clip": 100.0, "lr": 0.3}, label="fixed ids, clip 100 (never clips)"),
        Case((V, r, np.roll(r, -1, axis=1)), {"clip": 0.2, "lr": 0.4},
             label="random ids N=3, T=5, clip 0.2"),
    ]


def call_train_step(fn, case, uses):
    """Two calls of fn on a small CharLSTM in float64 with ramp weights and plain SGD; returns
    the two losses and every parameter after the second step (flattened, in name order)."""
    import torch

    V, x, y = case.args
    clip, lr = case.kwargs["clip"], case.kwargs["lr"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = charlm.CharLSTM(V, E=3, H=4).double()
    with torch.no_grad():
        for k, (_, p) in enumerate(sorted(model.named_parameters())):
            p.copy_(torch.linspace(-0.6, 0.7, p.numel(), dtype=torch.float64).reshape(p.shape)
                    * (1 + 0.25 * np.sin(k + 1)))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(np.asarray(x, dtype=np.int64)), torch.from_numpy(np.asarray(y, dtype=np.int64))
    losses = []
    for _ in range(2):
        loss = fn(model, optimizer, xt, yt, clip=clip)
        if isinstance(loss, torch.Tensor) or not isinstance(loss, (float, int, np.floating)):
            raise BadReturn(f"returned a {type(loss).__name__}, want the loss as a float "
                            f"(loss.item()): the lab keeps a history of numbers, not of graphs")
        losses.append(float(loss))
    params = torch.cat([p.detach().reshape(-1) for _, p in sorted(model.named_parameters())])
    return np.array(losses), params.numpy()


register(Exercise(
    name="train_step", lab=LAB, number="5.5",
    reference=charlm.train_step, cases=train_step_cases, outputs=("losses", "params"),
    call=call_train_step, rtol=1e-9, atol=1e-12,
    hints={
        "losses": "The loss is the mean cross-entropy over all N*T positions: "
                  "F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)), returned as loss.item().",
        "params": "optimizer.zero_grad(), loss.backward(), clip_grad_norm_(model.parameters(), "
                  "clip), optimizer.step(), in that order.",
        "return": "Return loss.item(), a float.",
        "error": "model(x) returns (logits (N, T, V), state): unpack both.",
    },
    bugs=(
        KnownBug("no zero_grad", "Call optimizer.zero_grad() before loss.backward(): gradients "
                 "ADD UP across backward calls, so the second step used both steps' gradients.",
                 m.train_no_zero_grad),
        KnownBug("no optimizer.step", "Call optimizer.step() after the backward pass: without "
                 "it the weights never change.", m.train_no_step),
        KnownBug("no clipping", "Clip the global gradient norm between backward and step: "
                 "torch.nn.utils.clip_grad_norm_(model.parameters(), clip).", m.train_no_clip),
    ),
))
