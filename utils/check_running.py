"""Running a function on an exercise's cases (used by ``utils.checks`` and the grader).

``run_cases`` calls the function on each case and returns plain NumPy outputs or a
``CaseError``. On the way it checks what the rest of a lab relies on:

- the inputs are unchanged after the call (each call gets fresh deep copies; a copy taken
  before is compared with them after), else a "changed_input" error naming the argument;
- the return value has the documented form: a tuple (or list) of the outputs, then the cache
  when the exercise has one; every output numeric; the cache with the skeleton's structure;
- a NotImplementedError is "not attempted", or "partly written" when code precedes it.
"""

from __future__ import annotations

import copy
import inspect
import linecache
import traceback
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np

from utils.check_types import BadReturn, Case, CaseError, ChangedInput, Exercise, get_exercise
from utils.check_values import changed_inputs, to_numpy

__all__ = ["make_cases", "run_cases", "backward_call", "reference_uses", "resolve_uses",
           "input_names"]


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


def input_names(fn: Callable, n_args: int, kwargs: Sequence[str] = ()) -> list[str]:
    """Names for `n_args` positional arguments of `fn` (from its signature), then `kwargs`."""
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [params[i] if i < len(params) else f"argument {i + 1}" for i in range(n_args)]
    return names + list(kwargs)


def _changed(what: str) -> ChangedInput:
    """what: "argument path: detail" from changed_inputs."""
    path, _, detail = what.partition(": ")
    arg = path.split("[", 1)[0]
    return ChangedInput(f"changed its input {arg} in place ({detail})")


def backward_call(forward: str, n_upstream: int = 1) -> Callable:
    """A `call` for a backward exercise whose cache comes from a forward exercise.

    The cases of such an exercise hold `n_upstream` upstream gradients followed by the
    forward's inputs: `Case((dh, x, h_prev, Wx, Wh, b))`. The call runs `uses[forward]` on
    the inputs (the check passes the reference forward first, so a wrong backward is blamed
    on the backward, never on a wrong forward), takes its cache (the last value) and calls
    `fn(*upstream, cache)`. The upstream gradients and the cache must come back unchanged.
    """
    def call(fn, case, uses):
        upstream, inputs = case.args[:n_upstream], case.args[n_upstream:]
        cache = uses[forward](*inputs)[-1]
        before = copy.deepcopy((upstream, cache))
        result = fn(*upstream, cache)
        found = changed_inputs(before[0], upstream, _upstream_names(fn, n_upstream)) or \
            changed_inputs([before[1]], [cache], ["cache"])
        if found:
            raise _changed(found)
        return result

    return call


def _upstream_names(fn: Callable, n: int) -> list[str]:
    names = input_names(fn, n)
    return [nm if not nm.startswith("argument") else f"upstream gradient {i + 1}"
            for i, nm in enumerate(names)]


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


def _partly_written(exc: BaseException, fn: Callable) -> str:
    """The raise's location when the function has code of its own before the stub's raise
    (the student forgot to delete it), else ''."""
    where = _where(exc, fn)
    try:
        lines = inspect.getsource(fn).splitlines()
    except (OSError, TypeError):
        return ""
    marker = next((i for i, ln in enumerate(lines) if "YOUR CODE HERE" in ln), None)
    stop = next((i for i, ln in enumerate(lines) if "raise NotImplementedError" in ln), None)
    if marker is None or stop is None or stop < marker:
        return ""
    body = [ln.strip() for ln in lines[marker + 1:stop]]
    return where if any(ln and not ln.startswith("#") for ln in body) else ""


def _array(name: str, v) -> np.ndarray | CaseError:
    if v is None:
        return CaseError("bad_return", message=f"returned None for {name} (missing a return?)")
    try:
        arr = to_numpy(v)
    except Exception as e:  # e.g. a ragged list
        return CaseError("bad_return", message=f"{name} could not be turned into an array ({e})")
    if arr.dtype.kind not in "biufc":
        return CaseError("bad_return", message=(
            f"{name} is a {type(v).__name__} (dtype {arr.dtype}), want a numeric array"))
    return arr


