"""Stateful TBPTT against random windows at growing budgets (lab 06, section 1).

    OMP_NUM_THREADS=1 .venv/bin/python bench/tbptt_budget.py [--steps 150 600 2400] [--seeds 5]
        [--T 16] [--lrs 0.01 0.02 0.04]

Both arms train lab 06's CharLSTM (E=16, H=48) with Adam and clipping at 1 on N_ROWS rows of
T_WIN characters per step, the same number of steps: the same characters seen and the same
optimizer steps. For each budget and each arm, the learning rate is the best of LRS for seed
0 on the first 20,000 validation characters (the same grid for both arms); seeds 1.. then run
at that rate. Seed s draws the weights from torch seed 1000 + s and the batch order (window
positions, or the stateful rows' offset) from np.random.default_rng(s). Measured on the next
40,000 validation characters with two protocols: `carried` (utils.charlm.evaluate, the state
carried along the text, every prediction after at least 256 characters of context) and
`windows` (utils.tbptt.window_nats, windows of T_WIN from a zero state, what random-window
training practises). Prints the unigram/bigram baselines, one line per budget and arm, and
the per-seed differences (random windows minus stateful: > 0 means stateful is better).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utils import charlm, tbptt  # noqa: E402
from utils.corpus import load_corpus  # noqa: E402

N_ROWS, T_WIN, LRS = 32, 16, (0.01, 0.02, 0.04)
ARMS = {"random windows": tbptt.train_random_windows, "stateful TBPTT": tbptt.train_stateful}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[150, 600, 2400])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--T", type=int, default=T_WIN, help="characters per row and step (both arms)")
    ap.add_argument("--lrs", type=float, nargs="+", default=list(LRS), help="the grid of both arms")
    args = ap.parse_args()
    T, lrs = args.T, tuple(args.lrs)
    torch.set_num_threads(1)
    corpus = load_corpus()
    V = len(corpus.vocab)
    val_select, val_test = corpus.val_ids[:20_001], corpus.val_ids[20_000:60_001]
    base = charlm.baselines(corpus.train_ids, val_test, V)
    print(f"baselines on the test stretch: unigram {base['unigram']:.3f}, bigram {base['bigram']:.3f} nats/char")

    def run(arm, steps, lr, seed):
        torch.manual_seed(1000 + seed)
        model = charlm.CharLSTM(V, E=16, H=48)
        ARMS[arm](model, corpus.train_ids, N_ROWS, T, steps, lr, np.random.default_rng(seed))
        return {"select": charlm.evaluate(model, val_select), "carried": charlm.evaluate(model, val_test),
                "windows": tbptt.window_nats(model, val_test, T)}

    for steps in args.steps:
        started = time.monotonic()
        results = {}
        for arm in ARMS:
            first = {lr: run(arm, steps, lr, 0) for lr in lrs}
            lr = min(lrs, key=lambda r: first[r]["select"])
            runs = [first[lr]] + [run(arm, steps, lr, s) for s in range(1, args.seeds)]
            results[arm] = {k: np.array([r[k] for r in runs]) for k in ("carried", "windows")}
            sel = ", ".join(f"{r}: {first[r]['select']:.3f}" for r in lrs)
            for k, v in results[arm].items():
                print(f"T {T} steps {steps:5d} ({steps * N_ROWS * T:,} chars) {arm:15s} lr {lr} {k:8s} "
                      f"median {np.median(v):.3f} range {v.min():.3f}-{v.max():.3f}  [selection {sel}]")
        for k in ("carried", "windows"):
            gap = results["random windows"][k] - results["stateful TBPTT"][k]
            print(f"T {T} steps {steps:5d} {k:8s} random - stateful per seed: "
                  f"{' '.join(f'{g:+.3f}' for g in gap)}  (median {np.median(gap):+.3f}, "
                  f"stateful better on {int((gap > 0).sum())}/{len(gap)})")
        print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
