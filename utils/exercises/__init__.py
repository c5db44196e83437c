"""Exercise registrations, one module per lab: ``utils/exercises/labNN.py``.

Each lab module calls ``utils.checks.register(Exercise(...))`` for its exercises. Importing
``utils.checks`` calls ``load_all`` below, so every lab's exercises are registered whichever
lab notebook is open. A lab module that fails to import does not stop the others (a lab
being written must not break the finished ones): its error is recorded in
``utils.checks.LOAD_ERRORS``, a warning is shown, and the test suite fails on it.
"""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_LAB_MODULE = re.compile(r"^lab\w*\.py$")


def lab_modules() -> list[str]:
    """Names of the lab modules in this package, sorted: ['lab01', 'lab02', ...]."""
    return sorted(p.stem for p in _HERE.iterdir() if _LAB_MODULE.match(p.name))


def load_all(errors: dict | None = None) -> list[str]:
    """Import every ``lab*.py`` module here (which registers its exercises).

    errors: a dict that receives {module name: "Type: message"} for modules that failed.
    Returns the names of the modules imported successfully (possibly none).
    """
    loaded = []
    for stem in lab_modules():
        module = f"{__name__}.{stem}"
        try:
            importlib.import_module(module)
        except Exception as e:  # recorded and reported, see the module docstring
            message = f"{type(e).__name__}: {e}"
            if errors is not None:
                errors[module] = message
            warnings.warn(f"could not load exercises from {module}: {message}", stacklevel=2)
        else:
            loaded.append(stem)
    return loaded
