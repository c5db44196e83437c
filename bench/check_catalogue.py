"""Figures for the exercise checks: how often they reject correct code, accept a known
mistake, or show a hint other than the mistake's own.

    .venv/bin/python bench/check_catalogue.py

For every registered lab exercise: the reference must pass; every catalogued mistake
(``Exercise.bugs``) must fail, and its hint (each of its progressive levels, one per
check) must be the one shown. The correct variants written differently (loops, einsum,
separate gates, list returns, float32) are those of tests/test_check_variants.py.
Prints one line per exercise and the totals; exit status 1 when a figure is not 0.
"""

import collections
import contextlib
import importlib.util
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from utils.checks import PASS_MARK, REGISTRY, check  # noqa: E402


def run(name, fn):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        check(name, fn)
    return out.getvalue()


def variants():
    spec = importlib.util.spec_from_file_location("variants", REPO / "tests" / "test_check_variants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VARIANTS


def main() -> int:
    exercises = {n: ex for n, ex in REGISTRY.items() if not n.startswith("toy_")}
    rejected, accepted, wrong_hint, n_bugs = [], [], [], 0
    per_lab = collections.Counter(ex.lab for ex in exercises.values())
    for name, ex in sorted(exercises.items(), key=lambda kv: (kv[1].lab, kv[1].number)):
        if not run(name, ex.reference).startswith(PASS_MARK):
            rejected.append(f"{name} (reference)")
        for bug in ex.bugs:
            n_bugs += 1
            run(name, ex.reference)                      # start the hint levels from the first
            for level in bug.levels:
                out = run(name, bug.fn)
                if out.startswith(PASS_MARK):
                    accepted.append(f"{name}: {bug.name}")
                    break
                if f"Hint: {level}" not in out:
                    wrong_hint.append(f"{name}: {bug.name}")
                    break
        print(f"lab {ex.lab} {ex.number:>4} {name:22s} {len(ex.bugs)} known mistakes")
    for name, fn in variants():
        if not run(name, fn).startswith(PASS_MARK):
            rejected.append(f"{name} ({fn.__name__})")
    n_correct = len(exercises) + len(variants())
    print(f"\ncorrect functions rejected: {len(rejected)} of {n_correct} {rejected or ''}")
    print(f"known mistakes accepted:    {len(accepted)} of {n_bugs} {accepted or ''}")
    print(f"known mistakes given another hint: {len(wrong_hint)} of {n_bugs} {wrong_hint or ''}")
    print("exercises per lab: " + ", ".join(f"lab {lab}: {n}" for lab, n in sorted(per_lab.items())))
    return 1 if rejected or accepted or wrong_hint or min(per_lab.values()) < 3 else 0


if __name__ == "__main__":
    sys.exit(main())
