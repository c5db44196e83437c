"""Gradient checking: central differences, a relative error, and a three-way comparison.

A backward pass is trusted only when it agrees with two independent references:

* the numerical gradient, from central differences in float64
  (`numerical_gradient`), which needs nothing but the forward pass;
* `torch.autograd` applied to the same layer written directly with torch ops in float64
  (the `TORCH_REFERENCES` registry below).

`compare_gradients` runs both, compares the forward outputs with the torch reference's
too (a backward is only as right as the forward it differentiates), and prints one table
per call with every measured relative error beside its tolerance, for example::

    compare_gradients("lstm_step", lstm_step_forward, lstm_step_backward,
                      inputs={"x": x, "h_prev": h_prev, "c_prev": c_prev,
                              "Wx": Wx, "Wh": Wh, "b": b})

    lstm_step: forward vs torch; gradients vs central differences and torch.autograd
      value    shape    vs numerical (tol 1e-07)  vs torch (tol 1e-10)  verdict
      h        (3, 6)   -                         5.2e-17               ok
      c        (3, 6)   -                         4.9e-17               ok
      dx       (3, 5)   3.4e-11                   6.6e-17               ok
      ...
    ✓ lstm_step: the forward and all 6 gradients match.

A passing error is float64 round-off (~1e-10 for central differences with h=1e-6, ~1e-16
against torch): its digits change with the BLAS library and the CPU, so the notebook
comparison (tools/nbval_sanitize.cfg) masks the numbers of rows marked ok; a failing row
is wrong by a reproducible amount and is compared as printed.
"""

import numpy as np

__all__ = [
    "numerical_gradient",
    "rel_error",
    "compare_gradients",
    "example_inputs",
    "TORCH_REFERENCES",
    "LAYERS",
    "torch_rnn_step",
    "torch_rnn",
    "torch_lstm_step",
    "torch_lstm",
    "torch_affine",
    "torch_softmax_cross_entropy",
    "torch_mse_loss",
    "torch_sigmoid",
]

TINY = np.finfo(np.float64).tiny


# ----------------------------------------------------------------------------- numerics

def numerical_gradient(f, x, df=None, h=1e-6):
    """Central-difference gradient of `f` with respect to the float64 array `x`.

    f:  callable `f(x)`; it may also ignore its argument and read `x` through a closure,
        because `x` itself is perturbed in place (one entry at a time) and then restored.
        Returns a scalar when `df` is None, otherwise an array (or a tuple of arrays)
        with the shape(s) of `df`.
    x:  float64 ndarray of any shape; its values are unchanged when the function returns
        (also when `f` raises).
    df: None, or the upstream gradient dL/df, same shape as f(x) (a tuple of arrays if
        f returns a tuple). The gradient is then that of L = sum(f(x) * df).
    h:  step; 1e-6 balances truncation error (~h^2) against round-off (~eps/h) in float64.

    Returns grad: same shape as x, grad[i] = (L(x + h e_i) - L(x - h e_i)) / (2h).
    Costs 2 * x.size calls of f.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"numerical_gradient: x must be a NumPy array (perturbed in place), "
                        f"got {type(x).__name__}")
    if x.dtype != np.float64:
        # In float32 a step of 1e-6 is below the resolution of most entries (eps ~ 1e-7),
        # so the differences would be pure round-off.
        raise TypeError(f"numerical_gradient: x must be float64 for a meaningful central "
                        f"difference, got dtype {x.dtype} (use x.astype(np.float64))")
    if not x.flags.writeable:
        raise ValueError("numerical_gradient: x must be writeable (it is perturbed in place "
                         "and restored); pass a copy")
    if not callable(f):
        raise TypeError(f"numerical_gradient: f must be callable, got {type(f).__name__}")
    if not (np.isscalar(h) and float(h) > 0):
        raise ValueError(f"numerical_gradient: h must be a positive number, got {h!r}")
    h = float(h)

    if df is not None:
        df_parts = _as_parts(df)

    def objective():
        out = f(x)
        if df is None:
            if np.ndim(out) != 0:
                raise ValueError(
                    f"numerical_gradient: f returned an array of shape {np.shape(out)} but "
                    f"df is None; pass df (the upstream gradient) or make f return a scalar")
            return float(out)
        parts = _as_parts(out)
        if len(parts) != len(df_parts) or any(p.shape != d.shape
                                              for p, d in zip(parts, df_parts)):
            raise ValueError(
                f"numerical_gradient: f returned shape(s) {[p.shape for p in parts]} "
                f"but df has shape(s) {[d.shape for d in df_parts]}")
        # Sum right away: f may return a buffer it reuses, so nothing is kept between calls.
        return float(sum(np.sum(p * d) for p, d in zip(parts, df_parts)))

    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        try:
            x[idx] = old + h
            plus = objective()
            x[idx] = old - h
            minus = objective()
        finally:
            x[idx] = old
        grad[idx] = (plus - minus) / (2.0 * h)
    return grad


def _as_parts(value):
    """A tuple of float64 arrays from an array or a tuple/list of arrays."""
    if isinstance(value, (tuple, list)):
        return tuple(np.asarray(v, dtype=np.float64) for v in value)
    return (np.asarray(value, dtype=np.float64),)


def rel_error(a, b):
    """Relative error between two arrays, on the scale of the larger one.

        rel_error(a, b) = max_i |a_i - b_i| / max(max_i (|a_i| + |b_i|), tiny)

    One number for the whole array: entries that are exactly zero in both (common in
    gradients, e.g. masked positions) cannot blow it up, as an entrywise
    |a - b| / (|a| + |b|) would. 0 means identical; 1 means as different as a and -a.
    tiny is the smallest positive float64, so two all-zero arrays give 0.
    Any NaN or inf in a or b gives inf (never "passes" a tolerance test).

    a, b: array-likes of the same shape. Returns a Python float.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    num = np.max(np.abs(a - b))
    den = max(float(np.max(np.abs(a) + np.abs(b))), TINY)
    return float(num / den)


