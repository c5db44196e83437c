"""The read-only grading view a sandbox sees at ``/grader``, built once per grading run.

    <view>/grader/   child.py, cases_io.py, labs.py  (the program that runs the notebook)
    <view>/lib/      utils/ (the repository's .py files only), the extra exercise modules and
                     data/ (a copy of the repository's: the corpus and checkpoints that utils
                     finds at ``utils/../data``, as in the repository)
    <view>/mnt/      empty mount points (see ``sandbox``)
    <view>/mpl/      matplotlib's font list, built once here: each child copies it into its
                     own config folder instead of scanning the fonts again (seconds each)

In ``lib/``, the reference implementation of every graded exercise (and of the exercises
they use) is replaced by a function that raises ``ReferenceUnavailableError`` naming it:
inside the sandbox a notebook cannot call, copy (``inspect.getsource``), or execute the
reference, so full marks take a working implementation. So is every function and method of
the catalogues of known mistakes (``utils/exercises/mistakes_*.py``): each is the reference
with one thing changed, and their shared helpers are the reference itself with switches
(``tbptt_variant()`` with its defaults), while the grader needs them only in its own process (to
choose hints). Code that computes an exercise but must keep working for the lab's other
cells (a model's method) is the exercise's ``twins``, switched off while it is graded
(``utils/twins.py``, ``child.py``). The exercise registry, the checks and every other helper
are the repository's own code. Only ``.py`` files are copied, never a ``__pycache__``.

Views live in ``<tmp>/grade-views-<uid>/<pid>-<random>``; ``clean_stale`` removes the
views of grading runs that are no longer running (an interrupted run leaves nothing for
long).
"""

from __future__ import annotations

import ast
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD_FILES = ("child.py", "cases_io.py", "labs.py")
ERROR_CLASS = "ReferenceUnavailableError"


def views_root() -> Path:
    return Path(tempfile.gettempdir()) / f"grade-views-{os.getuid()}"


def clean_stale() -> int:
    """Remove views left by grading runs whose process is gone; returns how many."""
    root = views_root()
    n = 0
    if not root.is_dir():
        return 0
    for p in root.iterdir():
        pid = p.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n


def message(name: str) -> str:
    return (f"the reference {name} is not available while grading: only your own code runs "
            f"(a check cell falls back to the reference when your {name} fails, so code that "
            f"builds on {name} fails too until {name} passes)")


def catalogue_message(name: str) -> str:
    return (f"the reference {name} is not available while grading, nor the catalogue of its "
            f"known mistakes: only your own code runs")


CATALOGUE_MESSAGE = "the catalogue of known mistakes is not available while grading: only your own code runs"


def _stub(name: str, text: str, indent: str = "") -> str:
    # self-contained (no module global): a copied code object raises the same error
    return (f"{indent}def {name}(*args, **kwargs):\n"
            f"{indent}    raise type({ERROR_CLASS!r}, (RuntimeError,), {{}})(\n"
            f"{indent}        {text!r})\n")


def _replace(source: str, spans) -> str:
    """source with each (first line, last line, replacement text) span replaced."""
    lines = source.splitlines(keepends=True)
    for start, end, text in sorted(spans, reverse=True):
        lines[start - 1:end] = [text]
    return "".join(lines)


def _first_line(node) -> int:
    return min([node.lineno] + [d.lineno for d in node.decorator_list])


