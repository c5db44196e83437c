"""Tests of tools/grade.py: adversarial submissions must get exactly the score they deserve.

Submissions are built at test time from the student notebook that tools/generate.py makes
from the toy solution (tests/fixtures/solutions/01_toy.ipynb, two exercises worth 1 point
each: toy_affine_forward, toy_affine_backward), with a ``slow`` training cell added between
the exercises that would loop forever. All adversarial submissions are graded in one batch
(2 jobs, short limits, one bubblewrap sandbox each) and each test reads its row; one test
regrades a few with ``--unsafe-no-sandbox``. The attacks on the grader itself (escaping the
sandbox, harming classmates, forging answers) are in ``test_grade_attacks.py``. Lab 02 gets a
smaller suite when its solution notebook exists. ``-m "not slow"`` runs only the quick unit
tests.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
TOY_EXERCISES = FIXTURES / "toy_exercises.py"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(FIXTURES))

import toy_exercises  # noqa: E402,F401  (registers the toy exercises)
from tests.grading.builders import Submission, grade_lab, read_rows  # noqa: E402
from tools.grading import batch, report, sandbox, scoring, stage, submission  # noqa: E402
from utils import checks  # noqa: E402

# Short limits keep the suite quick; the looping submissions each cost a few seconds.
LIMITS = sandbox.Limits(notebook_timeout=12, cell_timeout=2, exercise_timeout=2, memory_mb=1024)
SLOW_ID = "toy-slow-train"

FORWARD = "toy_affine_forward"
BACKWARD = "toy_affine_backward"

WRONG_BACKWARD = '''def toy_affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, 2 * (x.T @ dout), dout.sum(axis=0)
'''
NO_BIAS_FORWARD = '''def toy_affine_forward(x, w, b):
    return x @ w, (x, w)
'''
OS_EXIT_FORWARD = '''import os

def toy_affine_forward(x, w, b):
    os._exit(0)
'''
LOOP_BACKWARD = '''def toy_affine_backward(dout, cache):
    while True:
        pass
'''
MEMORY_FORWARD = '''def toy_affine_forward(x, w, b):
    buf = bytearray(10**10)
    return x @ w + b, (x, w)
'''
SYNTAX_BACKWARD = '''def toy_affine_backward(dout, cache)
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
'''
PATCH_CHECKS = '''import utils.checks as C

def _fake_check(name, fn, uses=None, **kwargs):
    print(f"✓ {name}: passed 3 cases.")
    return fn

C.check = check = _fake_check
C.compare_outputs = lambda *a, **k: []
C.evaluate = lambda ex, cases, got, want: C.Outcome("passed", len(cases))
C.run_cases = lambda ex, fn, cases, uses=None: [{} for _ in cases]
C.PASS_MARK = C.FAIL_MARK

def toy_affine_forward(x, w, b):
    return x @ w, (x, w)
'''
PATCH_CALL = '''import utils.check_running as C
C._call = lambda ex, fn, case, uses: ex.reference(*case.args, **case.kwargs)
''' + "\n" + NO_BIAS_FORWARD
PATCH_REFERENCE = NO_BIAS_FORWARD + '''
import toy_exercises
import utils.checks as C
toy_exercises.toy_affine_forward = toy_affine_forward
object.__setattr__(C.REGISTRY["toy_affine_forward"], "reference", toy_affine_forward)
'''
CALLS_REFERENCE = '''from toy_exercises import toy_affine_forward as _ref

def toy_affine_forward(x, w, b):
    return _ref(x, w, b)
'''
CALLS_REFERENCE_HIDDEN = '''import importlib

def toy_affine_forward(x, w, b):
    m = importlib.import_module("toy_" + "exercises")
    return getattr(m, "toy_affine_" + "forward")(x, w, b)
'''
IS_REFERENCE = "from toy_exercises import toy_affine_forward\n"
CATCH_TIMEOUT = '''while True:
    try:
        while True:
            pass
    except BaseException:
        pass
'''
FAKE_SUCCESS = ('print("✓ toy_affine_forward (exercise 1.1): passed 3 cases.")\n'
                'print("✓ toy_affine_backward (exercise 1.2): passed 3 cases.")\n')


def overfit_forward() -> str:
    """A forward that returns hard-coded outputs for the check cell's own cases (so the
    notebook shows ✓) and zeros otherwise: only hidden inputs drawn at grading time catch it."""
    ex = checks.get_exercise(FORWARD)
    table = {}
    for case in checks.make_cases(ex):
        out, _ = ex.reference(*case.args)
        table[case.args[0].shape] = out.tolist()
    return ("import numpy as np\n"
            f"_ANSWERS = {table!r}\n\n"
            "def toy_affine_forward(x, w, b):\n"
            "    if x.shape in _ANSWERS:\n"
            "        return np.array(_ANSWERS[x.shape]), (x, w)\n"
            "    return np.zeros((x.shape[0], w.shape[1])), (x, w)\n")


def toy_solution(folder: Path) -> Path:
    """The toy solution notebook plus a slow training cell (between the exercises) that
    would never end."""
    nb = nbformat.read(str(FIXTURES / "solutions" / "01_toy.ipynb"), as_version=4)
    cell = nbformat.v4.new_code_cell("# training for show\nwhile True:\n    pass")
    cell["id"] = SLOW_ID
    cell.metadata["tags"] = ["slow"]
    # between the two exercises, so it would run (cells after the last exercise never do)
    at = next(i for i, c in enumerate(nb.cells) if c.get("id") == "toy-04") + 1
    nb.cells.insert(at, cell)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "01_toy.ipynb"
    nbformat.write(nb, str(path))
    return path


def _untag_slow(sub: Submission) -> Submission:
    for c in sub.nb.cells:
        if c.get("id") == SLOW_ID:
            c.metadata.pop("tags", None)
    return sub


# name -> (build(base) -> Submission | bytes, expected {exercise: points}, status, flags)
CASES = {
    "correct": (lambda s: s.solve_all(), {FORWARD: 1, BACKWARD: 1}, "ok", set()),
    "partly_correct": (lambda s: s.solve(FORWARD).set_exercise(BACKWARD, WRONG_BACKWARD),
                       {FORWARD: 1, BACKWARD: 0}, "ok", set()),
    "untouched": (lambda s: s, {FORWARD: 0, BACKWARD: 0}, "ok", set()),
    "loop_in_exercise": (lambda s: s.solve(FORWARD).set_exercise(BACKWARD, LOOP_BACKWARD),
                         {FORWARD: 1, BACKWARD: 0}, "timeout", {f"timeout:{BACKWARD}"}),
    "loop_top_level": (lambda s: s.solve_all().add_cell("while True:\n    pass", after=FORWARD),
                       {FORWARD: 1, BACKWARD: 1}, "timeout", set()),
    # the cell survives its alarm, so the notebook limit kills the process: the forward,
    # graded before, keeps its point; the backward is never reached
    "loop_catches_alarm": (lambda s: s.solve_all().add_cell(CATCH_TIMEOUT, after=FORWARD),
                           {FORWARD: 1, BACKWARD: 0}, "timeout", set()),
    "loop_after_last_exercise": (lambda s: s.solve_all().add_cell("while True:\n    pass"),
                                 {FORWARD: 1, BACKWARD: 1}, "ok", set()),
    "alloc_10gb_top_level": (lambda s: s.solve_all().add_cell(
        "import numpy as np\nbig = np.ones(10**10 // 8)", after=FORWARD),
        {FORWARD: 1, BACKWARD: 1}, "memory", set()),
    "alloc_10gb_in_exercise": (lambda s: s.solve(BACKWARD).set_exercise(FORWARD, MEMORY_FORWARD),
                               {FORWARD: 0, BACKWARD: 1}, "memory", {f"memory:{FORWARD}"}),
    "os_exit_midway": (lambda s: s.solve_all().add_cell("import os\nos._exit(0)", after=FORWARD),
                       {FORWARD: 1, BACKWARD: 0}, "crashed", set()),
    "os_exit_in_exercise": (lambda s: s.solve(BACKWARD).set_exercise(FORWARD, OS_EXIT_FORWARD),
                            {FORWARD: 0, BACKWARD: 0}, "crashed", set()),
    "sys_exit": (lambda s: s.solve_all().add_cell("import sys\nsys.exit(1)", after=FORWARD),
                 {FORWARD: 1, BACKWARD: 1}, "ok", {"cell-errors:1"}),
    "syntax_error": (lambda s: s.solve(FORWARD).set_exercise(BACKWARD, SYNTAX_BACKWARD),
                     {FORWARD: 1, BACKWARD: 0}, "syntax-error", set()),
    "invalid_json": (lambda s: json.dumps(s.solve_all().nb).encode()[:-40],
                     {FORWARD: 0, BACKWARD: 0}, "invalid-json", set()),
    "empty": (lambda s: b"", {FORWARD: 0, BACKWARD: 0}, "empty", set()),
    "not_a_notebook": (lambda s: b'{"student": "x", "answers": [1, 2]}',
                       {FORWARD: 0, BACKWARD: 0}, "not-a-notebook", set()),
    "monkeypatches_checks": (lambda s: s.solve(BACKWARD).set_exercise(FORWARD, PATCH_CHECKS),
                             {FORWARD: 0, BACKWARD: 1}, "ok", set()),
    # the patched _call sends both exercises to their references, which the sandbox lacks
    "patches_grading_call": (lambda s: s.set_exercise(FORWARD, PATCH_CALL),
                             {FORWARD: 0, BACKWARD: 0}, "ok",
                             {f"calls-reference:{FORWARD}", f"calls-reference:{BACKWARD}",
                              "suspicious:reference", "suspicious:utils.check_running._call"}),
    "patches_reference": (lambda s: s.solve(BACKWARD).set_exercise(FORWARD, PATCH_REFERENCE),
                          {FORWARD: 0, BACKWARD: 1}, "ok",
                          {"suspicious:REGISTRY"}),
    "calls_reference": (lambda s: s.solve(BACKWARD).set_exercise(FORWARD, CALLS_REFERENCE),
                        {FORWARD: 0, BACKWARD: 1}, "ok", {f"calls-reference:{FORWARD}"}),
    "calls_reference_hidden": (lambda s: s.set_exercise(FORWARD, CALLS_REFERENCE_HIDDEN),
                               {FORWARD: 0, BACKWARD: 0}, "ok", {f"calls-reference:{FORWARD}"}),
    "is_the_reference": (lambda s: s.solve(BACKWARD).set_exercise(FORWARD, IS_REFERENCE),
                         {FORWARD: 0, BACKWARD: 1}, "ok", {f"calls-reference:{FORWARD}"}),
    # its parent is the sandbox's init, which cannot be killed from inside: the kill does
    # nothing and the sleeping cell is stopped at its time limit
    "kills_its_parent": (lambda s: s.solve_all().add_cell(
        "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(30)", after=FORWARD),
        {FORWARD: 1, BACKWARD: 1}, "timeout", set()),
    "prints_fake_success": (lambda s: s.add_cell(FAKE_SUCCESS, after=FORWARD).add_cell(FAKE_SUCCESS),
                            {FORWARD: 0, BACKWARD: 0}, "ok", set()),
    "overfits_check_cases": (lambda s: s.set_exercise(FORWARD, overfit_forward()),
                             {FORWARD: 0, BACKWARD: 0}, "ok", set()),
    "slow_tag_removed": (lambda s: _untag_slow(s.solve_all()), {FORWARD: 1, BACKWARD: 1}, "ok", set()),
}


def _context(solution: Path, seed=1234, sandboxed=True) -> batch.Context:
    files, modules = batch.load_exercise_modules([TOY_EXERCISES])
    return batch.Context(lab="01", exercises=scoring.lab_exercises("01", modules), limits=LIMITS,
                         solution=solution, exercise_files=files, seed=seed, sandboxed=sandboxed)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every adversarial submission once: (rows, out folder, summary, context)."""
    root = tmp_path_factory.mktemp("grade")
    solution = toy_solution(root / "solutions")
    base = Submission.from_solution(solution)
    subs = root / "submissions"
    subs.mkdir()
    for name, (build, *_rest) in CASES.items():
        made = build(base.copy())
        path = subs / f"{name}.ipynb"
        if isinstance(made, bytes):
            path.write_bytes(made)
        else:
            made.write(path)
    ctx = _context(solution)
    out = root / "out"
    summary = batch.grade_folder(subs, out, ctx, jobs=2, log=lambda *a: None)
    return read_rows(out / "grades.csv"), out, summary, ctx


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_adversarial_submission_gets_its_score(graded, name):
    rows, *_ = graded
    _, points, status, flags = CASES[name]
    row = rows[name]
    got = {ex: float(row[ex]) for ex in points}
    assert got == {ex: float(p) for ex, p in points.items()}, row
    assert float(row["total"]) == sum(points.values()) and row["max"] == "2"
    assert row["status"] == status, row
    assert set(filter(None, row["flags"].split(";"))) == flags, row


