"""nbgrader's cell metadata and hidden tests in the solution notebooks, from the exercise registry.

`tools/generate.py` calls `put_nbgrader_cells` on every solution notebook (the student
notebooks never carry any of it: `generate.student_notebook` drops the metadata and the
hidden tests). What each cell becomes, in nbgrader's terms (cell metadata schema 3):

- a code cell with a ``### BEGIN SOLUTION`` region: an autograded answer (``solution``),
  ``grade_id`` the exercise's name (``rnn_step_forward``); a markdown cell with one (a
  written answer): a manually graded answer worth 0 points, as in ``tools/grade.py``;
- the check cell of a registered exercise of the lab (``name = check("name", name...)``): an
  autograded test (``grade``, ``locked``) worth the exercise's ``points``, ``grade_id``
  ``name-check``, whose source gets two hidden-test blocks around the check::

      ### BEGIN HIDDEN TESTS
      import utils.autograde
      utils.autograde.grade("rnn_step_forward", globals())
      ### END HIDDEN TESTS
      rnn_step_forward = check("rnn_step_forward", rnn_step_forward)
      ### BEGIN HIDDEN TESTS
      utils.autograde.verdict("rnn_step_forward")
      ### END HIDDEN TESTS

  The first block grades the student's function on hidden cases drawn at grading time, as
  ``tools/grade.py`` does (``utils/autograde.py``); the second raises when it failed, which
  is how nbgrader's autograder scores a test cell (an error: 0 points, else all of them).
  Any hidden-test block a check cell held before is replaced: generate.py writes them.
- every markdown cell without a solution region, and the course setup cell: read-only
  (``locked``), ``grade_id`` ``cell-<cell id>``;
- every other cell: no nbgrader metadata (any found is removed).

A solution region outside a solution cell is what made nbgrader refuse the labs; after this,
``nbgrader generate_assignment`` accepts every lab (``tests/test_nbgrader.py``).
"""

from __future__ import annotations

import re

from tools.first_cell import CELL_ID as SETUP_CELL_ID

BEGIN_SOLUTION = "### BEGIN SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
SCHEMA_VERSION = 3
# `name = check("name", ...)` on the first line of a check cell (after any hidden block).
_CHECK = re.compile(r'^([A-Za-z_]\w*)\s*=\s*check\(\s*"([A-Za-z_]\w*)"')
_GRADE_ID_BAD = re.compile(r"[^A-Za-z0-9_\-]")


def _metadata(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": _GRADE_ID_BAD.sub("-", grade_id), "locked": locked,
            "schema_version": SCHEMA_VERSION, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def without_hidden_tests(source: str) -> str:
    """``source`` minus its ``### BEGIN/END HIDDEN TESTS`` blocks (markers included)."""
    out, hidden = [], False
    for line in source.split("\n"):
        s = line.strip()
        if s == BEGIN_HIDDEN:
            hidden = True
        elif s == END_HIDDEN:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)


def check_cell_source(name: str, visible: str) -> str:
    """The solution's check cell: ``visible`` (what students see) between the hidden tests."""
    return (f"{BEGIN_HIDDEN}\nimport utils.autograde\n"
            f"utils.autograde.grade(\"{name}\", globals())\n{END_HIDDEN}\n"
            f"{visible}\n"
            f"{BEGIN_HIDDEN}\nutils.autograde.verdict(\"{name}\")\n{END_HIDDEN}")


def checked_exercise(source: str) -> str | None:
    """The exercise a check cell checks (``name = check("name", name...)``), else None."""
    m = _CHECK.match(without_hidden_tests(source).lstrip())
    return m.group(2) if m and m.group(1) == m.group(2) else None


def planned_cells(nb, exercises: dict, answer_names) -> list:
    """[(metadata or None, source)] for every cell of the solution notebook ``nb``.

    exercises: {name: points} of the lab's registered exercises.
    answer_names(index, cell) -> [exercise name, ...] of the cell's solution regions.
    """
    plan, used = [], set()

    def unique(grade_id, cell):
        if grade_id in used:
            grade_id = f"{grade_id}-{cell.get('id', len(plan))}"
        used.add(grade_id)
        return grade_id

    for index, cell in enumerate(nb.cells):
        source = cell.source
        name = checked_exercise(source) if cell.cell_type == "code" else None
        if BEGIN_SOLUTION in source:
            names = list(dict.fromkeys(answer_names(index, cell))) or [f"answer-{cell.get('id')}"]
            if cell.cell_type == "markdown":  # nbgrader: a manually graded answer; grade.py
                meta = _metadata(unique("-".join(names), cell), solution=True, grade=True,
                                 points=0)       # gives written answers no points
            else:
                meta = _metadata(unique("-".join(names), cell), solution=True)
        elif name in exercises:
            meta = _metadata(unique(f"{name}-check", cell), grade=True, locked=True,
                             points=exercises[name])
            source = check_cell_source(name, without_hidden_tests(source))
        elif cell.get("id") and (cell.cell_type == "markdown" or cell.get("id") == SETUP_CELL_ID):
            meta = _metadata(unique(f"cell-{cell['id']}", cell), locked=True)
        else:
            meta = None
        plan.append((meta, source))
    return plan


def put_nbgrader_cells(nb, exercises: dict, answer_names) -> bool:
    """Write the planned metadata and check-cell sources into ``nb`` in place; True if changed.
    Only cells whose metadata or source differ are touched."""
    changed = False
    for cell, (meta, source) in zip(nb.cells, planned_cells(nb, exercises, answer_names)):
        if cell.source != source:
            cell.source = source
            changed = True
        if meta is None:
            if "nbgrader" in cell.metadata:
                del cell.metadata["nbgrader"]
                changed = True
        elif cell.metadata.get("nbgrader") != meta:
            cell.metadata["nbgrader"] = meta
            changed = True
    return changed


def nbgrader_problems(nb, exercises: dict, answer_names, name: str) -> list:
    """What differs from the planned nbgrader cells in notebook ``nb`` (for --check)."""
    problems = []
    for index, (cell, (meta, source)) in enumerate(zip(nb.cells, planned_cells(nb, exercises, answer_names))):
        if cell.source != source or cell.metadata.get("nbgrader") != meta:
            problems.append(f"{name}, cell {index}: its nbgrader metadata or hidden tests are not "
                            f"what the exercise registry gives; run python tools/generate.py")
    return problems
