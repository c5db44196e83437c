"""Grading an exercise on the reference's intermediate results: record them, then replay them.

An exercise that ``uses`` others (a backward and its forward) is graded with the student's
own versions of those when they passed, and otherwise on what the references returned, so a
wrong forward costs its own points only. The results are recorded while the reference runs
on a case (``record_uses``), then handed back, in call order, by stand-ins for the used
functions (``replayer``) while the student's function runs on the same case.

Three places grade this way and share this module: ``utils.autograde`` (nbgrader's hidden
tests, in the student's kernel), ``tools/grading/scoring.py`` (records, in the grader's own
process) and ``tools/grading/child.py`` (replays, inside the sandbox, whose read-only copy
of ``utils`` holds this file; the child imports it before any student code runs).
"""

from __future__ import annotations

from typing import Callable, Mapping

from utils.check_running import run_cases
from utils.check_types import Case, Exercise

__all__ = ["record_uses", "replayer"]


def record_uses(exercise: Exercise, case: Case, references: Mapping[str, Callable]) -> list:
    """[(used exercise name, result), ...]: what ``references`` ({name: function} for every
    name in ``exercise.uses``) returned, in call order, while the exercise's reference ran on
    ``case``."""
    calls = []

    def recorder(name):
        def record(*args, **kwargs):
            value = references[name](*args, **kwargs)
            calls.append((name, value))
            return value
        return record

    run_cases(exercise, exercise.reference, [case], {u: recorder(u) for u in exercise.uses})
    return calls


def replayer(calls) -> Callable[[str], Callable]:
    """make(name) -> a stand-in for the used exercise ``name`` that returns, at each call, the
    next recorded result of ``name`` from ``calls`` ([(name, result), ...], one case's
    recording), and raises RuntimeError when none is left. The stand-ins made by one
    ``replayer`` share the recording, so each result is handed out once."""
    queue = list(calls)

    def make(name):
        def replayed(*args, **kwargs):
            for i, (recorded, value) in enumerate(queue):
                if recorded == name:
                    del queue[i]
                    return value
            raise RuntimeError(f"no recorded reference result left for {name}")
        return replayed
    return make
