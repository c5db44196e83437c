"""Unit tests of utils.checks on the toy exercises in tests/fixtures/toy_exercises.py."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

import toy_exercises  # noqa: E402  (registers toy_affine_forward / toy_affine_backward)
from utils import checks  # noqa: E402
from utils.checks import (  # noqa: E402
    FAIL_MARK, LOAD_ERRORS, PASS_MARK, REGISTRY, TODO_MARK, Case, CaseError, Exercise, check,
    compare_outputs, evaluate, format_verdict, get_exercise, make_cases, register, run_cases,
)

FWD, BWD = "toy_affine_forward", "toy_affine_backward"


def run_check(capsys, name, fn, **kw):
    used = check(name, fn, **kw)
    return used, capsys.readouterr().out


# ----------------------------------------------------------------- verdicts


def test_reference_passes_and_is_returned(capsys):
    def toy_affine_forward(x, w, b):
        return x @ w + b, None

    used, out = run_check(capsys, FWD, toy_affine_forward)
    assert used is toy_affine_forward
    assert out == f"{PASS_MARK} toy_affine_forward (exercise 1.1): passed 3 cases.\n"


def test_stub_is_not_attempted_and_falls_back(capsys):
    def toy_affine_forward(x, w, b):
        raise NotImplementedError("exercise 1.1: toy_affine_forward")

    used, out = run_check(capsys, FWD, toy_affine_forward)
    assert used is toy_exercises.toy_affine_forward
    assert out.startswith(f"{TODO_MARK} toy_affine_forward (exercise 1.1): not attempted yet")
    assert "using the reference toy_affine_forward" in out
    assert out.count("\n") == 1  # one verdict line


def test_wrong_values_are_reported_with_case_and_hint(capsys):
    def toy_affine_forward(x, w, b):
        return 1.01 * (x @ w + b), None

    used, out = run_check(capsys, FWD, toy_affine_forward)
    assert used is toy_exercises.toy_affine_forward
    first = out.splitlines()[0]
    assert first.startswith(f"{FAIL_MARK} toy_affine_forward (exercise 1.1): out is off (relative error 0.01, ")
    assert 'on case "fixed fixture N=2, D=3, M=4"' in first
    assert "1.01 times the expected values" in out
    assert "Hint: out = x @ w + b" in out
    assert "Using the reference toy_affine_forward" in out
    assert "Failed 3 of 3 cases." in out


def test_tiny_error_within_tolerance_passes(capsys):
    def toy_affine_forward(x, w, b):
        return (x @ w + b) * (1 + 1e-9), None

    used, out = run_check(capsys, FWD, toy_affine_forward)
    assert used is toy_affine_forward, out


def test_only_random_case_wrong_is_caught(capsys):
    # right on the fixed fixture (N=2) only: the random cases must catch it
    def toy_affine_forward(x, w, b):
        out = x @ w + b
        return (out if x.shape[0] == 2 else out + 0.1), None

    used, out = run_check(capsys, FWD, toy_affine_forward)
    assert used is not toy_affine_forward
    assert 'on case "random N=3, D=5, M=2"' in out
    assert "Failed 2 of 3 cases." in out


def test_exception_reports_type_message_and_line(capsys):
    def toy_affine_forward(x, w, b):
        y = x @ w
        out = y + b[:, None]
        return out, None

    used, out = run_check(capsys, FWD, toy_affine_forward)
    assert used is toy_exercises.toy_affine_forward
    assert f"{FAIL_MARK} toy_affine_forward (exercise 1.1): raised ValueError on case" in out
    assert "At line 3 of toy_affine_forward: out = y + b[:, None]" in out
    assert "Traceback" not in out


def test_wrong_arity_and_shape_and_dtype(capsys):
    def two(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout

    _, out = run_check(capsys, BWD, two)
    assert "returned 2 values, want 3 values (dx, dw, db)" in out

    def transposed(dout, cache):
        x, w = cache
        return dout @ w.T, (x.T @ dout).T, dout.sum(0)

    _, out = run_check(capsys, BWD, transposed)
    assert "dw has shape (4, 3), want (3, 4)" in out

    def ints(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout.sum(0).astype(np.int64)

    _, out = run_check(capsys, BWD, ints)
    assert "db has dtype int64, want a float array like float64" in out

    def single(x, w, b):
        return None

    _, out = run_check(capsys, FWD, single)
    assert "returned None, want out (missing a return?)" in out


def test_nonfinite_values_are_reported(capsys):
    def toy_affine_forward(x, w, b):
        out = x @ w + b
        out[0, 0] = np.nan
        return out, None

    _, out = run_check(capsys, FWD, toy_affine_forward)
    assert "out has 1 NaN/inf value of 8" in out


def test_torch_outputs_are_converted(capsys):
    torch = pytest.importorskip("torch")

    def toy_affine_forward(x, w, b):
        return torch.from_numpy(x) @ torch.from_numpy(w) + torch.from_numpy(b), None

    used, out = run_check(capsys, FWD, toy_affine_forward)
    assert used is toy_affine_forward, out


def test_backward_builds_cache_with_the_forward_in_use(capsys):
    calls = []

    def forward(x, w, b):
        calls.append(x.shape)
        return x @ w + b, (x, w)

    used, out = run_check(capsys, BWD, toy_exercises.toy_affine_backward, uses={FWD: forward})
    assert out.startswith(PASS_MARK) and len(calls) == 3

    def bad_forward(x, w, b):  # a wrong cache makes the right backward disagree
        return x @ w + b, (2 * x, w)

    # the backward is checked on the reference forward's cache first: right there, so the
    # failure with the student's forward names the forward, not the backward's formulas
    _, out = run_check(capsys, BWD, toy_exercises.toy_affine_backward, uses={FWD: bad_forward})
    assert out.startswith(f"{FAIL_MARK} toy_affine_backward (exercise 1.2): is right on the "
                          f"reference toy_affine_forward's results, but dw is off")
    assert "with your toy_affine_forward" in out
    assert "fix toy_affine_forward" in out


def test_student_mutating_inputs_does_not_change_reference(capsys):
    def toy_affine_forward(x, w, b):
        x *= 0  # in place: the reference must still see the original inputs
        return x @ w + b, None

    _, out = run_check(capsys, FWD, toy_affine_forward)
    assert out.startswith(FAIL_MARK)
    _, out = run_check(capsys, FWD, toy_exercises.toy_affine_forward)
    assert out.startswith(PASS_MARK)


def test_output_is_deterministic_and_stable(capsys):
    def wrong(x, w, b):
        return x @ w - b, None

    _, a = run_check(capsys, FWD, wrong)
    _, b = run_check(capsys, FWD, wrong)
    assert a == b
    assert "0x" not in a
    # and identical in a fresh process (no hash() or address in the messages)
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / 'tests' / 'fixtures')!r})
        import toy_exercises
        from utils.checks import check
        def wrong(x, w, b):
            return x @ w - b, None
        check("toy_affine_forward", wrong)
    """)
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout
    assert fresh.replace("line 2 of wrong", "") == a.replace("line 2 of wrong", "")


