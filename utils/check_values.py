"""How the exercise checks compare values and print them (used by ``utils.checks``).

- ``compare(outputs, got, want, rtol, atol, entry_name)``: the differences between a
  student's outputs and the reference's, one (headline, detail) pair per differing output;
- ``changed_inputs(before, after, names)``: which argument a function changed in place;
- number formatting: errors with 2 significant digits, values with 4, or with as many as it
  takes for "got" and "want" to differ.

Every message is built from rounded numbers only (no addresses, no timings), because the
notebooks' outputs are compared by nbval.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

__all__ = ["to_numpy", "compare", "changed_inputs", "num", "val", "pair"]

_KIND_NAMES = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}

# The relative tolerance for an output computed in float32 (or lower) when the reference is
# float64: float32 keeps about 7 significant digits, and a few operations lose one or two,
# so a correct function that computes in float32 passes and a wrong one still fails.
FLOAT32_RTOL = 5e-5


def to_numpy(value):
    """Torch tensors (duck-typed, so torch is not imported here) and scalars -> ndarray."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


# --------------------------------------------------------------------------- numbers


def _sig(x, digits: int) -> str:
    """x with `digits` significant digits, exponent without padding: 0.41, 3.2e-7."""
    s = f"{x:.{digits}g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{int(exp)}"
    return s


def num(x) -> str:
    """A number with 2 significant digits (for errors): 0.41, 3.2e-7."""
    x = float(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return str(x)
    return _sig(x, 2)


def val(x, digits: int = 4) -> str:
    """A value with `digits` significant digits (for 'got ..., want ...')."""
    if np.iscomplexobj(x):
        return f"{complex(x):.{digits}g}"
    x = float(x)
    return str(x) if not np.isfinite(x) else _sig(x, digits)


def pair(got, want) -> tuple[str, str]:
    """'got' and 'want' with 4 significant digits, or as many as it takes to tell them apart
    (a float32 result and its float64 reference can agree to 6 digits and still differ)."""
    for digits in range(4, 18):
        g, w = val(got, digits), val(want, digits)
        if g != w:
            return g, w
    return g, w


def _index(idx) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]" if len(idx) else ""


# --------------------------------------------------------------------------- outputs


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
                return f"{name} is {val(r)} times the expected values (a missing or extra factor?)"
    return ""


def compare(names: Sequence[str], got: Mapping, want: Mapping, rtol: float, atol: float,
            entry_name: Callable[[str, tuple], str] | None = None) -> list[tuple[str, str]]:
    """(headline, detail) per differing output of `names`; detail may be ''.

    Checked in order: missing output, shape, dtype kind (float/int/bool), NaN/inf positions,
    then values: an output passes when max|got - want| <= atol + rtol * max|want| (with
    rtol at least FLOAT32_RTOL when got has a lower precision than want).
    entry_name(output, index) -> a name for one entry (e.g. the token whose id it is), used
    in place of "ids[5]" when given.
    """
    def where(name, idx):
        if entry_name is not None:
            text = entry_name(name, tuple(int(i) for i in idx))
            if text:
                return text
        return f"{name}{_index(idx)}"

    problems = []
    for name in names:
        if name not in got:
            problems.append((f"{name} is missing", ""))
            continue
        g, w = to_numpy(got[name]), to_numpy(want[name])
        if g.shape != w.shape:
            problems.append((f"{name} has shape {tuple(g.shape)}, want {tuple(w.shape)}", ""))
            continue
        gk, wk = _KIND_NAMES.get(g.dtype.kind, g.dtype.kind), _KIND_NAMES.get(w.dtype.kind, w.dtype.kind)
        if gk != wk:
            problems.append((f"{name} has dtype {g.dtype}, want a {wk} array like {w.dtype}", ""))
            continue
        if wk in ("bool", "int"):
            bad = g != w
            if bad.any():
                idx = tuple(np.argwhere(bad)[0])
                first = where(name, idx) if idx else "(scalar)"
                problems.append((f"{name} differs in {int(bad.sum())} of {bad.size} entries",
                                 f"first at {first}: got {g[idx]}, want {w[idx]}"))
            continue
        g_fin, w_fin = np.isfinite(g), np.isfinite(w)
        if not np.array_equal(g_fin, w_fin) or not np.array_equal(g[~g_fin], w[~w_fin], equal_nan=True):
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
        r_tol, a_tol = rtol, atol
        if g.dtype.itemsize < w.dtype.itemsize:          # same kind: float32 vs float64
            r_tol = max(rtol, FLOAT32_RTOL)
            a_tol = max(atol, FLOAT32_RTOL * 1e-3)
        if max_diff <= a_tol + r_tol * scale:
            continue
        rel = max_diff / scale if scale > 0 else max_diff
        what = "relative error" if scale > 0 else "absolute error"
        limit = r_tol if scale > 0 else a_tol
        headline = f"{name} is off ({what} {num(rel)}, want < {num(limit)})"
        details = []
        if g.ndim and w_fin.all():
            idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
            gs, ws = pair(g[idx], w[idx])
            details.append(f"largest difference at {where(name, idx)}: got {gs}, want {ws}")
        elif not g.ndim:
            gs, ws = pair(g, w)
            details.append(f"got {gs}, want {ws}")
        diag = _diagnose(name, g, w, rtol, atol)
        if diag:
            details.append(diag)
        problems.append((headline, "; ".join(details)))
    return problems


