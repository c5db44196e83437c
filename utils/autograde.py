"""The hidden tests of nbgrader's autograded test cells: ``tools/grade.py``'s scores, in the kernel.

The solution notebooks' check cells carry two hidden-test blocks, written by
``tools/generate.py`` (``tools/nbgrader_cells.py``), which nbgrader keeps out of the released
notebook and puts back when it autogrades a submission::

    ### BEGIN HIDDEN TESTS
    import utils.autograde
    utils.autograde.grade("rnn_step_forward", globals())
    ### END HIDDEN TESTS
    rnn_step_forward = check("rnn_step_forward", rnn_step_forward)
    ### BEGIN HIDDEN TESTS
    utils.autograde.verdict("rnn_step_forward")
    ### END HIDDEN TESTS

``grade`` scores the function the student defined (what the name holds before ``check``
replaces a failing one with the reference) by the rules of ``tools/grading/scoring.py``:

- cases drawn now from a fresh seed (``Exercise.cases``), so they are not the ones the
  check cell printed; the reference outputs computed before any student code runs;
- all or nothing: every case must pass (``checks.evaluate``), within 30 s for all of them
  (``tools/grading/sandbox.Limits.exercise_timeout``);
- while the student's code runs, the reference of every exercise of the lab (and of those
  they use) is replaced by a function raising ``ReferenceUnavailableError``, in the modules
  of ``utils`` and in the notebook's namespace, as in the grader's sandbox: code that calls
  a reference, or builds on a function whose check failed, fails too; so are the exercise's
  twins (``utils.twins``);
- an exercise that ``uses`` others is run with the student's own versions of them when those
  passed their hidden cases, and otherwise on the results the references gave (recorded
  before, replayed in call order), so a wrong forward costs its own points only.

``verdict`` raises ``AssertionError`` (with the failure, never a hidden input) when the
exercise failed: nbgrader gives a test cell whose output holds an error 0 points, and all
its points otherwise.

Nothing here is a sandbox: it runs in the student's kernel, which nbgrader's autograder
starts with the grader's rights, and the student's code can change anything this module
does (see the README, "With nbgrader"). ``tools/grade.py`` is the grader that resists it.
"""

from __future__ import annotations

import sys
from typing import Callable, Mapping

import numpy as np

from utils import checks, twins
from utils.replay import record_uses, replayer
from utils.time_limit import TimeLimit, run_with_time_limit

EXERCISE_TIMEOUT = 30.0   # seconds for all of an exercise's hidden cases (as tools/grade.py)
ERROR_CLASS = "ReferenceUnavailableError"

# {exercise name: (state, function the student defined)} of the exercises graded so far in
# this kernel; state: "passed", "failed", "not_attempted", "not_defined".
RESULTS: dict = {}
_MESSAGES: dict = {}


def _message(name: str) -> str:
    # The text of tools/grading/stage.message: the grader's feedback says the same.
    return (f"the reference {name} is not available while grading: only your own code runs "
            f"(a check cell falls back to the reference when your {name} fails, so code that "
            f"builds on {name} fails too until {name} passes)")


def _stub(name: str) -> Callable:
    error = type(ERROR_CLASS, (RuntimeError,), {})

    def unavailable(*args, **kwargs):
        raise error(_message(name))

    unavailable.__name__ = name
    return unavailable


def _graded_references(exercise: checks.Exercise) -> dict:
    """{id(reference): (exercise name, reference)} for every exercise of the lab and those used."""
    names = {n for n, ex in checks.REGISTRY.items() if ex.lab == exercise.lab}
    names |= {u for n in list(names) for u in checks.get_exercise(n).uses}
    return {id(checks.get_exercise(n).reference): (n, checks.get_exercise(n).reference) for n in names}


