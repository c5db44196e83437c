"""Time grading a class: N submissions of a lab, graded by tools/grade.py with 2 jobs.

    python bench/grade_bench.py                 # 30 submissions of lab 02, --jobs 2
    python bench/grade_bench.py --lab 03 --n 10 --jobs 1

The submissions are built from the generated student notebook (see tests/grading/builders.py)
in a temporary folder, a third each: correct (the solution's exercise cells), partly correct
(the first half of the exercises solved) and untouched. The whole command is timed, start-up
included, then the CSV is checked (every row present, the correct ones at full marks, the
untouched ones at 0). Prints the total seconds, the mean per submission and the grader's
own peak memory (as ``tools/grade.py`` reports it; the sandboxes are not counted); the goal
for 30 submissions of lab 02 on 2 cores, each in its own bubblewrap sandbox, is 60 s or
less. Nothing is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.grading.builders import Submission  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lab", default="02", help="lab number (default: 02)")
    p.add_argument("--n", type=int, default=30, help="number of submissions (default: 30)")
    p.add_argument("--jobs", type=int, default=2, help="parallel jobs (default: 2)")
    args = p.parse_args(argv)
    if args.n < 1 or args.jobs < 1:
        p.error(f"--n and --jobs must be >= 1, got {args.n} and {args.jobs}")
    lab = f"{int(args.lab):02d}"
    solutions = sorted((REPO / "solutions").glob(f"{lab}_*.ipynb"))
    if len(solutions) != 1:
        print(f"error: expected one solutions/{lab}_*.ipynb, found {len(solutions)}", file=sys.stderr)
        return 2
    base = Submission.from_solution(solutions[0])
    names = list(base.solution_cells)
    kinds = {"correct": lambda s: s.solve_all(),
             "partly": lambda s: s.solve(*names[: max(1, len(names) // 2)]),
             "untouched": lambda s: s}
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "submissions"
        subs.mkdir()
        order = list(kinds)
        for i in range(args.n):
            kind = order[i % len(order)]
            kinds[kind](base.copy()).write(subs / f"{kind}_{i:02d}.ipynb")
        cmd = [sys.executable, str(REPO / "tools" / "grade.py"), lab, str(subs),
               "--out", str(tmp / "out"), "--jobs", str(args.jobs)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        # CPU seconds of the grader (bwrap does not pass its children's CPU time on, so the
        # sandboxes' own figure, as they report it, is added): on an idle machine with
        # --jobs cores, the wall clock cannot be much below cpu / jobs.
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime + float(next(
            (line.split("sandboxes' CPU ")[1].split(" s)")[0] for line in r.stdout.splitlines()
             if "sandboxes' CPU " in line), 0))
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
            print(f"error: tools/grade.py exited with {r.returncode}", file=sys.stderr)
            return 1
        with open(tmp / "out" / "grades.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row["student"].split("_")[0], []).append(row)
    problems = []
    if len(rows) != args.n:
        problems.append(f"{len(rows)} rows for {args.n} submissions")
    for row in by_kind.get("correct", []):
        if row["total"] != row["max"] or row["status"] != "ok":
            problems.append(f"{row['student']}: {row['total']}/{row['max']} {row['status']}")
    for row in by_kind.get("untouched", []):
        if float(row["total"]) != 0:
            problems.append(f"{row['student']}: {row['total']} (want 0)")
    partly = sorted({row["total"] for row in by_kind.get("partly", [])})
    peak = next((line.split("grader peak memory ")[1].split(")")[0] for line in r.stdout.splitlines()
                 if "grader peak memory " in line), "?")
    print(f"lab {lab}: {args.n} submissions, {args.jobs} jobs: {seconds:.1f} s "
          f"({seconds / args.n:.2f} s per submission; goal for 30 of lab 02 on 2 cores: <= 60 s); "
          f"grader peak memory {peak}")
    print(f"CPU time of the grader and its sandboxes: {cpu:.1f} s "
          f"({cpu / args.n:.2f} s per submission; {cpu / args.jobs:.1f} s over {args.jobs} cores)")
    print(f"totals: correct {rows and by_kind.get('correct', [{}])[0].get('total')}/"
          f"{rows[0]['max'] if rows else '?'}, partly {', '.join(partly)}, untouched 0")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
