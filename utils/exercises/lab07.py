"""Exercises of lab 07, sequence to sequence with attention (solutions/07_seq2seq_attention.ipynb).

    7.1 masked_softmax_np   softmax over the real source positions, NumPy
    7.2 masked_softmax      the same in torch, differentiable, no NaN on an all-padding row
    7.3 additive_attention  Bahdanau scores, weights and the context vector, NumPy
    7.4 decoder_step        one decoder step with attention (query: the previous state)
    7.5 beam_search         beam search with length normalisation

The references live in utils/attention.py, utils/seq2seq.py and utils/beam.py. Fixed fixtures
first (small, with an all-padding row and large scores where they matter), then random cases
from the rng the check passes in. Cases are plain NumPy data; torch is built inside `call`.
"""

import numpy as np
import torch

from utils import attention, beam, seq2seq
from utils.checks import BadReturn, Case, Exercise, KnownBug, register
from utils.exercises import mistakes_lab07 as m

LAB = "07"


def _mask(rng, N, S, empty_row=None):
    lengths = rng.integers(1, S + 1, size=N)
    mask = np.arange(S)[None, :] < lengths[:, None]
    if empty_row is not None:
        mask[empty_row] = False
    return mask


# ----------------------------------------------------------------------------- 7.1


def softmax_cases(rng):
    scores = np.array([[1.0, 2.0, 0.5, -1.0], [0.3, -0.2, 3.0, 1.0], [2.0, 1.0, 0.0, -1.0]])
    mask = np.array([[True, True, True, False], [True, True, False, False], [False] * 4])
    big = np.array([[1000.0, 999.0, -5.0], [800.0, 0.0, 801.0]])
    return [
        Case((scores, mask), label="fixed (3, 4) scores, padded rows, the last row all padding"),
        Case((big, np.array([[True, True, False], [True, True, True]])),
             label="large scores [[1000, 999, -5], [800, 0, 801]]"),
        Case((rng.standard_normal((4, 6)) * 3, _mask(rng, 4, 6)), label="random (4, 6), random lengths"),
    ]


