"""Read a submitted notebook, decide which cells run, and scan its code statically.

Which cells run: the submission's code cells, in order, up to the last cell that defines an
exercise, except cells tagged ``slow`` (training for show; ``tags`` in the cell metadata). A
cell also counts as slow when the solution notebook's cell with the same id is tagged
``slow``, so deleting the tag does not make grading slow. Running the student's cells between
exercises (not only the exercise cells) is what the student ran, so helpers, imports and the
check cells' fallbacks behave as in the lab; cells after the last exercise cannot change a
grade and are not run (``batch``).

Where each exercise is graded: right after the last cell that binds its name (a ``def``, an
assignment or an import, not the ``name = check(...)`` line); found with the AST, or with a
regular expression for a cell that does not parse.

Static scan (``scan``), per exercise function body:

- ``calls-reference``: the body names the exercise's own reference implementation through an
  import from its module or from one that re-exports it (``from utils.layers import
  rnn_step_forward as f``, ``utils.layers.rnn_step_forward``, ``import utils.layers as L;
  L.rnn_step_forward``; ``utils.charlm.bigram_nats`` as well as the module that defines it,
  ``utils.lm_baselines.bigram_nats``), one of its twins (``Exercise.twins``: ``from
  utils.seq2seq import Decoder; Decoder.step``) or the catalogue of known mistakes
  (``utils.exercises.mistakes_labNN``). The exercise scores 0 (at run time the sandbox has no
  reference nor catalogue, and the twins are off while the exercise is graded: a call through
  an alias the scan cannot follow raises
  ``ReferenceUnavailableError``, which ``scoring`` flags too).
- ``suspicious``: anywhere in the code, names that only serve to get around grading
  (``sys.setprofile``/``settrace``, ``REGISTRY``/``get_exercise``/``.reference`` that reach the
  registered references, ``__code__`` and ``getsource`` that copy code, ``reload`` and
  ``module_from_spec`` that load a second copy of a module) and private names of the course's
  library (``utils.attention._attention_softmax``: the sandbox keeps them, the models need
  them). Flagged for the instructor to look at; the score is kept.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..nbgrader_cells import without_hidden_tests

SLOW_TAG = "slow"
# Names (any use) and attributes (``x.<attr>``) that only serve to get around grading.
_SUSPICIOUS_NAMES = ("setprofile", "settrace", "REGISTRY", "get_exercise", "_getframe",
                     "getsource", "reload", "module_from_spec", "spec_from_file_location")
_SUSPICIOUS_ATTRS = _SUSPICIOUS_NAMES + ("reference", "get_objects", "__code__")
CATALOGUE = "utils.exercises.mistakes_"


class SubmissionError(ValueError):
    """A submission that cannot be run; ``status`` is its CSV status."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Cell:
    index: int          # position among the notebook's cells (all types), from 0
    id: str
    source: str
    slow: bool
    grade_after: list = field(default_factory=list)


def read_submission(path: Path) -> tuple:
    """(raw bytes, sha256 hex) of a submission file."""
    data = Path(path).read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def _text(value, what):
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise SubmissionError("not-a-notebook", f"the file is not a valid notebook ({what} is not text)")


def parse_notebook(data: bytes) -> list:
    """The notebook's cells as dicts {"cell_type", "id", "tags", "source" (str)}, or
    SubmissionError with a status: ``empty`` (no bytes or only whitespace),
    ``invalid-json``, ``not-a-notebook`` (JSON without a v4 notebook's cell list).

    A plain JSON check of the nbformat 4 structure rather than ``nbformat.validate``: the
    grader only needs each cell's type, id, tags and source, and importing nbformat's schema
    machinery costs seconds per run.
    """
    if not data.strip():
        raise SubmissionError("empty", "the file is empty")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise SubmissionError("invalid-json", f"the file is not valid JSON ({e})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("cells"), list):
        raise SubmissionError("not-a-notebook", "the file is JSON but not a Jupyter notebook "
                                                "(no list of cells)")
    if obj.get("nbformat") != 4:
        raise SubmissionError("not-a-notebook", f"the notebook has nbformat {obj.get('nbformat')!r}; "
                                                f"version 4 is expected (save it from Jupyter)")
    cells = []
    for i, c in enumerate(obj["cells"]):
        if not isinstance(c, dict) or c.get("cell_type") not in ("code", "markdown", "raw"):
            raise SubmissionError("not-a-notebook", f"the file is not a valid notebook (cell {i + 1} "
                                                    f"has no valid cell_type)")
        meta = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        cells.append({"cell_type": c["cell_type"], "id": str(c.get("id", "")),
                      "tags": [str(t) for t in tags],
                      "source": _text(c.get("source", ""), f"cell {i + 1}'s source")})
    return cells


def slow_ids(solution_path: Path | None) -> set:
    """Ids of the cells tagged ``slow`` in the solution notebook (empty without one)."""
    if solution_path is None:
        return set()
    cells = parse_notebook(Path(solution_path).read_bytes())
    return {c["id"] for c in cells if SLOW_TAG in c["tags"] and c["id"]}


def code_cells(nb_cells, exercise_names, solution_slow: set) -> list:
    """The submission's code cells (from ``parse_notebook``) as ``Cell``s, with ``slow`` and
    ``grade_after`` set."""
    cells = []
    for index, c in enumerate(nb_cells):
        if c["cell_type"] != "code":
            continue
        slow = SLOW_TAG in c["tags"] or (c["id"] != "" and c["id"] in solution_slow)
        # nbgrader's hidden tests (in the solution notebooks) grade in the kernel with the
        # references, which the sandbox does not have; this grader scores on its own.
        cells.append(Cell(index, c["id"], without_hidden_tests(c["source"]), slow))
    last = {}
    for cell in cells:
        if cell.slow:
            continue
        for name in binds(cell.source, exercise_names):
            last[name] = cell
    for name, cell in last.items():
        cell.grade_after.append(name)
    return cells


def _plain(source: str) -> str:
    # IPython magics and shell lines do not parse: blank them (keeps line numbers).
    return "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in source.split("\n"))


def _is_check_call(value) -> bool:
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "check")


