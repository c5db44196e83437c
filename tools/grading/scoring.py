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
- The sandbox has no reference implementations (``stage``): calling one raises an error
  that the feedback names. Calling the exercise's own reference (seen in the function's
  source by the static scan, or as that error at run time) adds ``calls-reference:<name>``
  to the flags and scores 0.
- Nothing the child sends is trusted: its answers are checked against the shapes and
  dtypes of the reference outputs (computed here) before anything is decoded, and every
  flag is decided here.
- The time an exercise took on its hidden cases is measured here too, from when this
  process read the child's "grading" message to when it read the result: an answer that
  came later than the exercise's limit (plus a margin, ``overdue_after``) scores 0 with a
  ``timeout`` flag, even when the student's code switched off the child's alarm. A result
  sent before its "grading" message is a forgery and is ignored.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils import checks
from utils.replay import record_uses

from . import cases_io, stage


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


def task_inputs(cases: dict) -> dict:
    """{exercise name: [[args spec, kwargs spec, label], ...]} for the child (no pickle)."""
    return {name: [[cases_io.encode(c.args), cases_io.encode(c.kwargs), c.label] for c in items]
            for name, items in cases.items()}


def reference_results(exercises, cases: dict) -> tuple:
    """(want, replay), computed here with the real references.

    want: {exercise name: [{output: ndarray}, ...] per case}.
    replay: {exercise name: [[(used exercise, encoded result), ...] per case]} for exercises
    with ``uses``: what the references of the used exercises returned, in call order, so
    the child can grade the student's function on the reference's intermediate results
    without the reference (an exercise whose results cannot be encoded is left out: it is
    then graded with the student's own functions only).
    """
    want, replay = {}, {}
    for ex in exercises:
        refs = {u: checks.get_exercise(u).reference for u in ex.uses}
        want[ex.name] = checks.run_cases(ex, ex.reference, cases[ex.name], refs)
        for case, w in zip(cases[ex.name], want[ex.name]):
            if isinstance(w, checks.CaseError):
                raise RuntimeError(f"{ex.name}: the reference failed on case {case.label!r}: "
                                   f"{w.describe()}")
        if not ex.uses:
            continue
        recorded = [record_uses(ex, case, refs) for case in cases[ex.name]]
        try:
            replay[ex.name] = [[[u, cases_io.encode(v)] for u, v in calls] for calls in recorded]
        except TypeError:  # a result that cannot be sent
            continue
    return want, replay


def check_outputs(exercises) -> dict:
    """{"want": {name: [{output: encoded array}] per case}, "replay": {name: [...]}}: the
    reference outputs of the check cell's own cases (fixed seed, public: the notebook prints
    them) and the reference results of the exercises they use, for the child's ``check``."""
    cases = {ex.name: checks.make_cases(ex) for ex in exercises}
    want, replay = reference_results(exercises, cases)
    return {"want": {n: [{k: cases_io.encode(v) for k, v in w.items()} for w in per_case]
                     for n, per_case in want.items()},
            "replay": replay}


def _decode_entries(entries, want, budget):
    """The child's per-case entries -> [{output: ndarray} | CaseError]; ValueError if malformed."""
    if not isinstance(entries, list) or len(entries) != len(want):
        raise ValueError("wrong number of results")
    got = []
    for e, w in zip(entries, want):
        if not isinstance(e, dict):
            raise ValueError("bad result entry")
        if "error" in e:
            d = e["error"]
            if not isinstance(d, dict):
                raise ValueError("bad error entry")
            got.append(checks.CaseError.from_dict({k: clean(d.get(k, "")) for k in
                                                   ("kind", "type", "message", "where")}))
            continue
        outputs = e.get("outputs")
        if not isinstance(outputs, dict):
            raise ValueError("bad result entry")
        outs = {}
        for k in w:  # only the expected outputs are decoded
            if k in outputs:
                outs[k] = cases_io.decode_output(outputs[k], np.asarray(w[k]), budget)
        got.append(outs)
    return got


