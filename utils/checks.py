"""Exercise checks: compare a student's function with the reference and say what differs.

A lab registers each exercise once (in ``utils/exercises/labNN.py``)::

    from utils.checks import Exercise, Case, register

    register(Exercise(
        name="rnn_step_forward", lab="02", number="2.1",
        reference=utils.layers.rnn_step_forward,
        cases=make_cases,          # make_cases(rng) -> list[Case]
        outputs=("h",),            # compared outputs, in return order (a trailing cache is ignored)
        hints={"h": "Did you add b and apply tanh?"},
    ))

and the notebook cell right after the exercise reads::

    rnn_step_forward = check("rnn_step_forward", rnn_step_forward)

``check`` prints one verdict and returns the function the rest of the lab should use: the
student's when every case passes, the registered reference otherwise, so a student notebook
always runs top to bottom.

The grader reuses the building blocks: ``make_cases`` -> ``run_cases`` (plain NumPy arrays
out, so results can cross a process boundary with ``np.savez``) -> ``evaluate`` ->
``format_verdict``. Every printed number is rounded and nothing machine-specific (paths,
addresses, timings) is printed, because nbval compares these outputs.

Importing this module registers every lab's exercises (see ``utils/exercises/__init__.py``).
"""

from __future__ import annotations

import copy
import linecache
import sys
import traceback
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "Case",
    "CaseError",
    "Exercise",
    "Outcome",
    "REGISTRY",
    "LOAD_ERRORS",
    "register",
    "backward_call",
    "get_exercise",
    "check",
    "make_cases",
    "run_cases",
    "compare_outputs",
    "evaluate",
    "format_verdict",
    "PASS_MARK",
    "FAIL_MARK",
    "TODO_MARK",
]

# The first character of every verdict line; tests and the grader parse these.
PASS_MARK = "✓"
FAIL_MARK = "✗"
TODO_MARK = "○"

