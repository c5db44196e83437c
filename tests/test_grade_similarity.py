"""Copy detection (``tools/grading/similarity.py``): renamed, reformatted copies of the
reference or of a classmate are found, honest work and the shared skeleton are not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.grading.builders import Submission  # noqa: E402
from tools.grading import scoring  # noqa: E402

LAB02 = sorted((REPO / "solutions").glob("02_*.ipynb"))
HONEST_RNN_BACKWARD = '''def rnn_backward(dh, cache):
    x, h0, Wx, Wh, h = cache
    N, T, H = h.shape
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H, dtype=h.dtype)
    dh_next = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        prev = h0 if t == 0 else h[:, t - 1]
        g = (dh[:, t] + dh_next) * (1 - h[:, t] ** 2)
        dx[:, t] = g @ Wx.T
        dWx += x[:, t].T @ g
        dWh += prev.T @ g
        db += g.sum(axis=0)
        dh_next = g @ Wh.T
    dh0 = dh_next
    return dx, dh0, dWx, dWh, db
'''


def _renamed(source: str, suffix: str) -> str:
    """The same function with every local and argument renamed, reformatted, commented."""
    import ast
    tree = ast.parse(source)
    fn = tree.body[0]
    if isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant):
        fn.body = fn.body[1:]
    local = {a.arg for a in fn.args.args} | {n.id for n in ast.walk(fn)
                                             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and node.id in local:
            node.id += suffix
        elif isinstance(node, ast.arg):
            node.arg += suffix
    lines = ast.unparse(tree).replace(" = ", "=").split("\n")
    return "\n".join(line + ("  # my own idea" if i % 3 == 0 else "") for i, line in enumerate(lines))


@pytest.mark.skipif(not LAB02, reason="solutions/02_*.ipynb is not written yet")
def test_copy_detection_flags_renamed_copies_not_honest_work(tmp_path):
    import inspect
    import textwrap

    from tools.grading import similarity
    exercises = scoring.lab_exercises("02")
    backward = next(ex for ex in exercises if ex.name == "rnn_backward")
    reference = textwrap.dedent(inspect.getsource(backward.reference))
    base = Submission.from_solution(LAB02[0])
    made = {"honest_solution": base.copy().solve_all(),
            "honest_own": base.copy().solve_all().set_exercise("rnn_backward", HONEST_RNN_BACKWARD),
            "copies_reference": base.copy().solve_all().set_exercise(
                "rnn_backward", "import numpy as np\n\n" + _renamed(reference, "_mine")),
            "copies_classmate": base.copy().solve_all().set_exercise(
                "rnn_backward", _renamed(HONEST_RNN_BACKWARD, "_2"))}
    ids = {name: sub.write(tmp_path / f"{name}.ipynb") for name, sub in made.items()}
    matches = similarity.batch_matches(exercises, ids, LAB02[0])
    on_backward = {s: {(m.other, round(m.score, 2)) for m in ms if m.exercise == "rnn_backward"}
                   for s, ms in matches.items()}
    assert on_backward["copies_reference"] == {("reference", 1.0)}
    assert on_backward["copies_classmate"] == {("honest_own", 1.0)}
    assert on_backward["honest_own"] == {("copies_classmate", 1.0)}
    assert on_backward["honest_solution"] == set()
    # the skeleton every student shares is not a match: untouched notebooks match nobody
    untouched = {"a": base.copy().write(tmp_path / "a.ipynb"), "b": base.copy().write(tmp_path / "b.ipynb")}
    assert similarity.batch_matches(exercises, untouched, LAB02[0]) == {"a": [], "b": []}
    assert similarity.cell_text(matches["copies_reference"]).startswith("rnn_backward~reference:1.00")
    text = similarity.report_markdown("02", matches)
    assert "| rnn_backward | copies_reference | reference | 1.00 |" in text
