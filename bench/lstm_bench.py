"""Speed of the NumPy LSTM (utils.layers) against torch.nn.LSTM and a textbook loop.

Run from the repository root:

    python bench/lstm_bench.py                 # the machine's threads
    python bench/lstm_bench.py --threads 1     # same single thread for NumPy's BLAS and torch

One pass = forward over the whole sequence + backward of a fixed upstream gradient dh,
computing the gradients of x, h0, c0 and every parameter, on the CPU. Shapes default to
N=32, T=50, D=64, H=128. Each figure is the median of --repeats timed passes after
--warmup untimed ones. Goals (printed with a verdict):

* NumPy / torch time ratio <= 1.25 in float32 and <= 1.0 in float64;
* the batched NumPy LSTM >= 30x the tokens/s of a textbook per-sample loop with (H, 1)
  column vectors and one weight matrix per gate on the stacked [h; x] (written below as
  `textbook_lstm_pass`, the style the course replaces). With --breakdown, also a per-sample
  loop with fused gates (`fused_column_lstm_pass`), the forward/backward split and the time
  of the matrix products alone.

This script prints figures; no test asserts them (timings depend on the machine).
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for NumPy's BLAS and for torch (default: all, %(default)s)")
    p.add_argument("--repeats", type=int, default=15, help="timed passes per figure")
    p.add_argument("--warmup", type=int, default=3, help="untimed passes before timing")
    p.add_argument("--naive-repeats", type=int, default=3,
                   help="timed passes of the slow per-sample loops")
    p.add_argument("--N", type=int, default=32)
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--D", type=int, default=64)
    p.add_argument("--H", type=int, default=128)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time (default); cpu: CPU time of this process, "
                        "which ignores time spent waiting for a core on a busy machine "
                        "(only meaningful with --threads 1)")
    p.add_argument("--breakdown", action="store_true",
                   help="also time the NumPy forward and backward separately, and the matrix "
                        "products alone (the floor any NumPy LSTM of these shapes pays)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("threads", "repeats", "naive_repeats", "N", "T", "D", "H"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        p.error(f"--warmup must be >= 0, got {args.warmup}")
    return args


# ----------------------------------------------------------------------------- timing

CLOCK = time.perf_counter


def median_time(fn, repeats, warmup, before=None):
    """Median time of fn() over `repeats` calls, after `warmup` untimed calls.

    before: optional callable run (untimed) before each call, e.g. to clear .grad.
    The clock is CLOCK (time.perf_counter, or time.process_time with --clock cpu).
    """
    for _ in range(warmup):
        if before:
            before()
        fn()
    times = []
    for _ in range(repeats):
        if before:
            before()
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


# ----------------------------------------------------------------------------- the textbook baselines
# Both loop over samples and time with (H, 1) column vectors and keep a list of per-step
# dicts as the cache: the style of many older tutorials, which the course replaces.

GATES = ("i", "f", "g", "o")          # the fused order of utils.layers and torch.nn.LSTM


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def to_textbook(Wx, Wh, b):
    """Fused Wx (D, 4H), Wh (H, 4H), b (4H,) -> per-gate {gate: (W (H, H+D), b (H, 1))}
    acting on the stacked column z = [h_prev; x], as most tutorials write the LSTM."""
    H = Wh.shape[0]
    return {k: (np.ascontiguousarray(np.concatenate([Wh[:, j * H:(j + 1) * H].T,
                                                     Wx[:, j * H:(j + 1) * H].T], axis=1)),
                b[j * H:(j + 1) * H, None].copy())
            for j, k in enumerate(GATES)}


def textbook_lstm_pass(xs, h0s, c0s, W, dhs):
    """Forward + backward, one sample at a time, one weight matrix per gate.

    xs: (N, T, D); h0s, c0s: (N, H); W: from to_textbook; dhs: (N, T, H) upstream gradients.
    Returns dxs (N, T, D), dh0s (N, H), dc0s (N, H) and dW {gate: (dW, db)} like W.
    """
    N, T, D = xs.shape
    H = h0s.shape[1]
    dxs, dh0s, dc0s = np.zeros_like(xs), np.zeros_like(h0s), np.zeros_like(c0s)
    dW = {k: (np.zeros_like(w), np.zeros_like(bb)) for k, (w, bb) in W.items()}
    (Wi, bi), (Wf, bf), (Wg, bg), (Wo, bo) = (W[k] for k in GATES)
    for n in range(N):
        h, c = h0s[n].reshape(H, 1), c0s[n].reshape(H, 1)
        steps = []
        for t in range(T):
            z = np.vstack((h, xs[n, t].reshape(D, 1)))          # (H + D, 1)
            i, f = _sig(Wi @ z + bi), _sig(Wf @ z + bf)
            g, o = np.tanh(Wg @ z + bg), _sig(Wo @ z + bo)
            c_new = f * c + i * g
            h = o * np.tanh(c_new)
            steps.append({"z": z, "c_prev": c, "c": c_new, "i": i, "f": f, "g": g, "o": o})
            c = c_new
        dh_next, dc_next = np.zeros((H, 1), xs.dtype), np.zeros((H, 1), xs.dtype)
        for t in reversed(range(T)):
            s = steps[t]
            dh = dhs[n, t].reshape(H, 1) + dh_next
            tc = np.tanh(s["c"])
            dc = dc_next + dh * s["o"] * (1 - tc ** 2)
            da = {"i": dc * s["g"] * s["i"] * (1 - s["i"]),
                  "f": dc * s["c_prev"] * s["f"] * (1 - s["f"]),
                  "g": dc * s["i"] * (1 - s["g"] ** 2),
                  "o": dh * tc * s["o"] * (1 - s["o"])}
            dz = np.zeros((H + D, 1), xs.dtype)
            for k in GATES:
                dW[k][0][...] += da[k] @ s["z"].T
                dW[k][1][...] += da[k]
                dz += W[k][0].T @ da[k]
            dh_next, dxs[n, t] = dz[:H], dz[H:, 0]
            dc_next = dc * s["f"]
        dh0s[n], dc0s[n] = dh_next[:, 0], dc_next[:, 0]
    return dxs, dh0s, dc0s, dW


def fused_column_lstm_pass(xs, h0s, c0s, W_x, W_h, b_col, dhs):
    """Like textbook_lstm_pass, but with the gates fused: W_x (4H, D), W_h (4H, H),
    b_col (4H, 1), so 2 matrix-vector products per step instead of 4 (shown with
    --breakdown, to separate the cost of the per-sample loop from that of per-gate weights).
    Returns dxs, dh0s, dc0s, dW_x, dW_h, db_col.
    """
    N, T, D = xs.shape
    H = W_h.shape[1]
    dxs, dh0s, dc0s = np.zeros_like(xs), np.zeros_like(h0s), np.zeros_like(c0s)
    dW_x, dW_h, db = np.zeros_like(W_x), np.zeros_like(W_h), np.zeros_like(b_col)
    for n in range(N):
        h, c = h0s[n].reshape(H, 1), c0s[n].reshape(H, 1)
        steps = []
        for t in range(T):
            x = xs[n, t].reshape(D, 1)
            z = W_x @ x + W_h @ h + b_col                     # (4H, 1)
            i, f = _sig(z[:H]), _sig(z[H:2 * H])
            g, o = np.tanh(z[2 * H:3 * H]), _sig(z[3 * H:])
            c_new = f * c + i * g
            steps.append({"x": x, "h_prev": h, "c_prev": c, "i": i, "f": f, "g": g, "o": o,
                          "c": c_new})
            h, c = o * np.tanh(c_new), c_new
        dh_next, dc_next = np.zeros((H, 1), xs.dtype), np.zeros((H, 1), xs.dtype)
        for t in reversed(range(T)):
            s = steps[t]
            dh = dhs[n, t].reshape(H, 1) + dh_next
            tc = np.tanh(s["c"])
            do = dh * tc
            dc = dc_next + dh * s["o"] * (1 - tc ** 2)
            di, dg, df = dc * s["g"], dc * s["i"], dc * s["c_prev"]
            dz = np.vstack([di * s["i"] * (1 - s["i"]), df * s["f"] * (1 - s["f"]),
                            dg * (1 - s["g"] ** 2), do * s["o"] * (1 - s["o"])])
            dW_x += dz @ s["x"].T
            dW_h += dz @ s["h_prev"].T
            db += dz
            dxs[n, t] = (W_x.T @ dz)[:, 0]
            dh_next = W_h.T @ dz
            dc_next = dc * s["f"]
        dh0s[n], dc0s[n] = dh_next[:, 0], dc_next[:, 0]
    return dxs, dh0s, dc0s, dW_x, dW_h, db


def baselines_agree(x, h0, c0, Wx, Wh, b, dh, rel_error, lstm_forward, lstm_backward):
    """Max relative error between lstm_backward and each baseline (they must compute the
    same gradients, or their speed means nothing)."""
    H = Wh.shape[0]
    ref = lstm_backward(dh, lstm_forward(x, h0, c0, Wx, Wh, b)[1])
    dxs, dh0s, dc0s, dW = textbook_lstm_pass(x, h0, c0, to_textbook(Wx, Wh, b), dh)
    dWx = np.concatenate([dW[k][0][:, H:].T for k in GATES], axis=1)      # (D, 4H)
    dWh = np.concatenate([dW[k][0][:, :H].T for k in GATES], axis=1)      # (H, 4H)
    db = np.concatenate([dW[k][1][:, 0] for k in GATES])
    textbook = max(rel_error(a, b_) for a, b_ in zip(ref, (dxs, dh0s, dc0s, dWx, dWh, db)))
    fx, fh0, fc0, fWx, fWh, fb = fused_column_lstm_pass(x, h0, c0, Wx.T.copy(), Wh.T.copy(),
                                                        b[:, None].copy(), dh)
    fused = max(rel_error(a, b_) for a, b_ in zip(ref, (fx, fh0, fc0, fWx.T, fWh.T, fb[:, 0])))
    return textbook, fused


# ----------------------------------------------------------------------------- breakdown

def matmul_floor(x, h0, Wx, Wh, dh):
    """Only the matrix products of one LSTM forward + backward, on arrays of the same shapes:
    x @ Wx for all steps, T recurrent h @ Wh, T recurrent da @ Wh.T, then dx, dWx, dWh."""
    N, T, D = x.shape
    H = Wh.shape[0]
    x2 = x.reshape(N * T, D)
    a = x2 @ Wx                                              # (N*T, 4H)
    h = h0
    for _ in range(T):
        h = (h @ Wh)[:, :H]                                  # (N, H)
    da = a[:N]                                               # (N, 4H)
    WhT = Wh.T
    for _ in range(T):
        da @ WhT                                             # (N, H)
    da2 = a                                                  # (N*T, 4H)
    da2 @ Wx.T                                               # dx
    x2.T @ da2                                               # dWx
    dh.reshape(N * T, H).T @ da2                             # dWh (same shapes as h_prev.T @ da)


# ----------------------------------------------------------------------------- main

def main(argv=None):
    global CLOCK
    args = parse_args(argv)
    if args.clock == "cpu":
        if args.threads != 1:
            print("note: --clock cpu adds up the CPU time of all threads; use it with --threads 1")
        CLOCK = time.process_time
    # Limit every thread pool before the libraries start computing.
    from threadpoolctl import threadpool_info, threadpool_limits
    import torch

    from utils.gradcheck import rel_error
    from utils.layers import lstm_backward, lstm_forward
    from utils.torch_bridge import lstm_to_torch

    threadpool_limits(limits=args.threads)
    torch.set_num_threads(args.threads)

    N, T, D, H = args.N, args.T, args.D, args.H
    print(f"LSTM forward + backward, N={N} T={T} D={D} H={H} "
          f"(median of {args.repeats} after {args.warmup} warm-up passes, {args.clock} clock)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} logical CPUs")
    for pool in threadpool_info():
        print(f"  threadpool: {pool.get('internal_api')} {pool.get('version')} "
              f"({pool.get('user_api')}), {pool.get('num_threads')} threads")
    print(f"  torch: {torch.get_num_threads()} threads, "
          f"mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'}")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5 * (os.cpu_count() or 1):
        # Multi-threaded BLAS waits for its slowest thread; on shared cores that wait
        # dominates, and wall-clock figures then say more about the neighbours than the code.
        advice = ("CPU times still vary by ~20% between runs"
                  if args.threads == 1 and args.clock == "cpu"
                  else "wall-clock figures are unreliable, prefer --threads 1 --clock cpu")
        print(f"  warning: the machine is busy (load {load:.1f} on {os.cpu_count()} CPUs); "
              f"{advice}")
    rng = np.random.default_rng(args.seed)
    x64 = rng.standard_normal((N, T, D))
    h064 = 0.5 * rng.standard_normal((N, H))
    c064 = 0.5 * rng.standard_normal((N, H))
    Wx64 = rng.standard_normal((D, 4 * H)) / np.sqrt(D)
    Wh64 = rng.standard_normal((H, 4 * H)) / np.sqrt(H)
    b64 = 0.1 * rng.standard_normal(4 * H)
    dh64 = rng.standard_normal((N, T, H))

    small = slice(0, 2)
    agree = baselines_agree(x64[small], h064[small], c064[small], Wx64, Wh64, b64, dh64[small],
                            rel_error, lstm_forward, lstm_backward)
    print(f"  the per-sample loops agree with lstm_backward: max relative error "
          f"{agree[0]:.1e} (per-gate textbook), {agree[1]:.1e} (fused gates)")

    rows, breakdown = [], []
    for dtype, tdtype, goal in ((np.float32, torch.float32, 1.25), (np.float64, torch.float64, 1.0)):
        x, h0, c0, Wx, Wh, b, dh = (a.astype(dtype) for a in (x64, h064, c064, Wx64, Wh64,
                                                              b64, dh64))

        def numpy_pass():
            _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
            return lstm_backward(dh, cache)

        module = lstm_to_torch(Wx, Wh, b, dtype=tdtype)
        tx = torch.tensor(x, requires_grad=True)
        th0 = torch.tensor(h0[None], requires_grad=True)
        tc0 = torch.tensor(c0[None], requires_grad=True)
        tdh = torch.tensor(dh)
        leaves = [tx, th0, tc0, *module.parameters()]

        def clear_grads():
            for leaf in leaves:
                leaf.grad = None

        def torch_pass():
            out, _ = module(tx, (th0, tc0))
            out.backward(tdh)

        t_np = median_time(numpy_pass, args.repeats, args.warmup)
        t_torch = median_time(torch_pass, args.repeats, args.warmup, before=clear_grads)

        W_tb = to_textbook(Wx, Wh, b)
        t_naive = median_time(lambda: textbook_lstm_pass(x, h0, c0, W_tb, dh),
                              args.naive_repeats, min(args.warmup, 1))
        rows.append((np.dtype(dtype).name, t_np, t_torch, t_naive, goal))
        if args.breakdown:
            _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
            t_f = median_time(lambda: lstm_forward(x, h0, c0, Wx, Wh, b), args.repeats,
                              args.warmup)
            t_b = median_time(lambda: lstm_backward(dh, cache), args.repeats, args.warmup)
            t_mm = median_time(lambda: matmul_floor(x, h0, Wx, Wh, dh), args.repeats,
                               args.warmup)
            W_x, W_h, b_col = Wx.T.copy(), Wh.T.copy(), b[:, None].copy()
            t_fused = median_time(lambda: fused_column_lstm_pass(x, h0, c0, W_x, W_h, b_col, dh),
                                  args.naive_repeats, min(args.warmup, 1))
            breakdown.append(f"  {np.dtype(dtype).name}: numpy forward {t_f * 1e3:.2f} ms, "
                             f"backward {t_b * 1e3:.2f} ms; the matrix products alone "
                             f"{t_mm * 1e3:.2f} ms; torch forward + backward "
                             f"{t_torch * 1e3:.2f} ms; per-sample loop with fused gates "
                             f"{t_fused * 1e3:.0f} ms ({N * T / t_fused:.0f} tok/s, ours "
                             f"{t_fused / t_np:.1f}x faster)")

    tokens = N * T
    print()
    print(f"  {'dtype':8} {'numpy ms':>9} {'torch ms':>9} {'numpy/torch':>11} {'goal':>7}  "
          f"{'numpy tok/s':>11} {'loop tok/s':>11} {'speed-up':>8} {'goal':>6}")
    verdicts = []
    for name, t_np, t_torch, t_naive, goal in rows:
        ratio, speedup = t_np / t_torch, t_naive / t_np
        print(f"  {name:8} {t_np * 1e3:9.2f} {t_torch * 1e3:9.2f} {ratio:11.2f} {'<= ' + str(goal):>7}  "
              f"{tokens / t_np:11.0f} {tokens / t_naive:11.0f} {speedup:7.1f}x {'>= 30x':>6}")
        verdicts.append((f"{name}: numpy/torch = {ratio:.2f}", ratio <= goal, f"goal <= {goal}"))
        verdicts.append((f"{name}: speed-up over the textbook loop = {speedup:.0f}x",
                         speedup >= 30, "goal >= 30x"))
    if breakdown:
        print()
        print("\n".join(breakdown))
    print()
    for text, ok, goal in verdicts:
        print(f"  {'✓' if ok else '✗'} {text} ({goal})")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
