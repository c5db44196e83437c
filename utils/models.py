"""A small NumPy sequence model: an RNN or LSTM layer followed by a time-distributed affine
output layer, with a cross-entropy (classification) or half-MSE (regression) loss.

    x (N, T) ids --one-hot--> (N, T, D) --rnn/lstm--> h (N, T, H) --affine--> out (N, T, V)

The model keeps its weights in `params` and returns gradients from `loss` in a dict with the
same keys, so any optimizer in utils.optim can update it. It stores no training data.
"""

import numpy as np

from utils import layers
from utils.data import one_hot
from utils.validate import Dims, positive_int

CELLS = ("rnn", "lstm")
LOSSES = ("cross_entropy", "mse")


class SequenceModel:
    """RNN or LSTM + affine output layer.

    cell: "rnn" or "lstm"; D: input features (for token inputs, the vocabulary size: ids are
    one-hot encoded); H: hidden units; V: outputs (classes for cross-entropy, values for mse);
    rng: np.random.Generator for the initial weights; dtype: float64 or float32.

    params: Wx (D, G), Wh (H, G), b (G,), Wy (H, V), by (V,) with G = H (rnn) or 4H (lstm).
    Weights start uniform in ±1/sqrt(H), as in torch.nn.RNN/LSTM; the LSTM forget-gate bias
    starts at 1 so that early in training the cell keeps what it holds.
    """

    def __init__(self, cell, D, H, V, rng, dtype=np.float64, loss="cross_entropy"):
        if cell not in CELLS:
            raise ValueError(f"SequenceModel: cell must be one of {CELLS}, got {cell!r}")
        if loss not in LOSSES:
            raise ValueError(f"SequenceModel: loss must be one of {LOSSES}, got {loss!r}")
        D = positive_int("SequenceModel", "D", D)
        H = positive_int("SequenceModel", "H", H)
        V = positive_int("SequenceModel", "V", V)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"SequenceModel: dtype must be a float type, got {dtype}")
        self.cell, self.loss_name, self.dtype = cell, loss, dtype
        self.D, self.H, self.V = D, H, V
        G = H if cell == "rnn" else 4 * H
        k = 1.0 / np.sqrt(H)

        def uniform(*shape):
            return rng.uniform(-k, k, size=shape).astype(dtype)

        self.params = {"Wx": uniform(D, G), "Wh": uniform(H, G), "b": uniform(G),
                       "Wy": uniform(H, V), "by": np.zeros(V, dtype)}
        if cell == "lstm":
            self.params["b"][H:2 * H] = 1.0

    def __repr__(self):
        return (f"SequenceModel({self.cell}, D={self.D}, H={self.H}, V={self.V}, "
                f"loss={self.loss_name}, {sum(p.size for p in self.params.values())} parameters)")

    # ------------------------------------------------------------------ forward and loss

    def _inputs(self, x):
        """Token ids (N, T) become one-hot (N, T, D); float inputs (N, T, D) pass through."""
        x = np.asarray(x)
        if x.dtype.kind in "iu":
            Dims("SequenceModel").array("x", x, ("N", "T"), kind="int")
            return one_hot(x, self.D, dtype=self.dtype)
        return Dims("SequenceModel").array("x", x, ("N", "T", self.D)).astype(self.dtype,
                                                                              copy=False)

    def forward(self, x):
        """x: (N, T) int ids or (N, T, D) floats. Returns out (N, T, V) and a cache."""
        p = self.params
        xs = self._inputs(x)
        if self.cell == "rnn":
            h, rnn_cache = layers.rnn_forward(xs, None, p["Wx"], p["Wh"], p["b"])
        else:
            h, rnn_cache = layers.lstm_forward(xs, None, None, p["Wx"], p["Wh"], p["b"])
        out, out_cache = layers.affine_forward(h, p["Wy"], p["by"])
        return out, (rnn_cache, out_cache)

    def loss(self, batch):
        """Loss and gradients for one batch.

        batch: dict with
          x: (N, T) int ids or (N, T, D) floats;
          y: targets. Many-to-many: (N, T) class ids (cross_entropy) or (N, T, V) values
             (mse), one per step. Many-to-one: (N,) class ids or (N, V) values, one per
             sequence, scored at the sequence's last real step;
          mask (optional): (N, T) bool. Many-to-many: True where a step is scored.
             Many-to-one: True at the real (non-padding) steps; each sequence is scored at
             its last True step. Without a mask, every sequence is scored at step T - 1;
          lengths (optional, many-to-one only): (N,) ints in [1, T], the real lengths, an
             alternative to the mask.
        Returns (loss, grads) with grads keyed like params.
        """
        out, (rnn_cache, out_cache) = self.forward(batch["x"])
        y, mask = np.asarray(batch["y"]), batch.get("mask")
        many_to_one = y.ndim == (1 if self.loss_name == "cross_entropy" else 2)
        if many_to_one:
            rows = np.arange(out.shape[0])
            last = _last_real_step(out.shape[:2], mask, batch.get("lengths"))
            scored, mask = out[rows, last], None
        else:
            if batch.get("lengths") is not None:
                raise ValueError("SequenceModel.loss: lengths is for many-to-one batches "
                                 "(y with one target per sequence); use mask (N, T) here")
            scored = out
        if self.loss_name == "cross_entropy":
            loss, dscored = layers.softmax_cross_entropy(scored, y, mask)
        else:
            loss, dscored = layers.mse_loss(scored, y.astype(self.dtype, copy=False), mask)
        if many_to_one:
            dout = np.zeros_like(out)
            dout[rows, last] = dscored
        else:
            dout = dscored
        dh, dWy, dby = layers.affine_backward(dout, out_cache)
        if self.cell == "rnn":
            _, _, dWx, dWh, db = layers.rnn_backward(dh, rnn_cache)
        else:
            _, _, _, dWx, dWh, db = layers.lstm_backward(dh, rnn_cache)
        return loss, {"Wx": dWx, "Wh": dWh, "b": db, "Wy": dWy, "by": dby}

    # ------------------------------------------------------------------ using the model

    def predict(self, x):
        """Greedy predictions: (N, T) class ids for cross_entropy, (N, T, V) values for mse."""
        out, _ = self.forward(x)
        return out.argmax(axis=-1) if self.loss_name == "cross_entropy" else out

    def step(self, x_t, state=None):
        """Run one time step. x_t: (N,) ids or (N, D) floats; state: from the previous call.

        Returns the output (N, V) and the new state (h,) or (h, c).
        """
        p = self.params
        xs = self._inputs(np.asarray(x_t)[:, None])[:, 0]
        N = xs.shape[0]
        if state is None:
            zeros = np.zeros((N, self.H), self.dtype)
            state = (zeros,) if self.cell == "rnn" else (zeros, zeros)
        if self.cell == "rnn":
            h, _ = layers.rnn_step_forward(xs, state[0], p["Wx"], p["Wh"], p["b"])
            state = (h,)
        else:
            h, c, _ = layers.lstm_step_forward(xs, state[0], state[1], p["Wx"], p["Wh"], p["b"])
            state = (h, c)
        return h @ p["Wy"] + p["by"], state

    def sample(self, rng, prompt, length, temperature=1.0):
        """Generate `length` token ids after a prompt, one step at a time.

        rng: np.random.Generator; prompt: (T0,) ids with T0 >= 1; temperature > 0 scales the
        logits (lower is more conservative); temperature=0 means greedy (argmax).
        Returns (length,) int64 ids, the prompt not included.
        """
        if self.loss_name != "cross_entropy":
            raise ValueError("SequenceModel.sample: only a cross_entropy model outputs tokens")
        prompt = np.asarray(prompt)
        if prompt.ndim != 1 or prompt.size == 0 or prompt.dtype.kind not in "iu":
            raise ValueError(f"SequenceModel.sample: prompt must be a non-empty 1-D array of "
                             f"ids, got shape {prompt.shape} dtype {prompt.dtype}")
        length = positive_int("SequenceModel.sample", "length", length, minimum=0)
        if temperature < 0:
            raise ValueError(f"SequenceModel.sample: temperature must be >= 0, got {temperature}")
        state = None
        for tok in prompt:
            logits, state = self.step(np.array([tok]), state)
        out = np.empty(length, np.int64)
        for t in range(length):
            if temperature == 0:
                tok = int(logits[0].argmax())
            else:
                z = logits[0] / temperature
                prob = np.exp(z - z.max())
                tok = int(rng.choice(self.V, p=prob / prob.sum()))
            out[t] = tok
            logits, state = self.step(np.array([tok]), state)
        return out


def _last_real_step(NT, mask, lengths):
    """(N,) index of the last real step of each sequence, from a mask or lengths.

    NT: (N, T); mask: (N, T) bool with True at real steps, or None; lengths: (N,) or None.
    Padding sits at the end in this course, but the last True is used whatever comes before.
    """
    N, T = NT
    if mask is not None and lengths is not None:
        raise ValueError("SequenceModel.loss: give mask or lengths for a many-to-one batch, "
                         "not both")
    if lengths is not None:
        lengths = Dims("SequenceModel.loss").array("lengths", lengths, (N,), kind="int")
        if lengths.size and (lengths.min() < 1 or lengths.max() > T):
            raise ValueError(f"SequenceModel.loss: lengths must lie in [1, T={T}], got "
                             f"{lengths.min()}..{lengths.max()}")
        return lengths.astype(np.int64) - 1
    if mask is None:
        return np.full(N, T - 1)
    mask = Dims("SequenceModel.loss").array("mask", mask, (N, T), kind="bool")
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ValueError(f"SequenceModel.loss: mask row {int(np.argmax(empty))} has no True "
                         f"step; a many-to-one mask marks each sequence's real steps")
    return T - 1 - np.argmax(mask[:, ::-1], axis=1)
