"""Attacks on the grader itself, one notebook per attack class, graded in one batch with
honest classmates (who must keep full marks).

Each attack names real paths of this run (the solution notebook, the submissions and output
folders, a secret file, a loopback port), as a student who knows the grading setup would.
Every one of them succeeds without the sandbox: run this file with
``GRADE_ATTACKS_UNSANDBOXED=1`` to watch the suite fail (the attacks then really run as
your user; ``kills_the_grader`` is left out in that mode because it would kill pytest).
"""

from __future__ import annotations

import csv
import hashlib
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.grading.builders import Submission  # noqa: E402
from tests.test_grade import BACKWARD, FORWARD, LIMITS, TOY_EXERCISES, toy_solution  # noqa: E402
from tools.grading import batch, scoring, sandbox  # noqa: E402

UNSANDBOXED = os.environ.get("GRADE_ATTACKS_UNSANDBOXED") == "1"
CANARY = "canary-7f3a9e-do-not-quote"

# {paths}: filled in at build time (the fixture's folders); doubled braces are literal.
FROM_SOLUTIONS = '''import json
toy_affine_forward = toy_affine_backward = None
nb = json.load(open({solution!r}))
for c in nb["cells"]:
    src = "".join(c["source"])
    if c["cell_type"] == "code" and "def toy_affine_" in src:
        exec(src.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
'''
FROM_CLASSMATE = '''import json
toy_affine_forward = toy_affine_backward = None
nb = json.load(open({subs!r} + "/honest_alice.ipynb"))
for c in nb["cells"]:
    src = "".join(c["source"])
    if c["cell_type"] == "code" and src.startswith("def toy_affine_"):
        exec(src)
'''
REFERENCE_IN_THREAD = '''import threading
import toy_exercises

def toy_affine_forward(x, w, b):
    box = []
    t = threading.Thread(target=lambda: box.append(toy_exercises.toy_affine_forward(x, w, b)))
    t.start()
    t.join()
    return box[0]
'''
REFERENCE_SOURCE = '''import inspect
import toy_exercises
exec(inspect.getsource(toy_exercises.toy_affine_forward))
'''
REFERENCE_CODE_OBJECT = '''import toy_exercises

def toy_affine_forward(x, w, b):
    pass

toy_affine_forward.__code__ = toy_exercises.toy_affine_forward.__code__
'''
# Forges the grader's result writer, then claims a huge array and sends one 32 MB array 40
# times, straight into every pipe it can find (written piecewise: cheap for the notebook).
FORGED_ANSWERS = '''import base64, json, os, stat
blob = base64.b64encode(bytes(32 * 2**20))
huge = json.dumps({{"event": "result", "exercise": "toy_affine_backward", "defined": True,
    "timed_out": False, "variants": {{"own": [{{"outputs": {{"dx": {{"dtype": "float64",
    "shape": [10**9, 10**3], "b64": ""}}}}}}] * 3}}}})
json.dumps = lambda *a, **k: "{{}}"
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, huge.encode() + b"\\n")
            os.write(fd, b'{{"event": "result", "exercise": "toy_affine_forward", "variants": {{"own": [')
            for _ in range(40):
                os.write(fd, b'{{"outputs": {{"out": {{"dtype": "float64", "shape": [2, 4], "b64": "' + blob + b'"}}}}}},')
    except OSError:
        pass
'''
# Outlives its notebook (setsid), then keeps rewriting the CSV and a classmate's notebook.
BACKGROUND_FORGER = '''import subprocess, sys
code = """
import time
for _ in range(300):
    for path, text in ((%r, "student,total\\\\nbackground_forger,5\\\\n"), (%r, "{{}}")):
        try:
            open(path, "w").write(text)
        except OSError:
            pass
    time.sleep(0.1)
""" % ({out!r} + "/grades.csv", {subs!r} + "/honest_bob.ipynb")
subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
'''
REPLACES_CSV = '''import os, shutil
for p in ({out!r} + "/grades.csv", {out!r} + "/feedback"):
    try:
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        os.mkdir(p)
    except OSError:
        pass
'''
PLANTS_FILES = '''import os
for path, size in (({pyc!r}, 100), ({leak!r}, 50 * 2**20)):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(bytes(size))
    except OSError:
        pass
'''
READS_SECRETS = '''import os
found = [v for v in os.environ.values() if "canary" in v]
try:
    found.append(open({secret!r}).read())
except OSError:
    pass
raise RuntimeError("leak: " + " ".join(found))
'''
LOOPBACK = '''import socket
s = socket.socket()
s.settimeout(1)
s.connect(("127.0.0.1", {port}))
s.sendall(b"hello from a submission")
'''
KILLS_GRADER = '''import os, signal
os.kill(os.getppid(), signal.SIGKILL)
'''