# ----------------------------------------------------------------------------- torch references
# Each reference takes the same positional arguments as the NumPy layer (torch tensors in
# float64, integer/bool tensors for targets and masks, None where the NumPy layer accepts None)
# and returns the same outputs. They are written from torch ops on purpose (not nn.LSTM), so
# autograd checks each formula independently of the NumPy code; nn.LSTM/nn.RNN are compared
# separately through utils.torch_bridge.

def _torch():
    import torch
    return torch


def torch_sigmoid(x):
    """sigmoid(x) = 1 / (1 + exp(-x)), elementwise."""
    return _torch().sigmoid(x)


def torch_rnn_step(x, h_prev, Wx, Wh, b):
    """h = tanh(x Wx + h_prev Wh + b). x (N, D), h_prev (N, H) -> h (N, H)."""
    return _torch().tanh(x @ Wx + h_prev @ Wh + b)


def torch_rnn(x, h0, Wx, Wh, b):
    """x (N, T, D), h0 (N, H) or None for zeros -> h (N, T, H), the state at every step."""
    torch = _torch()
    if h0 is None:
        h0 = x.new_zeros((x.shape[0], Wh.shape[0]))
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = torch_rnn_step(x[:, t], h, Wx, Wh, b)
        hs.append(h)
    return torch.stack(hs, dim=1)


