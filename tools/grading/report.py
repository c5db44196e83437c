"""The grades CSV and the per-student feedback files.

CSV (``grades.csv``), one row per student, sorted by student:

    student, <one column per exercise: points earned>, total, max, status, flags,
    similarity, detail, sha256, grader, sandbox

- status: ``ok`` (the notebook ran to the end within the limits), ``timeout`` (a cell, an
  exercise call or the whole notebook hit its time limit), ``memory`` (a MemoryError, i.e.
  the memory limit), ``crashed`` (the process ended early: ``os._exit``, a signal, the CPU
  limit), ``syntax-error``, ``empty``, ``invalid-json``, ``not-a-notebook``, ``grader-error``
  (a bug on the grader's side; the row is regraded on the next run).
- flags: ``;``-separated, e.g. ``calls-reference:rnn_step_forward`` (that exercise scores 0),
  ``suspicious:REGISTRY`` (score kept, for the instructor to look at),
  ``timeout:rnn_forward``, ``cell-errors:2``, ``unsandboxed`` (graded with
  ``--unsafe-no-sandbox``).
- similarity: copy detection (``similarity``), ``exercise~other:score`` pairs at or above
  the threshold, ``other`` being ``reference`` or another student's id; also in
  ``report.md``. Scores are not changed by it.
- detail: one short sentence about the status (which cell, which limit).
- sha256: of the submitted file; grader: grading code + exercise definitions version;
  sandbox: ``bwrap`` or ``unsandboxed``. A rerun skips a student whose row has the same
  sha256, grader and sandbox (see ``batch``).

The file is rewritten atomically (temporary file + ``os.replace``) after every student, so
an interrupted run keeps every row written so far and never leaves a half-written file.

Feedback (``feedback/<student>.md``): the score, the status in words, then exercise by
exercise the check-style verdict and hint. Hidden inputs and reference outputs never
appear: cases are named by their public label (e.g. "random N=3, D=5, H=4"), and "got ...,
want ..." value details are removed from the verdicts.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path

from utils import checks

BASE_FIELDS = ("total", "max", "status", "flags", "similarity", "detail", "sha256", "grader",
               "sandbox")

STATUS_TEXT = {
    "ok": "your notebook ran to the end within the limits.",
    "timeout": "part of your notebook took longer than the time limit and was stopped.",
    "memory": "your notebook tried to use more memory than the limit allows.",
    "crashed": "your notebook's process ended before the end of the notebook.",
    "syntax-error": "a cell of your notebook is not valid Python, so it could not run.",
    "empty": "the submitted file is empty.",
    "invalid-json": "the submitted file is not valid JSON, so it is not a readable notebook.",
    "not-a-notebook": "the submitted file is not a Jupyter notebook.",
    "grader-error": "the grader failed on this submission; your instructor will regrade it.",
}


def fields_for(exercise_names) -> list:
    return ["student", *exercise_names, *BASE_FIELDS]


def read_csv(path: Path, fields) -> dict:
    """{student: row} from an existing CSV with exactly these columns; {} otherwise (a CSV
    for another set of exercises is not reused)."""
    path = Path(path)
    if not path.exists():
        return {}
    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path} is not a plain file")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != list(fields):
            return {}
        return {row["student"]: row for row in reader if row.get("student")}


def write_csv(path: Path, fields, rows: dict) -> None:
    """Write all rows (sorted by student) atomically."""
    path = Path(path)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for student in sorted(rows):
        writer.writerow({k: rows[student].get(k, "") for k in fields})
    write_atomic(path, buf.getvalue())


def write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def fmt_points(x: float) -> str:
    """2, 0.5, 1.25: no trailing zeros."""
    return f"{float(x):.2f}".rstrip("0").rstrip(".") if x == x else ""


# --------------------------------------------------------------------------- feedback

_VALUE_DETAIL = re.compile(r"\b(got|want)\b")


def sanitize(outcome: checks.Outcome) -> checks.Outcome:
    """A copy of ``outcome`` without detail that quotes hidden values (got/want numbers)."""
    problems = []
    for headline, detail in outcome.problems:
        parts = [p for p in detail.split("; ") if p and not _VALUE_DETAIL.search(p)]
        problems.append((headline, "; ".join(parts)))
    return checks.Outcome(outcome.status, outcome.n_cases, outcome.n_failed, outcome.case_label,
                          problems, outcome.error, outcome.hint)


def _exercise_section(r) -> list:
    ex = r.exercise
    lines = [f"## {ex.title}: {fmt_points(r.points)} / {fmt_points(r.max_points)}", ""]
    if r.outcome is not None:
        verdict = checks.format_verdict(ex, sanitize(r.outcome), fallback=False)
        lines += ["```text", verdict, "```", ""]
    elif r.note:
        lines += [r.note, ""]
    for flag in r.flags:
        if flag.startswith("calls-reference"):
            ref = ex.reference
            lines += [f"Scored 0: `{ex.name}` calls the reference implementation "
                      f"`{getattr(ref, '__module__', '')}.{getattr(ref, '__name__', '')}` instead of "
                      f"implementing it.", ""]
        elif flag.startswith("timeout"):
            lines += [f"Stopped: calling `{ex.name}` on the hidden cases took longer than the "
                      f"time limit (an infinite loop?).", ""]
    return lines


def feedback_markdown(student: str, lab: str, results, status: str, detail: str,
                      cell_problems, skipped, flags) -> str:
    """The feedback file's text. results: [scoring.ExerciseResult] (may be empty);
    skipped: (cells tagged slow, cells after the last exercise) that were not run."""
    n_slow, n_after = skipped
    total = sum(r.points for r in results)
    top = sum(r.max_points for r in results)
    lines = [f"# Lab {lab} feedback: {student}", "",
             f"Score: **{fmt_points(total)} / {fmt_points(top)}**. Status: `{status}`: "
             f"{STATUS_TEXT.get(status, status)}"]
    if detail:
        lines.append(f"({detail})")
    lines.append("")
    if results:
        lines += ["Each exercise was run on hidden cases drawn at grading time (new random "
                  "inputs, the same checks as in the lab) and compared with the reference "
                  "outside your notebook.", ""]
        lines += ["| exercise | result | points |", "| --- | --- | --- |"]
        words = {"passed": "passed", "failed": "failed", "not_attempted": "not attempted",
                 "not_defined": "not defined", "not_graded": "not graded"}
        for r in results:
            state = words.get(r.state, r.state)
            if any(f.startswith("calls-reference") for f in r.flags):
                state += " (calls the reference)"
            lines.append(f"| {r.exercise.title} | {state} | "
                         f"{fmt_points(r.points)} / {fmt_points(r.max_points)} |")
        lines.append("")
        for r in results:
            lines += _exercise_section(r)
    if cell_problems or n_slow or n_after:
        lines += ["## Your notebook", ""]
        if n_slow:
            lines.append(f"- {n_slow} cell{'s' if n_slow != 1 else ''} tagged `slow` "
                         f"(training for show) {'were' if n_slow != 1 else 'was'} not run.")
        if n_after:
            lines.append(f"- {n_after} code cell{'s' if n_after != 1 else ''} after the last "
                         f"exercise {'were' if n_after != 1 else 'was'} not run (not needed "
                         f"for grading).")
        for p in cell_problems:
            lines.append(f"- {p}")
        lines.append("")
    if "unsandboxed" in flags:
        lines += ["Note: this notebook was graded without the sandbox (`--unsafe-no-sandbox`).", ""]
    suspicious = [f.split(":", 1)[1] for f in flags if f.startswith("suspicious:")]
    if suspicious:
        lines += [f"Note: the notebook uses {', '.join(f'`{s}`' for s in suspicious)}, which "
                  f"the instructor will look at.", ""]
    return "\n".join(lines).rstrip() + "\n"
