"""Exercises of lab 05, a character-level language model (solutions/05_char_language_model.ipynb).

    5.1 bits_and_perplexity   nats/char -> bits/char and perplexity
    5.2 bigram_nats           the bigram baseline, fitted on train with add-alpha smoothing
    5.3 next_char_probs       the sampling distribution: temperature, greedy, top-k

The references live in utils/charlm.py. Fixed fixtures first (small, hand-checkable), then
random cases from the rng the check passes in. Everything is float64.
"""

import numpy as np

from utils import charlm
from utils.checks import Case, Exercise, KnownBug, register
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
    reference=charlm.bits_and_perplexity,
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
    reference=charlm.bigram_nats,
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
    reference=charlm.next_char_probs,
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