# Hint keys that are not output names.
_SPECIAL_HINTS = ("error", "shape")


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Case:
    """One set of inputs for an exercise.

    args/kwargs: passed to the function (``fn(*args, **kwargs)``) unless the exercise has a
    custom ``call``. label: shown in messages, e.g. ``"fixed fixture N=2, D=3, H=4"``.
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        if not isinstance(self.args, tuple):
            raise TypeError(f"Case args must be a tuple, got {type(self.args).__name__}")
        if not isinstance(self.kwargs, dict):
            raise TypeError(f"Case kwargs must be a dict, got {type(self.kwargs).__name__}")
        if not isinstance(self.label, str):
            raise TypeError(f"Case label must be a str, got {type(self.label).__name__}")


@dataclass(frozen=True)
class CaseError:
    """What went wrong when calling a function on one case (instead of its outputs).

    kind: "not_implemented" (the stub's NotImplementedError), "exception" (any other
    exception) or "bad_return" (wrong type, arity, or non-numeric output).
    type: exception class name ("" for bad_return). message: one line.
    where: e.g. "line 3 of rnn_step_forward: h = x @ Wh" ("" when unknown).
    Plain strings only, so ``to_dict``/``from_dict`` round-trip through JSON.
    """

    kind: str
    type: str = ""
    message: str = ""
    where: str = ""

    def to_dict(self) -> dict:
        return {"kind": self.kind, "type": self.type, "message": self.message, "where": self.where}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CaseError":
        return cls(kind=str(d["kind"]), type=str(d.get("type", "")),
                   message=str(d.get("message", "")), where=str(d.get("where", "")))

    def describe(self) -> str:
        if self.kind == "bad_return":
            return self.message
        text = f"raised {self.type}"
        if self.message:
            text += f": {self.message}"
        if self.where:
            text += f" ({self.where})"
        return text


@dataclass(frozen=True, eq=False)
class Exercise:
    """An exercise: the reference, how to build inputs, and how to compare outputs.

    name: the function name the student defines (and the registry key).
    lab: "02"; number: "2.1" (shown as "exercise 2.1").
    reference: the correct implementation (usually from ``utils.layers``).
    cases: ``cases(rng) -> list[Case]``; include a fixed fixture and random inputs from rng.
    outputs: names of the compared outputs, in return order. If the function returns one
        more value than this (a cache), the last value is not compared.
    hints: {output name | "error" | "shape": hint text}.
    rtol, atol: a compared output passes when max|got - want| <= atol + rtol * max|want|.
    call: optional ``call(fn, case, uses) -> tuple of outputs``; default
        ``fn(*case.args, **case.kwargs)``. ``uses`` maps each name in ``uses`` to a function.
    uses: names of other exercises this one needs (e.g. a backward needs its forward).
    points: weight for the grader.
    seed: seed of the rng the check cell draws random cases from (default: from the name),
        fixed so the printed verdict is the same on every run.
    """

    name: str
    lab: str
    number: str
    reference: Callable
    cases: Callable[[np.random.Generator], Sequence[Case]]
    outputs: tuple = ("out",)
    hints: Mapping[str, str] = field(default_factory=dict)
    rtol: float = 1e-6
    atol: float = 1e-8
    call: Callable | None = None
    uses: tuple = ()
    points: float = 1
    seed: int | None = None

    def __post_init__(self):
        def need(cond, what, got):
            if not cond:
                raise TypeError(f"Exercise {what}, got {got!r}")

        need(isinstance(self.name, str) and self.name.isidentifier(),
             "name must be a Python identifier (the student's function name)", self.name)
        need(isinstance(self.lab, str) and self.lab != "", "lab must be a non-empty str like '02'", self.lab)
        need(isinstance(self.number, str) and self.number != "",
             "number must be a non-empty str like '2.1'", self.number)
        need(callable(self.reference), f"{self.name}: reference must be callable", self.reference)
        need(callable(self.cases), f"{self.name}: cases must be callable as cases(rng) -> list[Case]",
             self.cases)
        outputs = (self.outputs,) if isinstance(self.outputs, str) else tuple(self.outputs)
        need(len(outputs) > 0 and all(isinstance(o, str) and o for o in outputs),
             f"{self.name}: outputs must be a non-empty tuple of names", self.outputs)
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"Exercise {self.name}: outputs has duplicate names: {outputs}")
        object.__setattr__(self, "outputs", outputs)
        hints = dict(self.hints or {})
        unknown = sorted(set(hints) - set(outputs) - set(_SPECIAL_HINTS))
        if unknown:
            raise ValueError(f"Exercise {self.name}: hints has keys {unknown} that are neither an "
                             f"output {outputs} nor one of {_SPECIAL_HINTS}")
        object.__setattr__(self, "hints", hints)
        for tol in ("rtol", "atol"):
            v = getattr(self, tol)
            need(isinstance(v, (int, float)) and v >= 0, f"{self.name}: {tol} must be a number >= 0", v)
        need(self.call is None or callable(self.call), f"{self.name}: call must be None or callable",
             self.call)
        uses = (self.uses,) if isinstance(self.uses, str) else tuple(self.uses)
        need(all(isinstance(u, str) for u in uses), f"{self.name}: uses must be a tuple of names",
             self.uses)
        object.__setattr__(self, "uses", uses)
        need(self.seed is None or isinstance(self.seed, int), f"{self.name}: seed must be None or int",
             self.seed)

    @property
    def title(self) -> str:
        """'rnn_step_forward (exercise 2.1)'."""
        return f"{self.name} (exercise {self.number})"

    @property
    def check_seed(self) -> int:
        # crc32 rather than hash(): hash() of a str changes between processes.
        return self.seed if self.seed is not None else zlib.crc32(self.name.encode())

    def _identity(self):
        ref = self.reference
        return (self.name, self.lab, self.number, getattr(ref, "__module__", None),
                getattr(ref, "__qualname__", None), self.outputs, self.uses)


# --------------------------------------------------------------------------- registry

REGISTRY: dict[str, Exercise] = {}
# Lab modules under utils/exercises that failed to import: {module name: "Type: message"}.
LOAD_ERRORS: dict[str, str] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to REGISTRY and return it.

    Registering a name twice is an error, except the same definition again (reloading the
    lab module in a notebook), which replaces the old entry.
    """
    if not isinstance(exercise, Exercise):
        raise TypeError(f"register expects an Exercise, got {type(exercise).__name__}")
    old = REGISTRY.get(exercise.name)
    if old is not None and old._identity() != exercise._identity():
        raise ValueError(
            f"exercise {exercise.name!r} is already registered (lab {old.lab}, exercise "
            f"{old.number}, reference {old.reference.__module__}.{old.reference.__qualname__}); "
            f"each exercise name must be registered once")
    REGISTRY[exercise.name] = exercise
    return exercise


