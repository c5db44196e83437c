"""Generate the student notebooks (notebooks/) from the solution notebooks (solutions/).

    python tools/generate.py            # rewrite every notebooks/NN_*.ipynb
    python tools/generate.py --check    # exit 1 if a student notebook is stale or leaks

Markers are nbgrader's (and the solutions carry nbgrader's cell metadata, so a course can use
them with nbgrader: ``tools/nbgrader_course.py``):

    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        ### BEGIN SOLUTION
        h = np.tanh(x @ Wx + h_prev @ Wh + b)
        cache = (x, h_prev, Wx, Wh, h)
        ### END SOLUTION
        return h, cache

In the student notebook a solution region becomes, at the marker's indentation,

        # YOUR CODE HERE
        raise NotImplementedError("exercise 2.1: rnn_step_forward")

The exercise is named after the function whose ``def`` encloses the region (for a method,
``Class.method``, registered under the class name); its number comes from the exercise registry (``utils/exercises/labNN.py``) or, when the function is not
registered or the region is not inside a function, from a comment in the same cell written
``# Exercise 2.1`` (``# Exercise 2.1: name`` names a region outside any function). A region
in a markdown cell (a written answer) becomes "YOUR ANSWER HERE".
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` regions are dropped (a cell left
empty is dropped). Outputs, execution counts, execution metadata and widget state are
cleared; cell ids are kept, so generating twice gives byte-identical files.

Before that, every solution notebook gets the course setup cell as its first code cell
(``tools/first_cell.py``; only that cell of the solution is written), so the solution and the
student notebook of every lab open with the same cell, and nbgrader's cell metadata and the
hidden tests of its check cells, from the exercise registry (``tools/nbgrader_cells.py``;
the student notebooks carry neither). ``--check`` also fails when a solution's setup cell or
nbgrader cells are missing or differ.

The leak check (part of ``--check``) fails when a marker, or any non-trivial line from a
solution region that does not also appear outside the regions in the solution notebook,
appears anywhere in the student notebook.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python tools/generate.py` puts tools/, not the root, on sys.path
    sys.path.insert(0, str(REPO))

from tools.first_cell import first_cell_problems, put_first_cell  # noqa: E402
from tools.nbgrader_cells import nbgrader_problems, put_nbgrader_cells  # noqa: E402

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
# Marker text searched for by the leak check, case-insensitively and without the ###, so a
# mangled marker is caught too.
_MARKER_WORDS = re.compile(r"(BEGIN|END)\s+(SOLUTION|HIDDEN\s+TESTS)", re.IGNORECASE)

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(")
_CLASS = re.compile(r"^(\s*)class\s+([A-Za-z_]\w*)\s*[(:]")
_EXERCISE_COMMENT = re.compile(r"#\s*Exercise\s+([0-9][\w.]*)(?:\s*:\s*([A-Za-z_]\w*))?", re.IGNORECASE)
# Lines too generic to count as leaked solution text.
_TRIVIAL = {"pass", "else:", "try:", "finally:", "return", "break", "continue", "except:", "...",
            "# YOUR CODE HERE", "YOUR ANSWER HERE"}


class GenerateError(ValueError):
    """A solution notebook that cannot be turned into a student notebook (bad markers...)."""


@dataclass
class Region:
    cell_index: int
    lines: list  # the solution lines between the markers


def _registry(extra_modules=()) -> dict | None:
    """{exercise name: Exercise} from utils.checks, or None if utils cannot be imported.

    extra_modules: paths of Python files to import first, for exercises registered outside
    utils/exercises (the test fixtures).
    """
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from utils.checks import REGISTRY
        for path in extra_modules:
            path = Path(path).resolve()
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            importlib.import_module(path.stem)
    except Exception as e:  # generation must work even while a lab module is broken
        print(f"warning: exercise registry not available ({type(e).__name__}: {e}); "
              f"numbers come from '# Exercise N.M' comments only", file=sys.stderr)
        return None
    return dict(REGISTRY)


def _registry_numbers(extra_modules=()) -> dict:
    """{exercise name: number} from utils.checks, or {} if utils cannot be imported."""
    return {name: ex.number for name, ex in (_registry(extra_modules) or {}).items()}


def _answer_names(numbers: dict, notebook_name: str):
    """answer_names(index, cell) for tools.nbgrader_cells: the exercise (registry key) of each
    solution region of a code cell, named as in its NotImplementedError; [] for markdown."""
    def names(index, cell):
        if cell.cell_type != "code":
            return []
        lines, found = cell.source.split("\n"), []
        for i, line in enumerate(lines):
            if _strip_marker(line) == BEGIN_SOLUTION:
                indent = line[: len(line) - len(line.lstrip())]
                label = _exercise_label(lines, i, indent, numbers, f"{notebook_name}, cell {index}")
                found.append(label.split(": ", 1)[1].split(".")[0])
        return found
    return names


def _lab_points(registry: dict, notebook_name: str) -> dict:
    """{exercise name: points} of the registered exercises of the notebook's lab ("02_x")."""
    lab = notebook_name[:2]
    return {name: ex.points for name, ex in registry.items() if ex.lab == lab}