@pytest.mark.slow
def test_csv_has_a_row_per_student_and_feedback_each(graded):
    rows, out, summary, ctx = graded
    assert set(rows) == set(CASES)
    assert summary["graded"] == len(CASES) and summary["skipped"] == 0
    header = next(csv.reader(open(out / "grades.csv", encoding="utf-8")))
    assert header == ["student", FORWARD, BACKWARD, "total", "max", "status", "flags",
                      "similarity", "detail", "sha256", "grader", "sandbox"]
    for name in CASES:
        assert (out / "feedback" / f"{name}.md").is_file()
        assert rows[name]["grader"] == ctx.grader


@pytest.mark.slow
def test_feedback_gives_check_verdicts_and_hints_without_hidden_values(graded):
    _, out, _, _ = graded
    text = (out / "feedback" / "partly_correct.md").read_text(encoding="utf-8")
    assert "✓ toy_affine_forward (exercise 1.1): passed 3 cases." in text
    assert "✗ toy_affine_backward (exercise 1.2): dw is off" in text
    assert "is 2 times the expected values" in text  # the check's diagnosis is kept
    assert "Hint: dw = x.T @ dout" in text
    # no reference values: the check's "largest difference ...: got a, want b" is removed
    assert "largest difference" not in text and not re.search(r"\bgot\b", text)
    assert "Score: **1 / 2**" in text
    assert "tagged `slow`" in text and "after the last exercise were not run" in text
    crashed = (out / "feedback" / "os_exit_midway.md").read_text(encoding="utf-8")
    assert "exited with code 0 while running cell" in crashed and "not graded" in crashed
    crashed = (out / "feedback" / "os_exit_in_exercise.md").read_text(encoding="utf-8")
    assert "exited with code 0 while calling toy_affine_forward on the hidden cases" in crashed
    ref = (out / "feedback" / "calls_reference.md").read_text(encoding="utf-8")
    assert "calls the reference implementation `toy_exercises.toy_affine_forward`" in ref


