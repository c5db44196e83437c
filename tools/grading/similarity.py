"""Copy detection without running code: token similarity of each exercise function.

For every exercise, the body of the function each student defines (the last top-level
``def`` of that name in the cells the grader runs) is compared with the reference
implementation and with the same function of every other submission in the folder.

Normalisation, so that renaming and reformatting do not hide a copy:

1. parse and ``ast.unparse`` each top-level statement of the body (formatting, comments and
   the docstring disappear);
2. drop the statements of the skeleton every student starts from (the solution cell with
   its ``### BEGIN/END SOLUTION`` block removed, e.g. given setup lines or ``raise
   NotImplementedError``), compared after renaming so a renamed skeleton line is dropped too;
3. tokenize (``tokenize``): keywords, operators and attribute names (``.T``, ``np.tanh``)
   are kept, every other name becomes its order of first appearance (``v0, v1, ...``),
   numbers ``NUM`` and strings ``STR``.

The score is ``difflib.SequenceMatcher(...).ratio()`` of two token lists (1 = identical
after normalisation). Bodies shorter than ``MIN_TOKENS`` are not compared: a one-line
``np.tanh(x @ Wx + h_prev @ Wh + b)`` is what everyone writes. A pair at or above
``THRESHOLD`` is reported (``similarity`` column of the CSV and ``report.md``); the score is
never changed by it: it is for the instructor to look at. See the README for the
measurements behind the threshold.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import io
import keyword
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

from . import submission

MIN_TOKENS = 25
THRESHOLD = 0.9
_KEEP_NAMES = {"np", "numpy", "torch", "math", "self", "range", "len", "zip", "enumerate",
               "reversed", "sum", "max", "min", "abs", "float", "int", "list", "tuple", "dict"}


@dataclass(frozen=True)
class Match:
    exercise: str
    other: str      # "reference" or the other student's id
    score: float


def _body(fn: ast.FunctionDef) -> list:
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring
    return body


def _function(source: str, name: str):
    """The last top-level ``def name`` in ``source`` (None if absent or not parseable)."""
    try:
        tree = ast.parse(submission._plain(source))
    except (SyntaxError, ValueError):
        return None
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            found = node
    return found


def skeleton(solution: Path | None, name: str) -> set:
    """Unparsed statements of the skeleton of exercise ``name`` (see the module docstring)."""
    if solution is None:
        return set()
    for c in submission.parse_notebook(Path(solution).read_bytes()):
        if c["cell_type"] != "code" or "### BEGIN SOLUTION" not in c["source"]:
            continue
        kept, inside = [], False
        for line in c["source"].split("\n"):
            if line.strip() == "### BEGIN SOLUTION":
                inside = True
                kept.append(line.split("#")[0] + "raise NotImplementedError")
            elif line.strip() == "### END SOLUTION":
                inside = False
            elif not inside:
                kept.append(line)
        fn = _function("\n".join(kept), name)
        if fn is not None:
            return {_key(s) for s in _body(fn)}
    return set()


def _normalise(text: str) -> list:
    """Tokens of ``text`` with names replaced by their order of first appearance."""
    out, names, prev = [], {}, ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text + "\n").readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.NAME:
                s = tok.string
                if not (keyword.iskeyword(s) or prev == "." or s in _KEEP_NAMES):
                    s = names.setdefault(s, f"v{len(names)}")
            elif tok.type == tokenize.NUMBER:
                s = "NUM"
            elif tok.type == tokenize.STRING:
                s = "STR"
            elif tok.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                s = tokenize.tok_name[tok.type]
            else:
                s = tok.string
            out.append(s)
            prev = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    return out


def _key(statement) -> str:
    """A statement normalised on its own: the same skeleton line, renamed, has the same key."""
    return " ".join(_normalise(ast.unparse(statement)))


def tokens(fn, shared: set) -> list:
    """The normalised tokens of a function's body without the skeleton statements."""
    if fn is None:
        return []
    return _normalise("\n".join(ast.unparse(s) for s in _body(fn) if _key(s) not in shared))


def score(a: list, b: list) -> float:
    if len(a) < MIN_TOKENS or len(b) < MIN_TOKENS:
        return 0.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def reference_tokens(exercise, shared: set) -> list:
    try:
        source = textwrap.dedent(inspect.getsource(exercise.reference))
    except (OSError, TypeError):
        return []
    return tokens(_function(source, exercise.reference.__name__), shared)


def submission_tokens(path: Path, names, solution_slow: set, shared: dict) -> dict:
    """{exercise name: tokens} of one submission file ({} when it is not a notebook)."""
    try:
        nb = submission.parse_notebook(Path(path).read_bytes())
    except (submission.SubmissionError, OSError):
        return {}
    cells = [c for c in submission.code_cells(nb, names, solution_slow) if not c.slow]
    out = {}
    for name in names:
        fn = None
        for c in cells:  # the last definition wins, as when the cells run
            fn = _function(c.source, name) or fn
        out[name] = tokens(fn, shared[name])
    return out


def batch_matches(exercises, ids: dict, solution: Path | None) -> dict:
    """{student id: [Match, ...]} for every pair at or above THRESHOLD, best first.

    ids: {student id: notebook path}, every submission of the folder."""
    names = [ex.name for ex in exercises]
    shared = {name: skeleton(solution, name) for name in names}
    slow = submission.slow_ids(solution)
    toks = {s: submission_tokens(p, names, slow, shared) for s, p in ids.items()}
    matches = {s: [] for s in ids}
    students = sorted(ids)
    for ex in exercises:
        ref = reference_tokens(ex, shared[ex.name])
        for i, s in enumerate(students):
            mine = toks[s].get(ex.name, [])
            r = score(mine, ref)
            if r >= THRESHOLD:
                matches[s].append(Match(ex.name, "reference", r))
            for t in students[i + 1:]:
                r = score(mine, toks[t].get(ex.name, []))
                if r >= THRESHOLD:
                    matches[s].append(Match(ex.name, t, r))
                    matches[t].append(Match(ex.name, s, r))
    for s in matches:
        matches[s].sort(key=lambda m: (-m.score, m.exercise, m.other))
    return matches


def cell_text(matches) -> str:
    """The CSV cell: ``rnn_forward~reference:0.97;rnn_backward~bob:0.93``."""
    return ";".join(f"{m.exercise}~{m.other}:{m.score:.2f}" for m in matches)


def report_markdown(lab: str, matches: dict) -> str:
    """The instructor report: every flagged pair once, by exercise."""
    lines = [f"# Lab {lab}: copy detection", "",
             f"Each exercise function, normalised (names, formatting, comments, skeleton lines "
             f"removed), compared with the reference and with every other submission; pairs "
             f"with a token similarity of at least {THRESHOLD:g} are listed (functions under "
             f"{MIN_TOKENS} tokens are not compared). Scores are unchanged: look at the code.", ""]
    pairs = set()
    for s, ms in matches.items():
        for m in ms:
            a, b = (s, m.other) if m.other == "reference" else tuple(sorted((s, m.other)))
            pairs.add((m.exercise, a, b, round(m.score, 2)))
    if not pairs:
        lines.append("No pair reached the threshold.")
    else:
        lines += ["| exercise | student | similar to | similarity |", "| --- | --- | --- | --- |"]
        for ex, a, b, r in sorted(pairs, key=lambda p: (p[0], -p[3], p[1], p[2])):
            lines.append(f"| {ex} | {a} | {b} | {r:.2f} |")
    return "\n".join(lines) + "\n"
