"""Notebook tests: generation is current, student labs run and fall back, checks tell right from wrong.

Parametrized over whatever labs exist (solutions/NN_*.ipynb and the exercises registered in
utils/exercises/labNN.py), plus the toy lab in tests/fixtures, which always runs, so the
machinery is tested even before the first lab lands. While there is no lab yet the lab
tests are reported as skipped with the reason, never as passed.

The stored outputs of the solution notebooks are compared strictly by the separate nbval
stage of scripts/test.sh (pytest --nbval ... solutions/).
"""

import dataclasses
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(FIXTURES))

import toy_exercises  # noqa: E402,F401  (registers the toy exercises)
from tools import execute as executor  # noqa: E402
from tools import generate as gen  # noqa: E402
from utils.checks import (  # noqa: E402
    FAIL_MARK, PASS_MARK, REGISTRY, TODO_MARK, check, evaluate, format_verdict, make_cases, run_cases,
)

SOLUTIONS = sorted((REPO / "solutions").glob(gen.NOTEBOOK_GLOB))
STUDENTS = sorted((REPO / "notebooks").glob(gen.NOTEBOOK_GLOB))
NO_LABS = pytest.mark.skip(reason="no solutions/NN_*.ipynb yet: lab notebook tests not collected")

VERDICT = re.compile(rf"^([{PASS_MARK}{FAIL_MARK}{TODO_MARK}]) (\w+) \(exercise ([^)]+)\)", re.MULTILINE)
CHECK_CALL = re.compile(r"\bcheck\(\s*[\"'](\w+)[\"']")


def params(paths, extra=()):
    """pytest params (id = file name) for paths, plus extra; a skipped param when no labs exist."""
    out = [pytest.param(p, id=f"{p.parent.parent.name}/{p.name}" if p.is_relative_to(FIXTURES) else p.name)
           for p in list(extra) + list(paths)]
    if not paths:
        out.append(pytest.param(None, id="labs", marks=NO_LABS))
    return out


def lab_of(path: Path) -> str:
    return path.name[:2]


def lab_exercises(path: Path) -> set:
    """Names of the exercises registered for the lab this notebook belongs to."""
    if path.is_relative_to(FIXTURES):
        return {"toy_affine_forward", "toy_affine_backward"}
    # the toy exercises (tests/fixtures) share lab "01" with the first lab: not part of it
    return {name for name, ex in REGISTRY.items() if ex.lab == lab_of(path) and not name.startswith("toy_")}


def stdout_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def verdicts(nb) -> list:
    """[(cell index, mark, exercise name)] for every verdict line printed in the notebook."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            found += [(index, m.group(1), m.group(2)) for m in VERDICT.finditer(stdout_text(cell))]
    return found


def check_cells(nb) -> list:
    """[(cell index, exercise name)] for every cell that calls check("name", ...)."""
    return [(i, m.group(1)) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for m in CHECK_CALL.finditer(c.source)]


# ------------------------------------------------------------------ generation


@pytest.mark.skipif(not SOLUTIONS, reason="no solutions/NN_*.ipynb yet")
def test_student_notebooks_are_current_and_leak_nothing(capsys):
    rc = gen.main(["--check"])
    err = capsys.readouterr().err
    assert rc == 0, f"python tools/generate.py --check failed:\n{err}"


@pytest.mark.parametrize("solution", params(SOLUTIONS, [FIXTURES / "solutions" / "01_toy.ipynb"]))
def test_no_solution_text_in_student_notebook(solution):
    student = solution.parent.parent / "notebooks" / solution.name
    assert student.exists(), f"{student.name} missing: run python tools/generate.py"
    assert gen.leaks(solution, student) == []


@pytest.mark.parametrize("solution", params(SOLUTIONS, [FIXTURES / "solutions" / "01_toy.ipynb"]))
def test_no_cell_hides_its_value_with_a_semicolon(solution):
    """nbval runs cells with store_history=False, and then IPython ignores a trailing ';' (it looks
    the ';' up in the history): the value is displayed under nbval but not in the stored output,
    so the cell fails the comparison. Write `_ = f(...)` instead."""
    import ast

    from IPython.core.displayhook import DisplayHook

    def hides_value(source):
        if not DisplayHook.semicolon_at_end_of_expression(source):
            return False
        try:
            body = ast.parse(source).body
        except SyntaxError:  # IPython magics: judge by the ';' alone
            return True
        return bool(body) and isinstance(body[-1], ast.Expr)  # `x = f();` displays nothing anyway

    nb = nbformat.read(solution, as_version=4)
    bad = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and hides_value(c.source)]
    assert not bad, (f"{solution.name}: cells {bad} end with ';' to hide a value; nbval shows the value "
                     f"anyway. Assign it instead: `_ = ...`")


# ------------------------------------------------------------------ solutions pass their checks


@pytest.mark.parametrize("solution", params(SOLUTIONS, [FIXTURES / "solutions" / "01_toy.ipynb"]))
def test_solution_notebook_passes_all_its_checks(solution):
    """The executed solution's stored check outputs are all ✓, one per check cell, for every exercise."""
    nb = nbformat.read(solution, as_version=4)
    found = verdicts(nb)
    not_passed = [(i, mark, name) for i, mark, name in found if mark != PASS_MARK]
    assert not not_passed, f"{solution.name}: checks that did not pass (cell, mark, exercise): {not_passed}"
    calls = check_cells(nb)
    by_cell = {(i, name) for i, _, name in found}
    silent = [(i, name) for i, name in calls if (i, name) not in by_cell]
    assert not silent, (f"{solution.name}: check cells without a stored verdict (cell, exercise): {silent}; "
                        f"run python tools/execute.py {solution.relative_to(REPO)}")
    missing = lab_exercises(solution) - {name for _, name in calls}
    assert not missing, f"{solution.name}: registered exercises never checked in the notebook: {sorted(missing)}"