def backward_call(forward: str, n_upstream: int = 1) -> Callable:
    """A `call` for a backward exercise whose cache comes from the forward the lab uses.

    The cases of such an exercise hold `n_upstream` upstream gradients followed by the
    forward's inputs: `Case((dh, x, h_prev, Wx, Wh, b))`. The returned call runs
    `uses[forward]` on the inputs, takes its last output (the cache) and calls
    `fn(*upstream, cache)`, so the student's backward reads the cache of the student's own
    forward when that passed, and of the reference otherwise.
    """
    def call(fn, case, uses):
        upstream, inputs = case.args[:n_upstream], case.args[n_upstream:]
        cache = uses[forward](*inputs)[-1]
        return fn(*upstream, cache)

    return call


def get_exercise(name: str) -> Exercise:
    """The registered exercise called ``name`` (clear error when there is none)."""
    if not isinstance(name, str):
        raise TypeError(f"exercise name must be a str, got {type(name).__name__}")
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        msg = f"no exercise named {name!r} is registered (registered: {known})"
        if LOAD_ERRORS:
            msg += "; these exercise modules failed to import: " + "; ".join(
                f"{m}: {e}" for m, e in sorted(LOAD_ERRORS.items()))
        raise ValueError(msg) from None


# --------------------------------------------------------------------------- running


def make_cases(exercise: Exercise, rng: np.random.Generator | None = None) -> list[Case]:
    """The exercise's cases, drawn from ``rng`` (default: its fixed check seed)."""
    if rng is None:
        rng = np.random.default_rng(exercise.check_seed)
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    cases = list(exercise.cases(rng))
    if not cases:
        raise ValueError(f"{exercise.name}: cases(rng) returned no cases")
    for i, c in enumerate(cases):
        if not isinstance(c, Case):
            raise TypeError(f"{exercise.name}: cases(rng)[{i}] must be a Case, got {type(c).__name__}")
    return cases


def _to_numpy(value):
    """Torch tensors (duck-typed, so torch is not imported here) and scalars -> ndarray."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _where(exc: BaseException, fn: Callable) -> str:
    """'line 3 of rnn_step_forward: h = x @ Wh' for the deepest frame in the student's file.

    Line numbers are counted from the function's ``def`` so they do not depend on the
    notebook cell's temporary file name (which is different on every run).
    """
    code = getattr(fn, "__code__", None)
    if code is None and isinstance(fn, type):  # a class: the file of its methods
        code = next((v.__code__ for v in vars(fn).values() if hasattr(v, "__code__")), None)
    if code is None:
        return ""
    filename = code.co_filename
    found = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            found = (frame, lineno)
    if found is None:
        return ""
    frame, lineno = found
    rel = lineno - frame.f_code.co_firstlineno + 1
    text = linecache.getline(filename, lineno, frame.f_globals).strip()
    where = f"line {rel} of {frame.f_code.co_name}"
    return f"{where}: {text}" if text else where


def _first_line(text: str, limit: int = 200) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _normalize(exercise: Exercise, result) -> dict[str, np.ndarray] | CaseError:
    """Map a function's return value to {output name: array}, or a bad_return CaseError."""
    k = len(exercise.outputs)
    names = ", ".join(exercise.outputs)
    if isinstance(result, list) and k > 1:  # with one output, a list is that output
        result = tuple(result)
    if isinstance(result, tuple):
        if len(result) == k + 1:
            values = result[:k]  # trailing cache, not compared
        elif len(result) == k:
            values = result
        else:
            want = f"{k} value{'s' if k > 1 else ''} ({names})"
            return CaseError("bad_return", message=(
                f"returned {len(result)} values, want {want}, optionally followed by a cache"))
    elif k == 1:
        values = (result,)
    else:
        return CaseError("bad_return", message=(
            f"returned a single {type(result).__name__}, want a tuple of {k} values ({names})"))
    out = {}
    for name, v in zip(exercise.outputs, values):
        if v is None:
            return CaseError("bad_return", message=f"returned None for {name} (missing a return?)")
        try:
            arr = _to_numpy(v)
        except Exception as e:  # e.g. a ragged list
            return CaseError("bad_return", message=f"{name} could not be turned into an array ({e})")
        if arr.dtype.kind not in "biufc":
            return CaseError("bad_return", message=(
                f"{name} is a {type(v).__name__} (dtype {arr.dtype}), want a numeric array"))
        out[name] = arr
    return out