# --------------------------------------------------------------------------- inputs


def _first_change(before, after, path: str) -> str:
    """'' when `after` equals `before`, else where they first differ (e.g. "[0, 1]")."""
    if hasattr(before, "detach") and hasattr(before, "numpy"):        # a torch tensor
        before, after = to_numpy(before), to_numpy(after)
    if isinstance(before, np.ndarray):
        after = np.asarray(after)
        if before.shape != after.shape:
            return f"{path}: its shape went from {before.shape} to {after.shape}"
        if before.dtype.kind in "fc":
            same = (before == after) | (np.isnan(before) & np.isnan(after))
        else:
            same = before == after
        if np.all(same):
            return ""
        idx = tuple(np.argwhere(~same)[0])
        b, a = pair(before[idx], after[idx]) if before.dtype.kind in "fc" else (before[idx], after[idx])
        return f"{path}: {path}{_index(idx)} was {b}, now {a}"
    if isinstance(before, dict):
        if not isinstance(after, dict):
            return f"{path}: it is no longer a dict"
        added = [k for k in after if k not in before]
        removed = [k for k in before if k not in after]
        if added:
            return f"{path}: the key {added[0]!r} was added"
        if removed:
            return f"{path}: the key {removed[0]!r} was removed"
        for k in before:
            found = _first_change(before[k], after[k], f"{path}[{k!r}]")
            if found:
                return found
        return ""
    if isinstance(before, (list, tuple)):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            return f"{path}: its length went from {len(before)} to {len(after)}" \
                if isinstance(after, (list, tuple)) else f"{path}: it was replaced"
        for i, (b, a) in enumerate(zip(before, after)):
            found = _first_change(b, a, f"{path}[{i}]")
            if found:
                return found
        return ""
    if isinstance(before, (int, float, complex, str, bool, np.generic)) or before is None:
        return "" if (before == after or (before != before and after != after)) else \
            f"{path}: was {before!r}, now {after!r}"
    return ""   # other objects (a random generator, a module) may change state


def changed_inputs(before: Sequence, after: Sequence, names: Sequence[str]) -> str:
    """'' when every input is unchanged, else "argument: what changed", e.g.
    "c_prev: c_prev[0, 1] was 0.6, now 0.3" or "stoi: the key 'zebra' was added".

    before: deep copies of the inputs taken before the call; after: the inputs after it.
    names: one name per input.
    """
    for b, a, name in zip(before, after, names):
        found = _first_change(b, a, name)
        if found:
            return found
    return ""
