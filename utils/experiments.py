"""Comparisons over seeds and learning rates, run with utils.ensemble.

An arm of a comparison is one recipe (a cell, a size, a clipping, a forget-gate bias). Each
arm is trained with every learning rate of its own small grid and every seed; its learning
rate is then chosen on the validation strings only (whole-string accuracy, ties broken by
the loss on their predictable targets, both as the median over seeds), and the arm is
reported by the runs at that rate: every seed, so the median and the range can be shown.
Seed s draws the initial weights from default_rng(1000 + s) and the batch order from
default_rng(s), so two arms with the same shapes start from the same weights.
"""

import numpy as np

from utils import ensemble
from utils.metrics import predictable_accuracy, whole_string_accuracy


def run_arm(cell, V, H, lrs, seeds, data, eval_sets, validation, epochs, batch_size,
            forget_bias=0.0, **train_kwargs):
    """Train one arm over lrs x seeds and pick its learning rate on `validation`.

    cell, V, H: as ensemble.init_params; data: training {"x", "y", "mask"} (N, T); eval_sets: {name: anbn_eval_set(...)}, scored
    after every epoch (whole-string and predictable-token accuracy); validation: an
    anbn_eval_set used only to choose the learning rate; train_kwargs: for ensemble.train
    (optimizer, momentum, decay, clip_norm, clip_value, lr_factors).

    Returns a dict: "lr" (chosen), "search" {lr: (median validation whole-string accuracy,
    median validation loss)}, "history" {"loss": (epochs, seeds), "<set> strings" and
    "<set> tokens": (epochs, seeds)} and "final" (the last epoch's values, (seeds,) each) for
    the chosen rate, "params" of its members, "parameters" per member.
    """
    lrs, seeds = list(lrs), list(seeds)
    grid = [(lr, s) for lr in lrs for s in seeds]
    params = ensemble.init_params(cell, V, H, [1000 + s for s in seeds] * len(lrs),
                                  forget_bias=forget_bias)

    def evaluate(p):
        out = {}
        for name, ev in eval_sets.items():
            pred = ensemble.predict(p, ev["x"])
            out[f"{name} strings"] = whole_string_accuracy(pred, ev["y"], ev["mask"])
            out[f"{name} tokens"] = predictable_accuracy(pred, ev["y"], ev["mask"])
        return out

    history = ensemble.train(params, data, [lr for lr, _ in grid], epochs, batch_size,
                             [s for _, s in grid], evaluate=evaluate, **train_kwargs)
    val_pred = ensemble.predict(params, validation["x"])
    val_acc = whole_string_accuracy(val_pred, validation["y"], validation["mask"])
    val_loss = ensemble.losses(params, validation["x"], validation["y"], validation["mask"])
    k = len(seeds)
    search = {lr: (float(np.median(val_acc[i * k:(i + 1) * k])),
                   float(np.median(val_loss[i * k:(i + 1) * k]))) for i, lr in enumerate(lrs)}
    best = min(range(len(lrs)), key=lambda i: (-search[lrs[i]][0], search[lrs[i]][1]))
    members = list(range(best * k, (best + 1) * k))
    hist = {("loss" if key == "epoch_loss" else key): value[:, members]
            for key, value in history.items() if key != "grad_norm"}
    hist["grad_norm"] = history["grad_norm"][:, members]
    return {"lr": lrs[best], "search": search, "history": hist,
            "final": {key: value[-1] for key, value in hist.items() if key != "grad_norm"},
            "params": ensemble.select(params, members),
            "parameters": ensemble.count_parameters(params)}


def spread(values, percent=False, digits=3):
    """'median M, range A-B over K seeds' for a (seeds,) array, as percentages if asked."""
    v = 100 * np.asarray(values, float) if percent else np.asarray(values, float)
    unit = " %" if percent else ""
    fmt = (lambda x: f"{x:.1f}") if percent else (lambda x: f"{x:.{digits}g}")
    return (f"median {fmt(np.median(v))}{unit}, range {fmt(v.min())}-{fmt(v.max())}{unit} "
            f"over {len(v)} seeds")


def band(ax, x, runs, label, color, **kwargs):
    """Plot the median over seeds of runs (len(x), seeds) as a line and their range as a band."""
    runs = np.asarray(runs, float)
    ax.plot(x, np.median(runs, axis=1), color=color, label=f"{label} (median)", **kwargs)
    ax.fill_between(x, runs.min(axis=1), runs.max(axis=1), color=color, alpha=0.2, lw=0)
