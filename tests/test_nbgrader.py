"""nbgrader 0.9.6 takes every lab as it is: generate, autograde, feedback, and the same points
as tools/grade.py.

For every lab in solutions/ (a glob: a new lab is covered with no change here), once per lab
(a module-scoped fixture): ``tools/nbgrader_course.py`` lays out a course directory, ``nbgrader
generate_assignment`` releases the lab, three submissions built from the release (correct,
partly correct: every other exercise solved, and untouched) go through ``nbgrader autograde``
and ``nbgrader generate_feedback``, and ``tools/grade.py`` grades the same three files.

nbgrader runs from ``.venv-nbgrader`` (requirements-nbgrader.txt, made by the ``nbgrader``
install step of ``python course.py test``: scripts/install_nbgrader.py), and executes the
submissions on its kernel ``rnn-course``, this ``.venv``'s Python.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NBGRADER_ENV = REPO / ".venv-nbgrader"
NBGRADER_BIN = NBGRADER_ENV / ("Scripts" if os.name == "nt" else "bin")
KERNEL = "rnn-course"
SOLUTIONS = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
STUDENTS = ("correct", "partly", "untouched")
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

pytestmark = [pytest.mark.slow, pytest.mark.notebook]

# Prints every score nbgrader's gradebook holds for one assignment, as JSON.
GRADEBOOK = """
import json, sys
from nbgrader.api import Gradebook
with Gradebook("sqlite:///gradebook.db") as gb:
    print(json.dumps({s.student.id: {g.name: g.score for nb in s.notebooks for g in nb.grades}
                      for s in gb.assignment_submissions(sys.argv[1])}))
"""


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONHASHSEED="0")
    env["PATH"] = str(NBGRADER_BIN) + os.pathsep + env.get("PATH", "")  # nbgrader runs `alembic`
    env.pop("PYTHONPATH", None)
    return env


def _run(command, cwd, what):
    r = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"{what} failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    return r


def _nbgrader(course: Path, *args):
    r = _run([str(NBGRADER_BIN / "nbgrader"), *args], course, f"nbgrader {' '.join(args)}")
    # nbgrader logs a failed assignment (or a config file it could not load) and still exits 0.
    for bad in ("[ERROR]", "| ERROR]", "Exception while loading config file"):
        assert bad not in r.stderr + r.stdout, f"nbgrader {' '.join(args)} reported an error:\n{r.stderr[-5000:]}"
    return r


def _without_nbgrader_metadata(nb: dict) -> dict:
    """The notebook minus what nbgrader adds: its cell metadata and LockCells' flags."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        for key in ("nbgrader", "editable", "deletable"):
            cell["metadata"].pop(key, None)
    return nb