# ----------------------------------------------------------------- grader building blocks


def test_run_cases_gives_plain_arrays_that_survive_savez(tmp_path):
    ex = get_exercise(BWD)
    cases = make_cases(ex, np.random.default_rng(7))
    got = run_cases(ex, toy_exercises.toy_affine_backward, cases)
    want = run_cases(ex, ex.reference, cases)
    for i, res in enumerate(got):
        assert set(res) == {"dx", "dw", "db"}
        assert all(type(v) is np.ndarray for v in res.values())
        np.savez(tmp_path / f"case{i}.npz", **res)
    loaded = []
    for i in range(len(cases)):
        with np.load(tmp_path / f"case{i}.npz", allow_pickle=False) as f:
            loaded.append({k: f[k] for k in f.files})
    assert evaluate(ex, cases, loaded, want).passed
    for case, g, w in zip(cases, loaded, want):
        assert compare_outputs(ex, case, g, w) == []
    bad = dict(loaded[0], db=loaded[0]["db"] + 1)
    problems = compare_outputs(ex, cases[0], bad, want[0])
    assert len(problems) == 1 and problems[0].startswith("db is off")


def test_case_error_roundtrips_json():
    ex = get_exercise(FWD)

    def boom(x, w, b):
        raise KeyError("w")

    errs = run_cases(ex, boom, make_cases(ex))
    assert all(isinstance(e, CaseError) and e.kind == "exception" and e.type == "KeyError" for e in errs)
    back = CaseError.from_dict(json.loads(json.dumps(errs[0].to_dict())))
    assert back == errs[0]
    outcome = evaluate(ex, make_cases(ex), [back] * 3, run_cases(ex, ex.reference, make_cases(ex)))
    text = format_verdict(ex, outcome, fallback=False)
    assert text.startswith(f"{FAIL_MARK} toy_affine_forward (exercise 1.1): raised KeyError")
    assert "Using the reference" not in text


