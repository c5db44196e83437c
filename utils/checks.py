"""Exercise checks: compare a student's function with the reference and say what differs.

A lab registers each exercise once (in ``utils/exercises/labNN.py``)::

    from utils.checks import Exercise, Case, KnownBug, register

    register(Exercise(
        name="rnn_step_forward", lab="02", number="2.1",
        reference=utils.layers.rnn_step_forward,
        cases=make_cases,          # make_cases(rng) -> list[Case]
        outputs=("h",),            # compared outputs, in return order
        cache=("x", "h_prev", "Wx", "Wh", "h"),   # the cache the skeleton fixes, compared too
        hints={"h": "Did you add b and apply tanh?", "cache": "..."},
        bugs=(KnownBug("no bias", "Add b before the tanh.", rnn_step_forward_without_b), ...),
    ))

and the notebook cell right after the exercise reads::

    rnn_step_forward = check("rnn_step_forward", rnn_step_forward)

``check`` prints one verdict and returns the function the rest of the lab should use: the
student's when every case passes, the registered reference otherwise, so a student notebook
always runs top to bottom. What a check verifies besides the values: the cache a backward
will read, that inputs come back unchanged, the return types later cells rely on, and a
time limit (10 s by default). A backward is first run on the reference forward's cache, so a
wrong forward is never blamed on a correct backward. The hint is chosen by diagnosis: when
the outputs match a catalogued mistake (``Exercise.bugs``) on every case, that mistake's
hint is shown.

The grader reuses the building blocks: ``make_cases`` -> ``run_cases`` (plain NumPy arrays
out, so results can cross a process boundary with ``np.savez``) -> ``evaluate`` ->
``format_verdict``. Every printed number is rounded and nothing machine-specific (paths,
addresses, timings) is printed, because nbval compares these outputs.

The pieces live in ``utils.check_types`` (data types, registry), ``utils.check_running``
(calling functions on cases), ``utils.check_values`` (comparing and printing values) and
``utils.time_limit``. Importing this module registers every lab's exercises (see
``utils/exercises/__init__.py``).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from utils import twins
from utils.check_running import (backward_call, make_cases, reference_uses, resolve_uses,
                                 run_cases)
from utils.check_types import (LOAD_ERRORS, MESSAGE_KINDS, REGISTRY, BadReturn, Case, CaseError,
                               ChangedInput, Exercise, KnownBug, get_exercise, register)
from utils.check_values import compare
from utils.time_limit import TimeLimit, run_with_time_limit

__all__ = [
    "Case",
    "CaseError",
    "Exercise",
    "KnownBug",
    "BadReturn",
    "ChangedInput",
    "Outcome",
    "REGISTRY",
    "LOAD_ERRORS",
    "register",
    "backward_call",
    "get_exercise",
    "check",
    "make_cases",
    "run_cases",
    "compare_outputs",
    "diagnose",
    "evaluate",
    "format_verdict",
    "PASS_MARK",
    "FAIL_MARK",
    "TODO_MARK",
    "TIME_LIMIT",
]

# The first character of every verdict line; tests and the grader parse these.
PASS_MARK = "✓"
FAIL_MARK = "✗"
TODO_MARK = "○"

# Seconds a student's function may take on all the cases of one check.
TIME_LIMIT = 10.0

# The hint of every "changed_input" verdict: why it matters beyond this check.
CHANGED_INPUT_HINT = ("Later cells pass the same arrays on to other functions and rely on them "
                      "being unchanged: compute into new arrays (c = f * c_prev, not "
                      "c = c_prev; c *= f; no out= an input; encode never adds to stoi).")
TIMEOUT_HINT = ("Look for a loop whose condition never becomes false (a while loop that does not "
                "advance its index, or a range over something that grows inside the loop).")


def _entry_namer(exercise: Exercise, case: Case):
    if exercise.entry_name is None:
        return None
    return lambda output, idx: exercise.entry_name(case, output, idx)


def _compare(exercise: Exercise, case: Case, got: Mapping, want: Mapping) -> list[tuple[str, str]]:
    return compare(exercise.compared, got, want, exercise.rtol, exercise.atol,
                   _entry_namer(exercise, case))


def compare_outputs(exercise: Exercise, case: Case, got: Mapping[str, np.ndarray],
                    want: Mapping[str, np.ndarray]) -> list[str]:
    """The differences between ``got`` and ``want`` for one case (empty list when they agree).

    got, want: {output name: array} as returned by ``run_cases``. Each item is one sentence
    about one output (or cache entry), e.g. "dWh is off (relative error 0.41, want < 1e-7):
    largest difference at dWh[1, 2]: got 0.53, want 0.61". Checked in order: missing output,
    shape, dtype kind (float/int/bool), NaN/inf positions, then values: an output passes when
    max|got - want| <= atol + rtol * max|want|.
    """
    return [f"{h}: {d}" if d else h for h, d in _compare(exercise, case, got, want)]


# --------------------------------------------------------------------------- verdicts


@dataclass
class Outcome:
    """The result of checking one function against the reference on a list of cases.

    status: "passed" | "failed" | "not_attempted". For "failed": the first failing case's
    label, its problems as (headline, detail) pairs or its error, and the hint to show.
    For "not_attempted", error is the NotImplementedError (its ``where`` is set when the
    function is partly written). bug: the name of the catalogued mistake the outputs match
    ("" when none does). hint_levels: progressive hints (vague to precise) when there are
    several; ``hint`` is the first, and ``check`` shows one more per failed check.
    """

    status: str
    n_cases: int
    n_failed: int = 0
    case_label: str = ""
    problems: list = field(default_factory=list)
    error: CaseError | None = None
    hint: str = ""
    bug: str = ""
    hint_levels: tuple = ()

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _same(exercise: Exercise, case: Case, a, b) -> bool:
    """Two per-case results agree: the same kind of error, or outputs within tolerance."""
    if isinstance(a, CaseError) or isinstance(b, CaseError):
        return (isinstance(a, CaseError) and isinstance(b, CaseError) and a.kind == b.kind
                and a.type == b.type)
    return not _compare(exercise, case, a, b)


def diagnose(exercise: Exercise, cases: Sequence[Case], got: Sequence) -> KnownBug | None:
    """The catalogued mistake whose results match ``got`` on every case, or None.

    The catalogue's functions are run here, with the reference for every exercise in
    ``uses`` (they are the lab's own code, so no time limit is needed).
    """
    for bug in exercise.bugs:
        theirs = run_cases(exercise, bug.fn, cases, reference_uses(exercise))
        if all(_same(exercise, c, g, t) for c, g, t in zip(cases, got, theirs)):
            return bug
    return None


def _output_hint(exercise: Exercise, problems) -> str:
    names = [h.split(" ", 1)[0] for h, _ in problems]
    if any(" has shape " in h for h, _ in problems) and "shape" in exercise.hints:
        return exercise.hints["shape"]
    if all(n.startswith("cache[") for n in names):
        return exercise.hints.get("cache", "")
    for name in exercise.outputs:
        if name in names and name in exercise.hints:
            return exercise.hints[name]
    return ""


def evaluate(exercise: Exercise, cases: Sequence[Case],
             got: Sequence[dict | CaseError], want: Sequence[dict | CaseError]) -> Outcome:
    """Compare per-case results (from ``run_cases``) of a function and of the reference.

    Any NotImplementedError means "not attempted"; otherwise the first failing case (in the
    order of ``cases``, so the fixed fixture first) is the one reported, and the hint comes
    from the diagnosis (``diagnose``) when a catalogued mistake matches, else from what
    differs: the cache hint when only cache entries differ, the output's hint otherwise.
    """
    if not (len(cases) == len(got) == len(want)):
        raise ValueError(f"{exercise.name}: cases, got and want must have the same length, "
                         f"got {len(cases)}, {len(got)}, {len(want)}")
    for case, w in zip(cases, want):
        if isinstance(w, CaseError):
            # A broken reference or fixture is the lab author's bug: fail loudly.
            raise RuntimeError(f"{exercise.name}: the reference failed on case {case.label!r}: "
                               f"{w.describe()}")
    todo = [g for g in got if isinstance(g, CaseError) and g.kind == "not_implemented"]
    if todo:
        return Outcome("not_attempted", len(cases), n_failed=len(cases), error=todo[0])
    first = None
    n_failed = 0
    for case, g, w in zip(cases, got, want):
        if isinstance(g, CaseError):
            problems, error = [], g
        else:
            problems, error = _compare(exercise, case, g, w), None
        if problems or error:
            n_failed += 1
            if first is None:
                first = (case, problems, error)
    if first is None:
        return Outcome("passed", len(cases))
    case, problems, error = first
    bug = diagnose(exercise, cases, got) if exercise.bugs else None
    levels = ()
    if bug is not None:
        levels = bug.levels
    elif error is None and exercise.explain is not None:
        levels = tuple(exercise.explain(cases, got, want))
    if levels:
        hint = levels[0]
    elif error is not None and error.type == twins.ERROR_CLASS:
        hint = ""  # the message says what to do: no reference, no twin
    elif error is not None:
        hint = {"exception": exercise.hints.get("error", ""),
                "bad_return": exercise.hints.get("return", ""),
                "changed_input": CHANGED_INPUT_HINT,
                "timeout": TIMEOUT_HINT}.get(error.kind, "")
    else:
        hint = _output_hint(exercise, problems)
    return Outcome("failed", len(cases), n_failed, case.label, problems, error, hint,
                   bug.name if bug else "", levels)


def format_verdict(exercise: Exercise, outcome: Outcome, fallback: bool = True) -> str:
    """The message for an outcome; with ``fallback`` it says the reference is used instead.

    One line for passed / not attempted; for a failure, the first line names the exercise,
    what differs and on which case, then indented lines give details, the hint and the
    fallback.
    """
    ref = exercise.reference
    using = (f"using the reference {exercise.name} from {getattr(ref, '__module__', 'utils')} "
             f"for the rest of the lab.")
    if outcome.status == "passed":
        n = outcome.n_cases
        return f"{PASS_MARK} {exercise.title}: passed {n} case{'s' if n != 1 else ''}."
    if outcome.status == "not_attempted":
        err = outcome.error
        if err is not None and err.where:
            text = (f"{TODO_MARK} {exercise.title}: partly written: it still raises "
                    f"NotImplementedError at {err.where}; delete that line when your code is "
                    f"complete")
        else:
            text = f"{TODO_MARK} {exercise.title}: not attempted yet (NotImplementedError)"
        return text + (f": {using}" if fallback else ".")
    on_case = f' on case "{outcome.case_label}"' if outcome.case_label else ""
    details = []
    err = outcome.error
    if err is not None:
        if err.kind in MESSAGE_KINDS:
            head = f"{err.message}{on_case}."
        else:
            head = f"raised {err.type}{on_case}: {err.message}" if err.message else \
                f"raised {err.type}{on_case}."
            if err.where:
                details.append(f"At {err.where}")
    else:
        (h0, d0), *rest = outcome.problems
        head = f"{h0}{on_case}."
        if d0:
            # Capitalise a sentence, but never an output name ("dWh is ...", not "DWh").
            first = d0.split(" ", 1)[0]
            details.append((d0 if first in exercise.compared else d0[0].upper() + d0[1:]) + ".")
        for h, d in rest:
            details.append(f"Also: {h}" + (f": {d}." if d else "."))
    lines = [f"{FAIL_MARK} {exercise.title}: {head}"]
    lines += [f"  {d}" for d in details]
    if outcome.n_cases > 1:
        lines.append(f"  Failed {outcome.n_failed} of {outcome.n_cases} cases.")
    if outcome.hint:
        lines.append(f"  Hint: {outcome.hint}")
    if fallback:
        lines.append(f"  {using[0].upper()}{using[1:]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the notebook check


def _timed_run(exercise, fn, cases, uses, seconds, notes):
    """run_cases under a time limit; on timeout the unfinished cases become "timeout" errors."""
    def work():
        with np.errstate(all="ignore"):   # errstate is per thread: set it in the worker
            return run_cases(exercise, fn, cases, uses, notes=notes)

    if seconds is None:
        return run_cases(exercise, fn, cases, uses, notes=notes)
    try:
        return run_with_time_limit(work, seconds)
    except TimeLimit as e:
        done = list(notes.get("results", []))[:len(cases)]   # the cases that finished
        err = CaseError("timeout", message=(
            f"took longer than {seconds:g} s: an infinite loop?"
            + ("" if e.stopped else " (it could not be stopped inside a NumPy call and "
               "may still be running in the background)")))
        return done + [err] * (len(cases) - len(done))


def _uses_differ(exercise: Exercise, uses: Mapping[str, Callable] | None) -> list[str]:
    refs = reference_uses(exercise)
    return [n for n, f in (uses or {}).items() if f is not refs.get(n)]


def _tuple_returning(fn: Callable) -> Callable:
    """fn, returning a tuple where it returns a list (what later cells, e.g. gradient
    tables, expect of `out, cache = f(...)` and of a backward's gradients)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        result = fn(*args, **kwargs)
        return tuple(result) if isinstance(result, list) else result

    return wrapper


def check(name: str, fn: Callable, uses: Mapping[str, Callable] | None = None, *,
          verbose: bool = True, time_limit: float | None = TIME_LIMIT) -> Callable:
    """Check the student's ``fn`` for exercise ``name``; print one verdict; return what to use.

    uses: {exercise name: function} for the exercises this one builds on (the functions the
    notebook is currently using). ``fn`` is first checked with the references of those
    (so a backward is checked on the reference forward's cache); when it passes, it is
    checked again with ``uses``, and a failure then is blamed on the function in ``uses``.
    time_limit: seconds for all the cases of one run (None: no limit).
    Returns ``fn`` when every case passes (wrapped to return tuples when it returns lists),
    the registered reference otherwise. An interrupt (the stop button) while ``fn`` runs is
    reported as a failure, and the reference is returned, so later cells do not run ``fn``.
    """
    exercise = get_exercise(name)
    if not callable(fn):
        raise TypeError(f"check({name!r}, fn): fn must be the function you wrote, "
                        f"got {type(fn).__name__}")
    resolve_uses(exercise, uses)  # clear errors for a wrong `uses` before anything runs
    cases = make_cases(exercise)
    want = run_cases(exercise, exercise.reference, cases, reference_uses(exercise))
    notes: dict = {}
    try:
        # The exercise's twins are off while fn runs (in the main thread: they come back
        # even when a timed-out fn keeps running in the background).
        with twins.disabled(exercise, fn):
            got = _timed_run(exercise, fn, cases, reference_uses(exercise), time_limit, notes)
        outcome = evaluate(exercise, cases, got, want)
        blamed = _uses_differ(exercise, uses)
        if outcome.passed and blamed:
            with twins.disabled(exercise, fn):
                got = _timed_run(exercise, fn, cases, uses, time_limit, notes)
            with_uses = evaluate(exercise, cases, got, want)
            if not with_uses.passed:
                outcome = _blame_uses(exercise, with_uses, blamed)
    except KeyboardInterrupt:
        outcome = Outcome("failed", len(cases), len(cases), error=CaseError(
            "timeout", message="was interrupted before it finished (an infinite loop?)"))
    outcome.hint = _reveal(name, outcome)
    if verbose:
        print(format_verdict(exercise, outcome, fallback=True))
        sys.stdout.flush()
    if not outcome.passed:
        return exercise.reference
    return _tuple_returning(fn) if notes.get("list_return") else fn


# {exercise name: (first hint level, failed checks in a row)}: how far the hints are revealed.
_REVEALED: dict[str, tuple[str, int]] = {}


def _reveal(name: str, outcome: Outcome) -> str:
    """The hint to show: with progressive hint levels, one more level for every check of the
    same mistake that failed in a row (a pass, or another mistake, starts again)."""
    levels = outcome.hint_levels
    if outcome.passed or len(levels) < 2:
        _REVEALED.pop(name, None)
        return outcome.hint
    key, count = _REVEALED.get(name, ("", 0))
    count = count + 1 if key == levels[0] else 1
    _REVEALED[name] = (levels[0], count)
    shown = levels[min(count, len(levels)) - 1]
    more = "" if count >= len(levels) else " (run this check again for a more precise hint)"
    return shown + more


def _blame_uses(exercise: Exercise, outcome: Outcome, blamed: Sequence[str]) -> Outcome:
    """The outcome of a function that is right on the references' results but wrong on
    those of the functions it uses: the message names those functions."""
    names = " and ".join(blamed)
    what = outcome.error.describe() if outcome.error else outcome.problems[0][0]
    error = CaseError("bad_return", message=(
        f"is right on the reference {names}'s results, but {what} with your {names}"))
    hint = (f"The difference comes from your {names}: its cache (what it returns last) is not "
            f"what the reference returns; fix {names} (its check shows what differs).")
    return Outcome("failed", outcome.n_cases, outcome.n_failed, outcome.case_label, [], error, hint)


# Register every lab's exercises (kept last: the lab modules import the names above).
from utils.exercises import load_all as _load_all  # noqa: E402

_load_all(LOAD_ERRORS)
