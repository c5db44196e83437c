"""Move exercise inputs and outputs across the process boundary without pickle.

Both sides use only ``np.savez`` / ``np.load(allow_pickle=False)`` and JSON, so a file
written by the student's process can never execute code in the grader when it is read.

A value is encoded as a JSON "spec" plus a dict of arrays saved in one ``.npz``:

    ndarray      -> {"array": "a3"}            (arrays["a3"] = the array)
    NumPy scalar -> {"array": "a4", "scalar": true}
    None, bool, int, float, str -> {"value": v}
    tuple / list -> {"tuple": [spec, ...]} / {"list": [spec, ...]}
    dict (str keys) -> {"dict": {key: spec}}

Anything else (objects, object arrays) raises TypeError: exercise cases must be plain data.
Used by the parent (``scoring``) and by the child (``child.py``); stdlib + NumPy only.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

# Largest file the parent agrees to read back from the student's folder (bytes): a child
# cannot make the grader read gigabytes.
MAX_READ_BYTES = 256 * 2**20


def encode(value, arrays: dict) -> dict:
    """The JSON spec of ``value``; arrays are added to ``arrays`` under fresh keys."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"cannot send an object array (dtype {value.dtype}) without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if isinstance(value, np.generic):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {"array": key, "scalar": True}
    if value is None or isinstance(value, (bool, int, str)):
        return {"value": value}
    if isinstance(value, float):
        # JSON has no inf/nan: send non-finite floats as 0-d arrays
        if not math.isfinite(value):
            key = f"a{len(arrays)}"
            arrays[key] = np.asarray(value)
            return {"array": key, "float": True}
        return {"value": value}
    if isinstance(value, tuple):
        return {"tuple": [encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return {"list": [encode(v, arrays) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("cannot send a dict with non-str keys")
        return {"dict": {k: encode(v, arrays) for k, v in value.items()}}
    raise TypeError(f"cannot send a {type(value).__name__} across processes (plain data only)")


def decode(spec, arrays):
    """Inverse of ``encode``; ``arrays`` is the loaded npz (or a dict)."""
    if not isinstance(spec, dict) or len(spec) == 0:
        raise ValueError(f"bad value spec {spec!r}")
    if "array" in spec:
        a = np.array(arrays[spec["array"]])  # a copy: never keep the npz file open
        if spec.get("scalar"):
            return a[()]
        if spec.get("float"):
            return float(a)
        return a
    if "value" in spec:
        return spec["value"]
    if "tuple" in spec:
        return tuple(decode(s, arrays) for s in spec["tuple"])
    if "list" in spec:
        return [decode(s, arrays) for s in spec["list"]]
    if "dict" in spec:
        return {str(k): decode(s, arrays) for k, s in spec["dict"].items()}
    raise ValueError(f"bad value spec {spec!r}")


def save(path_stem: Path, spec, arrays: dict) -> None:
    """Write ``<stem>.npz`` then ``<stem>.json`` (the JSON last: its presence means done)."""
    path_stem = Path(path_stem)
    np.savez(str(path_stem) + ".npz", **arrays)
    tmp = Path(str(path_stem) + ".json.tmp")
    tmp.write_text(json.dumps(spec))
    os.replace(tmp, str(path_stem) + ".json")


def load(path_stem: Path):
    """(spec, arrays dict) written by ``save``; raises ValueError on a missing/bad/huge file."""
    path_stem = Path(path_stem)
    js, nz = Path(str(path_stem) + ".json"), Path(str(path_stem) + ".npz")
    for p in (js, nz):
        # lstat: never follow a symlink the student's process may have planted
        if not p.exists() or p.is_symlink() or not p.is_file():
            raise ValueError(f"{p.name} is missing")
        if p.lstat().st_size > MAX_READ_BYTES:
            raise ValueError(f"{p.name} is larger than {MAX_READ_BYTES} bytes")
    try:
        spec = json.loads(js.read_text())
        with np.load(nz, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in z.files}
    except Exception as e:  # corrupt or hand-written by the student's code
        raise ValueError(f"could not read {path_stem.name}: {type(e).__name__}: {e}") from None
    return spec, arrays