register(Exercise(
    name="masked_softmax_np", lab=LAB, number="7.1",
    reference=attention.masked_softmax_np, cases=softmax_cases, outputs=("weights",),
    # the attention modules' own softmax; self-attention's softmax with identity keys
    twins=(attention._attention_softmax, attention.scaled_dot_product_attention),
    hints={
        "weights": "Each row: a softmax over the positions where mask is True, exactly 0 "
                   "elsewhere, rows summing to 1 (all zeros for a row with no True).",
        "shape": "Return an array of the shape of scores.",
        "error": "np.where(mask, scores, -np.inf) keeps the real positions.",
    },
    bugs=(
        KnownBug("mask after the softmax", "Mask BEFORE normalising: set the padded scores to "
                 "-inf (or drop their exp) so the real positions share all the weight; zeroing "
                 "the weights afterwards leaves rows that sum to less than 1.",
                 m.np_mask_after_softmax),
        KnownBug("NaN on an all-padding row", "A row with no real position gives max = -inf and "
                 "-inf - (-inf) = NaN: replace a non-finite max by 0 and divide by a total of 1 "
                 "when it is 0, so that row comes out all zeros.", m.np_minus_inf_nan),
        KnownBug("max not subtracted", "np.exp(1000) overflows: subtract each row's max over "
                 "the real positions before np.exp (the weights do not change).", m.np_no_max_shift),
        KnownBug("wrong axis", "Normalise over the source positions, the LAST axis (axis=-1, "
                 "keepdims=True), not over the batch.", m.np_wrong_axis),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 7.2


def call_torch_softmax(fn, case, uses):
    """fn on float64 tensors that require grad; returns the weights and the gradient of
    sum(weights * g) with respect to the scores (g a fixed ramp), so a result cut from the
    graph or a NaN gradient fails here."""
    scores_np, mask_np = case.args
    scores = torch.tensor(scores_np, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor(mask_np)
    w = fn(scores, mask)
    if not isinstance(w, torch.Tensor):
        raise BadReturn(f"returned a {type(w).__name__}, want a torch tensor (the model "
                        f"back-propagates through the weights)")
    if not w.requires_grad:
        raise BadReturn("returned a tensor cut from the graph (.detach(), NumPy, torch.tensor(...)): "
                        "the model back-propagates through the weights")
    g = torch.linspace(-1.0, 1.5, w.numel(), dtype=torch.float64).reshape(w.shape)
    (w * g).sum().backward()
    grad = scores.grad if scores.grad is not None else torch.zeros_like(scores)
    return w.detach().numpy(), grad.numpy()


register(Exercise(
    name="masked_softmax", lab=LAB, number="7.2",
    reference=attention.masked_softmax, cases=softmax_cases, outputs=("weights", "grad"),
    call=call_torch_softmax, twins=(attention._attention_softmax,),
    hints={
        "weights": "scores.masked_fill(~mask, float('-inf')), then a softmax over dim=-1 that "
                   "gives 0 (not NaN) on a row with no real position.",
        "grad": "Build the weights from torch operations on scores (no .item(), no NumPy), and "
                "make sure no NaN flows back from an all-padding row.",
        "error": "mask is a bool tensor: ~mask flips it; scores.masked_fill(~mask, value).",
    },
    bugs=(
        KnownBug("mask after the softmax", "Mask BEFORE the softmax (masked_fill with -inf): "
                 "multiplying the weights by the mask afterwards leaves rows summing to less "
                 "than 1.", m.torch_mask_after_softmax),
        KnownBug("NaN on an all-padding row", "torch.softmax of a row of -inf is NaN (and its "
                 "gradient too): guard that row, e.g. fill with a large negative number instead "
                 "of -inf and multiply by the mask, or divide by a total of 1 when it is 0.",
                 m.torch_minus_inf_nan),
        KnownBug("padding filled with 0", "A score of 0 is not 'no score': padding filled with 0 "
                 "still gets weight exp(0). Fill it with -inf (or a large negative number).",
                 m.torch_filled_with_zero),
        KnownBug("wrong dim", "Normalise over the source positions, dim=-1, not over the batch.",
                 m.torch_wrong_dim),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 7.3


def additive_cases(rng):
    N, S, H, A = 2, 4, 3, 5      # Hq = Hk = H, so a swapped Wq / Wk runs and is caught by value
    query = np.linspace(-0.8, 0.9, N * H).reshape(N, H)
    keys = np.sin(np.arange(N * S * H)).reshape(N, S, H)
    mask = np.array([[True, True, True, False], [True, True, False, False]])
    Wq = np.linspace(-1.0, 1.2, H * A).reshape(H, A)
    Wk = np.cos(np.arange(H * A) * 0.7).reshape(H, A)
    v = np.linspace(0.5, -1.5, A)
    N2, S2, H2, A2 = 3, 6, 4, 4
    r = lambda *s: rng.standard_normal(s)  # noqa: E731
    return [
        Case((query, keys, mask, Wq, Wk, v), label="fixed N=2, S=4, H=3, A=5, padded rows"),
        Case((r(N2, H2), r(N2, S2, H2), _mask(rng, N2, S2), r(H2, A2), r(H2, A2), r(A2)),
             label="random N=3, S=6, H=4, A=4"),
    ]


register(Exercise(
    name="additive_attention", lab=LAB, number="7.3",
    reference=attention.additive_attention_np, cases=additive_cases,
    outputs=("context", "weights"), twins=(attention.AdditiveAttention.forward,),
    hints={
        "weights": "scores[n, s] = v . tanh(query[n] Wq + keys[n, s] Wk): broadcast the query "
                   "term over s with [:, None, :], then masked_softmax_np(scores, mask).",
        "context": "context[n] = sum over s of weights[n, s] * keys[n, s]: "
                   "np.einsum('ns,nsh->nh', weights, keys).",
        "shape": "context is (N, Hk), weights (N, S).",
        "error": "query @ Wq is (N, A); keys @ Wk is (N, S, A); add them with a new axis.",
    },
    bugs=(
        KnownBug("tanh forgotten", "The score is v . TANH(query Wq + keys Wk): without the tanh "
                 "it is linear in the query and cannot compare it with each key.",
                 m.additive_no_tanh),
        KnownBug("Wq and Wk swapped", "Wq projects the QUERY (the decoder state) and Wk the KEYS "
                 "(the encoder outputs): query @ Wq, keys @ Wk.", m.additive_weights_swapped),
        KnownBug("mask ignored", "Pass the mask to masked_softmax_np: padding positions must get "
                 "weight 0.", m.additive_mask_ignored),
        KnownBug("context not weighted", "The context is the WEIGHTED sum of the keys, with the "
                 "attention weights, not their plain mean.", m.additive_context_unweighted),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 7.4


def decoder_step_cases(rng):
    N, S, H, V = 2, 5, 4, 7
    y_prev = np.array([1, 4])
    h_prev = np.linspace(-0.7, 0.6, N * H).reshape(N, H)
    enc_out = np.sin(np.arange(N * S * H) * 0.9).reshape(N, S, H)
    mask = np.array([[True] * 5, [True, True, True, False, False]])
    return [
        Case((V, y_prev, h_prev, enc_out, mask), label="fixed N=2, S=5, H=4, V=7, one padded row"),
        Case((V, rng.integers(0, V, size=3), np.tanh(rng.standard_normal((3, H))),
              rng.standard_normal((3, 6, H)), _mask(rng, 3, 6)), label="random N=3, S=6"),
    ]


def _ramp_decoder(V, E=3, H=4):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        dec = seq2seq.Decoder(V, E, H, "additive").double()
    with torch.no_grad():
        for k, (_, p) in enumerate(sorted(dec.named_parameters())):
            p.copy_(torch.linspace(-0.8, 0.9, p.numel(), dtype=torch.float64).reshape(p.shape)
                    * (1 + 0.3 * np.sin(k + 1)))
    return dec


def call_decoder_step(fn, case, uses):
    """fn on a small float64 Decoder (E=3, H=4) with ramp weights (its step method, the
    exercise's twin, is off while fn runs); returns logits, h, weights."""
    V, y_prev, h_prev, enc_out, mask = case.args
    dec = _ramp_decoder(V)
    out = fn(dec, torch.tensor(y_prev, dtype=torch.long), torch.tensor(h_prev),
             torch.tensor(enc_out), torch.tensor(mask))
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise BadReturn("want three values: logits (N, V), h (N, H), weights (N, S)")
    if not all(isinstance(o, torch.Tensor) for o in out):
        raise BadReturn("want torch tensors: logits, h, weights")
    return tuple(o.detach().numpy() for o in out)


def decoder_step_reference(dec, y_prev, h_prev, enc_out, mask):
    """Bahdanau's order: attend with h_prev, then the cell on [embedding, context], then the
    output layer on [h, context]. Returns logits (N, V), h (N, H), weights (N, S)."""
    emb = dec.embed(y_prev)
    context, weights = dec.attention(h_prev, enc_out, mask)
    h = dec.cell(torch.cat([emb, context], dim=-1), h_prev)
    return dec.out(torch.cat([h, context], dim=-1)), h, weights


register(Exercise(
    name="decoder_step", lab=LAB, number="7.4",
    reference=decoder_step_reference, cases=decoder_step_cases, call=call_decoder_step,
    outputs=("logits", "h", "weights"), twins=(seq2seq.Decoder.step,),
    hints={
        "weights": "Attend with the PREVIOUS state: context, weights = dec.attention(h_prev, "
                   "enc_out, mask).",
        "h": "h = dec.cell(torch.cat([dec.embed(y_prev), context], dim=-1), h_prev): the "
             "embedding first, then the context.",
        "logits": "logits = dec.out(torch.cat([h, context], dim=-1)), with the NEW state h.",
        "error": "dec.embed(y_prev) is (N, E), context (N, H): the GRU cell takes (N, E + H).",
        "shape": "Return logits (N, V), the new state h (N, H) and the weights (N, S), in that order.",
    },
    bugs=(
        KnownBug("context from the new state", "This lab follows Bahdanau: the context of step t "
                 "comes from the state BEFORE the step, h_prev, and the same context feeds the "
                 "GRU cell and the output layer (attending again with h_t is Luong's variant).",
                 m.step_context_from_new_state),
        KnownBug("concatenation order", "The GRU cell's input is [embedding, context] in that "
                 "order (its weights were trained for it): torch.cat([emb, context], dim=-1).",
                 m.step_concat_swapped),
        KnownBug("output from the previous state", "The output layer reads the NEW state h (after "
                 "the cell) with the context: dec.out(torch.cat([h, context], dim=-1)).",
                 m.step_output_from_previous_state),
        KnownBug("weights not renormalised", "Use the masked softmax (dec.attention does it): "
                 "zeroing the padding after a plain softmax leaves weights that sum to less "
                 "than 1.", m.step_weights_not_renormalised),
    ),
    rtol=1e-9, atol=1e-12,
))


# ----------------------------------------------------------------------------- 7.5


def beam_cases(rng):
    V = 5      # id 0 = bos, id 1 = eos
    table = np.array([[-9.0, 0.2, 1.0, 0.9, -1.0],
                      [-9.0, 5.0, -2.0, -2.0, -2.0],
                      [-9.0, 0.8, 0.5, 1.2, 0.1],
                      [-9.0, -0.5, 1.1, 0.3, 1.0],
                      [-9.0, 1.5, 0.2, 0.4, 0.6]])
    r = rng.standard_normal((V, V))
    r[:, 0] = -9.0
    return [
        Case((table, 3, 6, 1.0), label="fixed table V=5, beam 3, max_len 6, alpha 1"),
        Case((table, 2, 5, 0.7), label="fixed table, beam 2, max_len 5, alpha 0.7"),
        Case((table, 1, 6, 1.0), label="fixed table, beam 1 (greedy)"),
        Case((r, 4, 7, 1.0), label="random table V=5, beam 4, max_len 7, alpha 1"),
    ]


def call_beam(fn, case, uses):
    """A toy model: the log-softmax of row x of a logit table plus a drift times the state,
    which remembers the path (half the previous state plus the token read), so hypotheses
    that end in the same token still differ and a beam that keeps the wrong rows' states
    fails. bos = 0, eos = 1. Returns the ids and the score."""
    table, beam_size, max_len, alpha = case.args
    drift = np.linspace(-0.4, 0.4, table.shape[1])

    def step(tokens, states):
        tokens, states = np.asarray(tokens), np.asarray(states)
        logits = table[tokens] + drift * states[:, None]
        logits = logits - logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)), 0.5 * states + tokens

    out = fn(step, np.array(0.0), 0, 1, beam_size=beam_size, max_len=max_len, alpha=alpha)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise BadReturn("want two values: the ids (L,) and the score")
    ids, score = out
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise BadReturn(f"the ids must be a 1-d int array, got {ids.dtype} of shape {ids.shape}")
    return ids, np.asarray(float(score))


register(Exercise(
    name="beam_search", lab=LAB, number="7.5",
    reference=beam.beam_search, cases=beam_cases, call=call_beam, outputs=("ids", "score"),
    hints={
        "ids": "Extend every live hypothesis by every token, keep the beam_size best by the SUM "
               "of log-probabilities with the states of their own rows (new_states[rows]), move "
               "those ending in eos to the finished list (never extend them), and rank all "
               "hypotheses at the end by logp / length**alpha.",
        "score": "The score is the sum of the log-probabilities divided by length**alpha, the "
                 "length counting the generated tokens (eos included, bos not).",
        "shape": "Return the generated ids as a 1-d int array (without bos, with eos if reached).",
        "error": "step(tokens (B,), states (B,)) returns (log-probs (B, V), new states (B,)); keep "
                 "the states of the hypotheses you keep (new_states[rows]).",
    },
    bugs=(
        KnownBug("no length normalisation", "Rank the hypotheses by logp / length**alpha: the "
                 "raw sum of log-probabilities favours short outputs (each token adds a "
                 "negative number).", m.beam_no_length_norm),
        KnownBug("finished hypotheses expanded", "A hypothesis that produced eos is finished: "
                 "move it out of the beam and never extend it again.", m.beam_finished_expanded),
        KnownBug("log-probs multiplied", "Probabilities multiply, so log-probabilities ADD: "
                 "logp(prefix) + logp(token | prefix).", m.beam_logps_multiplied),
    ),
    rtol=1e-9, atol=1e-12,
))