def _strip_marker(line: str) -> str:
    return line.strip()


def _exercise_label(lines: list, begin: int, indent: str, numbers: dict, where: str) -> str:
    """'exercise 2.1: rnn_step_forward' for the region starting at lines[begin].

    numbers=None: no label needed (the leak check only wants the regions).
    """
    if numbers is None:
        return "exercise"
    name = None
    for k in range(begin - 1, -1, -1):
        m = _DEF.match(lines[k])
        if m and len(m.group(1)) < len(indent):
            name = m.group(2)
            # A method: the exercise is its class (registered under the class name).
            for line in reversed(lines[:k]):
                c = _CLASS.match(line)
                if c and len(c.group(1)) < len(m.group(1)):
                    name = f"{c.group(2)}.{name}"
                    break
            break
    comment_number = comment_name = None
    for line in lines:
        m = _EXERCISE_COMMENT.search(line)
        if m:
            comment_number, comment_name = m.group(1).rstrip("."), m.group(2)
            break
    name = name or comment_name
    if name is None:
        raise GenerateError(f"{where}: solution region is not inside a function and the cell has "
                            f"no '# Exercise N.M: name' comment to name it")
    key = name.split(".")[0]  # the registry key of a method is its class
    number = numbers.get(key) or comment_number
    if number is None:
        raise GenerateError(f"{where}: exercise {name!r} is not registered in utils/exercises and "
                            f"the cell has no '# Exercise N.M' comment giving its number")
    if key in numbers and comment_number and comment_number != numbers[key]:
        raise GenerateError(f"{where}: the cell says '# Exercise {comment_number}' but {key!r} is "
                            f"registered as exercise {numbers[key]}")
    return f"exercise {number}: {name}"


def _transform_source(source: str, cell_type: str, numbers: dict, where: str,
                      regions: list, cell_index: int) -> str:
    """The student version of one cell's source; appends its solution regions to ``regions``."""
    lines = source.split("\n")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _strip_marker(line)
        if marker in (END_SOLUTION, END_HIDDEN):
            raise GenerateError(f"{where}, line {i + 1}: {marker!r} without a matching BEGIN")
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            end_marker = END_SOLUTION if marker == BEGIN_SOLUTION else END_HIDDEN
            j = i + 1
            while j < len(lines) and _strip_marker(lines[j]) != end_marker:
                if _strip_marker(lines[j]) in MARKERS:
                    raise GenerateError(f"{where}, line {j + 1}: {lines[j].strip()!r} inside the "
                                        f"region opened at line {i + 1} (regions cannot nest)")
                j += 1
            if j == len(lines):
                raise GenerateError(f"{where}, line {i + 1}: {marker!r} has no {end_marker!r}")
            if marker == BEGIN_SOLUTION:
                regions.append(Region(cell_index, lines[i + 1:j]))
                indent = line[: len(line) - len(line.lstrip())]
                if cell_type == "code":
                    label = _exercise_label(lines, i, indent, numbers, where)
                    out.append(f"{indent}# YOUR CODE HERE")
                    out.append(f'{indent}raise NotImplementedError("{label}")')
                else:
                    out.append(f"{indent}YOUR ANSWER HERE")
            i = j + 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _cell_id(notebook_name: str, index: int) -> str:
    # Deterministic stand-in for solution cells that have no id (old nbformat files).
    return hashlib.sha1(f"{notebook_name}:{index}".encode()).hexdigest()[:8]