# ------------------------------------------------------------------ student notebooks run end to end


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("student", params(STUDENTS, [FIXTURES / "notebooks" / "01_toy.ipynb"]))
def test_student_notebook_runs_and_falls_back(student, odd_copy, monkeypatch):
    """Executed with no error; every check cell says 'not attempted' and falls back to the reference.

    A lab runs from a copy of the repository at a path with a space and non-ASCII letters, with
    the kernel in the lab's folder and no PYTHONPATH: as a student might open it.
    """
    monkeypatch.delenv("PYTHONPATH", raising=False)
    if not student.is_relative_to(FIXTURES):
        student = odd_copy / "notebooks" / student.name
    nb, _ = executor.execute(student, write=False, threads=1, timeout=300)
    found = verdicts(nb)
    calls = check_cells(nb)
    assert calls, f"{student.name}: no check cells"
    wrong = [(i, mark, name) for i, mark, name in found if mark != TODO_MARK]
    assert not wrong, f"{student.name}: check cells that did not say 'not attempted': {wrong}"
    for i, name in calls:
        text = stdout_text(nb.cells[i])
        assert f"{TODO_MARK} " in text and "not attempted yet" in text and "using the reference" in text, (
            f"{student.name}, cell {i} ({name}) printed:\n{text}")
    missing = lab_exercises(student) - {name for _, name in calls}
    assert not missing, f"{student.name}: exercises never checked: {sorted(missing)}"


# ------------------------------------------------------------------ the checks tell right from wrong


def _perturb(value):
    """A clearly wrong copy of one output: floats x1.01 (or +0.01 if all zero), ints +1."""
    if hasattr(value, "detach"):  # torch tensor
        return value * 1.01 if bool((value != 0).any()) else value + 0.01
    arr = np.asarray(value)
    if arr.dtype.kind == "b":
        return ~arr
    if arr.dtype.kind in "iu":
        return arr + 1
    return arr * 1.01 if np.any(arr != 0) else arr + 0.01


def perturbed_exercise(ex):
    """The exercise with every compared output of every call perturbed (a trailing cache kept).

    Perturbing at the level of ``call`` works for any exercise, including ones whose function
    is a class or builds a cache first: it is the reference's outputs, 1% off.
    """
    def base(fn, case, uses):
        return ex.call(fn, case, uses) if ex.call else fn(*case.args, **case.kwargs)

    def wrong_call(fn, case, uses):
        result = base(fn, case, uses)
        if isinstance(result, (tuple, list)):
            k = len(ex.outputs)
            return tuple(_perturb(v) for v in result[:k]) + tuple(result[k:])
        return _perturb(result)

    return dataclasses.replace(ex, call=wrong_call)


def stub(*args, **kwargs):
    raise NotImplementedError("exercise: stub")


EXERCISES = sorted(REGISTRY)
LAB_EXERCISES = [n for n in EXERCISES if not n.startswith("toy_")]


@pytest.mark.parametrize("name", EXERCISES + ([] if LAB_EXERCISES else
                                              [pytest.param("labs", marks=pytest.mark.skip(
                                                  reason="no lab exercises registered in utils/exercises yet"))]))
