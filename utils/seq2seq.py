"""An encoder-decoder of characters, with or without attention, for the dates of lab 07.

Shapes: N batch, S source length, T target length (BOS + 10 characters + EOS = 12, of which
the decoder reads the first 11 and predicts the last 11), E embedding, H hidden units.

* Encoder: an embedding and a bidirectional GRU of H/2 units per direction, run on the packed
  (unpadded) sources: outputs (N, S, H) (zero on padding) and the final states of both
  directions, (N, H).
* Decoder: a GRUCell of H units whose input at each step is [embedding of the previous output
  character, a context vector (H,)], and a linear layer from [h_t, context] to the logits.
  With attention the context is recomputed at every step from the PREVIOUS state h_{t-1}
  (Bahdanau's convention); without attention it is the encoder's final states, the same at
  every step (the whole source squeezed into one vector). Both decoders have the same layers
  and sizes, so they differ only by the attention module's parameters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils.attention import AdditiveAttention, DotAttention
from utils.dates import BOS_ID, EOS_ID, SOURCE_VOCAB, TARGET_LEN, TARGET_VOCAB

DATA_DIR = Path(__file__).resolve().parent.parent / "data"   # the checkpoints and figures of the lab
ATTENTIONS = {"additive": AdditiveAttention, "dot": DotAttention, "none": None}


class Decoder(nn.Module):
    """The decoder of the module docstring; ``attention`` is None for the fixed context."""

    def __init__(self, V: int, E: int, H: int, attention: str = "additive"):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"Decoder: attention must be one of {sorted(ATTENTIONS)}, got {attention!r}")
        self.embed = nn.Embedding(V, E)
        self.attention = ATTENTIONS[attention](H, H, H) if ATTENTIONS[attention] else None
        self.cell = nn.GRUCell(E + H, H)
        self.out = nn.Linear(2 * H, V)

    def step(self, y_prev, h_prev, enc_out, mask, fixed_context=None):
        """One step. y_prev (N,) ids; h_prev (N, H); enc_out (N, S, H); mask (N, S) bool.

        Returns logits (N, V), h (N, H), weights (N, S) (None without attention).
        """
        emb = self.embed(y_prev)                                         # (N, E)
        if self.attention is None:
            context, weights = fixed_context, None
        else:
            context, weights = self.attention(h_prev, enc_out, mask)     # query: h_{t-1}
        h = self.cell(torch.cat([emb, context], dim=-1), h_prev)
        logits = self.out(torch.cat([h, context], dim=-1))
        return logits, h, weights


class Seq2Seq(nn.Module):
    """Encoder + Decoder. forward(src (N, S), src_len (N,), tgt_in (N, T)) -> logits (N, T, V)
    with teacher forcing (the decoder reads the true previous character)."""

    def __init__(self, Vs: int = len(SOURCE_VOCAB), Vt: int = len(TARGET_VOCAB), E: int = 32,
                 H: int = 64, attention: str = "additive"):
        super().__init__()
        if H % 2:
            raise ValueError(f"Seq2Seq: H must be even (H/2 units per direction), got {H}")
        self.config = dict(Vs=Vs, Vt=Vt, E=E, H=H, attention=attention)
        self.src_embed = nn.Embedding(Vs, E, padding_idx=0)
        self.encoder = nn.GRU(E, H // 2, batch_first=True, bidirectional=True)
        self.init = nn.Linear(H, H)
        self.decoder = Decoder(Vt, E, H, attention)

    def encode(self, src, src_len):
        """-> enc_out (N, S, H), mask (N, S), h0 (N, H), final (N, H)."""
        packed = nn.utils.rnn.pack_padded_sequence(self.src_embed(src), src_len.cpu(),
                                                   batch_first=True, enforce_sorted=False)
        out, h_n = self.encoder(packed)
        enc_out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        final = torch.cat([h_n[0], h_n[1]], dim=-1)                     # (N, H): both directions
        mask = torch.arange(src.shape[1])[None, :] < src_len[:, None]
        return enc_out, mask, torch.tanh(self.init(final)), final

    def forward(self, src, src_len, tgt_in, return_weights=False):
        enc_out, mask, h, final = self.encode(src, src_len)
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, h, w = self.decoder.step(tgt_in[:, t], h, enc_out, mask, final)
            logits.append(step_logits)
            weights.append(w)
        logits = torch.stack(logits, dim=1)                              # (N, T, V)
        if return_weights:
            return logits, (None if weights[0] is None else torch.stack(weights, dim=1))
        return logits

    @torch.no_grad()
    def greedy(self, src, src_len, max_len: int = TARGET_LEN + 1):
        """Greedy decoding: ids (N, max_len) and attention weights (N, max_len, S) or None."""
        self.eval()
        enc_out, mask, h, final = self.encode(src, src_len)
        y = torch.full((src.shape[0],), BOS_ID, dtype=torch.long)
        ids, weights = [], []
        for _ in range(max_len):
            logits, h, w = self.decoder.step(y, h, enc_out, mask, final)
            y = logits.argmax(dim=-1)
            ids.append(y)
            weights.append(w)
        ids = torch.stack(ids, dim=1)
        return ids, (None if weights[0] is None else torch.stack(weights, dim=1))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def to_tensors(src, src_len, tgt=None):
    out = [torch.from_numpy(np.asarray(src)), torch.from_numpy(np.asarray(src_len))]
    if tgt is not None:
        out.append(torch.from_numpy(np.asarray(tgt)))
    return out


def train(model: Seq2Seq, src, src_len, tgt, steps: int, batch: int = 64, lr: float = 3e-3,
          clip: float = 1.0, rng: np.random.Generator | None = None, progress=None):
    """Adam with teacher forcing on random batches drawn by ``rng`` (the batch order).

    src (N, S), src_len (N,), tgt (N, 12) int64 arrays. Returns the loss history (steps,) in
    nats per target character.
    """
    if rng is None:
        raise ValueError("train: pass rng=np.random.default_rng(seed) for the batch order")
    src_t, len_t, tgt_t = to_tensors(src, src_len, tgt)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = np.empty(steps)
    model.train()
    for k in (progress(range(steps)) if progress else range(steps)):
        idx = torch.from_numpy(rng.integers(len(src_t), size=batch))
        b_len = len_t[idx]
        b_src = src_t[idx][:, : int(b_len.max())]
        logits = model(b_src, b_len, tgt_t[idx, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_t[idx, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses[k] = loss.item()
    return losses


def translate(model: Seq2Seq, sources, batch: int = 500):
    """Greedy translations of a list of source strings -> list of strings."""
    out = []
    for i in range(0, len(sources), batch):
        chunk = sources[i : i + batch]
        ids = [SOURCE_VOCAB.encode(s) for s in chunk]
        src_len = torch.tensor([len(s) for s in ids])
        src = torch.zeros((len(ids), int(src_len.max())), dtype=torch.long)
        for j, s in enumerate(ids):
            src[j, : len(s)] = torch.from_numpy(s)
        pred, _ = model.greedy(src, src_len)
        out += [TARGET_VOCAB.decode(p) for p in pred.numpy()]
    return out


def save(model: Seq2Seq, path) -> None:
    torch.save({"config": model.config, "state": model.state_dict()}, path)


def load(path) -> Seq2Seq:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = Seq2Seq(**blob["config"])
    model.load_state_dict(blob["state"])
    return model.eval()


def single_step_fn(model: Seq2Seq, source: str):
    """A step function for utils.beam.beam_search on one source string: step(tokens (B,),
    states (B, H)) -> (log-probs (B, V), new states (B, H)), NumPy in and out; and the initial
    state (H,)."""
    ids = torch.from_numpy(SOURCE_VOCAB.encode(source))[None]
    with torch.no_grad():
        enc_out, mask, h0, final = model.encode(ids, torch.tensor([ids.shape[1]]))

    @torch.no_grad()
    def step(tokens, states):
        B = len(tokens)
        logits, h, _ = model.decoder.step(torch.as_tensor(tokens, dtype=torch.long),
                                          torch.as_tensor(states, dtype=torch.float32),
                                          enc_out.expand(B, -1, -1), mask.expand(B, -1),
                                          final.expand(B, -1))
        return F.log_softmax(logits, dim=-1).double().numpy(), h.numpy()

    return step, h0[0].numpy(), BOS_ID, EOS_ID