def student_notebook(solution: nbformat.NotebookNode, name: str, numbers: dict) -> tuple:
    """(student notebook, solution regions) for a solution notebook read with nbformat."""
    nb = copy.deepcopy(solution)
    nb.metadata.pop("widgets", None)
    cells = []
    regions = []
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        had_text = cell.source.strip() != ""
        cell.source = _transform_source(cell.source, cell.cell_type, numbers, where, regions, index)
        if had_text and cell.source.strip() == "":
            continue  # e.g. a cell holding only hidden tests
        if "id" not in cell:
            cell["id"] = _cell_id(name, index)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("widgets", None)
        cell.metadata.pop("nbgrader", None)  # only the solution feeds nbgrader (nbgrader_cells)
        cells.append(cell)
    nb.cells = cells
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    return nb, regions


def write_string(nb) -> str:
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def pairs(solutions_dir: Path, notebooks_dir: Path) -> list:
    """[(solution path, student path)] for every NN_*.ipynb in solutions_dir."""
    return [(p, notebooks_dir / p.name) for p in sorted(solutions_dir.glob(NOTEBOOK_GLOB))]


def generate(solution_path: Path, numbers: dict) -> tuple:
    """(student notebook text, solution regions) for one solution notebook file."""
    solution = nbformat.read(solution_path, as_version=4)
    nb, regions = student_notebook(solution, solution_path.name, numbers)
    return write_string(nb), regions


def _secret_lines(solution_text_outside: set, regions: list) -> set:
    secret = set()
    for region in regions:
        for line in region.lines:
            s = line.strip()
            if len(s) < 4 or s in _TRIVIAL or not re.search(r"[A-Za-z0-9]", s):
                continue
            if s not in solution_text_outside:
                secret.add(s)
    return secret


def _notebook_lines(nb) -> set:
    """Every stripped line of every cell's source and text outputs."""
    lines = set()
    for cell in nb.cells:
        texts = [cell.source]
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append(out["text"])
            for value in out.get("data", {}).values():
                if isinstance(value, str):
                    texts.append(value)
        for t in texts:
            t = "".join(t) if isinstance(t, list) else t
            lines.update(s.strip() for s in t.split("\n"))
    return lines