def _call(exercise: Exercise, fn: Callable, case: Case, uses: Mapping[str, Callable]):
    # Inputs are deep-copied for every call so a function that modifies its inputs in place
    # cannot change what the next function (or the reference) sees.
    case = copy.deepcopy(case)
    if exercise.call is not None:
        return exercise.call(fn, case, dict(uses))
    return fn(*case.args, **case.kwargs)


def run_cases(exercise: Exercise, fn: Callable, cases: Sequence[Case],
              uses: Mapping[str, Callable] | None = None) -> list[dict[str, np.ndarray] | CaseError]:
    """Call ``fn`` on every case; one entry per case: {output name: ndarray} or a CaseError.

    uses: {exercise name: function} for the names in ``exercise.uses``; missing ones default
    to the registered references. Warnings (e.g. overflow in exp) are silenced because they
    would add varying lines to the notebook output; wrong values are still caught.
    """
    if not callable(fn):
        raise TypeError(f"{exercise.name}: fn must be callable, got {type(fn).__name__}")
    uses = _resolve_uses(exercise, uses)
    results = []
    for case in cases:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                result = _call(exercise, fn, case, uses)
        except NotImplementedError as e:
            results.append(CaseError("not_implemented", "NotImplementedError", _first_line(e)))
            continue
        except Exception as e:  # the student's bug, reported, never re-raised
            results.append(CaseError("exception", type(e).__name__, _first_line(e), _where(e, fn)))
            continue
        results.append(_normalize(exercise, result))
    return results


def _resolve_uses(exercise: Exercise, uses: Mapping[str, Callable] | None) -> dict[str, Callable]:
    uses = dict(uses or {})
    extra = sorted(set(uses) - set(exercise.uses))
    if extra:
        raise ValueError(f"{exercise.name}: uses has names {extra} that the exercise does not use "
                         f"(it uses {list(exercise.uses) or 'none'})")
    for name in exercise.uses:
        if name not in uses:
            uses[name] = get_exercise(name).reference
        elif not callable(uses[name]):
            raise TypeError(f"{exercise.name}: uses[{name!r}] must be callable, "
                            f"got {type(uses[name]).__name__}")
    return uses


def _reference_uses(exercise: Exercise) -> dict[str, Callable]:
    return {name: get_exercise(name).reference for name in exercise.uses}


# --------------------------------------------------------------------------- comparing


def _sig(x, digits: int) -> str:
    """x with `digits` significant digits, exponent without padding: 0.41, 3.2e-7."""
    s = f"{x:.{digits}g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{int(exp)}"
    return s


def _num(x) -> str:
    """A number with 2 significant digits (for errors): 0.41, 3.2e-7."""
    x = float(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return str(x)
    return _sig(x, 2)


def _val(x) -> str:
    """A value with 4 significant digits (for 'got ..., want ...')."""
    x = complex(x) if np.iscomplexobj(x) else float(x)
    if isinstance(x, complex):
        return f"{x:.4g}"
    return _sig(x, 4)


def _index(idx) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]" if len(idx) else ""