ALL = {FORWARD: 1, BACKWARD: 1}
NONE = {FORWARD: 0, BACKWARD: 0}
# name -> (build(base, paths) -> Submission, points, status, flags)
ATTACKS = {
    "honest_alice": (lambda s, p: s.solve_all(), ALL, "ok", set()),
    "honest_bob": (lambda s, p: s.solve_all(), ALL, "ok", set()),
    "honest_carol": (lambda s, p: s.solve_all(), ALL, "ok", set()),
    # full marks with no code of one's own
    # (the file is not in the sandbox: the cell fails and defines nothing)
    "runs_solution_cells": (lambda s, p: s.set_exercise(BACKWARD, FROM_SOLUTIONS.format(**p)),
                            NONE, "ok", {"cell-errors:1"}),
    "runs_classmate_notebook": (lambda s, p: s.set_exercise(BACKWARD, FROM_CLASSMATE.format(**p)),
                                NONE, "ok", {"cell-errors:1"}),
    "reference_in_thread": (lambda s, p: s.set_exercise(FORWARD, REFERENCE_IN_THREAD),
                            NONE, "ok", {f"calls-reference:{FORWARD}"}),
    "reference_source": (lambda s, p: s.set_exercise(FORWARD, REFERENCE_SOURCE),
                         NONE, "ok", {f"calls-reference:{FORWARD}", "suspicious:getsource"}),
    "reference_code_object": (lambda s, p: s.set_exercise(FORWARD, REFERENCE_CODE_OBJECT),
                              NONE, "ok", {f"calls-reference:{FORWARD}", "suspicious:__code__"}),
    "forged_answers": (lambda s, p: s.add_cell(FORGED_ANSWERS.format(**p), after=FORWARD),
                       NONE, "crashed", set()),
    # harming classmates, stopping the batch
    "background_forger": (lambda s, p: s.add_cell(BACKGROUND_FORGER.format(**p), after=FORWARD),
                          NONE, "ok", set()),
    "replaces_grades_csv": (lambda s, p: s.add_cell(REPLACES_CSV.format(**p), after=FORWARD),
                            NONE, "ok", set()),
    "kills_the_grader": (lambda s, p: s.solve_all().add_cell(KILLS_GRADER, after=FORWARD),
                         ALL, "ok", set()),
    # persistence and leaks
    "plants_files": (lambda s, p: s.add_cell(PLANTS_FILES.format(**p), after=FORWARD),
                     NONE, "ok", set()),
    "reads_secrets": (lambda s, p: s.add_cell(READS_SECRETS.format(**p), after=FORWARD),
                      NONE, "ok", {"cell-errors:1"}),
    "loopback": (lambda s, p: s.add_cell(LOOPBACK.format(**p), after=FORWARD),
                 NONE, "ok", {"cell-errors:1"}),
}
if UNSANDBOXED:
    del ATTACKS["kills_the_grader"]
# names that collide once cleaned: both graded, under distinct ids
COLLIDING = ("carol x", "carol_x")


class _Listener:
    """A loopback server that records whether anything connected."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    solution = toy_solution(root / "solutions")
    subs, out = root / "submissions", root / "out"
    subs.mkdir()
    secret = root / "home" / ".ssh" / "id_rsa"
    secret.parent.mkdir(parents=True)
    secret.write_text(CANARY)
    pycache = REPO / "utils" / "__pycache__"
    paths = {"solution": str(solution), "subs": str(subs), "out": str(out), "secret": str(secret),
             "pyc": str(pycache / "planted-by-a-submission.pyc"),
             "leak": str(Path("/tmp") / f"grade-leak-{os.getpid()}.bin")}
    listener = _Listener()
    paths["port"] = listener.port
    base = Submission.from_solution(solution)
    for name, (build, *_rest) in ATTACKS.items():
        build(base.copy(), paths).write(subs / f"{name}.ipynb")
    for name in COLLIDING:
        base.copy().solve_all().write(subs / f"{name}.ipynb")
    honest = {n: _digest(subs / f"{n}.ipynb") for n in ATTACKS if n.startswith("honest_")}
    files, modules = batch.load_exercise_modules([TOY_EXERCISES])
    ctx = batch.Context(lab="01", exercises=scoring.lab_exercises("01", modules), limits=LIMITS,
                        solution=solution, exercise_files=files, seed=5, sandboxed=not UNSANDBOXED)
    os.environ["GRADE_TEST_CANARY"] = CANARY
    try:
        summary = batch.grade_folder(subs, out, ctx, jobs=2, log=lambda *a: None)
    finally:
        os.environ.pop("GRADE_TEST_CANARY", None)
        time.sleep(1.0)  # anything left behind has had time to act
        listener.close()
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    yield {"rows": rows, "out": out, "subs": subs, "paths": paths, "honest": honest,
           "listener": listener, "summary": summary}
    for p in (paths["pyc"], paths["leak"]):
        Path(p).unlink(missing_ok=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_gets_exactly_its_score(attacked, name):
    _, points, status, flags = ATTACKS[name]
    row = attacked["rows"][name]
    assert {ex: float(row[ex]) for ex in points} == {ex: float(p) for ex, p in points.items()}, row
    assert row["status"] == status, row
    assert set(filter(None, row["flags"].split(";"))) - {"unsandboxed"} == flags, row


@pytest.mark.slow
def test_every_row_says_it_was_sandboxed(attacked):
    assert {r["sandbox"] for r in attacked["rows"].values()} == {"bwrap"}


@pytest.mark.slow
def test_honest_classmates_keep_full_marks_and_their_files(attacked):
    rows = attacked["rows"]
    for name, digest in attacked["honest"].items():
        assert rows[name]["total"] == "2" and rows[name]["status"] == "ok", rows[name]
        assert _digest(attacked["subs"] / f"{name}.ipynb") == digest, f"{name}'s notebook was changed"


@pytest.mark.slow
def test_grades_csv_and_feedback_are_the_graders_own(attacked):
    """Nothing a submission starts outlives it: after the batch, the CSV still has every row
    and every feedback file is the grader's."""
    out = attacked["out"]
    time.sleep(0.5)
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(attacked["rows"]) and len(rows) == len(ATTACKS) + len(COLLIDING)
    assert rows["background_forger"]["total"] == "0"
    for name in rows:
        text = (out / "feedback" / f"{name}.md").read_text(encoding="utf-8")
        assert text.startswith(f"# Lab 01 feedback: {name}")


