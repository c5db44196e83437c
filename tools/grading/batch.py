"""Grade one submission end to end, and a folder of them in parallel with resume.

``grade_submission`` never raises on anything a student can put in a file: every outcome is
a row (see ``report`` for statuses). ``grade_folder`` runs up to ``jobs`` submissions at a
time (threads: each one mostly waits on its child process), rewrites the CSV after every
student, and skips students whose row already has the same sha256 and grader id.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
import signal
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils import checks

from . import GRADER_VERSION, report, sandbox, scoring, submission

REPO = Path(__file__).resolve().parents[2]
_HERE = Path(__file__).resolve().parent


@dataclass
class Context:
    """Everything shared by the submissions of one run.

    lab: "02". exercises: ordered ``checks.Exercise`` list (``scoring.lab_exercises``).
    solution: the solution notebook (for its ``slow`` tags), or None.
    extra_paths / exercise_modules: folders added to the child's sys.path and modules it
    imports before the student's code (exercise registrations outside utils/exercises).
    seed: None for fresh cases per run, an int for reproducible cases.
    """

    lab: str
    exercises: list
    limits: sandbox.Limits
    solution: Path | None = None
    extra_paths: list = field(default_factory=list)
    exercise_modules: list = field(default_factory=list)
    seed: int | None = None
    grader: str = ""
    preload: bool = True
    solution_slow: set = field(default_factory=set)

    def __post_init__(self):
        if not self.exercises:
            raise ValueError(f"lab {self.lab!r} has no registered exercises")
        self.solution_slow = submission.slow_ids(self.solution)
        self.grader = self.grader or grader_id(self.exercises)

    def zygote_spec(self) -> dict:
        """What the zygotes import before forking (see zygote.py): the modules the solution
        notebook imports before its last exercise, and torch if those cells use it."""
        return {"repo": str(REPO), "extra_paths": [str(p) for p in self.extra_paths],
                "lab_modules": self.lab_modules, "exercise_modules": list(self.exercise_modules),
                "preload": submission.imported_modules(self.solution)}

    @property
    def lab_modules(self) -> list:
        """The ``utils.exercises`` modules that register these exercises (and those they use);
        the child imports only these."""
        found = set()
        todo = list(self.exercises)
        while todo:
            ex = todo.pop()
            module = getattr(ex.cases, "__module__", "") or ""
            if module.startswith("utils.exercises."):
                found.add(module)
            todo += [checks.get_exercise(u) for u in ex.uses if u not in {e.name for e in self.exercises}]
        return sorted(found)

    @property
    def names(self) -> list:
        return [ex.name for ex in self.exercises]


@dataclass
class Graded:
    student: str
    row: dict
    feedback: str
    seconds: float


def grader_id(exercises) -> str:
    """GRADER_VERSION + a hash of the grading code and of the files defining the exercises
    (references, cases, call), so a rerun regrades when either changes."""
    files = sorted(_HERE.glob("*.py")) + [REPO / "tools" / "grade.py", REPO / "utils" / "checks.py"]
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
    """The student's name from the file name (stem), with characters outside
    [A-Za-z0-9._-] replaced so it is safe as a feedback file name and a CSV cell."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).stem).lstrip(".")
    return name or "unnamed"


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            s = line.strip()
            return s if len(s) <= 60 else s[:57] + "..."
    return ""


def _events(workdir: Path) -> list:
    path = workdir / "cells.jsonl"
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 2**24:
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line the student's code may have mangled
        if isinstance(e, dict) and isinstance(e.get("cell", 0), int):
            out.append(e)
    return out


_SIGNALS = {-s.value: s.name for s in signal.Signals}