@pytest.mark.slow
def test_rerun_grades_only_missing_or_changed(graded, tmp_path):
    rows, out, _, ctx = graded
    subs = tmp_path / "subs"
    subs.mkdir()
    base = Submission.from_solution(ctx.solution)
    base.copy().solve_all().write(subs / "a.ipynb")
    base.copy().write(subs / "b.ipynb")
    dest = tmp_path / "out"
    first = batch.grade_folder(subs, dest, ctx, jobs=2, log=lambda *a: None)
    assert (first["graded"], first["skipped"]) == (2, 0)
    before = (dest / "grades.csv").read_text()
    again = batch.grade_folder(subs, dest, ctx, jobs=2, log=lambda *a: None)
    assert (again["graded"], again["skipped"]) == (0, 2)
    assert (dest / "grades.csv").read_text() == before
    # b is changed (now correct), c is new (as after an interrupted run): only they are graded
    base.copy().solve_all().write(subs / "b.ipynb")
    base.copy().solve(FORWARD).write(subs / "c.ipynb")
    third = batch.grade_folder(subs, dest, ctx, jobs=2, log=lambda *a: None)
    assert (third["graded"], third["skipped"]) == (2, 1)
    totals = {k: r["total"] for k, r in read_rows(dest / "grades.csv").items()}
    assert totals == {"a": "2", "b": "2", "c": "1"}


