"""Shared pytest setup for the course's tests.

`python course.py test` (and so `bash scripts/test.sh`) already pins the environment below; setting the same defaults here
makes a direct `python -m pytest tests/...` behave the same, including in the kernels and
subprocesses that tests start (they inherit os.environ).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Reproducible numbers: one BLAS/OpenMP thread, fixed hash seed (for child processes).
for _name, _value in {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "PYTHONHASHSEED": "0", "JUPYTER_PLATFORM_DIRS": "1"}.items():
    os.environ.setdefault(_name, _value)

# Kernels started by notebook tests import `utils` as a student's do: the course package is
# installed in .venv by the setup (python course.py setup), so no PYTHONPATH is set here.


@pytest.fixture(scope="session")
def odd_copy(tmp_path_factory) -> Path:
    """A copy of the labs (solutions/, notebooks/), utils/ and data/ at a path with a space and
    non-ASCII letters (.../cours é/dépôt rnn), for running labs the way a student might."""
    root = tmp_path_factory.mktemp("anywhere") / "cours é" / "dépôt rnn"
    for folder in ("solutions", "notebooks", "utils", "data"):
        shutil.copytree(REPO_ROOT / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return root


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder holding utils/, solutions/, data/)."""
    return REPO_ROOT