def submissions(release: dict, solution) -> dict:
    """{student: notebook dict}: the release with its solution cells replaced by the solution's
    (markers removed): all of them, every other one (in notebook order), or none."""
    solved_source = {c.id: "\n".join(l for l in c.source.split("\n") if l.strip() not in MARKERS)
                     for c in solution.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    answer_ids = [c["id"] for c in release["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    chosen = {"correct": set(answer_ids), "partly": set(answer_ids[::2]), "untouched": set()}
    out = {}
    for student, ids in chosen.items():
        nb = copy.deepcopy(release)
        for cell in nb["cells"]:
            if cell["id"] in ids:
                cell["source"] = solved_source[cell["id"]]
        out[student] = nb
    return out


@pytest.fixture(scope="module", params=SOLUTIONS, ids=[p.name[:2] for p in SOLUTIONS])
def graded(request, tmp_path_factory):
    """One lab through nbgrader and tools/grade.py: a dict of what the tests compare."""
    if not (NBGRADER_BIN / "nbgrader").exists():
        pytest.fail(f"nbgrader is not installed in {NBGRADER_ENV.name}: run python course.py test "
                    f"(its nbgrader step runs scripts/install_nbgrader.py)")
    solution_path = request.param
    lab = solution_path.name[:2]
    name = f"lab{lab}"
    root = tmp_path_factory.mktemp(f"nbgrader{lab}")
    course = root / "course"
    times = {}
    start = time.monotonic()
    _run([sys.executable, str(REPO / "tools" / "nbgrader_course.py"), str(course), "--lab", lab,
          "--kernel", KERNEL], REPO, "tools/nbgrader_course.py")
    _nbgrader(course, "generate_assignment", name)
    times["generate"] = time.monotonic() - start
    release_path = course / "release" / name / solution_path.name
    release = json.loads(release_path.read_text())
    subs = root / "subs"
    subs.mkdir()
    for student, nb in submissions(release, nbformat.read(solution_path, 4)).items():
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        (folder / solution_path.name).write_text(text)
        (subs / f"{student}.ipynb").write_text(text)
    start = time.monotonic()
    _nbgrader(course, "autograde", name, "--create")
    times["autograde"] = time.monotonic() - start
    start = time.monotonic()
    _nbgrader(course, "generate_feedback", name)
    times["feedback"] = time.monotonic() - start
    scores = json.loads(_run([str(NBGRADER_BIN / "python"), "-c", GRADEBOOK, name], course,
                             "reading the gradebook").stdout)
    start = time.monotonic()
    _run([sys.executable, str(REPO / "tools" / "grade.py"), lab, str(subs), "--out", str(root / "grades"),
          "--jobs", "1"], REPO, "tools/grade.py")
    times["grade.py"] = time.monotonic() - start
    with open(root / "grades" / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    print(f"lab {lab}: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    return {"lab": lab, "name": name, "course": course, "release": release,
            "student_notebook": json.loads((REPO / "notebooks" / solution_path.name).read_text()),
            "scores": scores, "rows": rows, "notebook": solution_path.name}


def _exercises(lab: str) -> list:
    """The lab's own exercises (the grader tests register a toy lab under "01" too)."""
    from tools.grading import labs, scoring
    return scoring.lab_exercises(lab, [labs.lab_module(lab)])


def test_release_is_our_student_notebook(graded):
    """nbgrader accepts the lab, and what it releases is notebooks/NN_*.ipynb plus its metadata."""
    assert _without_nbgrader_metadata(graded["release"]) == graded["student_notebook"]
    graded_cells = [c for c in graded["release"]["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    assert graded_cells, "the release has no autograded test cell"
    assert not any("HIDDEN" in "".join(c["source"]) for c in graded["release"]["cells"])


def test_autograde_gives_the_points_of_grade_py(graded):
    """Per exercise and in total, for a correct, a partly correct and an untouched submission."""
    exercises = _exercises(graded["lab"])
    assert exercises, f"lab {graded['lab']} has no registered exercises"
    top = sum(float(ex.points) for ex in exercises)
    assert set(graded["scores"]) == set(STUDENTS), graded["scores"]
    mine = {}
    for student in STUDENTS:
        # every graded cell of nbgrader is one exercise's check (no other points)
        assert set(graded["scores"][student]) == {f"{ex.name}-check" for ex in exercises}, graded["scores"]
        mine[student] = {ex.name: float(graded["scores"][student][f"{ex.name}-check"]) for ex in exercises}
    total = {s: sum(mine[s].values()) for s in STUDENTS}
    assert total["correct"] == top and total["untouched"] == 0, total
    assert 0 < total["partly"] < top, total
    for student in STUDENTS:
        row = graded["rows"][student]
        assert row["status"] == "ok", row
        theirs = {ex.name: float(row[ex.name]) for ex in exercises}
        assert mine[student] == theirs, f"{student}: nbgrader {mine[student]} != tools/grade.py {theirs}"
        assert total[student] == float(row["total"])


def test_feedback_is_generated_for_every_submission(graded):
    for student in STUDENTS:
        html = graded["course"] / "feedback" / student / graded["name"] / graded["notebook"].replace(".ipynb", ".html")
        assert html.is_file() and html.stat().st_size > 0, f"no feedback file {html}"
        text = html.read_text(encoding="utf-8")
        assert "Score" in text or "score" in text, f"{html} shows no score"
