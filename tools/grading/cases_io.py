"""Move exercise inputs and outputs across the sandbox boundary as JSON, never pickle.

A value is encoded as JSON:

    ndarray      -> {"array": {"dtype": "float64", "shape": [2, 3], "b64": "..."}}
    NumPy scalar -> {"array": {...}, "scalar": true}
    float (non-finite) -> {"array": {...}, "float": true}
    None, bool, int, float, str -> {"value": v}
    tuple / list -> {"tuple": [spec, ...]} / {"list": [spec, ...]}
    dict (str keys) -> {"dict": {key: spec}}

Anything else (objects, object arrays) raises TypeError: exercise cases must be plain data.

``decode`` trusts its input: the parent uses it only on what it wrote itself (the hidden
inputs it sends the child). What comes back from the child is read with ``decode_output``,
which checks a claimed array against the shape and dtype the reference produced *before*
decoding any bytes, and charges every decoded byte to a ``Budget``: an answer that claims
a 10**12-element array, repeats one large array many times or is a compressed bomb costs
the grader nothing (there is no compression, and nothing is decoded beyond the expected
sizes). Stdlib + NumPy only: the child imports this module too.
"""

from __future__ import annotations

import base64
import binascii
import math

import numpy as np

# dtypes an output may claim (numeric, native byte order); anything else is a bad return.
DTYPES = {name: np.dtype(name) for name in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128")}
MAX_NDIM = 32


def _array_spec(a: np.ndarray) -> dict:
    if not a.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        a = a.copy(order="C")
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("="))
    return {"dtype": a.dtype.name, "shape": list(a.shape),
            "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def encode(value):
    """The JSON spec of ``value`` (see the module docstring)."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject or value.dtype.name not in DTYPES:
            raise TypeError(f"cannot send an array of dtype {value.dtype} (numeric arrays only)")
        return {"array": _array_spec(value)}
    if isinstance(value, np.generic):
        a = np.asarray(value)
        if a.dtype.name not in DTYPES:
            raise TypeError(f"cannot send a NumPy scalar of dtype {a.dtype}")
        return {"array": _array_spec(a), "scalar": True}
    if value is None or isinstance(value, (bool, int, str)):
        return {"value": value}
    if isinstance(value, float):
        if not math.isfinite(value):  # JSON has no inf/nan
            return {"array": _array_spec(np.asarray(value)), "float": True}
        return {"value": value}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return {"list": [encode(v) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("cannot send a dict with non-str keys")
        return {"dict": {k: encode(v) for k, v in value.items()}}
    raise TypeError(f"cannot send a {type(value).__name__} across processes (plain data only)")


def _array(spec) -> np.ndarray:
    dtype = DTYPES[spec["dtype"]]
    data = base64.b64decode(spec["b64"])
    return np.frombuffer(data, dtype=dtype).reshape(spec["shape"]).copy()


def decode(spec):
    """Inverse of ``encode``, for specs the parent wrote itself (the child's inputs)."""
    if not isinstance(spec, dict) or len(spec) == 0:
        raise ValueError(f"bad value spec {spec!r}")
    if "array" in spec:
        a = _array(spec["array"])
        if spec.get("scalar"):
            return a[()]
        if spec.get("float"):
            return float(a)
        return a
    if "value" in spec:
        return spec["value"]
    if "tuple" in spec:
        return tuple(decode(s) for s in spec["tuple"])
    if "list" in spec:
        return [decode(s) for s in spec["list"]]
    if "dict" in spec:
        return {str(k): decode(s) for k, s in spec["dict"].items()}
    raise ValueError(f"bad value spec {spec!r}")


class Budget:
    """A cap on the bytes the parent decodes from one submission's answers."""

    def __init__(self, max_bytes: int):
        self.left = int(max_bytes)

    def take(self, n: int) -> None:
        if n > self.left:
            raise ValueError("the answers are larger than the grader accepts")
        self.left -= n


def decode_output(spec, want: np.ndarray, budget: Budget) -> np.ndarray:
    """The child's claimed array ``spec`` ({"dtype", "shape", "b64"}), checked against the
    reference output ``want`` before anything is decoded.

    - dtype must be one of ``DTYPES``, shape a list of at most 32 ints >= 0;
    - a shape different from ``want.shape`` is not decoded: a zero-stride placeholder of the
      claimed shape is returned (no memory), so the comparison reports "has shape ...";
    - otherwise the base64 text must decode to exactly shape x itemsize bytes, charged to
      ``budget``. Raises ValueError on anything malformed.
    """
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "b64"}:
        raise ValueError("an output is not an encoded array")
    name, shape, text = spec["dtype"], spec["shape"], spec["b64"]
    if not isinstance(name, str) or name not in DTYPES:
        raise ValueError(f"an output has dtype {str(name)[:40]!r}, not a numeric dtype")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape)):
        raise ValueError("an output has a malformed shape")
    if not isinstance(text, str):
        raise ValueError("an output has no data")
    dtype = DTYPES[name]
    if tuple(shape) != tuple(want.shape):
        return np.broadcast_to(np.zeros((), dtype), tuple(shape))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(text) != 4 * ((nbytes + 2) // 3):
        raise ValueError("an output's data does not match its shape")
    budget.take(nbytes)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("an output's data is not base64") from None
    if len(data) != nbytes:
        raise ValueError("an output's data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape)
