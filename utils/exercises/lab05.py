"""Exercises of lab 05, a character-level language model (solutions/05_char_language_model.ipynb).

    5.1 bits_and_perplexity   nats/char -> bits/char and perplexity
    5.2 bigram_nats           the bigram baseline, fitted on train with add-alpha smoothing
    5.3 next_char_probs       the sampling distribution: temperature, greedy, top-k

The references live in utils/charlm.py. Fixed fixtures first (small, hand-checkable), then
random cases from the rng the check passes in. Everything is float64.
"""

import numpy as np

from utils import charlm
from utils.checks import Case, Exercise, register

LAB = "05"


# ----------------------------------------------------------------------------- 5.1


def bits_and_perplexity_cases(rng):
    return [
        Case((np.array([np.log(2.0), np.log(65.0), 0.0, 1.0]),),
             label="fixed nats [ln 2, ln 65, 0, 1]"),
        Case((np.linspace(0.5, 4.5, 6).reshape(2, 3),), label="fixed ramp 0.5..4.5, shape (2, 3)"),
        Case((rng.uniform(0.0, 5.0, size=(3, 4)),), label="random nats in [0, 5), shape (3, 4)"),
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
    rtol=1e-9, atol=1e-12,
))