def _run_status(run, events, cells_by_index, limits, done):
    """(status, detail, cell problems [str], n other cell errors)."""
    problems, kinds = [], set()
    n_errors = 0
    last_started = grading = None
    for e in events:
        if e.get("event") == "start":
            last_started, grading = e.get("cell"), None
        elif e.get("event") == "end":
            last_started = None
        elif e.get("event") == "grading":
            grading = str(e.get("exercise", ""))[:80]
        elif e.get("event") == "graded":
            grading = None
        if e.get("event") != "end" or not e.get("error"):
            continue
        err = e["error"]
        if not isinstance(err, dict):
            continue
        cell = cells_by_index.get(e.get("cell"))
        where = f"cell {int(e['cell']) + 1}" if cell is not None else "a cell"
        if cell is not None and _first_line(cell.source):
            where += f" (`{_first_line(cell.source)}`)"
        etype = str(err.get("type", ""))[:60]
        msg = str(err.get("message", ""))[:200]
        line = f", line {err['line']}" if isinstance(err.get("line"), int) else ""
        if etype == "Timeout":
            kinds.add("timeout")
            problems.append(f"{where}: stopped after {limits.cell_timeout:g} s (time limit per cell).")
        elif etype == "MemoryError":
            kinds.add("memory")
            problems.append(f"{where}: MemoryError{line} (memory limit {limits.memory_mb} MB).")
        elif etype in ("SyntaxError", "IndentationError", "TabError"):
            kinds.add("syntax-error")
            problems.append(f"{where}: {etype}{line}: {msg}")
        else:
            n_errors += 1
            problems.append(f"{where}: raised {etype}{line}" + (f": {msg}" if msg else ""))
    running = cells_by_index.get(last_started)
    at = ""
    if grading:
        at = f" while calling {grading} on the hidden cases"
    elif running is not None:
        at = f" while running cell {last_started + 1}"
        if _first_line(running.source):
            at += f" (`{_first_line(running.source)}`)"
    if run.timed_out:
        return ("timeout", f"the notebook was stopped after {limits.notebook_timeout:g} s{at}",
                problems, n_errors)
    if not done:
        err = run.stderr_tail
        if "MemoryError" in err or "bad_alloc" in err or "Cannot allocate memory" in err:
            return "memory", f"the process ran out of memory{at}", problems, n_errors
        if run.returncode == -signal.SIGXCPU:
            return "timeout", f"the CPU time limit was reached{at}", problems, n_errors
        how = (f"killed by {_SIGNALS.get(run.returncode, run.returncode)}" if run.returncode < 0
               else f"exited with code {run.returncode}")
        return "crashed", f"the process {how}{at}", problems, n_errors
    for status in ("timeout", "memory", "syntax-error"):
        if status in kinds:
            return status, problems[0] if len(problems) == 1 else f"{len(problems)} cell problems", \
                problems, n_errors
    return "ok", "", problems, n_errors


def grade_submission(path: Path, ctx: Context, runner=None) -> Graded:
    """Grade one notebook file; returns its CSV row and feedback text.

    runner: ``run(config_path, cwd, timeout) -> sandbox.RunResult`` (default: a plain
    subprocess per submission; ``grade_folder`` passes a zygote pool's)."""
    t0 = time.monotonic()
    student = student_name(path)
    data, sha = submission.read_submission(path)
    row = {"student": student, "sha256": sha, "grader": ctx.grader,
           "max": report.fmt_points(sum(float(ex.points) for ex in ctx.exercises))}
    try:
        results, status, detail, problems, n_slow, flags = _grade(
            data, student, ctx, runner or sandbox.run_child)
    except Exception as e:  # the grader's bug: keep the batch going, regrade next run
        tb = traceback.format_exc(limit=3)
        print(f"grader error on {student}: {type(e).__name__}: {e}\n{tb}", file=sys.stderr)
        results, status, detail, problems, n_slow, flags = (
            [], "grader-error", f"{type(e).__name__}: {str(e)[:200]}", [], (0, 0), [])
    by_name = {r.name: r for r in results}
    for ex in ctx.exercises:
        r = by_name.get(ex.name)
        row[ex.name] = report.fmt_points(r.points if r else 0.0)
    row.update(total=report.fmt_points(sum(r.points for r in results)), status=status,
               flags=";".join(flags), detail=detail)
    text = report.feedback_markdown(student, ctx.lab, results, status, detail, problems, n_slow, flags)
    return Graded(student, row, text, time.monotonic() - t0)


def _not_run(ctx, why):
    return [scoring.ExerciseResult(ex.name, ex, 0.0, "not_graded", note=f"not graded: {why}")
            for ex in ctx.exercises]


