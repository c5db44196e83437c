"""Character-level language model in PyTorch (lab 05): the model, its training step,
evaluation, generation, saliency and the checkpoint.

Shapes: `N` batch, `T` time, `E` embedding size, `H` hidden units, `V` vocabulary.

    model = CharLSTM(V=65, E=64, H=512, layers=2)
    logits, state = model(x)                    # x: (N, T) int64 -> (N, T, V)
    val = evaluate(model, corpus.val_ids)       # nats/char over the whole validation split
    text = generate(model, vocab, "ROMEO:", 200, temperature=0.8, generator=torch.Generator().manual_seed(0))

The lab imports everything it needs from here: the units of the loss and the baselines
(utils/lm_baselines.py) and the NumPy sampling of any model's logits (utils/sampling.py)
are re-exported.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.corpus import REPO_ROOT, CharVocab, scoring_rows
from utils.lm_baselines import (baselines, bigram_counts, bigram_nats, bits_and_perplexity,
                                bits_per_char, perplexity, uniform_nats, unigram_nats)
from utils.sampling import next_char_probs, sample_ids, top_p_filter

__all__ = [
    # utils.lm_baselines
    "bits_per_char", "perplexity", "bits_and_perplexity", "uniform_nats", "unigram_nats",
    "bigram_counts", "bigram_nats", "baselines",
    # utils.sampling
    "next_char_probs", "top_p_filter", "sample_ids",
    # this module
    "CHECKPOINT_PATH", "CHECKPOINT_INFO_PATH", "CharLSTM", "ROWS", "WARMUP", "evaluate",
    "evaluate_numpy", "train_step", "sample_next", "generate", "saliency", "last_k_losses",
    "save_checkpoint", "load_checkpoint", "load_checkpoint_info",
]

CHECKPOINT_PATH = REPO_ROOT / "data" / "charlm.pt"
CHECKPOINT_INFO_PATH = REPO_ROOT / "data" / "charlm.json"


# ----------------------------------------------------------------------------- model


class CharLSTM(nn.Module):
    """Embedding -> LSTM (batch_first) -> dropout -> Linear, predicting the next character.

    V: vocabulary size; E: embedding size; H: hidden units; layers: stacked LSTM layers;
    dropout: between LSTM layers and before the output layer (0 disables it).
    """

    def __init__(self, V: int, E: int = 64, H: int = 256, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        for name, value in (("V", V), ("E", E), ("H", H), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.config = dict(V=V, E=E, H=H, layers=layers, dropout=dropout)
        self.embed = nn.Embedding(V, E)
        self.lstm = nn.LSTM(E, H, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(H, V)

    def forward(self, x: torch.Tensor, state=None, return_embeddings: bool = False):
        """x: (N, T) int64; state: (h, c), each (layers, N, H), or None for zeros.

        Returns logits (N, T, V) and the final state (h, c); with return_embeddings=True also
        the input embeddings (N, T, E) (used by the saliency plot).
        """
        if x.dim() != 2 or x.dtype != torch.int64:
            raise TypeError(f"x must be an int64 tensor (N, T), got {x.dtype} of shape {tuple(x.shape)}")
        emb = self.embed(x)                                   # (N, T, E)
        if return_embeddings:
            emb.retain_grad()
        out, state = self.lstm(emb, state)                    # (N, T, H)
        logits = self.head(self.drop(out))                    # (N, T, V)
        if return_embeddings:
            return logits, state, emb
        return logits, state


# How every model of lab 05 is scored (`evaluate`, `evaluate_numpy`, and the n-gram baselines
# of utils/ngram.py score the same predictions): each validation character after the first,
# predicted from the text before it. A recurrent model reads ROWS stretches side by side with
# its state carried, each from WARMUP characters before its first scored prediction, so every
# prediction sees at least WARMUP characters of context (see utils.corpus.scoring_rows).
ROWS, WARMUP = 32, 256


@torch.no_grad()
def evaluate(model: CharLSTM, ids: np.ndarray, rows: int = ROWS, T: int = 256,
             warmup: int = WARMUP) -> float:
    """Mean next-character cross-entropy (nats/char) over ids[1:], each from the text before it.

    ids: (L,) ints. The layout of `scoring_rows` is read in chunks of T steps with the state
    carried from chunk to chunk; exactly the L - 1 predictions t = 1 .. L-1 are averaged.
    """
    was_training = model.training
    model.eval()
    x, y, mask = (torch.from_numpy(a) for a in scoring_rows(ids, rows, warmup))   # (R, C) each
    total, state = 0.0, None
    for start in range(0, x.shape[1], T):
        logits, state = model(x[:, start : start + T], state)                      # (R, T, V)
        nll = F.cross_entropy(logits.transpose(1, 2), y[:, start : start + T], reduction="none")
        total += nll[mask[:, start : start + T]].double().sum().item()
    model.train(was_training)
    return total / (len(ids) - 1)


def evaluate_numpy(model, ids: np.ndarray, rows: int = ROWS, T: int = 256, warmup: int = WARMUP) -> float:
    """`evaluate` for a NumPy `utils.models.SequenceModel` ("lstm", token inputs): the same
    predictions, layout and carried state, with utils.layers.lstm_forward."""
    from utils import layers
    from utils.data import one_hot

    if model.cell != "lstm" or model.loss_name != "cross_entropy":
        raise ValueError(f"evaluate_numpy needs an LSTM language model, got cell={model.cell!r}, "
                         f"loss={model.loss_name!r}")
    p = model.params
    x, y, mask = scoring_rows(ids, rows, warmup)                                   # (R, C) each
    h = c = None
    total = 0.0
    for start in range(0, x.shape[1], T):
        xs = one_hot(x[:, start : start + T], model.D, dtype=model.dtype)           # (R, T, V)
        hs, cache = layers.lstm_forward(xs, h, c, p["Wx"], p["Wh"], p["b"])          # (R, T, H)
        h, c = hs[:, -1], cache["c"][:, -1]
        logits = (hs @ p["Wy"] + p["by"]).astype(np.float64)                         # (R, T, V)
        logits -= logits.max(axis=-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        picked = np.take_along_axis(logp, y[:, start : start + T, None], axis=-1)[..., 0]
        total -= picked[mask[:, start : start + T]].sum()
    return float(total / (len(ids) - 1))


# ----------------------------------------------------------------------------- training


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor, clip: float = 1.0) -> float:
    """One training step of a CharLSTM: mean cross-entropy of the next character over all
    N*T positions, gradients from zero, global norm clipped at `clip`, one optimizer step.

    x, y: (N, T) int64 inputs and targets. Returns the loss before the step, a float.
    """
    model.train()
    logits, _ = model(x)                                       # (N, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item()


# ----------------------------------------------------------------------------- generation


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one character id per row. logits: (N, V) -> (N,) int64.

    Same rules as `next_char_probs` (temperature 0 = greedy, top_k filter), in torch so that
    generation draws from a seeded torch.Generator.
    """
    if logits.dim() != 2:
        raise TypeError(f"logits must be (N, V), got shape {tuple(logits.shape)}")
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
    V = logits.shape[-1]
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= V):
        raise ValueError(f"top_k must be None or an int in [1, V={V}], got {top_k!r}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    z = logits.double() / temperature
    if top_k is not None:
        kth = torch.topk(z, top_k, dim=-1).values[:, -1:]      # (N, 1)
        z = z.masked_fill(z < kth, float("-inf"))
    probs = torch.softmax(z, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@torch.no_grad()
def generate(model: CharLSTM, vocab: CharVocab, prompt: str, n_chars: int,
             temperature: float = 1.0, top_k: int | None = None,
             generator: torch.Generator | None = None) -> str:
    """Continue `prompt` by `n_chars` characters (returns only the continuation).

    The prompt is read in one pass to build the hidden state; then each drawn character is fed
    back. An empty prompt starts from a newline, the character that starts every speech.
    """
    if not isinstance(n_chars, int) or n_chars < 0:
        raise ValueError(f"n_chars must be an int >= 0, got {n_chars!r}")
    was_training = model.training
    model.eval()
    prompt = prompt if prompt else "\n"
    x = torch.from_numpy(vocab.encode(prompt))[None, :]        # (1, T)
    logits, state = model(x)
    out = []
    for _ in range(n_chars):
        nxt = sample_next(logits[:, -1], temperature, top_k, generator)  # (1,)
        out.append(int(nxt))
        logits, state = model(nxt[:, None], state)
    model.train(was_training)
    return vocab.decode(np.array(out, dtype=np.int64))


# ----------------------------------------------------------------------------- saliency


def saliency(model: CharLSTM, ids: np.ndarray, position: int | None = None) -> np.ndarray:
    """How much each earlier input character matters to one prediction.

    ids: (T,) ints, the text read by the model. position: the step whose prediction (of
    character position + 1) we explain; defaults to the last. Returns (position + 1,) float:
    the L2 norm of d log p(ids[position + 1] or the argmax) / d embedding_t for t <= position.
    The prediction is the log-probability of the true next character when it is known (position
    < T - 1), else of the model's most likely next character.
    """
    ids = np.asarray(ids)
    T = len(ids)
    position = T - 1 if position is None else position
    if not 0 <= position < T:
        raise ValueError(f"position must be in [0, {T}), got {position}")
    was_training = model.training
    model.eval()
    x = torch.from_numpy(ids[: position + 1].astype(np.int64))[None, :]   # (1, position + 1)
    with torch.enable_grad():
        logits, _, emb = model(x, return_embeddings=True)
        logp = torch.log_softmax(logits[0, -1], dim=-1)       # (V,)
        target = int(ids[position + 1]) if position + 1 < T else int(logp.argmax())
        logp[target].backward()
    model.train(was_training)
    return emb.grad[0].norm(dim=-1).numpy()                   # (position + 1,)


@torch.no_grad()
def last_k_losses(model: CharLSTM, ids: np.ndarray, k: int, targets: np.ndarray,
                  batch: int = 512) -> np.ndarray:
    """-ln p(ids[t] | ids[t-k .. t-1]) for each t in targets: the model reads only the last k
    characters, from a zero state. ids: (L,) ints; targets: (P,) ints in [k, L). Returns (P,)."""
    targets = np.asarray(targets)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if targets.ndim != 1 or targets.dtype.kind not in "iu" or (len(targets) and (
            targets.min() < k or targets.max() >= len(ids))):
        raise ValueError(f"targets must be a 1-D int array with values in [k={k}, {len(ids)}), got "
                         f"{targets.dtype} values in [{targets.min()}, {targets.max()}]")
    was_training = model.training
    model.eval()
    windows = targets[:, None] - k + np.arange(k)[None, :]                    # (P, k)
    out = []
    for start in range(0, len(targets), batch):
        x = torch.from_numpy(ids[windows[start : start + batch]].astype(np.int64))
        logits, _ = model(x)                                                  # (B, k, V)
        y = torch.from_numpy(ids[targets[start : start + batch]].astype(np.int64))
        out.append(F.cross_entropy(logits[:, -1].double(), y, reduction="none").numpy())
    model.train(was_training)
    return np.concatenate(out)


# ----------------------------------------------------------------------------- checkpoint


def save_checkpoint(model: CharLSTM, vocab: CharVocab, path=CHECKPOINT_PATH, **info) -> None:
    """Save the state_dict (float32), the model config and the vocabulary characters."""
    state = {k: v.detach().to(torch.float32).clone() for k, v in model.state_dict().items()}
    # Plain JSON types only (torch.__version__ is a str subclass that weights_only loading refuses).
    info = json.loads(json.dumps(info, default=str))
    torch.save({"config": model.config, "chars": vocab.chars, "state_dict": state,
                "info": info}, path)


def load_checkpoint(path=CHECKPOINT_PATH) -> tuple[CharLSTM, CharVocab, dict]:
    """Load a checkpoint saved by `save_checkpoint`. Returns (model in eval mode, vocab, info)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; train one with `python tools/train_charlm.py`")
    # weights_only: a checkpoint is data, never code. TorchVersion (a str) is allowed so that
    # checkpoints whose info recorded torch.__version__ as is still load.
    with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
        blob = torch.load(path, map_location="cpu", weights_only=True)
    model = CharLSTM(**blob["config"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, CharVocab.from_chars(blob["chars"]), blob.get("info", {})


def load_checkpoint_info(path=CHECKPOINT_INFO_PATH) -> dict:
    """The figures measured when the checkpoint was trained (data/charlm.json)."""
    return json.loads(Path(path).read_text())
