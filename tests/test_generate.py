"""Tests of tools/generate.py: student notebooks from solution notebooks, --check, leak check."""

import contextlib
import io
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
sys.path.insert(0, str(REPO))

from tools import generate as gen  # noqa: E402

NUMBERS = {"rnn_step_forward": "2.1"}


def notebook(*cells):
    nb = new_notebook(cells=list(cells))
    for i, c in enumerate(nb.cells):
        c["id"] = f"c{i}"
    return nb


FORWARD = new_code_cell(
    "def rnn_step_forward(x, h_prev, Wx, Wh, b):\n"
    '    """doc"""\n'
    "    if True:\n"
    "        ### BEGIN SOLUTION\n"
    "        h = np.tanh(x @ Wx + h_prev @ Wh + b)\n"
    "        ### END SOLUTION\n"
    "    return h",
    execution_count=3, outputs=[new_output("stream", name="stdout", text="hi\n")],
)


def test_solution_region_becomes_stub_with_indentation_and_label():
    nb, regions = gen.student_notebook(notebook(FORWARD), "02_rnn.ipynb", NUMBERS)
    assert nb.cells[0].source == (
        "def rnn_step_forward(x, h_prev, Wx, Wh, b):\n"
        '    """doc"""\n'
        "    if True:\n"
        "        # YOUR CODE HERE\n"
        '        raise NotImplementedError("exercise 2.1: rnn_step_forward")\n'
        "    return h")
    assert [r.lines for r in regions] == [["        h = np.tanh(x @ Wx + h_prev @ Wh + b)"]]
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert nb.cells[0].id == "c0"


def test_number_from_exercise_comment_and_top_level_region():
    cell = new_code_cell("# Exercise 3.2: train_loop\nlosses = []\n### BEGIN SOLUTION\nlosses = train()\n"
                         "### END SOLUTION\nplot(losses)")
    nb, _ = gen.student_notebook(notebook(cell), "03.ipynb", {})
    assert 'raise NotImplementedError("exercise 3.2: train_loop")' in nb.cells[0].source
    assert "losses = train()" not in nb.cells[0].source

    unregistered = new_code_cell("# Exercise 4.1\ndef f(x):\n    ### BEGIN SOLUTION\n    return x\n"
                                 "    ### END SOLUTION\n")
    nb, _ = gen.student_notebook(notebook(unregistered), "04.ipynb", {})
    assert 'raise NotImplementedError("exercise 4.1: f")' in nb.cells[0].source


def test_method_region_is_named_after_its_class():
    cell = new_code_cell("class Net(nn.Module):\n    def __init__(self, V):\n        super().__init__()\n"
                         "        ### BEGIN SOLUTION\n        self.fc = nn.Linear(V, V)\n        ### END SOLUTION\n\n"
                         "    def forward(self, x):\n        ### BEGIN SOLUTION\n        return self.fc(x)\n"
                         "        ### END SOLUTION\n")
    nb, regions = gen.student_notebook(notebook(cell), "04.ipynb", {"Net": "4.2"})
    assert 'raise NotImplementedError("exercise 4.2: Net.__init__")' in nb.cells[0].source
    assert 'raise NotImplementedError("exercise 4.2: Net.forward")' in nb.cells[0].source
    assert len(regions) == 2


def test_hidden_tests_dropped_markdown_answer_and_metadata_cleared():
    hidden_only = new_code_cell("### BEGIN HIDDEN TESTS\nassert secret()\n### END HIDDEN TESTS")
    mixed = new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nassert x == 1\n### END HIDDEN TESTS\nprint(x)")
    answer = new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    nb = notebook(FORWARD, hidden_only, mixed, answer)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.cells[2].metadata["execution"] = {"iopub.execute_input": "2026-01-01"}
    out, _ = gen.student_notebook(nb, "02_rnn.ipynb", NUMBERS)
    assert [c.id for c in out.cells] == ["c0", "c2", "c3"]
    assert out.cells[1].source == "x = 1\nprint(x)"
    assert out.cells[2].source == "Why?\n\nYOUR ANSWER HERE"
    assert "widgets" not in out.metadata and "execution" not in out.cells[1].metadata


@pytest.mark.parametrize("source, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    pass\n", "has no '### END SOLUTION'"),
    ("def f():\n    ### END SOLUTION\n", "without a matching BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN HIDDEN TESTS\n    ### END SOLUTION\n", "cannot nest"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "not inside a function"),
    ("def g():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION", "'g' is not registered"),
    ("# Exercise 9.9\ndef rnn_step_forward():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION",
     "registered as exercise 2.1"),
])
def test_bad_markers_are_clear_errors(source, message):
    with pytest.raises(gen.GenerateError, match=message) as info:
        gen.student_notebook(notebook(new_code_cell(source)), "05_x.ipynb", NUMBERS)
    assert "05_x.ipynb, cell 0" in str(info.value)


