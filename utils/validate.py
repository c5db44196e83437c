"""Input checks that fail early with a message a student can act on.

Every public function in `utils` validates its arguments here, so a wrong shape produces
"lstm_forward: Wh has shape (6, 20), expected (H, 4H) = (6, 24)" instead of a NumPy
broadcasting traceback from deep inside a matrix product.
"""

import re

import numpy as np

_SYMBOL = re.compile(r"^(\d*)([A-Za-z_]\w*)$")


class Dims:
    """Collects named sizes (N, T, D, H, ...) across the arguments of one call.

    The first array that mentions a symbol fixes its size; every later array must agree.

    >>> dims = Dims("rnn_step_forward")
    >>> x = dims.array("x", x, ("N", "D"))
    >>> Wx = dims.array("Wx", Wx, ("D", "H"))
    """

    def __init__(self, where):
        self.where = where
        self.sizes = {}
        self.origin = {}
        self.float_dtype = None
        self.float_name = None

    def array(self, name, value, spec, kind="float"):
        """Check `value` against the shape `spec` and dtype `kind`; return it as an ndarray.

        spec: tuple of symbols ("N", "T", "D"), multiples ("4H") or ints.
        kind: "float" (all float arguments of one call share one dtype), "int", "bool" or None.
        """
        arr = _as_array(self.where, name, value)
        self._check_kind(name, arr, kind)
        if arr.ndim != len(spec):
            raise ValueError(
                f"{self.where}: {name} must have {len(spec)} dimensions {_fmt(spec)}, "
                f"got shape {arr.shape}")
        # Two passes: first fix the sizes this array defines, then compare all of them.
        for sym, size in zip(spec, arr.shape):
            if isinstance(sym, str):
                mult, base = _parse(sym)
                if base not in self.sizes and size % mult == 0:
                    self.sizes[base] = size // mult
                    self.origin[base] = name
        expected = tuple(self.size(sym) for sym in spec)
        if expected != arr.shape:
            known = ", ".join(f"{b}={self.sizes[b]} from {self.origin[b]}"
                              for b in sorted({_parse(s)[1] for s in spec if isinstance(s, str)})
                              if b in self.sizes and self.origin[b] != name)
            raise ValueError(
                f"{self.where}: {name} has shape {arr.shape}, expected {_fmt(spec)} = {expected}"
                + (f" ({known})" if known else ""))
        return arr

    def size(self, sym):
        if isinstance(sym, int):
            return sym
        mult, base = _parse(sym)
        return mult * self.sizes[base]

    def _check_kind(self, name, arr, kind):
        if kind == "float":
            if arr.dtype.kind != "f":
                raise TypeError(
                    f"{self.where}: {name} must be a float array (float32 or float64), "
                    f"got dtype {arr.dtype}")
            if self.float_dtype is None:
                self.float_dtype, self.float_name = arr.dtype, name
            elif arr.dtype != self.float_dtype:
                raise TypeError(
                    f"{self.where}: {name} is {arr.dtype} but {self.float_name} is "
                    f"{self.float_dtype}; use one float dtype for all inputs")
        elif kind == "int" and arr.dtype.kind not in "iu":
            raise TypeError(f"{self.where}: {name} must be an integer array of token ids, "
                            f"got dtype {arr.dtype}")
        elif kind == "bool" and arr.dtype.kind != "b":
            raise TypeError(f"{self.where}: {name} must be a boolean array, got dtype {arr.dtype}")


def _as_array(where, name, value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        raise TypeError(f"{where}: {name} is a torch tensor; pass a NumPy array "
                        f"(tensor.detach().numpy())")
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{where}: {name} must be array-like, got {type(value).__name__}") from exc


def _parse(sym):
    m = _SYMBOL.match(sym)
    if not m:
        raise ValueError(f"bad shape symbol {sym!r}")
    return int(m.group(1) or 1), m.group(2)


def _fmt(spec):
    return "(" + ", ".join(str(s) for s in spec) + ("," if len(spec) == 1 else "") + ")"


def positive_int(where, name, value, minimum=1):
    """Return `value` as an int, or raise if it is not an integer >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return int(value)


def nonempty_time(where, name, T):
    if T == 0:
        raise ValueError(f"{where}: {name} has T=0 time steps; a sequence needs at least one")
