"""The course's two commands, the same on Linux, macOS and Windows.

    python course.py lab     # set up .venv, then start JupyterLab on the student labs
    python course.py test    # set up .venv, then run the whole test suite (what CI runs)
    python course.py setup   # only the setup

`lab` passes further arguments to JupyterLab (`python course.py lab --port=9000`), `test` to
the first pytest stage (`python course.py test -k vocab`). `scripts/lab.sh`, `scripts/test.sh`
and `scripts/setup.sh` call this file.

The setup creates `.venv` with the newest Python from 3.11 to 3.14 that it finds (or the one
named by the PYTHON environment variable), installs the pinned `requirements.txt` and the
course package `utils` (`pip install -e .`) only when requirements.txt or pyproject.toml
changed since the last install, and verifies the corpus in data/. Only the standard library is
used here, so any Python can run this file, if only to say which Python is needed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
WINDOWS = os.name == "nt"
VENV_PY = VENV / ("Scripts/python.exe" if WINDOWS else "bin/python")
SUPPORTED = [(3, 11), (3, 12), (3, 13), (3, 14)]  # newest last
STAMP = VENV / ".requirements.sha256"  # sha256 of what was installed: requirements.txt + pyproject.toml
CORPUS = ROOT / "data" / "tinyshakespeare.txt"
CORPUS_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
# The corpus is committed; a checkout without it can take it from the shared folder beside the
# repository (never from the network).
CORPUS_FALLBACK = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"

# Machine-level installs that `test` runs before the test stages, in order: (name, command).
# A step that fails is reported and the tests still run; the test that needs what it installs
# then fails and says why.
INSTALL_STEPS = [
    ("browser", ["bash", "scripts/install-browser.sh"]),
    ("sandbox", ["bash", "scripts/install-sandbox.sh"]),
    # nbgrader (requirements-nbgrader.txt) in .venv-nbgrader, for tests/test_nbgrader.py only.
    ("nbgrader", [str(VENV_PY), "scripts/install_nbgrader.py"]),
]

# Pinned threads and hashing for the test stages: the numbers the tests compare must not
# depend on the machine. MPLBACKEND is removed: a kernel that inherits MPLBACKEND=Agg shows
# "<Figure size ...>" instead of the inline image, which would break the stored outputs.
TEST_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0", "JUPYTER_PLATFORM_DIRS": "1"}


class SetupError(Exception):
    """A setup step that cannot go on; the message says what to do."""


def say(tag: str, message: str) -> None:
    print(f"[{tag}] {message}", flush=True)


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


# --- 1. an interpreter for the virtual environment -----------------------------------------

def _probe(command: list[str]) -> tuple[tuple[int, int], str] | None:
    """((major, minor), executable) of the Python that `command` starts, or None."""
    try:
        out = subprocess.run(command + ["-c", "import sys; print(sys.version_info[0], sys.version_info[1], "
                                                  "sys.executable)"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.stdout.strip().split(" ", 2)
    if out.returncode != 0 or len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return (int(parts[0]), int(parts[1])), parts[2]


def _candidates() -> list[list[str]]:
    """Commands that may start a Python: this one, the versioned names, the generic ones."""
    newest_first = [f"{major}.{minor}" for major, minor in reversed(SUPPORTED)]
    commands = [[sys.executable]]
    if WINDOWS:  # the py launcher knows every python.org install
        commands += [["py", f"-{v}"] for v in newest_first] + [["python"], ["py", "-3"]]
    else:
        commands += [[f"python{v}"] for v in newest_first] + [["python3"], ["python"]]
    return commands


def find_python() -> tuple[str, tuple[int, int]]:
    """(executable, version) of the newest supported Python found; SetupError naming what was found."""
    wanted = f"Python {SUPPORTED[0][0]}.{SUPPORTED[0][1]} to {SUPPORTED[-1][0]}.{SUPPORTED[-1][1]}"
    if os.environ.get("PYTHON"):
        found = _probe([os.environ["PYTHON"]])
        if found is None:
            raise SetupError(f"PYTHON={os.environ['PYTHON']} does not start a Python; {wanted} is needed.")
        if found[0] not in SUPPORTED:
            raise SetupError(f"PYTHON={os.environ['PYTHON']} is Python {found[0][0]}.{found[0][1]}; "
                             f"{wanted} is needed.")
        return found[1], found[0]
    seen = {}
    for command in _candidates():
        found = _probe(command)
        if found is not None:
            seen.setdefault(found[1], found[0])
    usable = [(version, exe) for exe, version in seen.items() if version in SUPPORTED]
    if not usable:
        listing = ", ".join(f"{exe} (Python {v[0]}.{v[1]})" for exe, v in seen.items()) or "no Python at all"
        newest = f"{SUPPORTED[-1][0]}.{SUPPORTED[-1][1]}"
        raise SetupError(f"{wanted} is needed to create .venv; found {listing}. Install Python {newest} "
                         f"(or any of {wanted}), or set PYTHON=/path/to/python.")
    version, exe = max(usable)
    return exe, version


def ensure_venv() -> None:
    if not VENV_PY.exists():
        exe, version = find_python()
        say("setup", f"creating .venv with {exe} (Python {version[0]}.{version[1]}, the newest of "
                     f"3.11 to 3.14 found)")
        if subprocess.run([exe, "-m", "venv", str(VENV)]).returncode != 0:
            raise SetupError(f"'{exe} -m venv .venv' failed (on Debian/Ubuntu: apt-get install "
                             f"python{version[0]}.{version[1]}-venv); delete .venv and try again.")
    found = _probe([str(VENV_PY)])
    if found is None or found[0] not in SUPPORTED:
        what = "does not start" if found is None else f"runs Python {found[0][0]}.{found[0][1]}"
        raise SetupError(f".venv {what}; Python 3.11 to 3.14 is needed: delete the .venv folder and run "
                         "this command again.")


# --- 2. packages and the course package, only when they changed ----------------------------

class _Lock:
    """An exclusive lock on a file, so that `lab` and `test` started together never run pip
    into the same .venv at once (fcntl on Linux and macOS, msvcrt on Windows)."""

    def __init__(self, path: Path):
        self.file = open(path, "a+")

    def __enter__(self):
        if WINDOWS:
            import msvcrt
            while True:
                try:
                    msvcrt.locking(self.file.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after 10 s; keep waiting
                    pass
        else:
            import fcntl
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.file.close()  # closing releases the lock


def install_packages() -> None:
    want = _sha256(ROOT / "requirements.txt", ROOT / "pyproject.toml")
    with _Lock(VENV / ".setup.lock"):
        if STAMP.exists() and STAMP.read_text().strip() == want:
            say("setup", "packages up to date (requirements.txt and pyproject.toml unchanged since the last install)")
            return
        say("setup", "installing requirements.txt and the course package into .venv (new or changed since "
                     "the last install; a first install takes a few minutes)")
        # In a log (CI, redirected output) pip's per-package lines and progress bars are noise.
        quiet = [] if sys.stdout.isatty() else ["--quiet", "--progress-bar", "off"]
        pip = [str(VENV_PY), "-m", "pip", "install", "--disable-pip-version-check", *quiet]
        if subprocess.run(pip + ["-r", str(ROOT / "requirements.txt")]).returncode != 0:
            raise SetupError("pip could not install requirements.txt (see the messages above).")
        # The course package, editable: kernels of .venv import `utils` from this checkout.
        if subprocess.run(pip + ["--no-deps", "-e", str(ROOT)]).returncode != 0:
            raise SetupError("pip could not install the course package (pip install -e .; see above).")
        # Stamp only after a complete install, so an interrupted one is retried next time.
        STAMP.write_text(want + "\n")
        say("setup", "packages installed")


# --- 3. the corpus, verified --------------------------------------------------------------

def ensure_corpus() -> None:
    if not CORPUS.exists():
        if not CORPUS_FALLBACK.exists():
            raise SetupError("data/tinyshakespeare.txt is missing and there is no copy in ../shared/data/ "
                             "beside the repository.")
        say("setup", "copying data/tinyshakespeare.txt from ../shared/data/")
        CORPUS.parent.mkdir(exist_ok=True)
        shutil.copyfile(CORPUS_FALLBACK, CORPUS)
    got = _sha256(CORPUS)
    if got != CORPUS_SHA256:
        raise SetupError(f"data/tinyshakespeare.txt has sha256 {got}, expected {CORPUS_SHA256}: the file is "
                         "damaged; restore it (git checkout -- data/tinyshakespeare.txt).")
    say("setup", "corpus data/tinyshakespeare.txt verified (sha256 ok)")


def setup() -> None:
    ensure_venv()
    install_packages()
    ensure_corpus()
    version = subprocess.run([str(VENV_PY), "-V"], capture_output=True, text=True).stdout.strip()
    say("setup", f"ready: {version} in .venv")


# --- the commands ---------------------------------------------------------------------------

def lab(args: list[str]) -> int:
    setup()
    # The command line lives in scripts/jupyter_lab.py so that the browser test starts
    # JupyterLab exactly the same way.
    argv = [str(VENV_PY), str(ROOT / "scripts" / "jupyter_lab.py"), *args]
    if WINDOWS:  # no exec on Windows: wait for JupyterLab, pass its exit code on
        try:
            return subprocess.call(argv)
        except KeyboardInterrupt:
            return 130
    os.execv(argv[0], argv)
    return 1  # not reached


def run_install_steps() -> None:
    for name, command in INSTALL_STEPS:
        start = time.monotonic()
        if shutil.which(command[0]) is None:
            say("test", f"{name} check: FAILED: {command[0]} is not available here; the tests that need "
                        f"it will fail")
            continue
        rc = subprocess.run(command, cwd=ROOT).returncode
        verdict = "ok" if rc == 0 else f"FAILED (exit {rc}); the tests that need it will fail"
        say("test", f"{name} check: {verdict} in {time.monotonic() - start:.0f} s")


def test_env() -> dict:
    """The test stages' environment: this one, pinned, and no PYTHONPATH (kernels import the
    installed course package, as a student's do)."""
    env = dict(os.environ, **TEST_ENV)
    env.pop("MPLBACKEND", None)
    env.pop("PYTHONPATH", None)
    return env