def write_pair(tmp_path, solution_nb):
    sol, stu = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    nbformat.write(solution_nb, sol / "02_rnn.ipynb")
    return sol, stu


def run_generate(sol, stu, *extra):
    """tools/generate.py's main, in this process (a subprocess per call is slow): rc, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = gen.main(["--solutions", str(sol), "--notebooks", str(stu),
                       "--register", str(FIXTURES / "toy_exercises.py"), *extra])
    return types.SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


def test_command_line_entry_point(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "tools" / "generate.py"), "--solutions", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no [0-9][0-9]_*.ipynb notebooks in" in r.stderr


def test_generation_is_deterministic_and_check_detects_staleness(tmp_path):
    cell = new_code_cell("# Exercise 2.1\n" + FORWARD.source)
    sol, stu = write_pair(tmp_path, notebook(new_markdown_cell("# Lab"), cell))
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 1 and "notebooks/02_rnn.ipynb is missing" in r.stderr
    assert run_generate(sol, stu).returncode == 0
    first = (stu / "02_rnn.ipynb").read_bytes()
    assert run_generate(sol, stu).returncode == 0
    assert (stu / "02_rnn.ipynb").read_bytes() == first
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 0, r.stderr

    # the solution changes but the student notebook is not regenerated: stale
    nb = nbformat.read(sol / "02_rnn.ipynb", 4)
    nb.cells[0].source = "# Lab, edited"
    nbformat.write(nb, sol / "02_rnn.ipynb")
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 1 and "02_rnn.ipynb is stale" in r.stderr

    # a student notebook without a solution
    assert run_generate(sol, stu).returncode == 0
    shutil.copy(stu / "02_rnn.ipynb", stu / "07_orphan.ipynb")
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 1 and "07_orphan.ipynb has no solution notebook" in r.stderr


def test_leak_check_finds_solution_lines_and_markers(tmp_path):
    cell = new_code_cell("# Exercise 2.1\n" + FORWARD.source)
    # a line that also appears outside the regions is not secret
    shown = new_markdown_cell("The update is\n```python\nh = np.tanh(x @ Wx + h_prev @ Wh + b)\n```")
    sol, stu = write_pair(tmp_path, notebook(cell, new_markdown_cell("text")))
    assert run_generate(sol, stu).returncode == 0
    assert gen.leaks(sol / "02_rnn.ipynb", stu / "02_rnn.ipynb") == []

    student = nbformat.read(stu / "02_rnn.ipynb", 4)
    student.cells[1].source = "hint:\n    h = np.tanh(x @ Wx + h_prev @ Wh + b)"
    nbformat.write(student, stu / "02_rnn.ipynb")
    problems = gen.leaks(sol / "02_rnn.ipynb", stu / "02_rnn.ipynb")
    assert problems == ["02_rnn.ipynb: contains solution text 'h = np.tanh(x @ Wx + h_prev @ Wh + b)'"]
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 1 and "contains solution text" in r.stderr

    student.cells[1].source = "# ### end solution"
    nbformat.write(student, stu / "02_rnn.ipynb")
    assert "marker" in gen.leaks(sol / "02_rnn.ipynb", stu / "02_rnn.ipynb")[0]

    # the same line outside a region in the solution is allowed to appear
    nb = nbformat.read(sol / "02_rnn.ipynb", 4)
    nb.cells.append(shown)
    nbformat.write(nb, sol / "02_rnn.ipynb")
    student.cells[1].source = "h = np.tanh(x @ Wx + h_prev @ Wh + b)"
    nbformat.write(student, stu / "02_rnn.ipynb")
    assert gen.leaks(sol / "02_rnn.ipynb", stu / "02_rnn.ipynb") == []


def test_hidden_test_lines_count_as_leaks(tmp_path):
    cells = [new_code_cell("x = 1"), new_code_cell("### BEGIN HIDDEN TESTS\nassert secret_check(x)\n"
                                                   "### END HIDDEN TESTS")]
    sol, stu = write_pair(tmp_path, notebook(*cells))
    assert run_generate(sol, stu).returncode == 0
    student = nbformat.read(stu / "02_rnn.ipynb", 4)
    student.cells[0].source = "assert secret_check(x)"
    nbformat.write(student, stu / "02_rnn.ipynb")
    assert gen.leaks(sol / "02_rnn.ipynb", stu / "02_rnn.ipynb")


def test_toy_fixture_student_notebook_is_current():
    r = run_generate(FIXTURES / "solutions", FIXTURES / "notebooks", "--check")
    assert r.returncode == 0, r.stderr
    text = (FIXTURES / "notebooks" / "01_toy.ipynb").read_text()
    assert 'raise NotImplementedError(\\"exercise 1.2: toy_affine_backward\\")' in text
    assert "dout.sum(axis=0)" not in text and "HIDDEN" not in text


def test_every_lab_gets_the_same_setup_cell_first(tmp_path):
    """The generator writes the course setup cell as the first code cell of the solution (only
    that cell) and so of the student notebook; --check reports it missing, moved or edited."""
    from tools.first_cell import CELL_ID, SOURCE

    executed = new_code_cell("x = 1", execution_count=4, outputs=[new_output("stream", name="stdout", text="1\n")])
    sol, stu = write_pair(tmp_path, notebook(new_markdown_cell("# Lab"), executed, new_markdown_cell("end")))
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 1 and "the first code cell is not the course setup cell" in r.stderr
    assert run_generate(sol, stu).returncode == 0
    solution = nbformat.read(sol / "02_rnn.ipynb", 4)
    student = nbformat.read(stu / "02_rnn.ipynb", 4)
    for nb in (solution, student):
        assert [c.get("id") for c in nb.cells] == ["c0", CELL_ID, "c1", "c2"]
        assert nb.cells[1].source == SOURCE and nb.cells[1].outputs == []
    # the solution's other cells keep their outputs: nothing is re-executed
    assert solution.cells[2].outputs[0]["text"] == "1\n" and solution.cells[2].execution_count == 4
    before = (sol / "02_rnn.ipynb").read_bytes()
    assert run_generate(sol, stu, "--check").returncode == 0
    assert run_generate(sol, stu).returncode == 0 and (sol / "02_rnn.ipynb").read_bytes() == before

    solution.cells[1].source += "\nprint('edited')"
    nbformat.write(solution, sol / "02_rnn.ipynb")
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 1 and "the course setup cell differs" in r.stderr
    solution.cells[1], solution.cells[2] = solution.cells[2], solution.cells[1]
    nbformat.write(solution, sol / "02_rnn.ipynb")
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 1 and "(it is cell 2)" in r.stderr
    assert run_generate(sol, stu).returncode == 0  # repaired: moved back, text restored
    assert (sol / "02_rnn.ipynb").read_bytes() == before


def test_the_setup_cell_is_valid_python_that_prints_nothing():
    import ast

    from tools.first_cell import SOURCE

    ast.parse(SOURCE)
    assert "print(" not in SOURCE


def test_solution_gets_nbgrader_cells_and_the_student_none(tmp_path):
    """The registry's exercise cell becomes nbgrader's solution cell, its check an autograded,
    locked test cell worth its points with hidden tests around the check, markdown and the
    setup cell read-only; the student notebook carries none of it, and --check notices."""
    from utils.checks import get_exercise

    check_line = 'rnn_step_forward = check("rnn_step_forward", rnn_step_forward)'
    other = new_code_cell("print(1)")
    sol, stu = write_pair(tmp_path, notebook(new_markdown_cell("# Lab"), FORWARD,
                                             new_code_cell(check_line), other))
    assert run_generate(sol, stu).returncode == 0
    solution = nbformat.read(sol / "02_rnn.ipynb", 4)
    meta = {c.id: c.metadata.get("nbgrader") for c in solution.cells}
    base = {"schema_version": 3, "task": False}
    assert meta["c0"] == dict(base, grade=False, solution=False, locked=True, grade_id="cell-c0")
    assert meta["course-setup"] == dict(base, grade=False, solution=False, locked=True,
                                        grade_id="cell-course-setup")
    assert meta["c1"] == dict(base, grade=False, solution=True, locked=False, grade_id="rnn_step_forward")
    assert meta["c2"] == dict(base, grade=True, solution=False, locked=True, grade_id="rnn_step_forward-check",
                              points=get_exercise("rnn_step_forward").points)
    assert meta["c3"] is None
    check_cell = next(c for c in solution.cells if c.id == "c2").source
    assert check_cell == ("### BEGIN HIDDEN TESTS\nimport utils.autograde\n"
                          'utils.autograde.grade("rnn_step_forward", globals())\n### END HIDDEN TESTS\n'
                          f"{check_line}\n### BEGIN HIDDEN TESTS\n"
                          'utils.autograde.verdict("rnn_step_forward")\n### END HIDDEN TESTS')
    student = nbformat.read(stu / "02_rnn.ipynb", 4)
    assert all("nbgrader" not in c.metadata for c in student.cells)
    assert next(c for c in student.cells if c.id == "c2").source == check_line
    before = (sol / "02_rnn.ipynb").read_bytes()
    assert run_generate(sol, stu, "--check").returncode == 0
    assert run_generate(sol, stu).returncode == 0 and (sol / "02_rnn.ipynb").read_bytes() == before

    del solution.cells[2].metadata["nbgrader"]       # the exercise cell (after the setup cell)
    solution.cells[3].source = check_line           # the check without its hidden tests
    nbformat.write(solution, sol / "02_rnn.ipynb")
    r = run_generate(sol, stu, "--check")
    assert r.returncode == 1 and "02_rnn.ipynb, cell 2: its nbgrader metadata" in r.stderr
    assert "cell 3: its nbgrader metadata or hidden tests" in r.stderr
    assert run_generate(sol, stu).returncode == 0 and (sol / "02_rnn.ipynb").read_bytes() == before
