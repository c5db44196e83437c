"""The first code cell of every lab: one text, written by `tools/generate.py`, never by hand.

It makes the course package `utils` importable however the lab is opened. The setup installs
`utils` into .venv (`pip install -e .`), so a kernel of that environment imports it from any
folder (JupyterLab, VS Code, nbclient, nbval); a kernel of another Python that has the packages
of requirements.txt finds the repository by walking up from its working folder (the lab's
folder) to the folder holding `utils/checks.py`, and only then puts it on `sys.path`.

`tools/generate.py` calls `put_first_cell` on every solution notebook before generating the
student notebook from it, so both carry the same cell; `--check` reports a solution whose
cell is missing or differs (`first_cell_problems`). Only that cell is touched: the other
cells, their ids and their outputs stay as they are.
"""

from __future__ import annotations

import nbformat

CELL_ID = "course-setup"

SOURCE = '''\
# Course setup: the same first cell in every lab (written by tools/generate.py).
# The setup installs the course package `utils` into .venv, so a kernel of that environment
# finds it from any folder. Any other Python with the packages of requirements.txt finds it
# by looking for the repository in this folder and the folders above it.
import sys
from pathlib import Path

try:
    import utils.checks
except ModuleNotFoundError as error:
    if error.name not in ("utils", "utils.checks"):
        raise  # a package of requirements.txt is missing: install it (python course.py setup)
    _root = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "utils" / "checks.py").is_file()), None)
    if _root is None:
        raise ModuleNotFoundError(
            f"the course package `utils` is not installed in this Python ({sys.executable}) and no folder "
            f"from {Path.cwd()} upwards holds utils/checks.py: open the lab from the course repository, "
            "or start it with `python course.py lab`") from None
    sys.path.insert(0, str(_root))
    sys.modules.pop("utils", None)  # another package called `utils` may have been imported
    import utils.checks'''


def _is_setup_cell(cell) -> bool:
    return cell.get("id") == CELL_ID


def first_code_index(nb) -> int | None:
    """Index of the first code cell, or None when the notebook has none."""
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)


def first_cell_problems(nb, name: str) -> list[str]:
    """What is wrong with the setup cell of notebook `nb` (read with nbformat): [] when it is
    the first code cell, has id `course-setup` and exactly SOURCE as its text."""
    index = first_code_index(nb)
    if index is None:
        return [f"{name}: has no code cell, so no setup cell; run python tools/generate.py"]
    cell = nb.cells[index]
    where = f"{name}, cell {index}"
    if not _is_setup_cell(cell):
        others = [i for i, c in enumerate(nb.cells) if _is_setup_cell(c)]
        found = f" (it is cell {others[0]})" if others else ""
        return [f"{where}: the first code cell is not the course setup cell (id {CELL_ID!r}){found}; "
                "run python tools/generate.py"]
    if cell.source != SOURCE:
        return [f"{where}: the course setup cell differs from tools/first_cell.py; "
                "run python tools/generate.py"]
    return []


def put_first_cell(nb) -> bool:
    """Make the setup cell the first code cell of `nb`, in place; True if `nb` changed.

    An existing setup cell (found by its id) gets SOURCE as its text and is moved, if needed,
    just before the first other code cell; otherwise a new one is inserted there (after the
    title and introduction, which are markdown). Its outputs are left alone: the cell prints
    nothing, so a re-execution stores none.
    """
    changed = False
    existing = [i for i, c in enumerate(nb.cells) if _is_setup_cell(c)]
    if len(existing) > 1:
        raise ValueError(f"{len(existing)} cells have the id {CELL_ID!r}; keep one")
    if existing:
        cell = nb.cells.pop(existing[0])
        if cell.cell_type != "code" or cell.source != SOURCE:
            cell.cell_type, cell.source = "code", SOURCE
            changed = True
    else:
        cell = nbformat.v4.new_code_cell(SOURCE)
        cell["id"] = CELL_ID
        changed = True
    index = first_code_index(nb)
    index = len(nb.cells) if index is None else index
    if existing and index != existing[0]:
        changed = True
    nb.cells.insert(index, cell)
    return changed