def _normalize(exercise: Exercise, result) -> dict[str, np.ndarray] | CaseError:
    """Map a function's return value to {name: array} (outputs, then cache entries), or a
    bad_return CaseError."""
    k = len(exercise.outputs)
    has_cache = bool(exercise.cache)
    names = ", ".join(exercise.outputs + (("cache",) if has_cache else ()))
    n_want = k + has_cache
    if result is None:
        return CaseError("bad_return", message=f"returned None, want {names} (missing a return?)")
    if isinstance(result, list) and n_want > 1:  # with one value, a list is that value
        result = tuple(result)
    if isinstance(result, tuple):
        if len(result) == n_want or (not has_cache and len(result) == k + 1):
            values = result[:k]  # without a declared cache, a trailing one is not compared
        else:
            return CaseError("bad_return", message=(
                f"returned {len(result)} values, want {n_want} value{'s' if n_want > 1 else ''} "
                f"({names})"
                + ("" if has_cache else ", optionally followed by a cache")))
    elif n_want == 1:
        values = (result,)
    else:
        return CaseError("bad_return", message=(
            f"returned a single {type(result).__name__}, want a tuple of {n_want} values ({names})"))
    out = {}
    for name, v in zip(exercise.outputs, values):
        arr = _array(name, v)
        if isinstance(arr, CaseError):
            return arr
        out[name] = arr
    if has_cache:
        cache = result[-1]
        if exercise.cache_dict:
            if not isinstance(cache, dict):
                return CaseError("bad_return", message=(
                    f"returned a {type(cache).__name__} as the cache, want the dict the skeleton "
                    f"builds, with keys {list(exercise.cache)}"))
            missing = [c for c in exercise.cache if c not in cache]
            if missing:
                return CaseError("bad_return", message=(
                    f"the cache has no key {missing[0]!r}; want keys {list(exercise.cache)}"))
            values = [cache[c] for c in exercise.cache]
        else:
            if isinstance(cache, list):
                cache = tuple(cache)
            if not isinstance(cache, tuple) or len(cache) != len(exercise.cache):
                what = (f"a tuple of {len(cache)}" if isinstance(cache, tuple)
                        else f"a {type(cache).__name__}")
                return CaseError("bad_return", message=(
                    f"returned {what} as the cache, want the tuple the skeleton builds: "
                    f"({', '.join(exercise.cache)})"))
            values = list(cache)
        for name, v in zip(exercise.cache_names, values):
            arr = _array(name, v)
            if isinstance(arr, CaseError):
                return arr
            out[name] = arr
    return out


def _call(exercise: Exercise, fn: Callable, case: Case, uses: Mapping[str, Callable]):
    """fn on fresh deep copies of the case's inputs; ChangedInput if it changed them."""
    work = copy.deepcopy(case)
    before = copy.deepcopy(case)
    if exercise.call is not None:
        result = exercise.call(fn, work, dict(uses))
    else:
        result = fn(*work.args, **work.kwargs)
    names = input_names(exercise.reference, len(case.args), list(case.kwargs))
    found = changed_inputs(list(before.args) + list(before.kwargs.values()),
                           list(work.args) + list(work.kwargs.values()), names)
    if found:
        raise _changed(found)
    return result


def run_cases(exercise: Exercise, fn: Callable, cases: Sequence[Case],
              uses: Mapping[str, Callable] | None = None, *,
              notes: dict | None = None) -> list[dict[str, np.ndarray] | CaseError]:
    """Call ``fn`` on every case; one entry per case: {output name: ndarray} or a CaseError.

    uses: {exercise name: function} for the names in ``exercise.uses``; missing ones default
    to the registered references. Warnings (e.g. overflow in exp) are silenced because they
    would add varying lines to the notebook output; wrong values are still caught.
    notes: an optional dict that receives {"list_return": True} when fn returned a list
    where a tuple is documented, and "results", the list being filled (for a time limit).
    """
    if not callable(fn):
        raise TypeError(f"{exercise.name}: fn must be callable, got {type(fn).__name__}")
    uses = resolve_uses(exercise, uses)
    notes = {} if notes is None else notes
    results = notes["results"] = []
    for case in cases:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                result = _call(exercise, fn, case, uses)
        except NotImplementedError as e:
            results.append(CaseError("not_implemented", "NotImplementedError", _first_line(e),
                                     _partly_written(e, fn)))
            continue
        except BadReturn as e:
            results.append(CaseError("bad_return", message=_first_line(e)))
            continue
        except ChangedInput as e:
            results.append(CaseError("changed_input", message=_first_line(e, 400)))
            continue
        except Exception as e:  # the student's bug, reported, never re-raised
            results.append(CaseError("exception", type(e).__name__, _first_line(e), _where(e, fn)))
            continue
        if isinstance(result, list) and len(exercise.outputs) + bool(exercise.cache) > 1:
            notes["list_return"] = True
        results.append(_normalize(exercise, result))
    return results


def resolve_uses(exercise: Exercise, uses: Mapping[str, Callable] | None) -> dict[str, Callable]:
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


def reference_uses(exercise: Exercise) -> dict[str, Callable]:
    return {name: get_exercise(name).reference for name in exercise.uses}
