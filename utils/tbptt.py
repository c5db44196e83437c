"""Truncated backpropagation through time (TBPTT) for a character model (lab 06).

Two ways to cut a long text into training batches of N rows and T steps:

* random windows (lab 05): every batch is N windows at random places, each read from a zero
  state. The model never sees more than T characters of context while it trains.
* sequential partitioning: the text is cut into N long rows (utils.corpus.sequential_rows);
  batch k is columns k T .. (k + 1) T - 1 of those rows, so row n of batch k + 1 continues
  row n of batch k. The final state of one batch is the initial state of the next, with
  ``detach()``: the forward pass carries the whole history, the backward pass stops at the
  batch boundary (T steps), which is what "truncated" means.

A model here is any module with ``model(x (N, T) int64, state) -> (logits (N, T, V), state)``,
state None (zeros) or a tensor / tuple of tensors, like utils.charlm.CharLSTM.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from utils.corpus import sample_batch, sequential_rows

__all__ = ["detach_state", "sequential_chunks", "tbptt_epoch", "train_random_windows",
           "train_stateful", "window_nats"]


def detach_state(state):
    """The state with every tensor detached from the graph (None stays None)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(s.detach() for s in state)


def sequential_chunks(ids, N, T):
    """x (N, L) and y (N, L) rows of the text (y one character ahead), L a multiple of T.

    Batch k is x[:, k T:(k + 1) T], y[:, k T:(k + 1) T]; there are L // T batches.
    """
    x, y = sequential_rows(ids, N)                           # (N, L0) each
    L = (x.shape[1] // T) * T
    if L == 0:
        raise ValueError(f"sequential_chunks: rows of {x.shape[1]} characters are shorter than T={T}")
    return x[:, :L], y[:, :L]


def tbptt_epoch(model, x_rows, y_rows, T, optimizer):
    """One pass over the rows in chunks of T steps with the state carried and detached.

    x_rows, y_rows: (N, L) int64 tensors, L a multiple of T, y the next characters of x.
    optimizer: a torch optimizer over model.parameters(); one step per chunk.
    Returns the per-chunk mean cross-entropies (L // T,) as a float array, and the final
    state.
    """
    losses, state = [], None
    for start in range(0, x_rows.shape[1], T):
        x, y = x_rows[:, start:start + T], y_rows[:, start:start + T]      # (N, T) each
        state = detach_state(state)        # keep the values, cut the graph at the boundary
        logits, state = model(x, state)                                  # (N, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses), state


def _step(model, optimizer, x, y, state, clip):
    logits, state = model(torch.from_numpy(x), state)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item(), state


def train_random_windows(model, ids, N, T, steps, lr, rng, clip=1.0):
    """Lab 05's recipe: `steps` Adam steps on N random windows of T, each from a zero state.

    rng: np.random.Generator for the window positions. Returns the per-step losses.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x, y = sample_batch(ids, N, T, rng)
        loss, _ = _step(model, optimizer, x, y, None, clip)
        losses.append(loss)
    return np.array(losses)


def train_stateful(model, ids, N, T, steps, lr, rng, clip=1.0):
    """Stateful TBPTT at the same budget: `steps` Adam steps on N rows x T characters.

    The text is cut into N contiguous rows starting at a random offset (rng), read left to
    right in chunks of T with the state carried and detached; after the last chunk the
    reading starts again from a zero state. Returns the per-step losses.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    offset = int(rng.integers(0, T))
    x_rows, y_rows = sequential_chunks(ids[offset:], N, T)
    n_chunks = x_rows.shape[1] // T
    losses, state = [], None
    for step in range(steps):
        k = step % n_chunks
        if k == 0:
            state = None
        sl = slice(k * T, (k + 1) * T)
        loss, state = _step(model, optimizer, x_rows[:, sl], y_rows[:, sl], detach_state(state), clip)
        losses.append(loss)
    return np.array(losses)


@torch.no_grad()
def window_nats(model, ids, T, max_windows=None):
    """Mean cross-entropy (nats/char) over non-overlapping windows of T, each from a zero state.

    What a model trained on random windows was trained to do; compare with
    utils.charlm.evaluate, which carries the state along the whole text.
    """
    n = (len(ids) - 1) // T
    if max_windows is not None:
        n = min(n, max_windows)
    x = torch.from_numpy(ids[: n * T].reshape(n, T).astype(np.int64))
    y = torch.from_numpy(ids[1: n * T + 1].reshape(n, T).astype(np.int64))
    was_training = model.training
    model.eval()
    logits, _ = model(x, None)
    model.train(was_training)
    return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)))