def _diagnose(name: str, got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str:
    """A generic hint for common slips: transposed, sign flipped, constant factor."""
    def close(a, b):
        return a.shape == b.shape and np.allclose(a, b, rtol=max(rtol, 1e-5), atol=max(atol, 1e-8))

    if want.ndim == 2 and want.shape[0] != want.shape[1] and close(got, want.T):
        return f"{name} looks transposed"
    if want.size and np.any(want != 0) and close(got, -want):
        return f"{name} has the wrong sign"
    if got.shape == want.shape and want.size > 1:
        mask = np.abs(want) > 1e-12
        if mask.sum() >= 2:
            ratio = got[mask] / want[mask]
            r = float(np.median(ratio))
            if np.isfinite(r) and r != 0 and abs(r - 1) > 1e-3 and close(got, r * want):
                return f"{name} is {_val(r)} times the expected values (a missing or extra factor?)"
    return ""


def _compare(exercise: Exercise, got: Mapping, want: Mapping) -> list[tuple[str, str]]:
    """(headline, detail) per differing output; detail may be ''."""
    problems = []
    kind_names = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}
    for name in exercise.outputs:
        if name not in got:
            problems.append((f"{name} is missing", ""))
            continue
        g = _to_numpy(got[name])
        w = _to_numpy(want[name])
        if g.shape != w.shape:
            problems.append((f"{name} has shape {tuple(g.shape)}, want {tuple(w.shape)}", ""))
            continue
        gk, wk = kind_names.get(g.dtype.kind, g.dtype.kind), kind_names.get(w.dtype.kind, w.dtype.kind)
        if gk != wk:
            problems.append((f"{name} has dtype {g.dtype}, want a {wk} array like {w.dtype}", ""))
            continue
        if wk in ("bool", "int"):
            bad = g != w
            if bad.any():
                idx = tuple(np.argwhere(bad)[0])
                problems.append((f"{name} differs in {int(bad.sum())} of {bad.size} entries",
                                 f"first at {_index(idx) or '(scalar)'}: got {g[idx]}, want {w[idx]}"))
            continue
        g_fin, w_fin = np.isfinite(g), np.isfinite(w)
        if not np.array_equal(g_fin, w_fin) or not np.array_equal(g[~g_fin], w[~w_fin]):
            n_bad = int((~g_fin & w_fin).sum())
            if n_bad:
                problems.append((f"{name} has {n_bad} NaN/inf value{'s' if n_bad > 1 else ''} of {g.size}",
                                 "overflow? (exp or tanh of large values, or a division by zero)"))
            else:
                problems.append((f"{name} has finite values where NaN/inf are expected", ""))
            continue
        gf, wf = (g[w_fin], w[w_fin]) if not w_fin.all() else (g, w)
        if gf.size == 0:
            continue
        diff = np.abs(gf.astype(np.complex128 if wk == "complex" else np.float64) - wf)
        scale = float(np.max(np.abs(wf)))
        max_diff = float(np.max(diff))
        if max_diff <= exercise.atol + exercise.rtol * scale:
            continue
        rel = max_diff / scale if scale > 0 else max_diff
        what = "relative error" if scale > 0 else "absolute error"
        limit = exercise.rtol if scale > 0 else exercise.atol
        headline = f"{name} is off ({what} {_num(rel)}, want < {_num(limit)})"
        details = []
        if g.ndim and w_fin.all():
            idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
            details.append(f"largest difference at {name}{_index(idx)}: got {_val(g[idx])}, want {_val(w[idx])}")
        elif not g.ndim:
            details.append(f"got {_val(g)}, want {_val(w)}")
        diag = _diagnose(name, g, w, exercise.rtol, exercise.atol)
        if diag:
            details.append(diag)
        problems.append((headline, "; ".join(details)))
    return problems


def compare_outputs(exercise: Exercise, case: Case, got: Mapping[str, np.ndarray],
                    want: Mapping[str, np.ndarray]) -> list[str]:
    """The differences between ``got`` and ``want`` for one case (empty list when they agree).

    got, want: {output name: array} as returned by ``run_cases``. Each item is one sentence
    about one output, e.g. "dWh is off (relative error 0.41, want < 1e-7): largest
    difference at dWh[1, 2]: got 0.53, want 0.61". Checked in order: missing output, shape,
    dtype kind (float/int/bool), NaN/inf positions, then values: an output passes when
    max|got - want| <= atol + rtol * max|want|. ``case`` is accepted for symmetry with the
    grader; messages do not need it today.
    """
    return [f"{h}: {d}" if d else h for h, d in _compare(exercise, got, want)]


# --------------------------------------------------------------------------- verdicts


@dataclass
class Outcome:
    """The result of checking one function against the reference on a list of cases.

    status: "passed" | "failed" | "not_attempted". For "failed": the first failing case's
    label, its problems as (headline, detail) pairs or its error, and the hint to show.
    """

    status: str
    n_cases: int
    n_failed: int = 0
    case_label: str = ""
    problems: list = field(default_factory=list)
    error: CaseError | None = None
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def evaluate(exercise: Exercise, cases: Sequence[Case],
             got: Sequence[dict | CaseError], want: Sequence[dict | CaseError]) -> Outcome:
    """Compare per-case results (from ``run_cases``) of a function and of the reference.

    Any NotImplementedError means "not attempted"; otherwise the first failing case (in the
    order of ``cases``, so the fixed fixture first) is the one reported.
    """
    if not (len(cases) == len(got) == len(want)):
        raise ValueError(f"{exercise.name}: cases, got and want must have the same length, "
                         f"got {len(cases)}, {len(got)}, {len(want)}")
    for case, w in zip(cases, want):
        if isinstance(w, CaseError):
            # A broken reference or fixture is the lab author's bug: fail loudly.
            raise RuntimeError(f"{exercise.name}: the reference failed on case {case.label!r}: "
                               f"{w.describe()}")
    if any(isinstance(g, CaseError) and g.kind == "not_implemented" for g in got):
        return Outcome("not_attempted", len(cases), n_failed=len(cases))
    first = None
    n_failed = 0
    for case, g, w in zip(cases, got, want):
        if isinstance(g, CaseError):
            problems, error = [], g
        else:
            problems, error = _compare(exercise, g, w), None
        if problems or error:
            n_failed += 1
            if first is None:
                first = (case, problems, error)
    if first is None:
        return Outcome("passed", len(cases))
    case, problems, error = first
    hint = ""
    if error is not None:
        hint = exercise.hints.get("error", "")
    else:
        if any(" has shape " in h for h, _ in problems):
            hint = exercise.hints.get("shape", "")
        for name in exercise.outputs:
            if hint:
                break
            if any(h.startswith(name + " ") for h, _ in problems):
                hint = exercise.hints.get(name, "")
    return Outcome("failed", len(cases), n_failed, case.label, problems, error, hint)