def test_checks_tell_right_from_wrong(name, capsys):
    ex = REGISTRY[name]

    assert check(name, ex.reference) is ex.reference
    out = capsys.readouterr().out
    assert out.startswith(f"{PASS_MARK} {name} "), out

    assert check(name, stub) is ex.reference
    out = capsys.readouterr().out
    assert out.startswith(f"{TODO_MARK} {name} ") and "not attempted yet" in out, out

    cases = make_cases(ex)
    want = run_cases(ex, ex.reference, cases)
    got = run_cases(perturbed_exercise(ex), ex.reference, cases)
    outcome = evaluate(ex, cases, got, want)
    assert outcome.status == "failed" and outcome.error is None, (
        f"{name}: outputs 1% off were not caught as wrong values (rtol={ex.rtol}, atol={ex.atol}): "
        f"{format_verdict(ex, outcome)}")


# ------------------------------------------------------------------ tools/execute.py and nbval


def _tiny_notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    for i, c in enumerate(nb.cells):
        c["id"] = f"t{i}"
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)


@pytest.mark.notebook
def test_execute_pins_threads_and_seeds_and_prints_a_table(tmp_path, capsys):
    good = tmp_path / "01_good.ipynb"
    _tiny_notebook(good, "import os, pathlib, utils\n"
                         "print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'],\n"
                         "      os.environ['MKL_NUM_THREADS'], os.environ['PYTHONHASHSEED'])\n"
                         "print(pathlib.Path.cwd().name, pathlib.Path(utils.__file__).parent.parent.name)",
                   # an Output widget (interact): nbclient must not crash, and no widget state is stored
                   "import ipywidgets\n_ = ipywidgets.interact(lambda k: print('k =', k), k=2)")
    bad = tmp_path / "02_bad.ipynb"
    _tiny_notebook(bad, "print('before')", "1 / 0")
    before = bad.read_bytes()

    rc = executor.main([str(good), str(bad)])
    out = capsys.readouterr()
    assert rc == 1 and "ZeroDivisionError" in out.err and "1 notebook(s) failed" in out.err
    table = out.out.splitlines()
    assert any(line.startswith(str(good)) and line.split()[-1].replace(".", "").isdigit() for line in table)
    assert any(line.startswith(str(bad)) and line.endswith("FAILED") for line in table)
    assert any(line.startswith("total") for line in table)
    assert bad.read_bytes() == before  # a failed notebook is not rewritten

    nb = nbformat.read(good, as_version=4)
    assert stdout_text(nb.cells[0]) == f"1 1 1 0\n{tmp_path.name} {REPO.name}\n"
    assert "widgets" not in nb.metadata and "execution" not in nb.cells[0].metadata


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("threads", ["1", "2"])
def test_nbval_on_the_toy_solution_with_the_sanitizer(threads):
    """The command scripts/test.sh runs on solutions/, on the toy lab: stored outputs reproduce."""
    import os
    import subprocess

    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
               PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)
    env.pop("PYTHONPATH", None)  # the kernel imports the installed course package
    # --nbval-current-env and the sanitizer come from pyproject.toml's addopts.
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                        str(FIXTURES / "solutions")], cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_sanitizer_replaces_what_varies_and_nothing_else():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((REPO / "tools" / "nbval_sanitize.cfg").read_text())

    def sanitize(s):
        for regex, replace in patterns:
            s = re.sub(regex, replace, s)
        return s

    varying = {
        "train:  40%|####      | 2/5 [00:01<00:02, 1.52it/s, loss=1.23]": "PROGRESS-BAR",
        "toy:   0%|          | 0/3 [00:00<?, ?it/s]": "PROGRESS-BAR",
        "<function f at 0x7f3a2c1b9d30>": "<function f at 0xADDRESS>",
        "Wall time: 1.2 s": "TIMING",
        "/x/.venv/lib/python3.11/site-packages/torch/nn/m.py:3: UserWarning: w": "SITE-PACKAGES/torch/nn/m.py:3: UserWarning: w",
        "/home/me/course/utils/training.py:40: UserWarning: w": "REPO/utils/training.py:40: UserWarning: w",
        "/tmp/ipykernel_123/456.py:3: RuntimeWarning: w": "CELL.py:3: RuntimeWarning: w",
    }
    for text, want in varying.items():
        assert sanitize(text) == want
    stable = ["✓ rnn_step_forward (exercise 2.1): passed 5 cases.", "loss 1.234 after 5 steps (100%)",
              "accuracy: 97.5% | perplexity 3.21", "[[ 0.12 -0.5 ]]"]
    for text in stable:
        assert sanitize(text) == text