def test_integer_outputs_compared_exactly():
    ex = Exercise(name="toy_argmax", lab="01", number="1.9", reference=lambda x: x.argmax(-1),
                  cases=lambda rng: [Case((rng.standard_normal((3, 4)),), label="random")],
                  outputs=("ids",))
    case = make_cases(ex)[0]
    want = run_cases(ex, ex.reference, [case])[0]
    got = {"ids": want["ids"].copy()}
    assert compare_outputs(ex, case, got, want) == []
    got["ids"][1] += 1
    assert compare_outputs(ex, case, got, want)[0].startswith("ids differs in 1 of 3 entries")


# ----------------------------------------------------------------- registry and validation


def test_register_rejects_a_different_exercise_with_the_same_name():
    ex = get_exercise(FWD)
    register(ex)  # same definition again (a module reload): fine
    with pytest.raises(ValueError, match="already registered"):
        register(Exercise(name=FWD, lab="01", number="1.1", reference=lambda x, w, b: None,
                          cases=ex.cases, outputs=("out",)))
    assert REGISTRY[FWD] is ex


def test_exercise_validation_messages():
    ok = dict(name="toy_x", lab="01", number="1.0", reference=abs, cases=lambda rng: [Case((1.0,))])
    with pytest.raises(TypeError, match="name must be a Python identifier"):
        Exercise(**dict(ok, name="not a name"))
    with pytest.raises(ValueError, match=r"hints has keys \['outt'\]"):
        Exercise(**ok, outputs=("out",), hints={"outt": "typo"})
    with pytest.raises(TypeError, match="reference must be callable"):
        Exercise(**dict(ok, reference=3))
    with pytest.raises(TypeError, match="Case args must be a tuple"):
        Case(args=[1, 2])


def test_check_argument_errors():
    with pytest.raises(ValueError, match="no exercise named 'nope' is registered"):
        check("nope", abs)
    with pytest.raises(TypeError, match="fn must be the function you wrote, got int"):
        check(FWD, 3)
    with pytest.raises(ValueError, match="does not use"):
        check(FWD, toy_exercises.toy_affine_forward, uses={"x": abs})


def test_loader_tolerates_zero_labs_and_records_broken_ones(tmp_path, monkeypatch):
    import utils.exercises as pkg

    monkeypatch.setattr(pkg, "_HERE", tmp_path)
    monkeypatch.setattr(pkg, "__path__", [str(tmp_path)])
    assert pkg.load_all({}) == []
    (tmp_path / "lab98.py").write_text("X = 1\n")
    (tmp_path / "lab99.py").write_text("raise RuntimeError('half written')\n")
    errors = {}
    with pytest.warns(UserWarning, match="could not load exercises from utils.exercises.lab99"):
        assert pkg.load_all(errors) == ["lab98"]
    assert errors == {"utils.exercises.lab99": "RuntimeError: half written"}
    for m in ("utils.exercises.lab98", "utils.exercises.lab99"):
        sys.modules.pop(m, None)


def test_every_lab_exercise_module_loads():
    assert LOAD_ERRORS == {}, f"exercise modules failed to import: {LOAD_ERRORS}"
    assert checks.REGISTRY is REGISTRY


def test_exception_in_a_class_method_names_the_method():
    class Net:
        def __init__(self, k):
            self.k = k

        def __call__(self, x):
            return x @ self.k  # k is a float: matmul fails

    ex = Exercise(name="toy_net", lab="01", number="1.8", reference=lambda x: x * 2.0,
                  cases=lambda rng: [Case((np.ones(3),), label="ones")], outputs=("y",),
                  call=lambda fn, case, uses: fn(2.0)(*case.args))
    err = run_cases(ex, Net, make_cases(ex))[0]
    assert err.kind == "exception" and err.where == "line 2 of __call__: return x @ self.k  # k is a float: matmul fails"