@pytest.mark.slow
def test_unsandboxed_mode_gives_the_same_grades_and_says_so(graded, tmp_path):
    """``--unsafe-no-sandbox`` runs the same child without bubblewrap: same scores, every row
    flagged ``unsandboxed``, and a rerun with the sandbox regrades every row."""
    rows, _, _, ctx = graded
    names = ["correct", "partly_correct", "os_exit_midway", "loop_top_level", "calls_reference_hidden"]
    subs = tmp_path / "subs"
    subs.mkdir()
    base = Submission.from_solution(ctx.solution)
    for name in names:
        CASES[name][0](base.copy()).write(subs / f"{name}.ipynb")
    plain = _context(ctx.solution, seed=99, sandboxed=False)
    batch.grade_folder(subs, tmp_path / "out", plain, jobs=2, log=lambda *a: None)
    got = read_rows(tmp_path / "out" / "grades.csv")
    for name in names:
        keys = ("total", "status", FORWARD, BACKWARD)
        assert [got[name][k] for k in keys] == [rows[name][k] for k in keys], name
        assert got[name]["flags"].split(";")[-1] == "unsandboxed" and got[name]["sandbox"] == "unsandboxed"
        assert got[name]["flags"].replace("unsandboxed", "").strip(";") == rows[name]["flags"], name
    again = batch.grade_folder(subs, tmp_path / "out", _context(ctx.solution, seed=99),
                               jobs=2, log=lambda *a: None)
    assert (again["graded"], again["skipped"]) == (len(names), 0)
    assert {r["sandbox"] for r in read_rows(tmp_path / "out" / "grades.csv").values()} == {"bwrap"}