class _NoReferences:
    """Within ``with``: every graded reference is a stub, in utils' modules and ``namespace``."""

    def __init__(self, references: dict, namespace: dict):
        self.refs, self.namespace, self.saved = references, namespace, []
        self.stubs = {key: _stub(name) for key, (name, _) in references.items()}

    def swap(self, value):
        return self.stubs.get(id(value), value) if id(value) in self.refs and \
            value is self.refs[id(value)][1] else value

    def __enter__(self):
        places = [m.__dict__ for n, m in list(sys.modules.items())
                  if m is not None and (n == "utils" or n.startswith("utils."))
                  and n != __name__ and n != "utils.checks"]
        for place in places + [self.namespace]:
            for key, value in list(place.items()):
                new = self.swap(value)
                if new is not value:
                    self.saved.append((place, key, value))
                    place[key] = new
        return self

    def __exit__(self, *exc):
        for place, key, value in reversed(self.saved):
            place[key] = value
        self.saved.clear()
        return False


def _run(ex, fn, cases, uses_per_case, seconds):
    """run_cases, one case at a time (each with its own uses), under one time limit."""
    done: list = []

    def work():
        for case, uses in zip(cases, uses_per_case):
            done.append(checks.run_cases(ex, fn, [case], uses)[0])
        return done

    try:
        return run_with_time_limit(work, seconds)
    except TimeLimit:
        err = checks.CaseError("timeout", message=f"took longer than {seconds:g} s: an infinite loop?")
        return done[:len(cases)] + [err] * (len(cases) - len(done[:len(cases)]))


def grade(name: str, namespace: Mapping, rng: np.random.Generator | None = None) -> str:
    """Grade exercise ``name`` as defined in the notebook ``namespace`` (``globals()``) on hidden
    cases drawn now (or from ``rng``); record and return its state (see ``RESULTS``)."""
    ex = checks.get_exercise(name)
    rng = np.random.default_rng() if rng is None else rng
    fn = namespace.get(name)
    if fn is None or not callable(fn):
        RESULTS[name] = ("not_defined", None)
        _MESSAGES[name] = f"{ex.title}: the notebook does not define a function {name}."
        return "not_defined"
    cases = checks.make_cases(ex, rng)
    want = checks.run_cases(ex, ex.reference, cases, checks.reference_uses(ex))
    # for an exercise with uses: per case, what the references of the used ones returned
    recorded = [record_uses(ex, case, checks.reference_uses(ex)) for case in cases] \
        if ex.uses else None
    own_passed = all(RESULTS.get(u, ("", None))[0] == "passed" for u in ex.uses)
    references = _graded_references(ex)
    with _NoReferences(references, namespace) as no_refs:
        fn = no_refs.swap(fn)  # a name bound to a reference is the stub too, as in the sandbox
        if own_passed or recorded is None:
            uses = {u: no_refs.swap(RESULTS.get(u, (None, checks.get_exercise(u).reference))[1]
                                    or checks.get_exercise(u).reference) for u in ex.uses}
            uses_per_case = [uses] * len(cases)
        else:
            uses_per_case = []
            for calls in recorded:
                make = replayer(calls)
                uses_per_case.append({u: make(u) for u in ex.uses})
        with twins.disabled(ex, fn):  # code that computes the exercise, off as in the sandbox
            got = _run(ex, fn, cases, uses_per_case, EXERCISE_TIMEOUT)
    outcome = checks.evaluate(ex, cases, got, want)
    RESULTS[name] = (outcome.status, namespace.get(name))
    # The first line only: the details may quote values of the hidden cases.
    first = checks.format_verdict(ex, outcome, fallback=False).split("\n")[0]
    _MESSAGES[name] = "hidden cases: " + first.lstrip(checks.FAIL_MARK + checks.TODO_MARK + " ")
    return outcome.status


def verdict(name: str) -> None:
    """Raise AssertionError unless exercise ``name`` passed its hidden cases in ``grade``."""
    state = RESULTS.get(name, ("not_graded", None))[0]
    if state != "passed":
        raise AssertionError(_MESSAGES.get(name, f"{name}: not graded (its hidden tests did not run)"))