def format_verdict(exercise: Exercise, outcome: Outcome, fallback: bool = True) -> str:
    """The message for an outcome; with ``fallback`` it says the reference is used instead.

    One line for passed / not attempted; for a failure, the first line names the exercise,
    what differs and on which case, then indented lines give details, the hint and the
    fallback.
    """
    ref = exercise.reference
    using = (f"using the reference {exercise.name} from {getattr(ref, '__module__', 'utils')} "
             f"for the rest of the lab.")
    if outcome.status == "passed":
        n = outcome.n_cases
        return f"{PASS_MARK} {exercise.title}: passed {n} case{'s' if n != 1 else ''}."
    if outcome.status == "not_attempted":
        text = f"{TODO_MARK} {exercise.title}: not attempted yet (NotImplementedError)"
        return text + (f": {using}" if fallback else ".")
    on_case = f' on case "{outcome.case_label}"' if outcome.case_label else ""
    details = []
    err = outcome.error
    if err is not None:
        if err.kind == "bad_return":
            head = f"{err.message}{on_case}."
        else:
            head = f"raised {err.type}{on_case}: {err.message}" if err.message else \
                f"raised {err.type}{on_case}."
            if err.where:
                details.append(f"At {err.where}")
    else:
        (h0, d0), *rest = outcome.problems
        head = f"{h0}{on_case}."
        if d0:
            # Capitalise a sentence, but never an output name ("dWh is ...", not "DWh").
            first = d0.split(" ", 1)[0]
            details.append((d0 if first in exercise.outputs else d0[0].upper() + d0[1:]) + ".")
        for h, d in rest:
            details.append(f"Also: {h}" + (f": {d}." if d else "."))
    lines = [f"{FAIL_MARK} {exercise.title}: {head}"]
    lines += [f"  {d}" for d in details]
    if outcome.n_cases > 1:
        lines.append(f"  Failed {outcome.n_failed} of {outcome.n_cases} cases.")
    if outcome.hint:
        lines.append(f"  Hint: {outcome.hint}")
    if fallback:
        lines.append(f"  {using[0].upper()}{using[1:]}")
    return "\n".join(lines)


def check(name: str, fn: Callable, uses: Mapping[str, Callable] | None = None, *,
          verbose: bool = True) -> Callable:
    """Check the student's ``fn`` for exercise ``name``; print one verdict; return what to use.

    uses: {exercise name: function} for the exercises this one builds on (the functions the
    notebook is currently using); the reference outputs always use the references.
    Returns ``fn`` when every case passes, the registered reference otherwise.
    """
    exercise = get_exercise(name)
    if not callable(fn):
        raise TypeError(f"check({name!r}, fn): fn must be the function you wrote, "
                        f"got {type(fn).__name__}")
    cases = make_cases(exercise)
    want = run_cases(exercise, exercise.reference, cases, _reference_uses(exercise))
    got = run_cases(exercise, fn, cases, uses)
    outcome = evaluate(exercise, cases, got, want)
    if verbose:
        print(format_verdict(exercise, outcome, fallback=True))
        sys.stdout.flush()
    return fn if outcome.passed else exercise.reference


# Register every lab's exercises (kept last: the lab modules import the names above).
from utils.exercises import load_all as _load_all  # noqa: E402

_load_all(LOAD_ERRORS)