@pytest.mark.slow
def test_nothing_persists_outside_the_sandbox(attacked):
    assert not Path(attacked["paths"]["pyc"]).exists(), "a .pyc was planted in utils/__pycache__"
    assert not Path(attacked["paths"]["leak"]).exists(), "a file was written outside the sandbox"
    assert attacked["listener"].connections == 0, "a submission reached a loopback port"
    assert not list(batch.stage.views_root().glob(f"{os.getpid()}-*")), "a grading view was left"


@pytest.mark.slow
def test_feedback_never_quotes_secrets(attacked):
    for path in (attacked["out"] / "feedback").iterdir():
        text = path.read_text(encoding="utf-8")
        assert CANARY not in text, path.name
    text = (attacked["out"] / "feedback" / "reads_secrets.md").read_text(encoding="utf-8")
    assert "raised RuntimeError, line 7: leak:" in text  # the student's own message, cut


@pytest.mark.slow
def test_colliding_names_get_distinct_ids(attacked):
    rows = attacked["rows"]
    ids = [batch.student_name(Path(f"{n}.ipynb")) for n in COLLIDING]
    assert ids[1] == "carol_x" and ids[0].startswith("carol_x-") and len(set(ids)) == 2
    for i in ids:
        assert rows[i]["total"] == "2" and rows[i]["status"] == "ok", rows[i]


@pytest.mark.slow
def test_a_rerun_grades_nothing_new(attacked, tmp_path):
    out = attacked["out"]
    files, modules = batch.load_exercise_modules([TOY_EXERCISES])
    solution = Path(attacked["paths"]["solution"])
    ctx = batch.Context(lab="01", exercises=scoring.lab_exercises("01", modules), limits=LIMITS,
                        solution=solution, exercise_files=files, seed=5)
    honest = tmp_path / "subs"
    honest.mkdir()
    (honest / "honest_alice.ipynb").write_bytes((attacked["subs"] / "honest_alice.ipynb").read_bytes())
    dest = tmp_path / "out"
    first = batch.grade_folder(honest, dest, ctx, jobs=1, log=lambda *a: None)
    again = batch.grade_folder(honest, dest, ctx, jobs=1, log=lambda *a: None)
    assert (first["graded"], again["graded"], again["skipped"]) == (1, 0, 1)


def test_a_bad_output_folder_is_refused_before_grading(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    out = tmp_path / "out"
    (out / "grades.csv").mkdir(parents=True)
    with pytest.raises(ValueError, match="grades.csv exists but is not a plain file"):
        batch.check_output(out, subs)
    with pytest.raises(ValueError, match="must not be the submissions folder"):
        batch.check_output(subs, subs)


def test_sandbox_is_available_here():
    """CI and the course machines have bubblewrap (scripts/install-sandbox.sh): the grader
    must not silently need --unsafe-no-sandbox there."""
    view = batch.stage.build(REPO, [], [])
    try:
        assert sandbox.unavailable(sandbox.Runner(view, LIMITS)) == ""
    finally:
        import shutil
        shutil.rmtree(view)


def test_grader_refuses_without_a_sandbox_unless_told(tmp_path, monkeypatch):
    """Where bubblewrap cannot run, nothing is graded unless --unsafe-no-sandbox is given."""
    solution = toy_solution(tmp_path / "solutions")
    subs = tmp_path / "subs"
    subs.mkdir()
    Submission.from_solution(solution).write(subs / "a.ipynb")
    files, modules = batch.load_exercise_modules([TOY_EXERCISES])
    ctx = batch.Context(lab="01", exercises=scoring.lab_exercises("01", modules), limits=LIMITS,
                        solution=solution, exercise_files=files, seed=5)
    monkeypatch.setattr(sandbox, "unavailable", lambda runner: "bwrap is not installed")
    with pytest.raises(ValueError, match="bwrap is not installed.*--unsafe-no-sandbox"):
        batch.grade_folder(subs, tmp_path / "out", ctx, jobs=1, log=lambda *a: None)
    assert not (tmp_path / "out" / "grades.csv").exists()
    assert not list(batch.stage.views_root().glob(f"{os.getpid()}-*"))