def clean(text, limit: int = 200) -> str:
    """Text that came from the child, made safe to quote: one line, printable, at most
    ``limit`` characters, backticks removed, and any value of the grader's environment
    (a path, a user name...) replaced by ``...``."""
    text = str(text)
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = "".join(ch for ch in line if ch.isprintable()).replace("`", "'")
    for value in _SECRETS:
        if value in line:
            line = line.replace(value, "...")
    return line if len(line) <= limit else line[: limit - 3] + "..."


# Values of the grader's environment that must never be quoted back (long enough to matter).
_SECRETS = sorted({v for v in os.environ.values() if len(v) >= 6} | {str(Path.home())},
                  key=len, reverse=True)


def overdue_after(exercise_timeout: float) -> float:
    """Seconds after which an answer is late: the limit, plus a margin for encoding the
    outputs and for a busy machine reading the channel late."""
    return 1.25 * exercise_timeout + 5.0


def answers(messages: list, received: list | None = None) -> tuple:
    """({exercise name: its result message}, {exercise name: seconds it took}).

    The first result of an exercise counts. With ``received`` (when this process read each
    message), only a result that came after the exercise's "grading" message counts (one
    sent before it was forged by the student's code), and its time is measured on the
    grader's clock, from that "grading" message."""
    sent, took, began = {}, {}, {}
    for i, m in enumerate(messages):
        name = m.get("exercise")
        if not isinstance(name, str):
            continue
        if m.get("event") == "grading" and received is not None:
            began.setdefault(name, received[i])
        elif m.get("event") == "result" and name not in sent:
            if received is None:
                sent[name] = m
            elif name in began:
                sent[name] = m
                took[name] = received[i] - began[name]
    return sent, took


def score(exercises, cases: dict, want: dict, messages: list, static: dict, stopped: str,
          max_bytes: int, received: list | None = None, late: float = float("inf")) -> list:
    """ExerciseResults from the child's ``result`` messages (untrusted).

    want: from ``reference_results``. static: from ``submission.scan``. stopped: why the
    child stopped early ("" when it finished), the note of exercises it never reached.
    max_bytes: the most array bytes decoded for the whole submission. received: when this
    process read each message (``RunResult.received``); late: seconds after which an
    answer scores 0 (``overdue_after``).
    """
    sent, took = answers(messages, received)
    budget = cases_io.Budget(max_bytes)
    results: dict = {}
    for ex in exercises:
        name = ex.name
        flags = []
        out = sent.get(name)
        if out is None:
            note = f"not graded: {stopped}" if stopped else "not graded: no outputs were recorded"
            results[name] = ExerciseResult(name, ex, 0.0, "not_graded", note=note)
            continue
        if out.get("defined") is not True:
            results[name] = ExerciseResult(
                name, ex, 0.0, "not_defined",
                note=f"{ex.title}: the notebook does not define a function {name}.")
            continue
        variants = out.get("variants") if isinstance(out.get("variants"), dict) else {}
        chosen = "own"
        if ex.uses and "reference" in variants and not all(
                results.get(u) is not None and results[u].state == "passed" for u in ex.uses):
            chosen = "reference"
        try:
            got = _decode_entries(variants.get(chosen), want[name], budget)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            results[name] = ExerciseResult(name, ex, 0.0, "not_graded",
                                           note=f"not graded: the recorded outputs are unreadable ({e})")
            continue
        outcome = checks.evaluate(ex, cases[name], got, want[name])
        if name in static["calls_reference"] or any(
                isinstance(g, checks.CaseError) and g.type == stage.ERROR_CLASS
                and g.message.startswith(f"the reference {name} ") for g in got):
            flags.append(f"calls-reference:{name}")
        if out.get("timed_out") is True or took.get(name, 0.0) > late:
            flags.append(f"timeout:{name}")
        if any(isinstance(g, checks.CaseError) and g.type == "MemoryError" for g in got):
            flags.append(f"memory:{name}")
        points = float(ex.points) if outcome.passed and not any(
            f.startswith(("calls-reference", "timeout")) for f in flags) else 0.0
        results[name] = ExerciseResult(name, ex, points, outcome.status, outcome, flags)
    return [results[ex.name] for ex in exercises]