def leaks(solution_path: Path, student_path: Path) -> list:
    """Problems found in the student notebook file: markers or solution lines in it.

    Secret lines are the non-trivial lines of solution and hidden-test regions that do not
    also appear outside the regions in the solution notebook; each is looked for, stripped,
    in every cell source and text output of the student notebook.
    """
    solution = nbformat.read(solution_path, as_version=4)
    _, regions = student_notebook(solution, solution_path.name, None)
    student = nbformat.read(student_path, as_version=4)
    problems = []
    for index, cell in enumerate(student.cells):
        if _MARKER_WORDS.search(cell.source):
            problems.append(f"{student_path.name}, cell {index}: contains a solution/hidden-test marker")
    outside = set()
    for cell in solution.cells:
        in_region = False
        for line in cell.source.split("\n"):
            s = line.strip()
            if s in MARKERS:
                in_region = s in (BEGIN_SOLUTION, BEGIN_HIDDEN)
                continue
            if not in_region:
                outside.add(s)
    hidden = []
    for cell in solution.cells:
        in_hidden = False
        for line in cell.source.split("\n"):
            s = line.strip()
            if s == BEGIN_HIDDEN:
                in_hidden = True
            elif s == END_HIDDEN:
                in_hidden = False
            elif in_hidden:
                hidden.append(line)
    secret = _secret_lines(outside, regions + [Region(-1, hidden)])
    found = sorted(secret & _notebook_lines(student))
    for line in found:
        problems.append(f"{student_path.name}: contains solution text {line!r}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a student notebook is stale, missing, "
                             "orphaned or leaks solution text")
    parser.add_argument("--solutions", type=Path, default=REPO / "solutions",
                        help="folder of solution notebooks (default: solutions/)")
    parser.add_argument("--notebooks", type=Path, default=REPO / "notebooks",
                        help="folder of student notebooks (default: notebooks/)")
    parser.add_argument("--register", type=Path, action="append", default=[],
                        help="a Python file registering extra exercises (repeatable; for tests)")
    args = parser.parse_args(argv)

    if not args.solutions.is_dir():
        print(f"error: --solutions {args.solutions} is not a folder", file=sys.stderr)
        return 2
    todo = pairs(args.solutions, args.notebooks)
    if not todo:
        print(f"error: no {NOTEBOOK_GLOB} notebooks in {args.solutions}", file=sys.stderr)
        return 2
    registry = _registry(args.register)
    numbers = {name: ex.number for name, ex in (registry or {}).items()}
    problems = []
    for solution_path, student_path in todo:
        solution = nbformat.read(solution_path, as_version=4)
        nbgrader = None
        if registry is not None:  # without the registry, the nbgrader cells are left alone
            nbgrader = (_lab_points(registry, solution_path.name),
                        _answer_names(numbers, solution_path.name))
        try:
            if args.check:
                problems += first_cell_problems(solution, _rel(solution_path))
                if nbgrader:
                    problems += nbgrader_problems(solution, *nbgrader, _rel(solution_path))
            else:
                wrote = [what for what, changed in (
                    ("course setup cell", put_first_cell(solution)),
                    ("nbgrader cells", nbgrader is not None and put_nbgrader_cells(solution, *nbgrader)))
                    if changed]
                if wrote:
                    solution_path.write_bytes(write_string(solution).encode())
                    print(f"wrote  {_rel(solution_path)} ({', '.join(wrote)})")
        except GenerateError as e:
            problems.append(str(e))
            continue
        try:
            text, _ = generate(solution_path, numbers)
        except GenerateError as e:
            problems.append(str(e))
            continue
        rel = _rel(student_path)
        if args.check:
            if not student_path.exists():
                problems.append(f"{rel} is missing; run python tools/generate.py")
            elif student_path.read_bytes() != text.encode():
                problems.append(f"{rel} is stale (differs from what {_rel(solution_path)} "
                                f"generates); run python tools/generate.py")
            else:
                print(f"ok     {rel}")
            if student_path.exists():
                problems += leaks(solution_path, student_path)
        else:
            args.notebooks.mkdir(parents=True, exist_ok=True)
            old = student_path.read_bytes() if student_path.exists() else None
            if old != text.encode():
                student_path.write_bytes(text.encode())
                print(f"wrote  {rel}")
            else:
                print(f"same   {rel}")
            problems += leaks(solution_path, student_path)
    if args.check and args.notebooks.is_dir():
        expected = {s.name for _, s in todo}
        for orphan in sorted(args.notebooks.glob(NOTEBOOK_GLOB)):
            if orphan.name not in expected:
                problems.append(f"{_rel(orphan)} has no solution notebook in {_rel(args.solutions)}")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
