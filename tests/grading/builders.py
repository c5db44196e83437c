"""Build submissions for the grading tests from a generated student notebook.

A submission starts as the student notebook that ``tools/generate.py`` makes from a solution
notebook (so the tests follow the lab as it changes), then exercise cells are replaced by
code (the solution's own cell for "correct", or adversarial code) and cells are added.

    sub = Submission.from_solution(solution_path)      # the untouched student notebook
    sub.solve("toy_affine_forward")                    # the solution's cell for it
    sub.set_exercise("toy_affine_backward", "def toy_affine_backward(dout, cache): ...")
    sub.add_cell("while True: pass", after="toy_affine_backward", tags=["slow"])
    sub.write(folder / "alice.ipynb")

``grade_lab`` grades a real lab's usual submissions (correct, untouched, partly solved) and
any others with the grader's own modules, and returns the rows of its grades.csv.
"""

from __future__ import annotations

import copy
import csv
import json
import re
from pathlib import Path

import nbformat

from tools import generate

_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.M)


def defined_names(source: str) -> set:
    return set(_DEF.findall(source))


class Submission:
    """A student notebook being edited; ``solution_cells`` maps exercise names to the
    solution notebook's source for the cell that defines them."""

    def __init__(self, nb, solution_cells: dict):
        self.nb = nb
        self.solution_cells = solution_cells
        self._new = 0

    @classmethod
    def from_solution(cls, solution_path: Path, numbers: dict | None = None) -> "Submission":
        if numbers is None:
            from utils.checks import REGISTRY
            numbers = {name: ex.number for name, ex in REGISTRY.items()}
        solution = nbformat.read(str(solution_path), as_version=4)
        nb, _ = generate.student_notebook(solution, Path(solution_path).name, numbers)
        solution_cells = {}
        for cell in solution.cells:
            if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
                for name in defined_names(cell.source):
                    solution_cells[name] = cell.source
        return cls(nb, solution_cells)

    def copy(self) -> "Submission":
        return Submission(copy.deepcopy(self.nb), self.solution_cells)

    def exercise_cell(self, name: str):
        """The code cell that defines ``def name(``."""
        for cell in self.nb.cells:
            if cell.cell_type == "code" and name in defined_names(cell.source):
                return cell
        raise KeyError(f"no cell defines {name!r}")

    def set_exercise(self, name: str, source: str) -> "Submission":
        self.exercise_cell(name).source = source
        return self

    def solve(self, *names) -> "Submission":
        """Replace the exercise cells with the solution's cells (markers removed)."""
        for name in names:
            src = "\n".join(line for line in self.solution_cells[name].split("\n")
                            if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
            self.set_exercise(name, src)
        return self

    def solve_all(self) -> "Submission":
        return self.solve(*self.solution_cells)

    def add_cell(self, source: str, after: str | None = None, tags=(), cell_id=None) -> "Submission":
        """A code cell after the check cell following exercise ``after`` (default: at the end)."""
        cell = nbformat.v4.new_code_cell(source)
        self._new += 1
        cell["id"] = cell_id or f"added-{self._new}"
        if tags:
            cell.metadata["tags"] = list(tags)
        if after is None:
            self.nb.cells.append(cell)
        else:
            i = self.nb.cells.index(self.exercise_cell(after))
            # skip the check cell that follows the exercise
            if i + 1 < len(self.nb.cells) and "check(" in self.nb.cells[i + 1].source:
                i += 1
            self.nb.cells.insert(i + 1, cell)
        return self

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.nb, indent=1) + "\n")
        return path


def read_rows(csv_path: Path) -> dict:
    """The rows of a grades.csv: {student: {column: text}}."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def grade_lab(lab: str, solution: Path, folder: Path, limits, partly=(), others=None,
              jobs: int = 2, seed: int = 7) -> dict:
    """Grade lab ``lab``'s submissions built from ``solution`` in ``folder`` (with
    ``tools.grading``, one sandbox each) and return grades.csv's rows {student: row}.

    The students: "correct" (every exercise solved), "untouched" (the student notebook as
    released), "partly" (only the exercises named in ``partly``, when given) and ``others``:
    {student: build(base) -> Submission}, each given a fresh copy of the untouched notebook.
    limits: a ``sandbox.Limits``; seed: the grading seed (reproducible hidden cases).
    """
    from tools.grading import batch, scoring

    base = Submission.from_solution(solution)
    builds = {"correct": lambda s: s.solve_all(), "untouched": lambda s: s}
    if partly:
        builds["partly"] = lambda s: s.solve(*partly)
    builds.update(others or {})
    subs = Path(folder) / "subs"
    subs.mkdir(parents=True)
    for student, build in builds.items():
        build(base.copy()).write(subs / f"{student}.ipynb")
    ctx = batch.Context(lab=lab, exercises=scoring.lab_exercises(lab), limits=limits,
                        solution=solution, seed=seed)
    batch.grade_folder(subs, Path(folder) / "out", ctx, jobs=jobs, log=lambda *a: None)
    return read_rows(Path(folder) / "out" / "grades.csv")
