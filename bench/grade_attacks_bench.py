"""The grader's peak memory (and time) on the adversarial batch of the test suite.

    python bench/grade_attacks_bench.py

Writes every adversarial notebook of tests/test_grade.py (CASES) and tests/test_grade_attacks.py
(ATTACKS: forged answers that claim a 10**12-element array and send one 32 MB array 40
times, background processes, secrets, loopback...) for the toy lab into a temporary folder,
grades them with tools/grade.py (2 jobs, the tests' short limits) and prints the grader's own
peak memory as it reports it (the sandboxes are not counted); the goal is 500 MB or less.
Paths the attacks aim at (output folder, utils/__pycache__, /tmp) point into the temporary
folder. Nothing is asserted.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

import toy_exercises  # noqa: E402,F401  (registers the toy exercises)
from tests import test_grade, test_grade_attacks  # noqa: E402
from tests.grading.builders import Submission  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="grade-attacks-bench-") as tmp:
        root = Path(tmp)
        solution = test_grade.toy_solution(root / "solutions")
        subs = root / "submissions"
        subs.mkdir()
        base = Submission.from_solution(solution)
        paths = {"solution": str(solution), "subs": str(subs), "out": str(root / "out"),
                 "secret": str(root / "secret"), "pyc": str(root / "pycache" / "x.pyc"),
                 "leak": str(root / "leak.bin"), "port": 9}
        for name, (build, *_rest) in test_grade_attacks.ATTACKS.items():
            build(base.copy(), paths).write(subs / f"{name}.ipynb")
        for name, (build, *_rest) in test_grade.CASES.items():
            made = build(base.copy())
            path = subs / f"case_{name}.ipynb"
            path.write_bytes(made) if isinstance(made, bytes) else made.write(path)
        limits = test_grade.LIMITS
        cmd = [sys.executable, str(REPO / "tools" / "grade.py"), "01", str(subs),
               "--out", str(root / "out"), "--jobs", "2",
               "--exercises", str(test_grade.TOY_EXERCISES), "--solutions", str(root / "solutions"),
               "--timeout", f"{limits.notebook_timeout:g}", "--cell-timeout", f"{limits.cell_timeout:g}",
               "--exercise-timeout", f"{limits.exercise_timeout:g}", "--memory", str(limits.memory_mb)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
            return 1
        peak = next((line.split("grader peak memory ")[1].split(",")[0] for line in r.stdout.splitlines()
                     if "grader peak memory " in line), "?")
        n = len(list(subs.iterdir()))
        print(f"adversarial batch: {n} notebooks, 2 jobs: {seconds:.1f} s; grader peak memory {peak} "
              f"(goal: <= 500 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