def _grade(data: bytes, student: str, ctx: Context, runner):
    try:
        nb = submission.parse_notebook(data)
    except submission.SubmissionError as e:
        return _not_run(ctx, str(e)), e.status, str(e), [], (0, 0), []
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
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        tmp = Path(tmp)
        workdir = tmp / "run"
        cwd = tmp / "work" / "notebooks"  # like notebooks/: ../data works as in the lab
        workdir.mkdir()
        cwd.mkdir(parents=True)
        if (REPO / "data").is_dir():
            (tmp / "work" / "data").symlink_to(REPO / "data")
        rng = np.random.default_rng(scoring.submission_seed(ctx.seed, student))
        cases = scoring.draw_cases(ctx.exercises, rng)
        scoring.write_inputs(workdir / "inputs", cases)
        config = {"repo": str(REPO), "extra_paths": [str(p) for p in ctx.extra_paths],
                  "exercise_modules": list(ctx.exercise_modules), "exercises": ctx.names,
                  "lab_modules": ctx.lab_modules,
                  "cells": [{"index": c.index, "source": c.source, "grade_after": c.grade_after}
                            for c in run_cells],
                  **ctx.limits.as_config()}
        (workdir / "config.json").write_text(json.dumps(config))
        run = runner(workdir / "config.json", cwd, ctx.limits.notebook_timeout)
        events = _events(workdir)
        done = (workdir / "done.json").is_file()
        status, detail, problems, n_errors = _run_status(
            run, events, {c.index: c for c in cells}, ctx.limits, done)
        stopped = "" if done else f"the notebook stopped before this exercise ({detail})"
        results = scoring.score(ctx.exercises, cases, workdir, static, stopped)
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
    return results, status, detail, problems, (n_slow, n_after), flags


def find_submissions(folder: Path) -> list:
    """The ``*.ipynb`` files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions folder {folder} does not exist or is not a folder")
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


def grade_folder(folder: Path, out: Path, ctx: Context, jobs: int = 2, log=print) -> dict:
    """Grade every submission in ``folder`` into ``out/grades.csv`` and ``out/feedback/``.

    Returns {"graded": n, "skipped": n, "seconds": wall clock}. Students whose row has the
    same sha256 and grader id (and no grader-error) are skipped.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    t0 = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    csv_path = out / "grades.csv"
    fields = report.fields_for(ctx.names)
    rows = report.read_csv(csv_path, fields)
    paths = find_submissions(folder)
    seen = {}
    for p in paths:
        name = student_name(p)
        if name in seen:
            raise ValueError(f"{p.name} and {seen[name].name} give the same student name {name!r}")
        seen[name] = p
    todo = []
    for p in paths:
        old = rows.get(student_name(p))
        if (old and old.get("grader") == ctx.grader and old.get("status") != "grader-error"
                and old.get("sha256") == submission.read_submission(p)[1]):
            continue
        todo.append(p)
    skipped = len(paths) - len(todo)
    if skipped:
        log(f"skipping {skipped} submission{'s' if skipped != 1 else ''} already graded "
            f"(same file, same grader)")
    pool = ThreadPoolExecutor(max_workers=jobs)
    # Forking a pre-loaded process is only known to be safe on Linux (macOS libraries are
    # not fork-safe once initialised): elsewhere every submission starts a fresh Python.
    use_zygote = ctx.preload and todo and sys.platform.startswith("linux")
    zygotes = sandbox.ZygotePool(ctx.zygote_spec(), jobs) if use_zygote else None
    runner = zygotes.run if zygotes else None
    try:
        futures = [pool.submit(grade_submission, p, ctx, runner) for p in todo]
        for i, fut in enumerate(as_completed(futures), 1):
            g = fut.result()
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
        if zygotes:
            zygotes.close()
    pool.shutdown(wait=True)
    if not csv_path.exists():
        report.write_csv(csv_path, fields, rows)
    return {"graded": len(todo), "skipped": skipped, "seconds": time.monotonic() - t0}


def load_exercise_modules(paths) -> tuple:
    """Import extra exercise-registration files (``tests/fixtures/toy_exercises.py``);
    returns (folders for the child's sys.path, module names)."""
    folders, modules = [], []
    for p in paths:
        p = Path(p).resolve()
        if not p.is_file() or p.suffix != ".py":
            raise ValueError(f"--exercises expects a .py file that registers exercises, got {p}")
        if str(p.parent) not in sys.path:
            sys.path.insert(0, str(p.parent))
        importlib.import_module(p.stem)
        folders.append(p.parent)
        modules.append(p.stem)
    return folders, modules