def torch_lstm_step(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step, gates fused in the order i, f, g, o (as torch.nn.LSTM).

    x (N, D), h_prev (N, H), c_prev (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)
    -> (h (N, H), c (N, H)).
    """
    torch = _torch()
    a = x @ Wx + h_prev @ Wh + b          # (N, 4H)
    i, f, g, o = a.chunk(4, dim=1)        # four (N, H) blocks
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def torch_lstm(x, h0, c0, Wx, Wh, b):
    """x (N, T, D), h0 and c0 (N, H) or None for zeros -> h (N, T, H), the hidden state at
    every step."""
    torch = _torch()
    zeros = x.new_zeros((x.shape[0], Wh.shape[0]))
    h, c, hs = (zeros if h0 is None else h0), (zeros if c0 is None else c0), []
    for t in range(x.shape[1]):
        h, c = torch_lstm_step(x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
    return torch.stack(hs, dim=1)


def torch_affine(x, W, b):
    """Time-distributed affine layer: x (..., D), W (D, M), b (M,) -> (..., M)."""
    return x @ W + b


def torch_softmax_cross_entropy(logits, targets, mask=None):
    """Mean cross-entropy over the positions where mask is True (all if mask is None).

    logits (N, T, V), targets (N, T) int, mask (N, T) bool or None -> scalar loss.
    """
    torch = _torch()
    logp = torch.log_softmax(logits, dim=-1)                     # (N, T, V)
    nll = -logp.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)  # (N, T)
    if mask is None:
        return nll.mean()
    m = mask.to(logits.dtype)
    return (nll * m).sum() / m.sum().clamp(min=1.0)


def torch_mse_loss(pred, target, mask=None):
    """Half mean squared error 0.5 * mean((pred - target)^2) over unmasked positions.

    pred, target (N, T, K) or (N, K); mask pred.shape[:-1] bool or None -> scalar loss.
    """
    sq = (pred - target) ** 2
    if mask is None:
        return 0.5 * sq.mean()
    m = mask.to(pred.dtype).unsqueeze(-1)                # (..., 1): broadcast over K
    return 0.5 * (sq * m).sum() / (m.sum() * pred.shape[-1])


TORCH_REFERENCES = {
    "sigmoid": torch_sigmoid,
    "rnn_step": torch_rnn_step,
    "rnn": torch_rnn,
    "lstm_step": torch_lstm_step,
    "lstm": torch_lstm,
    "affine": torch_affine,
    "softmax_cross_entropy": torch_softmax_cross_entropy,
    "mse": torch_mse_loss,
}

# layer name -> (NumPy forward in utils.layers, NumPy backward or None for a loss that
# returns (loss, dinput), tolerance of analytic vs numerical). A sequence accumulates T steps
# of round-off in the numerical gradient, hence its looser tolerance.
LAYERS = {
    "rnn_step": ("rnn_step_forward", "rnn_step_backward", 1e-7),
    "rnn": ("rnn_forward", "rnn_backward", 1e-6),
    "lstm_step": ("lstm_step_forward", "lstm_step_backward", 1e-7),
    "lstm": ("lstm_forward", "lstm_backward", 1e-6),
    "affine": ("affine_forward", "affine_backward", 1e-7),
    "softmax_cross_entropy": ("softmax_cross_entropy", None, 1e-7),
    "mse": ("mse_loss", None, 1e-7),
}

AUTOGRAD_TOL = 1e-10

# Names of the forward outputs in the table; a forward outside this list gets out1, out2...
OUTPUT_NAMES = {"rnn_step": ("h",), "rnn": ("h",), "lstm_step": ("h", "c"), "lstm": ("h",),
                "affine": ("out",), "softmax_cross_entropy": ("loss",), "mse": ("loss",)}


# ----------------------------------------------------------------------------- fixtures

def example_inputs(layer, seed=0, N=3, T=4, D=5, H=6, V=7, mask=True):
    """Small random float64 inputs for `layer`, in the argument order of its NumPy forward.

    layer: a name from LAYERS. Weights are scaled by 1/sqrt(fan-in) and biases are non-zero,
    so every tanh/sigmoid works in its curved range (zeros or identities would hide bugs).
    mask: for the losses, include a boolean mask (N, T) with some positions off (at least
    one on), else mask=None. Drawn from np.random.default_rng(seed): the same call gives
    the same arrays on every machine.

    >>> compare_gradients("lstm", inputs=example_inputs("lstm"))
    """
    if layer not in LAYERS:
        raise ValueError(f"example_inputs: unknown layer {layer!r}; use one of {sorted(LAYERS)}")
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=1.0):
        return scale * rng.standard_normal(shape)

    G = 4 * H if layer.startswith("lstm") else H            # gate width
    seq = layer in ("rnn", "lstm")
    x = normal(N, T, D) if seq else normal(N, D)
    if layer in ("rnn_step", "rnn", "lstm_step", "lstm"):
        out = {"x": x, ("h0" if seq else "h_prev"): normal(N, H, scale=0.5)}
        if layer.startswith("lstm"):
            out["c0" if seq else "c_prev"] = normal(N, H, scale=0.5)
        out.update(Wx=normal(D, G, scale=D ** -0.5), Wh=normal(H, G, scale=H ** -0.5),
                   b=normal(G, scale=0.1))
        return out
    if layer == "affine":
        return {"x": normal(N, T, H), "W": normal(H, V, scale=H ** -0.5), "b": normal(V, scale=0.1)}
    m = None
    if mask:
        m = rng.random((N, T)) < 0.7
        m[0, 0] = True                                      # never an empty mask
    if layer == "softmax_cross_entropy":
        return {"logits": normal(N, T, V), "targets": rng.integers(0, V, size=(N, T)), "mask": m}
    return {"pred": normal(N, T, 2), "target": normal(N, T, 2), "mask": m}    # mse


# ----------------------------------------------------------------------------- comparison

def compare_gradients(layer, forward=None, backward=None, inputs=None, *, torch_fn=None,
                      dout=None, wrt=None, tol=None, tol_autograd=AUTOGRAD_TOL, h=1e-6,
                      seed=0, verbose=True, raise_on_fail=False):
    """Compare a backward pass with central differences and with torch.autograd.

    layer:    a name from LAYERS ("rnn_step", "rnn", "lstm_step", "lstm", "affine",
              "softmax_cross_entropy", "mse"), used for the title, the default tolerance,
              the torch reference and the default forward/backward (from utils.layers);
              any other string works as a title if forward, backward and torch_fn are given.
    forward:  `out, cache = forward(*inputs.values())`, or `h, c, cache = ...` for several
              outputs. For a loss (backward=None): `loss, dinput = forward(...)`, and only
              the first input is checked.
    backward: `grads = backward(dout, cache)`, or `backward(dh, dc, cache)` with one upstream
              gradient per output; returns one gradient per input, in input order (None
              allowed for an input that has no gradient).
    inputs:   dict name -> value, in the forward's argument order (values are passed
              positionally, the names label the table). Float arrays must be float64; int
              and bool arrays (targets, masks) and None are passed through unchanged.
    torch_fn: the torch reference (same positional arguments, torch tensors); defaults to
              TORCH_REFERENCES[layer]; without one the autograd column shows "n/a".
    dout:     upstream gradient(s) for the outputs; by default standard normal draws from
              np.random.default_rng(seed), so the check is reproducible.
    wrt:      names of the inputs to check (default: every float array input).
    tol:      bound on rel_error(analytic, numerical); default from LAYERS, else 1e-7.
    tol_autograd: bound on rel_error(analytic, autograd) and on rel_error(forward output,
              torch reference output), default 1e-10.
    verbose:  print the table and the verdict.
    raise_on_fail: raise AssertionError with the verdict when a value is off.

    Returns a dict with one entry per forward output (by name: "h", "c", "out", "loss", or
    out1, out2...), {"kind": "output", "shape": tuple, "torch": float or None, "ok": bool},
    then one per gradient ("d" + input name), {"kind": "gradient", "shape": tuple,
    "numerical": float, "autograd": float or None, "ok": bool}.
    """
    if not isinstance(layer, str):
        raise TypeError(f"compare_gradients: layer must be a string such as 'lstm_step', "
                        f"got {type(layer).__name__}")
    spec = LAYERS.get(layer)
    if forward is None:
        # The reference pair from utils.layers (a backward given alone is kept, so a
        # student's backward can be checked against the reference forward's cache).
        if spec is None:
            raise ValueError(f"compare_gradients: unknown layer {layer!r}; pass forward and "
                             f"backward, or use one of {sorted(LAYERS)}")
        from utils import layers as _layers
        forward = getattr(_layers, spec[0])
        if backward is None and spec[1] is not None:
            backward = getattr(_layers, spec[1])
    elif backward is None and spec is not None and spec[1] is not None:
        raise TypeError(f"compare_gradients: {layer} needs its backward function too, e.g. "
                        f"compare_gradients({layer!r}, {spec[0]}, {spec[1]}, inputs=...)")
    if not callable(forward):
        raise TypeError(f"compare_gradients: forward must be callable, got {type(forward).__name__}")
    if backward is not None and not callable(backward):
        raise TypeError(f"compare_gradients: backward must be callable or None, "
                        f"got {type(backward).__name__}")
    if not isinstance(inputs, dict) or not inputs:
        raise TypeError(f"compare_gradients: inputs must be a non-empty dict name -> array, "
                        f"got {type(inputs).__name__}")
    if tol is None:
        tol = spec[2] if spec is not None else 1e-7
    if torch_fn is None:
        torch_fn = TORCH_REFERENCES.get(layer)

    # Private float64 copies: the numerical gradient perturbs them in place, and the caller's
    # arrays must never change.
    values = {}
    for name, v in inputs.items():
        if isinstance(v, np.ndarray):
            if v.dtype.kind == "f" and v.dtype != np.float64:
                raise TypeError(f"compare_gradients: {name} is {v.dtype}; gradient checks need "
                                f"float64 inputs (use .astype(np.float64))")
            v = v.copy()
        values[name] = v
    names = list(values)
    float_names = [n for n in names
                   if isinstance(values[n], np.ndarray) and values[n].dtype == np.float64]
    is_loss = backward is None
    if wrt is None:
        wrt = float_names[:1] if is_loss else float_names
    else:
        wrt = [wrt] if isinstance(wrt, str) else list(wrt)
        for n in wrt:
            if n not in float_names:
                raise ValueError(f"compare_gradients: wrt names {n!r}, which is not a float64 "
                                 f"input; float64 inputs: {float_names}")
        if is_loss and wrt != names[:1]:
            raise ValueError(f"compare_gradients: a loss (backward=None) only gives the gradient "
                             f"of its first input {names[0]!r}, got wrt={wrt}")
    args = [values[n] for n in names]

    # Analytic gradients.
    result = forward(*args)
    if not (isinstance(result, tuple) and len(result) >= 2):
        raise TypeError(f"compare_gradients: forward must return (out, cache), (out1, out2, "
                        f"cache) or, for a loss, (loss, dinput); got {type(result).__name__}")
    if is_loss:
        loss, dfirst = result[0], result[1]
        if len(result) != 2 or np.ndim(loss) != 0:
            raise TypeError(f"compare_gradients: backward is None, so forward must be a loss "
                            f"returning (scalar, dinput); got {len(result)} values, the first "
                            f"of shape {np.shape(loss)}")
        analytic = {names[0]: np.asarray(dfirst)}
        douts = None
        out_parts = (np.asarray(loss, dtype=np.float64),)
    else:
        out_parts = _outputs(result)
        if dout is None:
            rng = np.random.default_rng(seed)
            douts = tuple(rng.standard_normal(o.shape) for o in out_parts)
        else:
            douts = tuple(np.asarray(d, dtype=np.float64)
                          for d in (dout if isinstance(dout, (tuple, list)) else (dout,)))
            if len(douts) != len(out_parts) or any(d.shape != o.shape
                                                   for d, o in zip(douts, out_parts)):
                raise ValueError(f"compare_gradients: dout shape(s) {[d.shape for d in douts]} "
                                 f"do not match the output shape(s) {[o.shape for o in out_parts]}")
        grads = backward(*douts, result[-1])
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(names):
            raise ValueError(f"compare_gradients: backward returned {len(grads)} gradients but "
                             f"forward takes {len(names)} inputs {names}; return one per input, "
                             f"in input order")
        analytic = dict(zip(names, grads))

    # Numerical gradients: L = loss, or sum over outputs of <out, dout>.
    def scalar_objective(_):
        res = forward(*args)
        if is_loss:
            return float(res[0])
        return float(sum(np.sum(p * d) for p, d in zip(_outputs(res), douts)))

    numerical = {n: numerical_gradient(scalar_objective, values[n], h=h) for n in wrt}

    # torch.autograd on the reference, and the reference's own outputs.
    auto, torch_outs = (_autograd(torch_fn, names, values, wrt, douts, is_loss) if torch_fn
                        else (None, None))

    report = {}
    out_names = OUTPUT_NAMES.get(layer)
    if out_names is None or len(out_names) != len(out_parts):
        out_names = ("out",) if len(out_parts) == 1 else tuple(
            f"out{k + 1}" for k in range(len(out_parts)))
    for k, (oname, o) in enumerate(zip(out_names, out_parts)):
        err = None
        if torch_outs is not None:
            t = torch_outs[k] if k < len(torch_outs) else None
            err = (rel_error(o, t) if t is not None and np.shape(o) == np.shape(t)
                   else float("inf"))
        report[oname] = {"kind": "output", "shape": np.shape(o), "torch": err,
                         "ok": err is None or err <= tol_autograd}
    for n in wrt:
        a = analytic.get(n)
        gname = "d" + n
        if a is None or np.shape(a) != values[n].shape:
            got = "None" if a is None else f"shape {np.shape(a)}"
            err_num = err_auto = float("inf")
            _shape_note = f"{gname} is {got}, expected shape {values[n].shape}"
        else:
            _shape_note = None
            err_num = rel_error(a, numerical[n])
            err_auto = rel_error(a, auto[n]) if auto is not None else None
        ok = err_num <= tol and (err_auto is None or err_auto <= tol_autograd)
        report[gname] = {"kind": "gradient", "shape": values[n].shape, "numerical": err_num,
                         "autograd": err_auto, "ok": ok}
        if _shape_note:
            report[gname]["note"] = _shape_note

    verdict = _verdict(layer, report, tol, tol_autograd)
    if verbose:
        _print_table(layer, report, tol, tol_autograd)
        print(verdict)
    if raise_on_fail and not all(r["ok"] for r in report.values()):
        raise AssertionError(verdict)
    return report


def _outputs(result):
    """The outputs of `forward(...)` as a tuple of arrays: (out, cache) gives (out,),
    (h, c, cache) gives (h, c), and ((h, c), cache) gives (h, c)."""
    outs = result[:-1]
    if len(outs) == 1 and isinstance(outs[0], (tuple, list)):
        outs = tuple(outs[0])
    return tuple(np.asarray(o) for o in outs)


def _autograd(torch_fn, names, values, wrt, douts, is_loss):
    """Gradients of the torch reference, as NumPy arrays keyed by input name, and the
    reference's outputs as a tuple of float64 arrays (the loss, for a loss)."""
    torch = _torch()
    tensors = []
    for n in names:
        v = values[n]
        if isinstance(v, np.ndarray):
            t = torch.from_numpy(v.copy())
            if n in wrt:
                t.requires_grad_(True)
            tensors.append(t)
        else:
            tensors.append(v)
    out = torch_fn(*tensors)
    if is_loss:
        objective = out
        parts = (out,)
    else:
        parts = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(parts) != len(douts):
            raise ValueError(f"compare_gradients: the torch reference returned {len(parts)} "
                             f"output(s), the NumPy forward {len(douts)}")
        objective = sum((p * torch.from_numpy(d)).sum() for p, d in zip(parts, douts))
    leaves = [t for n, t in zip(names, tensors) if n in wrt]
    grads = torch.autograd.grad(objective, leaves, allow_unused=True)
    grads = {n: (np.zeros(values[n].shape) if g is None else g.detach().numpy())
             for n, g in zip([n for n in names if n in wrt], grads)}
    return grads, tuple(p.detach().numpy().astype(np.float64) for p in parts)


