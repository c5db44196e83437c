"""Register only the exercises a grading run needs.

Importing ``utils.checks`` imports every ``utils/exercises/lab*.py`` module; a lab that imports
torch at the top costs seconds, paid by the grader and again by every child process. Before
``utils.checks`` is first imported, ``load_only`` replaces ``utils.exercises.load_all`` so that
only the given modules are imported. ``complete_uses`` then imports the rest if an exercise
``uses`` one that is not registered (an exercise building on another lab's).

No import of ``utils.checks`` here: this module must be usable before it.
"""

from __future__ import annotations

import importlib
import sys


def lab_module(lab: str) -> str:
    """'utils.exercises.lab02' for lab '02'."""
    return f"utils.exercises.lab{lab}"


def load_only(modules) -> None:
    """Make the first ``import utils.checks`` register only ``modules`` (a list of module
    names; [] registers none). No effect if ``utils.checks`` is already imported."""
    if "utils.checks" in sys.modules:
        return
    import utils.exercises as package

    original = package.load_all
    wanted = list(modules)

    def load(errors=None):
        loaded = []
        for module in wanted:
            try:
                importlib.import_module(module)
            except Exception as e:  # same contract as utils.exercises.load_all
                if errors is not None:
                    errors[module] = f"{type(e).__name__}: {e}"
            else:
                loaded.append(module.rsplit(".", 1)[-1])
        return loaded

    load.original = original
    package.load_all = load


def complete_uses() -> None:
    """Import every lab module if a registered exercise uses an unregistered one."""
    from utils import checks
    import utils.exercises as package

    missing = [u for ex in list(checks.REGISTRY.values()) for u in ex.uses if u not in checks.REGISTRY]
    if missing:
        getattr(package.load_all, "original", package.load_all)(checks.LOAD_ERRORS)
