"""Make `.venv-nbgrader`, the test-only environment with nbgrader (requirements-nbgrader.txt).

    .venv/bin/python scripts/install_nbgrader.py      (an install step of `python course.py test`)

nbgrader lives apart from the students' `.venv`, which stays as students get it. Its
autograder executes the labs on the kernel `rnn-course`, installed into `.venv-nbgrader`
(`share/jupyter/kernels/rnn-course`), which starts `.venv`'s Python: the course's packages.
pip runs only when requirements-nbgrader.txt changed since the last install (a stamp), so
the step costs nothing on a second run; it needs no network but the package index.
Run with `.venv`'s Python (the kernel is that interpreter). Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = ROOT / ".venv-nbgrader"
REQUIREMENTS = ROOT / "requirements-nbgrader.txt"
STAMP = ENV / ".requirements.sha256"
KERNEL = "rnn-course"
BIN = ENV / ("Scripts" if os.name == "nt" else "bin")


def say(message: str) -> None:
    print(f"[nbgrader] {message}", flush=True)


def main() -> int:
    python = BIN / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        say(f"creating {ENV.name}")
        if subprocess.run([sys.executable, "-m", "venv", str(ENV)]).returncode != 0:
            say(f"ERROR: '{sys.executable} -m venv {ENV.name}' failed")
            return 1
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != want:
        say(f"installing {REQUIREMENTS.name} into {ENV.name}")
        quiet = [] if sys.stdout.isatty() else ["--quiet", "--progress-bar", "off"]
        rc = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                             *quiet, "-r", str(REQUIREMENTS)]).returncode
        if rc != 0:
            say(f"ERROR: pip could not install {REQUIREMENTS.name} (see above)")
            return 1
        STAMP.write_text(want + "\n")
    # The kernel: this Python (.venv's), registered in the nbgrader environment.
    rc = subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(ENV),
                         "--name", KERNEL, "--display-name", "RNN course (.venv)"],
                        capture_output=True, text=True)
    if rc.returncode != 0:
        say(f"ERROR: could not install the kernel {KERNEL}: {rc.stderr.strip()[-300:]}")
        return 1
    version = subprocess.run([str(BIN / "nbgrader"), "--version"], capture_output=True, text=True)
    say(f"ready: {version.stdout.strip().splitlines()[-1] if version.returncode == 0 else '?'} in "
        f"{ENV.name}, kernel {KERNEL} = {sys.executable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