def _fmt_err(err):
    if err is None:
        return "-"
    return "inf" if err == float("inf") else f"{err:.1e}"   # two significant digits


def _print_table(layer, report, tol, tol_autograd):
    print(f"{layer}: forward vs torch; gradients vs central differences and torch.autograd")
    rows = [("value", "shape", f"vs numerical (tol {tol:.0e})",
             f"vs torch (tol {tol_autograd:.0e})", "verdict")]
    for name, r in report.items():
        if r["kind"] == "output":
            errs = ("-", _fmt_err(r["torch"]))
        else:
            errs = (_fmt_err(r["numerical"]), _fmt_err(r["autograd"]))
        rows.append((name, str(r["shape"]), *errs, "ok" if r["ok"] else "WRONG"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _verdict(layer, report, tol, tol_autograd):
    outputs = {k: r for k, r in report.items() if r["kind"] == "output"}
    grads = {k: r for k, r in report.items() if r["kind"] == "gradient"}
    bad_out = [(k, r) for k, r in outputs.items() if not r["ok"]]
    bad = [(g, r) for g, r in grads.items() if not r["ok"]]
    if not bad and not bad_out:
        what = next(iter(grads)) if len(grads) == 1 else f"all {len(grads)} gradients"
        if any(r["torch"] is not None for r in outputs.values()):
            return f"✓ {layer}: the forward and {what} match."
        return f"✓ {layer}: {what} match{'es' if len(grads) == 1 else ''}."
    lines = []
    for k, r in bad_out:
        lines.append(f"✗ {layer}: the forward output {k} differs from the torch reference "
                     f"(relative error {_fmt_err(r['torch'])}, want ≤ {tol_autograd:.0e}); the "
                     f"gradients are then those of another function: fix the forward first.")
    for g, r in bad:
        if "note" in r:
            lines.append(f"✗ {layer}: {r['note']}.")
            continue
        parts = []
        if r["numerical"] > tol:
            parts.append(f"relative error {r['numerical']:.1e} vs numerical, want ≤ {tol:.0e}")
        if r["autograd"] is not None and r["autograd"] > tol_autograd:
            parts.append(f"{r['autograd']:.1e} vs autograd, want ≤ {tol_autograd:.0e}")
        lines.append(f"✗ {layer}: {g} is off ({'; '.join(parts)}).")
    if bad and len(bad) < len(grads):
        lines.append(f"  Hint: the other gradients match, so look at the lines that "
                     f"produce {', '.join(g for g, _ in bad)}.")
    return "\n".join(lines)
