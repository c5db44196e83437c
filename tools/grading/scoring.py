"""Hidden cases, reference outputs and scores, computed in the grader's own process.

Policy (documented in the README's grading section too):

- Each exercise is all or nothing: ``exercise.points`` when every case passes (the same
  rule as the notebook's check cell), 0 otherwise.
- Cases come from the exercise's ``cases(rng)`` with a fresh seed per submission (from the
  OS, or derived from ``--seed`` and the student's name for reproducible runs), so the random
  cases a submission is graded on are not the ones its check cells printed.
- A backward that needs its forward (``uses``) is graded with the student's own forward when
  that forward passed, and with the reference forward otherwise, as in the notebook: a wrong
  forward costs its own points only.
- Calling the exercise's own reference (seen at run time in the child, or in the function's
  source by the static scan) scores 0 for that exercise and adds ``calls-reference:<name>``
  to the flags.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils import checks

from . import cases_io


@dataclass
class ExerciseResult:
    """One exercise of one submission.

    state: passed | failed | not_attempted | not_defined | not_graded.
    outcome: the ``checks.Outcome`` when the outputs were compared (else None).
    note: one sentence for the feedback when there is no outcome (why not graded).
    """

    name: str
    exercise: checks.Exercise
    points: float
    state: str
    outcome: checks.Outcome | None = None
    flags: list = field(default_factory=list)
    note: str = ""

    @property
    def max_points(self) -> float:
        return float(self.exercise.points)


def lab_exercises(lab: str, modules=None) -> list:
    """The registered exercises of ``lab`` ("02"), in an order where every exercise comes
    after the ones it ``uses`` (registration order otherwise).

    modules: if given, only exercises registered by these modules (the module of their
    ``cases`` function), e.g. ["toy_exercises"] for the test fixture's lab.
    """
    chosen = [ex for ex in checks.REGISTRY.values() if ex.lab == lab and (
        modules is None or getattr(ex.cases, "__module__", None) in modules)]
    order, seen = [], set()

    def visit(ex, stack=()):
        if ex.name in seen:
            return
        if ex.name in stack:
            raise ValueError(f"exercise {ex.name!r} uses itself through {list(stack)}")
        for u in ex.uses:
            dep = checks.get_exercise(u)
            if dep.lab == lab:
                visit(dep, stack + (ex.name,))
        seen.add(ex.name)
        order.append(ex)

    for ex in chosen:
        visit(ex)
    return order


def submission_seed(seed: int | None, student: str) -> int:
    """A fresh seed from the OS, or (for reproducible runs) one derived from seed + name."""
    if seed is None:
        return int.from_bytes(np.random.SeedSequence().generate_state(2, np.uint32).tobytes(), "little")
    digest = hashlib.sha256(f"{seed}:{student}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def draw_cases(exercises, rng: np.random.Generator) -> dict:
    """{exercise name: [Case, ...]} drawn from ``rng`` in exercise order."""
    return {ex.name: checks.make_cases(ex, rng) for ex in exercises}


def write_inputs(stem: Path, cases: dict) -> None:
    """Save every case's args/kwargs/label for the child (no pickle)."""
    arrays, spec = {}, {}
    for name, items in cases.items():
        spec[name] = [[cases_io.encode(c.args, arrays), cases_io.encode(c.kwargs, arrays), c.label]
                      for c in items]
    cases_io.save(stem, spec, arrays)


def _decode_entries(entries, arrays, n_cases):
    """The child's per-case entries -> [{output: ndarray} | CaseError]; ValueError if malformed."""
    if not isinstance(entries, list) or len(entries) != n_cases:
        raise ValueError("wrong number of results")
    got = []
    for e in entries:
        if not isinstance(e, dict):
            raise ValueError("bad result entry")
        if "error" in e:
            got.append(checks.CaseError.from_dict(e["error"]))
            continue
        outs = {}
        for k, spec in e["outputs"].items():
            arr = np.asarray(cases_io.decode(spec, arrays))
            if arr.dtype.kind not in "biufc":
                raise ValueError(f"output {k} is not numeric")
            outs[str(k)] = arr
        got.append(outs)
    return got


def score(exercises, cases: dict, workdir: Path, static: dict, stopped: str) -> list:
    """ExerciseResults from the child's ``out_<name>`` files in ``workdir``.

    static: from ``submission.scan``. stopped: why the child stopped early ("" when it
    finished), used as the note of exercises it never reached.
    """
    results: dict = {}
    for ex in exercises:
        name = ex.name
        flags = []
        try:
            out, arrays = cases_io.load(Path(workdir) / f"out_{name}")
        except ValueError:
            note = f"not graded: {stopped}" if stopped else "not graded: no outputs were recorded"
            results[name] = ExerciseResult(name, ex, 0.0, "not_graded", note=note)
            continue
        if not isinstance(out, dict) or not out.get("defined"):
            results[name] = ExerciseResult(
                name, ex, 0.0, "not_defined",
                note=f"{ex.title}: the notebook does not define a function {name}.")
            continue
        variants = out.get("variants") or {}
        chosen = "own"
        if ex.uses and not all(results.get(u) is not None and results[u].state == "passed"
                               for u in ex.uses):
            chosen = "reference"
        try:
            got = _decode_entries(variants.get(chosen), arrays, len(cases[name]))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            results[name] = ExerciseResult(name, ex, 0.0, "not_graded",
                                           note=f"not graded: the recorded outputs are unreadable ({e})")
            continue
        refs = {u: checks.get_exercise(u).reference for u in ex.uses}
        want = checks.run_cases(ex, ex.reference, cases[name], refs)
        outcome = checks.evaluate(ex, cases[name], got, want)
        if out.get("reference_entered") or out.get("is_reference") or name in static["calls_reference"]:
            flags.append(f"calls-reference:{name}")
        if out.get("timed_out"):
            flags.append(f"timeout:{name}")
        if any(isinstance(g, checks.CaseError) and g.type == "MemoryError" for g in got):
            flags.append(f"memory:{name}")
        points = float(ex.points) if outcome.passed and not any(
            f.startswith("calls-reference") for f in flags) else 0.0
        results[name] = ExerciseResult(name, ex, points, outcome.status, outcome, flags)
    return [results[ex.name] for ex in exercises]