def binds(source: str, names) -> set:
    """Which of ``names`` the cell binds at top level (def, assignment, import), ignoring
    ``name = check(...)``."""
    names = set(names)
    try:
        tree = ast.parse(_plain(source))
    except SyntaxError:
        found = set()
        for n in names:
            if re.search(rf"^\s*(def\s+{n}\s*\(|{n}\s*=[^=]|from\s.*\bimport\b.*\b{n}\b)", source, re.M):
                found.add(n)
        return found
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in names:
                found.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            if _is_check_call(getattr(node, "value", None)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name) and sub.id in names:
                        found.add(sub.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                bound = a.asname or a.name.split(".")[0]
                if bound in names:
                    found.add(bound)
    return found


# --------------------------------------------------------------------------- static scan


def _imports(tree) -> dict:
    """{local name: dotted path} for every import in ``tree`` (any depth)."""
    table = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    table[a.asname] = a.name
                else:
                    table[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                table[a.asname or a.name] = f"{node.module}.{a.name}"
    return table


def _dotted(node, table) -> str | None:
    """'utils.layers.rnn_step_forward' for ``L.rnn_step_forward`` when L is utils.layers."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in table:
        return None
    return ".".join([table[node.id], *reversed(parts)])


def _private_course_name(path: str) -> bool:
    """True for a private name of the course's library, e.g. 'utils.attention._softmax'."""
    parts = path.split(".")
    return parts[0] == "utils" and any(p.startswith("_") and not p.startswith("__") for p in parts[1:])


def _names(path: str, ref) -> bool:
    """Whether the dotted ``path`` names the function ``ref``: its own path
    (``ref.__module__ + "." + ref.__name__``), or any path through the modules of its package
    that this process has imported to the same object, e.g. ``utils.charlm.bigram_nats``
    for the reference defined in ``utils.lm_baselines`` and re-exported by ``utils.charlm``."""
    module = getattr(ref, "__module__", None) or ""
    if path == f"{module}.{getattr(ref, '__name__', '')}":
        return True
    parts = path.split(".")
    if parts[0] != module.split(".")[0]:
        return False
    for i in range(len(parts) - 1, 0, -1):  # the longest prefix that is an imported module
        obj = sys.modules.get(".".join(parts[:i]))
        if obj is not None:
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            return obj is ref
    return False


def scan(cells, exercises) -> dict:
    """{"calls_reference": {exercise name, ...}, "suspicious": [words]} from the source.

    exercises: {name: Exercise}; a function names its reference through any import path
    that leads to it (``_names``).
    """
    trees = []
    for cell in cells:
        if cell.slow:
            continue
        try:
            trees.append(ast.parse(_plain(cell.source)))
        except SyntaxError:
            continue
    table = {}
    for tree in trees:
        table.update(_imports(tree))
    twin_paths = {name: {f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', '')}"
                         for f in ex.twins} for name, ex in exercises.items()}
    calls = set()
    suspicious = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in exercises:
                local = dict(table)
                local.update(_imports(node))
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Name, ast.Attribute)):
                        path = _dotted(sub, local)
                        if path is not None and (_names(path, exercises[node.name].reference)
                                                 or path in twin_paths[node.name]
                                                 or path.startswith(CATALOGUE)):
                            calls.add(node.name)
            if isinstance(node, (ast.Name, ast.Attribute)):
                path = _dotted(node, table)
                if path is not None and _private_course_name(path):
                    # The sandbox keeps private helpers (the models need them), so code
                    # that uses one is left to the instructor.
                    suspicious.add(path)
            if isinstance(node, ast.Attribute) and node.attr in _SUSPICIOUS_ATTRS:
                suspicious.add(node.attr)
            elif isinstance(node, ast.Name) and node.id in _SUSPICIOUS_NAMES:
                suspicious.add(node.id)
            elif isinstance(node, ast.alias) and node.name.split(".")[-1] in _SUSPICIOUS_NAMES:
                suspicious.add(node.name.split(".")[-1])
    return {"calls_reference": calls, "suspicious": sorted(suspicious)}
