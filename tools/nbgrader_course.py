"""Lay out an nbgrader course directory with the labs, ready for ``nbgrader generate_assignment``.

    python tools/nbgrader_course.py COURSE_DIR                 # every lab
    python tools/nbgrader_course.py COURSE_DIR --lab 02 --lab 3
    python tools/nbgrader_course.py COURSE_DIR --kernel rnn-course   # autograde on that kernel

Written into COURSE_DIR (created if missing; the files below are replaced, nothing else):

- ``source/labNN/NN_name.ipynb``: the solution notebook, as it is in ``solutions/`` (with the
  nbgrader cell metadata and hidden tests ``tools/generate.py`` writes into it);
- ``source/labNN/utils/`` (the course package, ``.py`` files only) and ``source/labNN/data/``:
  what the lab imports and reads, released with it, so a student's copy runs on a hub
  whose image has the packages of requirements.txt but not the repository (the setup cell
  finds ``utils`` in the lab's folder);
- ``nbgrader_config.py``: puts ``tools/nbgrader_release.ClearSolutionsAsGenerate`` in place of
  nbgrader's ClearSolutions (so the release is our student notebook: the stubs name their
  exercise), with the exercise numbers of the registry, puts
  ``tools/nbgrader_execute.ExecuteIgnoringWidgets`` in place of nbgrader's Execute (a widget
  cell cannot stall the autograder), and gives the autograder 600 s per
  cell (training cells take longer than nbgrader's default 30 s) and, with ``--kernel``,
  the kernel to execute submissions with (one that has the course's packages).

Then, in COURSE_DIR, with nbgrader 0.9.6 installed (``requirements-nbgrader.txt``)::

    nbgrader generate_assignment lab02        # release/lab02/: the student notebook
    nbgrader autograde lab02                  # submitted/<student>/lab02/ -> autograded/
    nbgrader generate_feedback lab02          # feedback/<student>/lab02/*.html

The config names this repository's folder, so regenerate it after moving the repository.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.generate import NOTEBOOK_GLOB, _registry  # noqa: E402

CELL_TIMEOUT = 600  # seconds per cell for nbgrader's autograder (its default is 30)

CONFIG = '''\
# nbgrader configuration of this course, written by tools/nbgrader_course.py: rerun it rather
# than edit this file (it names the course repository's folder).
import sys

sys.path.insert(0, {repo!r})

from nbgrader.converters import Autograde, GenerateAssignment
from nbgrader.preprocessors import ClearSolutions, Execute

from tools.nbgrader_execute import ExecuteIgnoringWidgets
from tools.nbgrader_release import ClearSolutionsAsGenerate

c = get_config()  # noqa: F821 (defined by nbgrader when it reads this file)
c.GenerateAssignment.preprocessors = [
    ClearSolutionsAsGenerate if p is ClearSolutions else p
    for p in GenerateAssignment.class_traits()["preprocessors"].default()]
c.ClearSolutionsAsGenerate.numbers = {numbers!r}
# The labs' widget cells would otherwise stall the autograder for a whole cell timeout each.
c.Autograde.autograde_preprocessors = [
    ExecuteIgnoringWidgets if p is Execute else p
    for p in Autograde.class_traits()["autograde_preprocessors"].default()]
c.Execute.timeout = {timeout}
'''


def lab_notebooks(solutions: Path, labs=None) -> list:
    """[(assignment name "lab02", solution notebook)] for the labs in ``solutions`` (all, or
    the numbers in ``labs``)."""
    found = [(f"lab{p.name[:2]}", p) for p in sorted(solutions.glob(NOTEBOOK_GLOB))]
    if labs:
        wanted = {f"lab{int(n):02d}" for n in labs}
        missing = wanted - {name for name, _ in found}
        if missing:
            raise ValueError(f"no solution notebook for {sorted(missing)} in {solutions} "
                             f"(there are {[name for name, _ in found]})")
        found = [(name, p) for name, p in found if name in wanted]
    return found


def _lab_number(text: str) -> str:
    if not text.strip().isdigit() or len(text.strip()) > 2:
        raise argparse.ArgumentTypeError(f"--lab must be a lab number like 02, got {text!r}")
    return text.strip()


def _copy_package(dest: Path) -> None:
    """utils/ as .py files only (no __pycache__, nothing else)."""
    if dest.exists():
        shutil.rmtree(dest)
    for src in sorted((REPO / "utils").rglob("*.py")):
        target = dest / src.relative_to(REPO / "utils")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)


def lay_out(course: Path, labs=None, kernel: str | None = None,
            solutions: Path = REPO / "solutions") -> list:
    """Write the course directory (see the module docstring); returns the assignment names."""
    registry = _registry()
    if registry is None:
        raise ValueError("the exercise registry (utils.checks) cannot be imported: run this "
                         "with the course's Python (.venv), which has requirements.txt")
    chosen = lab_notebooks(solutions, labs)
    if not chosen:
        raise ValueError(f"no {NOTEBOOK_GLOB} notebooks in {solutions}")
    course.mkdir(parents=True, exist_ok=True)
    numbers = {name: ex.number for name, ex in sorted(registry.items())}
    config = CONFIG.format(repo=str(REPO), numbers=numbers, timeout=CELL_TIMEOUT)
    if kernel:
        config += f"c.Execute.kernel_name = {kernel!r}\n"
    (course / "nbgrader_config.py").write_text(config)
    for name, notebook in chosen:
        folder = course / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(NOTEBOOK_GLOB):
            old.unlink()
        shutil.copyfile(notebook, folder / notebook.name)
        _copy_package(folder / "utils")
        if (folder / "data").exists():
            shutil.rmtree(folder / "data")
        shutil.copytree(REPO / "data", folder / "data")
    return [name for name, _ in chosen]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tools/nbgrader_course.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("course", type=Path, metavar="COURSE_DIR",
                        help="the nbgrader course directory (created if missing)")
    parser.add_argument("--lab", type=_lab_number, action="append", default=[],
                        help="lab number to lay out (repeatable; default: every lab)")
    parser.add_argument("--kernel", default=None, metavar="NAME",
                        help="the Jupyter kernel nbgrader autograde runs submissions with "
                             "(default: the notebook's own, python3)")
    args = parser.parse_args(argv)
    if args.course.exists() and not args.course.is_dir():
        print(f"error: {args.course} exists and is not a folder", file=sys.stderr)
        return 2
    try:
        names = lay_out(args.course, args.lab, args.kernel)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"laid out {', '.join(names)} in {args.course}; next, in that folder: "
          f"nbgrader generate_assignment {names[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
