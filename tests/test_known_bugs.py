"""The catalogue of known mistakes: every entry fails its check with its own hint.

For each lab exercise and each ``KnownBug`` in its catalogue, the check must print ✗ (no
false acceptance) and the hint of that mistake, not another one (the diagnosis tells them
apart). The references pass, every exercise has at least 3 catalogued mistakes, and every
lab has at least 3 exercises.
"""

import collections
import json

import numpy as np
import pytest

from tools.grading import cases_io
from utils.checks import FAIL_MARK, PASS_MARK, REGISTRY, check, make_cases

LAB_EXERCISES = {n: ex for n, ex in REGISTRY.items() if not n.startswith("toy_")}
BUGS = [(n, b) for n, ex in LAB_EXERCISES.items() for b in ex.bugs]


@pytest.mark.parametrize("name,bug", BUGS, ids=[f"{n}-{b.name}" for n, b in BUGS])
def test_known_bug_fails_with_its_own_hint(capsys, name, bug):
    check(name, REGISTRY[name].reference)          # a pass: hints start again from the first
    capsys.readouterr()
    for level in bug.levels:                       # one more level per failed check, in order
        used = check(name, bug.fn)
        out = capsys.readouterr().out
        assert out.startswith(f"{FAIL_MARK} {REGISTRY[name].title}"), out
        assert f"Hint: {level}" in out, out
        assert used is REGISTRY[name].reference
    assert f"Hint: {bug.hint}\n" in out            # the last level is the full hint


@pytest.mark.parametrize("name", sorted(LAB_EXERCISES))
def test_reference_passes_and_catalogue_has_three_bugs(capsys, name):
    ex = LAB_EXERCISES[name]
    check(name, ex.reference)
    assert capsys.readouterr().out.startswith(PASS_MARK)
    assert len(ex.bugs) >= 3, f"{name}: {len(ex.bugs)} known bugs, want at least 3"


def test_every_lab_has_three_exercises():
    per_lab = collections.Counter(ex.lab for ex in LAB_EXERCISES.values())
    assert sorted(per_lab) == ["01", "02", "03", "04", "05", "06", "07"]
    assert all(n >= 3 for n in per_lab.values()), per_lab


@pytest.mark.parametrize("name", sorted(LAB_EXERCISES))
def test_cases_are_plain_data_for_the_grader(name):
    """tools/grade.py sends every case to the sandboxed notebook as JSON (cases_io): a case
    holding a tensor or an object stops the grading of the whole lab."""
    for case in make_cases(LAB_EXERCISES[name]):
        for value in (case.args, case.kwargs):
            back = cases_io.decode(json.loads(json.dumps(cases_io.encode(value))))
            assert _same_data(back, value), (name, case.label)


def _same_data(a, b):
    """a and b hold the same plain data (arrays equal in dtype, shape and values)."""
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same_data, a, b))
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same_data(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b
