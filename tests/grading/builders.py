"""Build submissions for the grading tests from a generated student notebook.

A submission starts as the student notebook that ``tools/generate.py`` makes from a solution
notebook (so the tests follow the lab as it changes), then exercise cells are replaced by
code (the solution's own cell for "correct", or adversarial code) and cells are added.

    sub = Submission.from_solution(solution_path)      # the untouched student notebook
    sub.solve("toy_affine_forward")                    # the solution's cell for it
    sub.set_exercise("toy_affine_backward", "def toy_affine_backward(dout, cache): ...")
    sub.add_cell("while True: pass", after="toy_affine_backward", tags=["slow"])
    sub.write(folder / "alice.ipynb")
"""

from __future__ import annotations

import copy
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