def test(args: list[str]) -> int:
    setup()
    run_install_steps()
    py, env = str(VENV_PY), test_env()
    stages = [("(a) tests/", [py, "-m", "pytest", "tests", *args])]
    if sorted((ROOT / "solutions").glob("*.ipynb")):
        # The strict comparison's options (--nbval-current-env, the sanitizer) are in pyproject.toml.
        stages.append(("(b) nbval solutions/", [py, "-m", "pytest", "--nbval", "solutions/"]))
    summary, failed = [], []
    for name, command in stages:
        say("test", f"stage {name}: {' '.join(command)}")
        start = time.monotonic()
        rc = subprocess.run(command, cwd=ROOT, env=env).returncode
        verdict = {0: "passed", 5: "FAILED: no tests were collected (pytest exit 5)"}.get(
            rc, f"FAILED (pytest exit {rc})")
        if rc != 0:
            failed.append(name)
        summary.append(f"stage {name}: {verdict} in {time.monotonic() - start:.0f} s")
        say("test", summary[-1])
    if len(stages) == 1:
        summary.append("stage (b) nbval solutions/: SKIPPED (no notebook in solutions/ yet)")
    say("test", "summary:")
    for line in summary:
        say("test", f"  {line}")
    if failed:
        say("test", f"FAILED stages: {' '.join(failed)}")
        return 1
    say("test", "all stages passed")
    return 0


COMMANDS = {"setup": lambda args: setup() or 0, "lab": lab, "test": test}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        given = f"got {argv[0]!r}" if argv else "got nothing"
        print(f"error: expected a command, one of {', '.join(COMMANDS)}; {given}", file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    if command == "setup" and args:
        print(f"error: setup takes no arguments, got {' '.join(args)}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[command](args)
    except SetupError as error:
        say("setup", f"ERROR: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