def test_csv_rewrite_is_atomic_and_keeps_rows(tmp_path):
    fields = report.fields_for(["e1"])
    path = tmp_path / "grades.csv"
    rows = {"bob": {"student": "bob", "e1": "1", "total": "1", "max": "1", "status": "ok"}}
    report.write_csv(path, fields, rows)
    rows["amy"] = {"student": "amy", "e1": "0", "total": "0", "max": "1", "status": "empty"}
    report.write_csv(path, fields, rows)
    got = report.read_csv(path, fields)
    assert list(got) == ["amy", "bob"] and got["bob"]["total"] == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]  # no temporary file left
    # a CSV for other exercises is not reused
    assert report.read_csv(path, report.fields_for(["e2"])) == {}


def test_sanitize_removes_values_but_keeps_diagnosis():
    outcome = checks.Outcome("failed", 3, 1, "random N=3", [
        ("dw is off (relative error 0.5, want < 1e-7)",
         "largest difference at dw[0, 1]: got 0.53, want 0.61; dw looks transposed")])
    clean = report.sanitize(outcome)
    assert clean.problems == [("dw is off (relative error 0.5, want < 1e-7)", "dw looks transposed")]


def test_static_scan_finds_reference_use_through_aliases():
    ex = {FORWARD: checks.get_exercise(FORWARD)}
    def cells(src):
        return [submission.Cell(0, "c", src, False)]
    assert submission.scan(cells(CALLS_REFERENCE), ex)["calls_reference"] == {FORWARD}
    alias = "import toy_exercises as T\ndef toy_affine_forward(x, w, b):\n    return T.toy_affine_forward(x, w, b)\n"
    assert submission.scan(cells(alias), ex)["calls_reference"] == {FORWARD}
    own = "def toy_affine_forward(x, w, b):\n    return x @ w + b, (x, w)\n"
    assert submission.scan(cells(own), ex) == {"calls_reference": set(), "suspicious": []}
    private = ("from utils.attention import _attention_softmax as sm\n"
               "def toy_affine_forward(x, w, b):\n    return sm(x @ w + b, None), (x, w)\n")
    assert submission.scan(cells(private), ex)["suspicious"] == ["utils.attention._attention_softmax"]


def test_binds_ignores_the_check_line():
    names = {FORWARD}
    assert submission.binds("def toy_affine_forward(x):\n    pass", names) == names
    assert submission.binds('toy_affine_forward = check("toy_affine_forward", toy_affine_forward)',
                            names) == set()
    assert submission.binds("def toy_affine_forward(x)\n    pass", names) == names  # no parse


