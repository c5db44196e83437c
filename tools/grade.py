"""Grade a folder of submitted lab notebooks: a CSV of scores and one feedback file each.

    python tools/grade.py 02 submissions/ --out grades/
    python tools/grade.py 02 submissions/ --out grades/ --jobs 2 --timeout 300 --memory 2048

LAB is the lab number ("02" or "2"); its exercises are the ones registered with that lab in
``utils/exercises/labNN.py`` and its solution notebook ``solutions/NN_*.ipynb`` gives the
``slow`` tags. SUBMISSIONS_DIR holds one ``<student>.ipynb`` per student. Written to OUT_DIR:

- ``grades.csv``: student, one column per exercise (points), total, max, status, flags,
  similarity, detail, sha256, grader, sandbox (columns and statuses:
  ``tools/grading/report.py``);
- ``feedback/<student>.md``: exercise by exercise, the verdicts and hints of the lab's check
  cells, without hidden inputs or reference outputs;
- ``report.md``: for the instructor, the pairs of similar exercise functions (copy detection).

Every submission is untrusted code: it runs in its own bubblewrap sandbox (Linux; install
with ``scripts/install-sandbox.sh``) that sees only the interpreter, a copy of ``utils``
without the graded references and a private size-capped tmpfs, under limits on wall clock,
memory, CPU time, files and processes; its scores come from hidden cases drawn now and
compared with the reference in this process (``tools/grading/__init__.py`` explains the
design). Without bubblewrap the grader refuses to run unless given ``--unsafe-no-sandbox``.
Cells tagged ``slow`` and the cells after the last exercise are not run. The CSV is
rewritten atomically after each student, so an interrupted run loses nothing; a rerun
grades only submissions that are new or changed (or graded by another grader version or
sandbox mode).

Exit code: 0 when every submission got a row, 2 on bad arguments (or no sandbox), 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Never write bytecode next to the grader's or the course's modules.
sys.dont_write_bytecode = True

REPO = Path(__file__).resolve().parent.parent
for _p in (REPO,):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from tools.grading import labs, sandbox  # noqa: E402  (no utils.checks import yet)


def _lab(text: str) -> str:
    t = text.strip()
    if not t.isdigit() or len(t) > 2:
        raise argparse.ArgumentTypeError(f"LAB must be a lab number like 02, got {text!r}")
    return f"{int(t):02d}"


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__} > 0, got {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__} > 0, got {text!r}")
        return v
    return parse


def build_parser() -> argparse.ArgumentParser:
    d = sandbox.Limits()
    p = argparse.ArgumentParser(prog="tools/grade.py", description=__doc__.split("\n\n")[0])
    p.add_argument("lab", type=_lab, metavar="LAB", help="lab number, e.g. 02")
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR",
                   help="folder with one <student>.ipynb per student")
    p.add_argument("--out", type=Path, required=True, metavar="OUT_DIR",
                   help="where grades.csv and feedback/ are written (created if missing)")
    p.add_argument("--jobs", type=_positive(int), default=2,
                   help="submissions graded at the same time (default: 2)")
    p.add_argument("--timeout", type=_positive(float), default=d.notebook_timeout,
                   help=f"wall-clock seconds per notebook (default: {d.notebook_timeout:g})")
    p.add_argument("--cell-timeout", type=_positive(float), default=d.cell_timeout,
                   help=f"wall-clock seconds per cell (default: {d.cell_timeout:g})")
    p.add_argument("--exercise-timeout", type=_positive(float), default=d.exercise_timeout,
                   help=f"seconds for one exercise on all its hidden cases "
                        f"(default: {d.exercise_timeout:g})")
    p.add_argument("--memory", type=_positive(int), default=d.memory_mb, metavar="MB",
                   help=f"address-space limit per submission in MB (default: {d.memory_mb})")
    p.add_argument("--solutions", type=Path, default=REPO / "solutions",
                   help="folder of solution notebooks, for the slow tags (default: solutions/)")
    p.add_argument("--exercises", type=Path, action="append", default=[], metavar="FILE.py",
                   help="grade the LAB exercises that this file registers instead of those in "
                        "utils/exercises (e.g. tests/fixtures/toy_exercises.py); repeatable")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run submissions as plain processes of your user when bubblewrap is "
                        "not available (e.g. macOS): they can then read and change your files; "
                        "every row is marked unsandboxed")
    p.add_argument("--seed", type=int, default=None,
                   help="draw the hidden cases from this seed (reproducible runs); "
                        "default: fresh cases every run")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Register only this lab's exercises (or only the --exercises files'): importing every
    # lab module can cost seconds (torch). Must happen before utils.checks is imported.
    module = labs.lab_module(args.lab)
    has_module = (REPO / (module.replace(".", "/") + ".py")).is_file()
    labs.load_only([] if args.exercises else [module] if has_module else [])
    from tools.grading import batch, scoring

    try:
        files, modules = batch.load_exercise_modules(args.exercises)
        labs.complete_uses()
        exercises = scoring.lab_exercises(args.lab, modules or None)
        if not exercises:
            from utils.checks import LOAD_ERRORS
            extra = f" (modules that failed to import: {LOAD_ERRORS})" if LOAD_ERRORS else ""
            raise ValueError(f"no exercises are registered for lab {args.lab}{extra}")
        solutions = sorted(args.solutions.glob(f"{args.lab}_*.ipynb")) if args.solutions.is_dir() else []
        if len(solutions) > 1:
            raise ValueError(f"several solution notebooks for lab {args.lab} in {args.solutions}: "
                             f"{[s.name for s in solutions]}")
        limits = sandbox.Limits(notebook_timeout=args.timeout, cell_timeout=args.cell_timeout,
                                exercise_timeout=args.exercise_timeout, memory_mb=args.memory)
        ctx = batch.Context(lab=args.lab, exercises=exercises, limits=limits,
                            solution=solutions[0] if solutions else None, exercise_files=files,
                            seed=args.seed, sandboxed=not args.unsafe_no_sandbox)
        if ctx.solution is None:
            print(f"note: no solution notebook {args.lab}_*.ipynb in {args.solutions}; only the "
                  f"submissions' own slow tags are used", file=sys.stderr)
        print(f"lab {args.lab}: {len(exercises)} exercises "
              f"({', '.join(ex.name for ex in exercises)}), {args.jobs} jobs, "
              f"{'sandboxed (bwrap)' if ctx.sandboxed else 'UNSANDBOXED'}")
        summary = batch.grade_folder(args.submissions, args.out, ctx, jobs=args.jobs)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the rows written so far are kept; rerun to grade the rest",
              file=sys.stderr)
        return 130
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    print(f"graded {summary['graded']}, skipped {summary['skipped']} in "
          f"{summary['seconds']:.1f} s (grader peak memory {peak:.0f} MB, sandboxes' CPU "
          f"{summary['sandbox_cpu']:.1f} s) -> "
          f"{args.out / 'grades.csv'}; copy detection: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
