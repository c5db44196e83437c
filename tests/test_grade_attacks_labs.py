"""Cheating students of labs 06 and 07: submissions that try to score without solving the
exercises, graded in one sandboxed batch per lab beside an honest classmate (full marks,
no flag).

Each submission is a short notebook (imports, then exercise cells) rather than the whole lab:
the grader runs whatever cells a submission holds, and a short one keeps the suite quick.
What each attack reaches:

- the catalogue of known mistakes (``utils/exercises/mistakes_lab06.py``): its shared
  helpers, called with their defaults, are the references (``tbptt_variant()``,
  ``free_run_variant()``, ``scheduled_variant()``, ``_beam``), and a mistake undone is one too (``last_state_off_by_one(h,
  lengths - 1)``); the sandbox's copy of the catalogue has stubs only;
- twins of an exercise that the lab's models need (``Decoder.step``, the attention modules,
  their private softmax, self-attention's softmax): off while the exercise is graded,
  however they are reached (``type(dec).step``, getattr with built names, a saved alias);
- library calls the exercise allows: ``torch.softmax`` for 7.1 keeps its point;
  ``torch.nn.init.orthogonal_`` for 6.2 draws its own Gaussian matrix, so it cannot give the
  orthogonal matrix made from the given one (0 points, nothing to flag);
- a correct but slow answer that switches off the grader's alarm: timed by the grader from
  outside the sandbox, it scores 0 with a timeout flag;
- the check cell's own outputs hard-coded: the hidden cases are new (0 points).
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from tests.grading.builders import Submission
from tools.grading import batch, sandbox, scoring

REPO = Path(__file__).resolve().parent.parent
LAB06 = sorted((REPO / "solutions").glob("06_*.ipynb"))
LAB07 = sorted((REPO / "solutions").glob("07_*.ipynb"))
# exercise_timeout: room for a loaded machine (a torch model's first steps in a fresh process)
LIMITS = sandbox.Limits(notebook_timeout=150, cell_timeout=60, exercise_timeout=10)

IMPORTS = ("import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
           "from utils.checks import check\n")

# ----------------------------------------------------------------------------- lab 06

CATALOGUE_TBPTT = '''from utils.exercises.mistakes_lab06 import tbptt_variant

def tbptt_epoch(model, x_rows, y_rows, T, optimizer):
    return tbptt_variant()(model, x_rows, y_rows, T, optimizer)
'''
CATALOGUE_HIDDEN = '''import importlib
_m = importlib.import_module("utils.exercises." + "mistakes_" + "lab06")

def orthogonal_from_gaussian(A, gain=1.0):
    return getattr(_m, "orthogonal_gain_" + "forgotten")(A) * gain

def last_real_state(h, lengths):
    return getattr(_m, "last_state_off_" + "by_one")(h, lengths - 1)

def free_run(model, prompt, steps):
    return getattr(_m, "free_run_" + "variant")()(model, prompt, steps)

def scheduled_sampling_loss(model, y, use_model):
    return getattr(_m, "scheduled_" + "variant")()(model, y, use_model)
'''
REFERENCE_ALIAS = '''from utils.free_running import free_run as _generate

def free_run(model, prompt, steps):
    return _generate(model, prompt, steps)
'''
TORCH_ORTHOGONAL = '''def orthogonal_from_gaussian(A, gain=1.0):
    W = torch.empty(A.shape, dtype=torch.float64)
    torch.nn.init.orthogonal_(W, gain=gain)
    return W.numpy()
'''
# right, but it takes longer than the exercise's limit, and switches off the alarm first
SLOW_RIGHT = '''import signal, time
_calls = []

def last_real_state(h, lengths):
    signal.setitimer(signal.ITIMER_REAL, 0)
    if not _calls:
        time.sleep({seconds})
    _calls.append(1)
    return h[torch.arange(h.shape[0]), lengths - 1]
'''

# ----------------------------------------------------------------------------- lab 07

LAB_REFERENCE = '''from utils.exercises import lab07 as _lab

def decoder_step(dec, y_prev, h_prev, enc_out, mask):
    return _lab.decoder_step_reference(dec, y_prev, h_prev, enc_out, mask)
'''
TYPE_STEP = '''def decoder_step(dec, y_prev, h_prev, enc_out, mask):
    return type(dec).step(dec, y_prev, h_prev, enc_out, mask)
'''
SAVED_STEP = '''import importlib
_step = getattr(getattr(importlib.import_module("utils." + "seq2seq"), "Dec" + "oder"), "st" + "ep")

def decoder_step(dec, y_prev, h_prev, enc_out, mask):
    return _step(dec, y_prev, h_prev, enc_out, mask)
'''
ATTENTION_MODULE = '''from utils.attention import AdditiveAttention

def additive_attention(query, keys, mask, Wq, Wk, v):
    att = AdditiveAttention(Wq.shape[0], Wk.shape[0], Wq.shape[1]).double()
    with torch.no_grad():
        att.Wq.weight.copy_(torch.from_numpy(Wq.T))
        att.Wk.weight.copy_(torch.from_numpy(Wk.T))
        att.Wk.bias.zero_()
        att.v.weight.copy_(torch.from_numpy(v[None]))
        context, weights = att(torch.from_numpy(query), torch.from_numpy(keys), torch.from_numpy(mask))
    return context.numpy(), weights.numpy()
'''
PRIVATE_SOFTMAX = '''from utils import attention as _a
_sm = getattr(_a, "_attention" + "_softmax")

def masked_softmax_np(scores, mask):
    return _sm(torch.from_numpy(scores), torch.from_numpy(mask)).numpy()

def masked_softmax(scores, mask):
    return _sm(scores, mask)
'''
DOT_ATTENTION = '''from utils.attention import DotAttention

def masked_softmax(scores, mask):
    att = DotAttention(1, 1).to(scores.dtype)
    with torch.no_grad():
        att.W.weight.fill_(1.0)
    query = torch.ones(scores.shape[0], 1, dtype=scores.dtype)
    return att(query, scores[:, :, None], mask)[1]
'''
SELF_ATTENTION_SOFTMAX = '''from utils.attention import scaled_dot_product_attention

def masked_softmax_np(scores, mask):
    S = scores.shape[-1]
    out = np.zeros(scores.shape)
    rows = mask.any(axis=-1)
    out[rows] = scaled_dot_product_attention(scores[rows], np.sqrt(S) * np.eye(S), np.eye(S), mask[rows])[1]
    return out
'''
CATALOGUE_BEAM = '''from utils.exercises import mistakes_lab07

def beam_search(step, state, bos, eos, beam_size=3, max_len=12, alpha=1.0):
    return mistakes_lab07._beam(step, state, bos, eos, beam_size, max_len, alpha)
'''
TORCH_SOFTMAX_NP = '''def masked_softmax_np(scores, mask):
    w = torch.softmax(torch.from_numpy(scores).masked_fill(~torch.from_numpy(mask), float("-inf")), dim=-1)
    return torch.nan_to_num(w, nan=0.0).numpy()
'''


def hard_coded_softmax() -> str:
    """A masked_softmax_np that returns the reference's outputs for the check cell's own cases
    (public: the notebook's check draws them from a fixed seed) and zeros otherwise."""
    from utils import checks
    ex = checks.get_exercise("masked_softmax_np")
    table = {case.args[0].tobytes().hex(): ex.reference(*case.args).tolist() for case in checks.make_cases(ex)}
    return (f"_ANSWERS = {table!r}\n\n"
            "def masked_softmax_np(scores, mask):\n"
            "    return np.array(_ANSWERS.get(scores.tobytes().hex(), np.zeros(scores.shape)))\n")


def calls(*names):
    return {f"calls-reference:{n}" for n in names}


# name -> (exercise cells, {exercise: points}, flags); exercises not named score 0
ATTACKS = {
    "06": {
        "honest": (None, {"tbptt_epoch": 1, "orthogonal_from_gaussian": 1, "last_real_state": 1,
                          "free_run": 1, "scheduled_sampling_loss": 1}, set()),
        "catalogue_tbptt": ([CATALOGUE_TBPTT], {}, calls("tbptt_epoch")),
        "catalogue_hidden": ([CATALOGUE_HIDDEN], {}, calls("orthogonal_from_gaussian", "last_real_state",
                                                          "free_run", "scheduled_sampling_loss")),
        "reference_alias": ([REFERENCE_ALIAS], {}, calls("free_run")),
        "torch_orthogonal": ([TORCH_ORTHOGONAL], {}, set()),
        "slow_right": ([SLOW_RIGHT.format(seconds=scoring.overdue_after(LIMITS.exercise_timeout) + 3)], {},
                       {"timeout:last_real_state"}),
    },
    "07": {
        "honest": (None, {"masked_softmax_np": 1, "masked_softmax": 1, "additive_attention": 1,
                          "decoder_step": 1, "beam_search": 1}, set()),
        "lab_reference": ([LAB_REFERENCE], {}, calls("decoder_step")),
        "type_step": ([TYPE_STEP], {}, calls("decoder_step")),
        "saved_step": ([SAVED_STEP], {}, calls("decoder_step")),
        "attention_module": ([ATTENTION_MODULE], {}, calls("additive_attention")),
        "private_softmax": ([PRIVATE_SOFTMAX], {}, calls("masked_softmax_np", "masked_softmax")),
        "dot_attention": ([DOT_ATTENTION], {}, calls("masked_softmax")),
        "self_attention_softmax": ([SELF_ATTENTION_SOFTMAX], {}, calls("masked_softmax_np")),
        "catalogue_beam": ([CATALOGUE_BEAM], {}, calls("beam_search")
                           | {"suspicious:utils.exercises.mistakes_lab07._beam"}),
        "torch_softmax_np": ([TORCH_SOFTMAX_NP], {"masked_softmax_np": 1}, set()),
        "hard_coded": ([hard_coded_softmax()], {}, set()),
    },
}
SOLUTIONS = {"06": LAB06, "07": LAB07}


def _notebook(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for i, source in enumerate([IMPORTS, *cells]):
        cell = nbformat.v4.new_code_cell(source)
        cell["id"] = f"attack-{i}"
        nb.cells.append(cell)
    return nb


def _grade(lab, tmp_path):
    solution = SOLUTIONS[lab][0]
    exercises = scoring.lab_exercises(lab)
    honest_cells = Submission.from_solution(solution).solve_all()
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, (cells, _, _) in ATTACKS[lab].items():
        if cells is None:  # the solution's exercise cells, in order
            cells = [c.source for c in honest_cells.nb.cells
                     if c.cell_type == "code" and "### BEGIN" not in c.source
                     and any(f"def {ex.name}(" in c.source for ex in exercises)]
        (subs / f"{name}.ipynb").write_text(nbformat.writes(_notebook(cells)))
    ctx = batch.Context(lab=lab, exercises=exercises, limits=LIMITS, solution=solution, seed=11)
    batch.grade_folder(subs, tmp_path / "out", ctx, jobs=2, log=lambda *a: None)
    with open(tmp_path / "out" / "grades.csv", newline="", encoding="utf-8") as f:
        return exercises, {r["student"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return {lab: _grade(lab, tmp_path_factory.mktemp(f"attacks{lab}"))
            for lab in ATTACKS if SOLUTIONS[lab]}


@pytest.mark.slow
@pytest.mark.parametrize("lab,name", [(lab, n) for lab in ATTACKS for n in ATTACKS[lab]])
def test_attack_gets_exactly_its_score(graded, lab, name):
    if lab not in graded:
        pytest.skip(f"solutions/{lab}_*.ipynb is not written yet")
    exercises, rows = graded[lab]
    _, points, flags = ATTACKS[lab][name]
    row = rows[name]
    assert {ex.name: float(row[ex.name]) for ex in exercises} == \
        {ex.name: float(points.get(ex.name, 0)) for ex in exercises}, row
    assert set(filter(None, row["flags"].split(";"))) == flags, row


# ----------------------------------------------------------------------------- quick tests


def test_the_views_catalogues_are_stubs_that_still_register(tmp_path):
    """In the sandbox's view every catalogued mistake (and the helpers they share) raises,
    naming its exercise; the lab modules that import the catalogues still register."""
    import subprocess
    import sys

    exercises = scoring.lab_exercises("06") + scoring.lab_exercises("07")
    view = batch.stage.build(REPO, exercises)
    try:
        code = (
            f"import sys\nsys.path.insert(0, {str(view / 'lib')!r})\n"
            "import numpy as np\n"
            "from utils import checks\n"
            "from utils.exercises import lab06, lab07, mistakes_lab06 as m6, mistakes_lab07 as m7\n"
            "assert checks.get_exercise('beam_search').bugs\n"
            "for f, args in ((m6.tbptt_variant, ()), (m6.last_state_off_by_one, ()), (m7._beam, ()),\n"
            "                (m7.beam_no_length_norm, ())):\n"
            "    try:\n"
            "        f(*args)\n"
            "    except RuntimeError as e:\n"
            "        print(type(e).__name__, str(e))\n")
        r = subprocess.run([sys.executable, "-I", "-B", "-c", code], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    finally:
        import shutil
        shutil.rmtree(view)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"ReferenceUnavailableError {batch.stage.catalogue_message(name)}"
        for name in ("tbptt_epoch", "last_real_state", "beam_search", "beam_search")]


def test_twins_are_off_while_the_check_runs_and_back_after(capsys):
    """The notebook's check already refuses a decoder step that calls Decoder.step (however
    it is reached), and the model works again after the check."""
    import torch

    from utils import checks, seq2seq

    saved = seq2seq.Decoder.step
    cheat = checks.check("decoder_step", lambda dec, *a: type(dec).step(dec, *a))
    out = capsys.readouterr().out
    assert out.startswith("✗ decoder_step (exercise 7.4): raised ReferenceUnavailableError"), out
    assert "Decoder.step computes it" in out
    assert cheat is checks.get_exercise("decoder_step").reference
    dec = seq2seq.Decoder(5, 3, 4)
    logits, h, w = saved(dec, torch.tensor([1]), torch.zeros(1, 4), torch.ones(1, 2, 4),
                         torch.ones(1, 2, dtype=torch.bool))
    assert logits.shape == (1, 5) and seq2seq.Decoder.step is saved


def test_answer_time_is_measured_by_the_grader():
    grading = {"event": "grading", "exercise": "a"}
    result = {"event": "result", "exercise": "a", "n": 1}
    forged = {"event": "result", "exercise": "a", "n": 0}
    sent, took = scoring.answers([forged, grading, result], [0.5, 1.0, 4.5])
    assert sent == {"a": result} and took == {"a": 3.5}  # a result before "grading" is forged
    assert scoring.answers([grading, forged, result])[0] == {"a": forged}  # no clock: the first
    assert scoring.overdue_after(30) == 42.5


def test_nbgrader_hidden_tests_refuse_the_catalogue_and_twins():
    """nbgrader's hidden tests run in the student's kernel, where the catalogue and the
    twins are whole: they are off while the exercise runs there too."""
    import numpy as np
    import torch

    from utils import autograde
    from utils.exercises import mistakes_lab06

    def tbptt_epoch(model, x_rows, y_rows, T, optimizer):
        return mistakes_lab06.tbptt_variant()(model, x_rows, y_rows, T, optimizer)

    def cheat_step(dec, *args):
        return type(dec).step(dec, *args)

    def own_step(dec, y_prev, h_prev, enc_out, mask):
        context, weights = dec.attention(h_prev, enc_out, mask)
        h = dec.cell(torch.cat([dec.embed(y_prev), context], dim=-1), h_prev)
        return dec.out(torch.cat([h, context], dim=-1)), h, weights

    rng = np.random.default_rng(0)
    assert autograde.grade("tbptt_epoch", {"tbptt_epoch": tbptt_epoch}, rng) == "failed"
    assert autograde.grade("decoder_step", {"decoder_step": cheat_step}, rng) == "failed"
    assert autograde.grade("decoder_step", {"decoder_step": own_step}, rng) == "passed"