def test_cases_round_trip_without_pickle():
    from tools.grading import cases_io
    value = (np.arange(6.0).reshape(2, 3), np.int64(3), None, 2.5, float("inf"),
             {"mask": np.ones(2, bool)}, [1, "a"])
    back = cases_io.decode(json.loads(json.dumps(cases_io.encode(value))))
    assert np.array_equal(back[0], value[0]) and back[1] == 3 and back[2] is None
    assert back[4] == float("inf") and back[5]["mask"].dtype == bool and back[6] == [1, "a"]
    with pytest.raises(TypeError, match="object"):
        cases_io.encode(np.array([object()]))


def test_answers_are_checked_against_the_reference_before_decoding():
    """A claimed array is decoded only with the reference's shape, exact length and a
    numeric dtype, and every decoded byte counts against the budget."""
    from tools.grading import cases_io
    want = np.zeros((2, 3))
    good = cases_io.encode(np.ones((2, 3)))["array"]
    budget = cases_io.Budget(80)
    assert np.array_equal(cases_io.decode_output(good, want, budget), np.ones((2, 3)))
    assert budget.left == 80 - 48
    with pytest.raises(ValueError, match="larger than the grader accepts"):
        cases_io.decode_output(good, want, budget)  # 48 more bytes than the 32 left
    huge = dict(good, shape=[10**9, 10**3])  # a wrong shape is never decoded: no memory
    placeholder = cases_io.decode_output(huge, want, cases_io.Budget(0))
    assert placeholder.shape == (10**9, 10**3) and placeholder.strides == (0, 0)
    for bad in (dict(good, b64=good["b64"] * 40), dict(good, dtype="object"),
                dict(good, shape=[2, "3"]), dict(good, extra=1), [1, 2]):
        with pytest.raises(ValueError):
            cases_io.decode_output(bad, want, cases_io.Budget(10**6))


def test_limits_reject_bad_values():
    with pytest.raises(ValueError, match="notebook_timeout"):
        sandbox.Limits(notebook_timeout=0)
    with pytest.raises(ValueError, match="memory_mb must be at least 256"):
        sandbox.Limits(memory_mb=10)
    with pytest.raises(ValueError, match="jobs must be an int >= 1"):
        batch.grade_folder(REPO, REPO / "nowhere", _context(None), jobs=0)


