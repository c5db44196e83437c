"""Train the date translators of lab 07 and measure them over several seeds.

    python tools/train_seq2seq.py                    # data/seq2seq_*.pt and data/seq2seq.json
    python tools/train_seq2seq.py --steps 50 --seeds 1 --out /tmp/try   # a quick try

Three arms, each trained for the same number of steps (the budget) on the same data
(utils.dates.date_splits(0)) with Adam, batches of 64 and gradient clipping at 1:
"none" (the source squeezed into the encoder's final states), "additive" (Bahdanau) and
"dot" (Luong's bilinear scores). Same embedding (32) and hidden size (64); the arms differ
only by the attention module's parameters (the counts are written to the JSON). For each
seed s the weights come from torch.manual_seed(1000 + s) and the batch order from
np.random.default_rng(s). Each run is evaluated by greedy decoding on both test splits:
exact match overall, by source length, and by format. The seed-0 models of "none" and
"additive" are saved in float16 (the lab loads them); --workers processes run in parallel,
each on one thread, so a run gives the same figures and checkpoints bit for bit. The published
run took 334 s of wall clock with 2 workers on 2 cores (load about 3 from other jobs; the none
arm 37-62 s a run, the attention arms 67-105 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from utils import seq2seq as s2s  # noqa: E402
from utils.dates import date_splits, encode_pairs, exact_by_length, exact_match, length_bin_labels  # noqa: E402

ARMS = ("none", "additive", "dot")
SAVED = ("none", "additive")             # seed-0 checkpoints the lab loads


def by_format(pred, pairs):
    hits = np.array([p == t for p, t in zip(pred, pairs.targets)])
    return [float(hits[pairs.formats == f].mean()) for f in range(int(pairs.formats.max()) + 1)]


def run(arm: str, seed: int, steps: int, out: Path | None):
    torch.set_num_threads(1)
    splits = date_splits(0)
    src, src_len, tgt = encode_pairs(splits.train)
    torch.manual_seed(1000 + seed)                                   # the weights
    model = s2s.Seq2Seq(attention=arm)
    start = time.time()
    losses = s2s.train(model, src, src_len, tgt, steps=steps, rng=np.random.default_rng(seed))
    seconds = time.time() - start
    result = {"arm": arm, "seed": seed, "params": s2s.n_params(model), "seconds": round(seconds, 1),
              "final_loss": float(losses[-50:].mean())}
    for name in ("test_dates", "test_formats"):
        pairs = getattr(splits, name)
        pred = s2s.translate(model, pairs.sources)
        result[name] = {"exact": exact_match(pred, pairs.targets), "by_length": exact_by_length(pred, pairs),
                        "by_format": by_format(pred, pairs)}
    if out is not None and seed == 0 and arm in SAVED:
        s2s.save(model.half(), out / f"seq2seq_{arm}.pt")
    print(f"{arm:8s} seed {seed}: {result['test_dates']['exact']:.3f} held-out dates, "
          f"{result['test_formats']['exact']:.3f} held-out formats, {seconds:.0f} s", flush=True)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=400, help="optimizer steps per run (the budget)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "data")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(arm, seed) for seed in range(args.seeds) for arm in ARMS]
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run, *zip(*jobs), [args.steps] * len(jobs), [args.out] * len(jobs)))
    summary = {"steps": args.steps, "batch": 64, "seeds": args.seeds, "length_bins": length_bin_labels(),
               "runs": results, "wall_seconds": round(time.time() - start, 1),
               "torch": torch.__version__}
    (args.out / "seq2seq.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {args.out / 'seq2seq.json'} in {summary['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
