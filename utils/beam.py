"""Beam search with length normalisation, for any step function.

A step function takes the last token of each of B hypotheses, (B,) int64, and their states,
an array with leading dimension B, and returns the log-probabilities of the next token,
(B, V), and the new states (B, ...).
"""

from __future__ import annotations

import numpy as np


def normalised(logp: float, length: int, alpha: float) -> float:
    """The score a hypothesis is ranked by: its log-probability divided by length**alpha
    (alpha = 0: no normalisation; 1: the mean log-probability per token)."""
    return logp / length ** alpha


def beam_search(step, state, bos: int, eos: int, beam_size: int = 3, max_len: int = 12,
                alpha: float = 1.0):
    """The best sequence by normalised log-probability.

    step: the step function of the module docstring; state: the initial state (no batch
    dimension); bos / eos: ids. At each step every live hypothesis is extended by every token,
    the beam_size best extensions by their SUM of log-probabilities are kept, and those that
    end in eos leave the beam as finished (they are never extended again); the search stops
    when no hypothesis is live or after max_len tokens. Finished and still-live hypotheses are
    then ranked by normalised(logp, length, alpha), length counting the generated tokens
    (eos included, bos not).

    Returns ids (L,) int64 (the generated tokens, eos included if reached) and its score.
    """
    if beam_size < 1 or max_len < 1:
        raise ValueError(f"beam_search: beam_size and max_len must be >= 1, got {beam_size}, {max_len}")
    seqs = [[]]                                       # live hypotheses (without bos)
    logps = np.zeros(1)
    states = np.asarray(state)[None]
    last = np.array([bos])
    finished = []                                     # (tokens, logp)
    for _ in range(max_len):
        logp, new_states = step(last, states)         # (B, V)
        cand = (logps[:, None] + logp).ravel()        # log p(prefix) + log p(token | prefix)
        best = np.argsort(-cand, kind="stable")[:beam_size]
        V = logp.shape[1]
        keep_seqs, keep_logps, keep_rows, keep_last = [], [], [], []
        for flat in best:
            row, tok = divmod(int(flat), V)
            seq = seqs[row] + [tok]
            if tok == eos:
                finished.append((seq, float(cand[flat])))
            else:
                keep_seqs.append(seq)
                keep_logps.append(cand[flat])
                keep_rows.append(row)
                keep_last.append(tok)
        seqs, logps = keep_seqs, np.array(keep_logps)
        if not seqs:
            break
        states = np.asarray(new_states)[keep_rows]
        last = np.array(keep_last)
    pool = finished + [(s, float(lp)) for s, lp in zip(seqs, logps)]   # live ones hit max_len
    best_seq, best_logp = max(pool, key=lambda p: normalised(p[1], len(p[0]), alpha))
    return np.array(best_seq, dtype=np.int64), normalised(best_logp, len(best_seq), alpha)


def greedy_search(step, state, bos: int, eos: int, max_len: int = 12):
    """The argmax token at every step until eos: ids (L,) int64 and the summed log-probability."""
    tokens, total, x, s = [], 0.0, np.array([bos]), np.asarray(state)[None]
    for _ in range(max_len):
        logp, s = step(x, s)
        tok = int(np.argmax(logp[0]))
        tokens.append(tok)
        total += float(logp[0, tok])
        if tok == eos:
            break
        x = np.array([tok])
    return np.array(tokens, dtype=np.int64), total
