"""Grade one submission end to end, and a folder of them in parallel with resume.

``grade_submission`` never raises on anything a student can put in a file: every outcome is
a row (see ``report`` for statuses). ``grade_folder`` checks the output folder, builds the
sandbox's read-only view (``stage``), runs up to ``jobs`` sandboxes at a time (threads: each
one mostly waits on its sandbox), rewrites the CSV atomically after every student, skips
students whose row already has the same sha256, grader id and sandbox mode, and ends with
copy detection over the whole folder (``similarity``).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import re
import shutil
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils import checks

from . import GRADER_VERSION, report, sandbox, scoring, similarity, stage, submission
from .status import events as cell_events, run_status

REPO = Path(__file__).resolve().parents[2]
_HERE = Path(__file__).resolve().parent


@dataclass
class Context:
    """Everything shared by the submissions of one run.

    lab: "02". exercises: ordered ``checks.Exercise`` list (``scoring.lab_exercises``).
    solution: the solution notebook (for its ``slow`` tags and the skeleton lines that copy
    detection ignores), or None. exercise_files: .py files registering exercises outside
    utils/exercises (copied into the sandbox's view; their stems are imported by the child).
    seed: None for fresh cases per run, an int for reproducible cases. sandboxed: False only
    with ``--unsafe-no-sandbox``.
    """

    lab: str
    exercises: list
    limits: sandbox.Limits
    solution: Path | None = None
    exercise_files: list = field(default_factory=list)
    seed: int | None = None
    sandboxed: bool = True
    grader: str = ""
    solution_slow: set = field(default_factory=set)

    check_outputs: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.exercises:
            raise ValueError(f"lab {self.lab!r} has no registered exercises")
        self.solution_slow = submission.slow_ids(self.solution)
        self.grader = self.grader or grader_id(self.exercises)
        self.check_outputs = scoring.check_outputs(self.with_uses)

    @property
    def exercise_modules(self) -> list:
        return [Path(p).stem for p in self.exercise_files]

    @property
    def mode(self) -> str:
        return "bwrap" if self.sandboxed else "unsandboxed"

    @property
    def lab_modules(self) -> list:
        """The ``utils.exercises`` modules that register these exercises (and those they use);
        the child imports only these."""
        found = set()
        for ex in self.with_uses:
            module = getattr(ex.cases, "__module__", "") or ""
            if module.startswith("utils.exercises."):
                found.add(module)
        return sorted(found)

    @property
    def with_uses(self) -> list:
        """The exercises and every exercise they use (whose references leave the view too)."""
        found, todo = {}, list(self.exercises)
        while todo:
            ex = todo.pop()
            if ex.name not in found:
                found[ex.name] = ex
                todo += [checks.get_exercise(u) for u in ex.uses]
        return list(found.values())

    @property
    def names(self) -> list:
        return [ex.name for ex in self.exercises]


@dataclass
class Graded:
    """cpu: CPU seconds the sandbox says it used (untrusted: for timing figures only)."""

    student: str
    row: dict
    feedback: str
    seconds: float
    cpu: float = 0.0


def grader_id(exercises) -> str:
    """GRADER_VERSION + a hash of the grading code and of the files defining the exercises
    (references, cases, call), so a rerun regrades when either changes."""
    files = sorted(_HERE.glob("*.py")) + [REPO / "tools" / "grade.py", REPO / "utils" / "checks.py",
                                          REPO / "utils" / "replay.py"]
    for ex in exercises:
        for obj in (ex.reference, ex.cases, ex.call):
            try:
                files.append(Path(inspect.getsourcefile(obj)))
            except TypeError:
                pass
    h = hashlib.sha256()
    for p in sorted(set(files)):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return f"{GRADER_VERSION}-{h.hexdigest()[:10]}"


def student_name(path: Path) -> str:
    """The student's id from the file name (stem): characters outside [A-Za-z0-9._-] are
    replaced so it is safe as a feedback file name and a CSV cell, and a name that had to be
    changed gets a short hash of the original, so ``carol x`` and ``carol_x`` stay two
    students (the id of a file never depends on the other files)."""
    stem = Path(path).stem
    name = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".")[:80] or "unnamed"
    if name != stem:
        name += "-" + hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return name


def student_ids(paths) -> dict:
    """{id: path}; ValueError if two files still give the same id (never in practice)."""
    seen = {}
    for p in paths:
        name = student_name(p)
        if name in seen:
            raise ValueError(f"{p.name} and {seen[name].name} give the same student id {name!r}")
        seen[name] = p
    return seen


def grade_submission(path: Path, ctx: Context, runner, student: str | None = None) -> Graded:
    """Grade one notebook file with ``runner`` (a ``sandbox.Runner``); returns its CSV row
    and feedback text. Never raises on anything a student can put in the file."""
    t0 = time.monotonic()
    student = student or student_name(path)
    data, sha = submission.read_submission(path)
    row = {"student": student, "sha256": sha, "grader": ctx.grader, "sandbox": ctx.mode,
           "max": report.fmt_points(sum(float(ex.points) for ex in ctx.exercises))}
    try:
        results, status, detail, problems, n_slow, flags, cpu = _grade(data, student, ctx, runner)
    except Exception as e:  # the grader's bug: keep the batch going, regrade next run
        if sandbox._stopping.is_set():
            raise
        tb = traceback.format_exc(limit=3)
        print(f"grader error on {student}: {type(e).__name__}: {e}\n{tb}", file=sys.stderr)
        results, status, detail, problems, n_slow, flags, cpu = (
            [], "grader-error", f"{type(e).__name__}: {str(e)[:200]}", [], (0, 0), [], 0.0)
    if not ctx.sandboxed:
        flags.append("unsandboxed")
    by_name = {r.name: r for r in results}
    for ex in ctx.exercises:
        r = by_name.get(ex.name)
        row[ex.name] = report.fmt_points(r.points if r else 0.0)
    row.update(total=report.fmt_points(sum(r.points for r in results)), status=status,
               flags=";".join(flags), detail=detail)
    text = report.feedback_markdown(student, ctx.lab, results, status, detail, problems, n_slow, flags)
    return Graded(student, row, text, time.monotonic() - t0, cpu)


def _not_run(ctx, why):
    return [scoring.ExerciseResult(ex.name, ex, 0.0, "not_graded", note=f"not graded: {why}")
            for ex in ctx.exercises]


def _grade(data: bytes, student: str, ctx: Context, runner):
    try:
        nb = submission.parse_notebook(data)
    except submission.SubmissionError as e:
        return _not_run(ctx, str(e)), e.status, str(e), [], (0, 0), [], 0.0
    cells = submission.code_cells(nb, ctx.names, ctx.solution_slow)
    static = submission.scan(cells, {ex.name: ex for ex in ctx.exercises})
    run_cells = [c for c in cells if not c.slow]
    n_slow = len(cells) - len(run_cells)
    # Cells after the last exercise cannot change a grade (each exercise is graded right
    # after its cell), so they are not run: faster, and no errors from plots of skipped
    # training.
    last = max((i for i, c in enumerate(run_cells) if c.grade_after), default=len(run_cells) - 1)
    n_after = len(run_cells) - (last + 1)
    run_cells = run_cells[: last + 1]
    rng = np.random.default_rng(scoring.submission_seed(ctx.seed, student))
    cases = scoring.draw_cases(ctx.exercises, rng)
    want, replay = scoring.reference_results(ctx.exercises, cases)
    task = {"exercises": ctx.names, "lab_modules": ctx.lab_modules,
            "exercise_modules": ctx.exercise_modules, "limits": ctx.limits.as_config(),
            "cells": [{"index": c.index, "source": c.source, "grade_after": c.grade_after}
                      for c in run_cells],
            "cases": scoring.task_inputs(cases), "replay": replay,
            "check": ctx.check_outputs}
    run = runner.run(json.dumps(task).encode(), ctx.limits.notebook_timeout)
    events = cell_events(run.messages)
    done = any(m.get("event") == "done" for m in run.messages)
    status, detail, problems, n_errors = run_status(
        run, events, {c.index: c for c in cells}, ctx.limits, done)
    stopped = "" if done else f"the notebook stopped before this exercise ({detail})"
    results = scoring.score(ctx.exercises, cases, want, run.messages, static, stopped,
                            ctx.limits.channel_mb * 2**20, run.received,
                            scoring.overdue_after(ctx.limits.exercise_timeout))
    flags = []
    for r in results:
        flags += r.flags
    if any(f.startswith("timeout:") for f in flags) and status in ("ok", "syntax-error"):
        status = "timeout"
        detail = detail or "an exercise took longer than the time limit on the hidden cases"
    elif any(f.startswith("memory:") for f in flags) and status == "ok":
        status = "memory"
        detail = "an exercise ran out of memory on the hidden cases"
    flags += [f"suspicious:{s}" for s in static["suspicious"]]
    if n_errors:
        flags.append(f"cell-errors:{n_errors}")
    cpu = next((m.get("cpu") for m in run.messages if m.get("event") == "done"), 0.0)
    cpu = float(cpu) if isinstance(cpu, (int, float)) and 0 <= cpu < 1e6 else 0.0
    return results, status, detail, problems, (n_slow, n_after), flags, cpu


def find_submissions(folder: Path) -> list:
    """The ``*.ipynb`` files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions folder {folder} does not exist or is not a folder")
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


def check_output(out: Path, folder: Path) -> None:
    """Refuse an output folder that cannot take the results, before anything is graded:
    not a folder, ``grades.csv`` or ``report.md`` not a plain file, ``feedback`` not a plain
    folder (e.g. replaced by a folder or a symlink), or the submissions folder itself."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output folder {out} exists and is not a folder")
    if out.exists() and out.resolve() == Path(folder).resolve():
        raise ValueError(f"the output folder must not be the submissions folder ({out})")
    for name, want_dir in (("grades.csv", False), ("report.md", False), ("feedback", True)):
        p = out / name
        if p.is_symlink() or (p.exists() and p.is_dir() != want_dir):
            kind = "folder" if want_dir else "file"
            raise ValueError(f"{p} exists but is not a plain {kind}: move it away and rerun")
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    if not os.access(out, os.W_OK) or not os.access(out / "feedback", os.W_OK):
        raise ValueError(f"output folder {out} is not writable")


def grade_folder(folder: Path, out: Path, ctx: Context, jobs: int = 2, log=print) -> dict:
    """Grade every submission in ``folder`` into ``out/grades.csv``, ``out/feedback/`` and
    the instructor's ``out/report.md`` (copy detection).

    Returns {"graded": n, "skipped": n, "seconds": wall clock, "sandbox_cpu": CPU seconds
    the sandboxes reported (untrusted, for timing only)}. Students whose row has the
    same sha256, grader id and sandbox mode (and no grader-error) are skipped. Raises
    ValueError (nothing graded) on a bad output folder or when the sandbox cannot run.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    t0 = time.monotonic()
    out = Path(out)
    paths = find_submissions(folder)
    check_output(out, folder)
    ids = student_ids(paths)
    csv_path = out / "grades.csv"
    fields = report.fields_for(ctx.names)
    rows = report.read_csv(csv_path, fields)
    todo = []
    for student, p in ids.items():
        old = rows.get(student)
        if (old and old.get("grader") == ctx.grader and old.get("sandbox") == ctx.mode
                and old.get("status") != "grader-error"
                and old.get("sha256") == submission.read_submission(p)[1]):
            continue
        todo.append(student)
    skipped = len(paths) - len(todo)
    if skipped:
        log(f"skipping {skipped} submission{'s' if skipped != 1 else ''} already graded "
            f"(same file, same grader, same sandbox mode)")
    stage.clean_stale()
    view = stage.build(REPO, ctx.with_uses, ctx.exercise_files) if todo else None
    sandbox.allow_runs()
    pool = ThreadPoolExecutor(max_workers=jobs)
    cpu = 0.0
    try:
        if view is not None:
            runner = sandbox.Runner(view, ctx.limits, sandboxed=ctx.sandboxed)
            why = sandbox.unavailable(runner) if ctx.sandboxed else ""
            if why:
                raise ValueError(f"the sandbox cannot run here: {why}. Grading runs student code; "
                                 f"without a sandbox it can read and change your files. To grade "
                                 f"anyway (e.g. on macOS), pass --unsafe-no-sandbox: every row is "
                                 f"then marked unsandboxed")
            futures = [pool.submit(grade_submission, ids[s], ctx, runner, s) for s in todo]
            for i, fut in enumerate(as_completed(futures), 1):
                g = fut.result()
                cpu += g.cpu
                # feedback first: a row in the CSV always has its feedback file
                report.write_atomic(out / "feedback" / f"{g.student}.md", g.feedback)
                rows[g.student] = g.row
                report.write_csv(csv_path, fields, rows)
                log(f"[{i}/{len(todo)}] {g.student}: {g.row['total']}/{g.row['max']} "
                    f"{g.row['status']}{' ' + g.row['flags'] if g.row['flags'] else ''} "
                    f"({g.seconds:.1f} s)")
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        sandbox.kill_all()
        raise
    finally:
        if view is not None:
            shutil.rmtree(view, ignore_errors=True)
    pool.shutdown(wait=True)
    matches = similarity.batch_matches(ctx.exercises, ids, ctx.solution)
    for student, row in rows.items():
        if student in ids:
            row["similarity"] = similarity.cell_text(matches.get(student, []))
    report.write_csv(csv_path, fields, rows)
    report.write_atomic(out / "report.md", similarity.report_markdown(ctx.lab, matches))
    return {"graded": len(todo), "skipped": skipped, "seconds": time.monotonic() - t0,
            "sandbox_cpu": cpu}


def load_exercise_modules(paths) -> tuple:
    """Import extra exercise-registration files (``tests/fixtures/toy_exercises.py``);
    returns (resolved file paths, module names)."""
    files, modules = [], []
    for p in paths:
        p = Path(p).resolve()
        if not p.is_file() or p.suffix != ".py":
            raise ValueError(f"--exercises expects a .py file that registers exercises, got {p}")
        if str(p.parent) not in sys.path:
            sys.path.insert(0, str(p.parent))
        importlib.import_module(p.stem)
        files.append(p)
        modules.append(p.stem)
    return files, modules