def test_command_line_errors_are_clear(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, str(REPO / "tools" / "grade.py"), *args],
                              capture_output=True, text=True, cwd=tmp_path, timeout=60)
    r = run("xx", str(tmp_path), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "LAB must be a lab number like 02, got 'xx'" in r.stderr
    r = run("99", str(tmp_path), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "no exercises are registered for lab 99" in r.stderr
    r = run("01", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
            "--exercises", str(TOY_EXERCISES))
    assert r.returncode == 2 and "does not exist or is not a folder" in r.stderr


# --------------------------------------------------------------------------- lab 02

LAB02 = sorted((REPO / "solutions").glob("02_*.ipynb"))


@pytest.mark.slow
@pytest.mark.skipif(not LAB02, reason="solutions/02_*.ipynb is not written yet")
def test_lab02_correct_partial_untouched_and_reference(tmp_path):
    exercises = scoring.lab_exercises("02")
    assert exercises, "lab 02 has a solution notebook but no registered exercises"
    first = exercises[0]
    ref = first.reference
    calls_reference = (f"from {ref.__module__} import {ref.__name__} as _ref\n\n"
                       f"def {first.name}(*args, **kwargs):\n    return _ref(*args, **kwargs)\n")
    limits = sandbox.Limits(notebook_timeout=120, cell_timeout=60, exercise_timeout=30)
    rows = grade_lab("02", LAB02[0], tmp_path, limits, partly=[first.name], others={
        "calls_reference": lambda s: s.solve_all().set_exercise(first.name, calls_reference)})
    top = sum(float(ex.points) for ex in exercises)
    assert float(rows["correct"]["total"]) == top and rows["correct"]["status"] == "ok", rows["correct"]
    assert float(rows["untouched"]["total"]) == 0, rows["untouched"]
    assert float(rows["partly"]["total"]) == float(first.points), rows["partly"]
    assert float(rows["calls_reference"][first.name]) == 0
    # The sandbox has no reference to fall back to: an exercise whose own code calls the
    # first one fails with it; the others (backwards graded on the reference's cache
    # included) keep their points.
    solution_cells = Submission.from_solution(LAB02[0]).solution_cells
    callers = {ex.name for ex in exercises[1:] if f"{first.name}(" in solution_cells[ex.name]}
    assert callers, "the lab's later exercises no longer call the first one: update this test"
    lost = float(first.points) + sum(float(ex.points) for ex in exercises if ex.name in callers)
    assert float(rows["calls_reference"]["total"]) == top - lost, rows["calls_reference"]
    assert f"calls-reference:{first.name}" in rows["calls_reference"]["flags"]


LAB05 = sorted((REPO / "solutions").glob("05_*.ipynb"))
# Lab 05's references live in utils.lm_baselines (bigram_nats) and utils.sampling
# (next_char_probs), re-exported by utils.charlm, which the lab imports from: a body that
# names a reference through either module calls it.
LAB05_CALLS = {
    "bigram_nats": ("from utils.lm_baselines import bigram_nats as _ref\n\n"
                    "def bigram_nats(*args, **kwargs):\n    return _ref(*args, **kwargs)\n"),
    "bigram_nats_through_charlm": ("from utils import charlm\n\n"
                                   "def bigram_nats(*args, **kwargs):\n"
                                   "    return charlm.bigram_nats(*args, **kwargs)\n"),
    "next_char_probs": ("import utils.sampling as S\n\n"
                        "def next_char_probs(*args, **kwargs):\n"
                        "    return S.next_char_probs(*args, **kwargs)\n"),
    "next_char_probs_through_charlm": ("from utils.charlm import next_char_probs as _ref\n\n"
                                       "def next_char_probs(*args, **kwargs):\n"
                                       "    return _ref(*args, **kwargs)\n"),
}


@pytest.mark.parametrize("student", sorted(LAB05_CALLS))
def test_static_scan_finds_a_moved_reference_through_every_module(student):
    exercises = {ex.name: ex for ex in scoring.lab_exercises("05")}
    name = student.split("_through")[0]
    cell = [submission.Cell(0, "c", LAB05_CALLS[student], False)]
    assert submission.scan(cell, exercises)["calls_reference"] == {name}
    own = f"def {name}(*args, **kwargs):\n    return None\n"
    assert submission.scan([submission.Cell(0, "c", own, False)], exercises)["calls_reference"] == set()


def test_sandbox_view_stubs_a_moved_reference_under_every_name():
    """The grading view stubs each lab 05 reference in the module that defines it, so the
    names utils.charlm re-exports are the stubs too."""
    import shutil
    exercises = scoring.lab_exercises("05")
    view = stage.build(REPO, exercises)
    try:
        probe = ("import importlib, sys\n"
                 f"sys.path.insert(0, {str(view / 'lib')!r})\n"
                 "for path in sys.argv[1:]:\n"
                 "    module, name = path.rsplit('.', 1)\n"
                 "    try:\n"
                 "        getattr(importlib.import_module(module), name)()\n"
                 "    except Exception as e:\n"
                 "        print(path, type(e).__name__)\n")
        paths = [f"{m}.{ex.reference.__name__}" for ex in exercises
                 for m in sorted({ex.reference.__module__, "utils.charlm"})]
        r = subprocess.run([sys.executable, "-I", "-B", "-c", probe, *paths], capture_output=True,
                           text=True, cwd=view, timeout=120)
    finally:
        shutil.rmtree(view, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    assert {ex.reference.__module__ for ex in exercises} == {"utils.lm_baselines", "utils.sampling",
                                                            "utils.charlm"}
    assert r.stdout.split("\n")[:-1] == [f"{p} {stage.ERROR_CLASS}" for p in paths], r.stdout


@pytest.mark.slow
@pytest.mark.skipif(not LAB05, reason="solutions/05_*.ipynb is not written yet")
def test_lab05_reference_through_its_new_or_old_module_scores_0(tmp_path):
    """In the sandbox a reference of lab 05 is a stub under every name it has (its own module
    and utils.charlm), and a call through either is flagged and scores 0. (The scan of every
    path in LAB05_CALLS is the test above; each graded notebook runs the lab, so two are here.)"""
    exercises = {ex.name: ex for ex in scoring.lab_exercises("05")}
    limits = sandbox.Limits(notebook_timeout=240, cell_timeout=120, exercise_timeout=30)
    graded = ["bigram_nats", "next_char_probs_through_charlm"]   # a new module; utils.charlm
    others = {student: (lambda src, name: lambda s: s.solve_all().set_exercise(name, src))(
        LAB05_CALLS[student], student.split("_through")[0]) for student in graded}
    rows = grade_lab("05", LAB05[0], tmp_path, limits, others=others)
    top = sum(float(ex.points) for ex in exercises.values())
    assert float(rows["correct"]["total"]) == top and rows["correct"]["status"] == "ok", rows["correct"]
    assert float(rows["untouched"]["total"]) == 0, rows["untouched"]
    solution_cells = Submission.from_solution(LAB05[0]).solution_cells
    for student in graded:
        name = student.split("_through")[0]
        row = rows[student]
        assert float(row[name]) == 0 and f"calls-reference:{name}" in row["flags"], (student, row)
        # an exercise whose own code calls the stubbed one (sample_ids: next_char_probs) fails too
        lost = {name} | {n for n in exercises if f"{name}(" in solution_cells[n]}
        kept = sum(float(ex.points) for n, ex in exercises.items() if n not in lost)
        assert float(row["total"]) == kept, (student, row)


LAB07 = sorted((REPO / "solutions").glob("07_*.ipynb"))


@pytest.mark.slow
@pytest.mark.skipif(not LAB07, reason="solutions/07_*.ipynb is not written yet")
def test_lab07_correct_partial_untouched_and_a_known_mistake(tmp_path):
    """Lab 07's exercises build torch models inside their `call` from plain-data cases; in the
    sandbox the models still work without the removed references."""
    exercises = scoring.lab_exercises("07")
    assert [ex.name for ex in exercises] == ["masked_softmax_np", "masked_softmax", "additive_attention",
                                             "decoder_step", "beam_search"]
    no_length_norm = (
        "from utils.exercises.mistakes_lab07 import beam_no_length_norm\n\n"
        "def beam_search(step, state, bos, eos, beam_size=3, max_len=12, alpha=1.0):\n"
        "    return beam_no_length_norm(step, state, bos, eos, beam_size, max_len, alpha)\n")
    limits = sandbox.Limits(notebook_timeout=180, cell_timeout=60, exercise_timeout=30)
    rows = grade_lab("07", LAB07[0], tmp_path, limits, partly=["decoder_step"], others={
        "no_length_norm": lambda s: s.solve_all().set_exercise("beam_search", no_length_norm)})
    top = sum(float(ex.points) for ex in exercises)
    assert float(rows["correct"]["total"]) == top and rows["correct"]["status"] == "ok", rows["correct"]
    # The lab's cells load checkpoints from data/ through utils: a correct notebook runs cleanly.
    assert "cell-errors" not in rows["correct"]["flags"], rows["correct"]
    assert float(rows["untouched"]["total"]) == 0, rows["untouched"]
    assert float(rows["partly"]["total"]) == 1 and float(rows["partly"]["decoder_step"]) == 1, rows["partly"]
    assert float(rows["no_length_norm"]["beam_search"]) == 0, rows["no_length_norm"]
    assert float(rows["no_length_norm"]["total"]) == top - 1, rows["no_length_norm"]


@pytest.mark.slow
def test_a_grading_run_after_an_interrupted_one_runs(tmp_path):
    """An interrupted run (kill_all) stops its sandboxes; the next run in the same process
    (the test suite, a notebook) must still grade."""
    solution = toy_solution(tmp_path / "solutions")
    subs = tmp_path / "subs"
    subs.mkdir()
    Submission.from_solution(solution).solve_all().write(subs / "a.ipynb")
    sandbox.kill_all()
    batch.grade_folder(subs, tmp_path / "out", _context(solution), jobs=1, log=lambda *a: None)
    row = read_rows(tmp_path / "out" / "grades.csv")["a"]
    assert row["status"] == "ok" and float(row["total"]) == float(row["max"]), row