def _stub_source(source: str, names: dict) -> str:
    """``source`` with the top-level functions in ``names`` ({function name: exercise
    name}) replaced by stubs that raise ReferenceUnavailableError."""
    tree = ast.parse(source)
    spans = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            spans.append((_first_line(node), node.end_lineno, _stub(node.name, message(names[node.name]))))
    missing = set(names) - {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if missing:
        raise ValueError(f"cannot remove the reference implementations {sorted(missing)}: they "
                         f"are not top-level functions of their module")
    return _replace(source, spans)


def catalogue_owners(source: str, bugs: dict) -> dict:
    """{top-level name: exercise name} in a catalogue module: each mistake of ``bugs``
    ({function or class name: exercise name}) and the helpers it uses (what a
    ReferenceUnavailableError then names)."""
    tree = ast.parse(source)
    nodes = {n.name: n for n in tree.body
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    owners = {n: e for n, e in bugs.items() if n in nodes}
    changed = True
    while changed:
        changed = False
        for name, exercise in list(owners.items()):
            for sub in ast.walk(nodes[name]):
                if isinstance(sub, ast.Name) and sub.id in nodes and sub.id not in owners:
                    owners[sub.id] = exercise
                    changed = True
    return owners


def _stub_catalogue(source: str, owners: dict) -> str:
    """A catalogue of known mistakes with every top-level function, and every method of a
    top-level class, replaced by a stub (the classes and the module's other names stay, so
    the lab module that imports it still registers its exercises)."""
    tree = ast.parse(source)
    spans = []
    for node in tree.body:
        text = catalogue_message(owners[node.name]) if getattr(node, "name", None) in owners \
            else CATALOGUE_MESSAGE
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            spans.append((_first_line(node), node.end_lineno, _stub(node.name, text)))
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    spans.append((_first_line(sub), sub.end_lineno,
                                  _stub(sub.name, text, " " * sub.col_offset)))
    return _replace(source, spans)


def is_catalogue(path: Path) -> bool:
    return path.parent.name == "exercises" and path.name.startswith("mistakes_")


def _font_cache(folder: Path) -> None:
    folder.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "MPLCONFIGDIR": str(folder),
           "MPLBACKEND": "Agg", "LANG": "C.UTF-8"}
    try:
        subprocess.run([sys.executable, "-I", "-B", "-c", "import matplotlib.font_manager"],
                       env=env, cwd=str(folder), timeout=300, capture_output=True)
    except (OSError, subprocess.SubprocessError):
        pass  # no matplotlib, or too slow: each child builds its own list
    for p in folder.iterdir():
        if not p.name.startswith("fontlist-"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()


def build(repo: Path, exercises, extra_modules=()) -> Path:
    """Create a fresh view for ``exercises`` (``checks.Exercise`` list, with their ``uses``
    resolved by the caller) and return its folder. extra_modules: .py files that register
    exercises (copied to ``lib/``)."""
    repo = Path(repo).resolve()
    root = views_root()
    root.mkdir(mode=0o755, exist_ok=True)
    os.chmod(root, 0o755)
    view = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    try:
        os.chmod(view, 0o755)
        (view / "grader").mkdir()
        (view / "mnt").mkdir()
        for name in CHILD_FILES:
            shutil.copyfile(HERE / name, view / "grader" / name)
        lib = view / "lib"
        sources = {}  # destination -> source file
        for src in sorted((repo / "utils").rglob("*.py")):
            if "__pycache__" not in src.parts:
                sources[lib / src.relative_to(repo)] = src
        for p in extra_modules:
            p = Path(p).resolve()
            sources[lib / p.name] = p
        by_file: dict = {}
        bugs: dict = {}  # catalogue file -> {mistake name: exercise name}
        for ex in exercises:
            for bug in ex.bugs:
                try:
                    src = Path(inspect.getsourcefile(bug.fn)).resolve()
                except TypeError:
                    continue
                bugs.setdefault(src, {})[bug.fn.__name__] = ex.name
            ref = ex.reference
            try:
                path = Path(inspect.getsourcefile(ref)).resolve()
            except TypeError:
                raise ValueError(f"the reference of {ex.name} is not a Python function") from None
            dest = next((d for d, s in sources.items() if s == path), None)
            if dest is None:
                raise ValueError(f"the reference of {ex.name} ({path.name}) is outside utils/ "
                                 f"and the exercise modules: it cannot be removed from the sandbox")
            by_file.setdefault(dest, {})[ref.__name__] = ex.name
        for dest, src in sources.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            text = src.read_text(encoding="utf-8")
            if dest in by_file:
                text = _stub_source(text, by_file[dest])
            if is_catalogue(dest):
                text = _stub_catalogue(text, catalogue_owners(text, bugs.get(src.resolve(), {})))
            dest.write_text(text, encoding="utf-8")
        if (repo / "data").is_dir():
            shutil.copytree(repo / "data", lib / "data")
        _font_cache(view / "mpl")
        for d in [view, *view.rglob("*")]:
            os.chmod(d, 0o755 if d.is_dir() else 0o644)
    except BaseException:
        shutil.rmtree(view, ignore_errors=True)
        raise
    return view
