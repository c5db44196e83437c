"""Start ``child.py`` for one submission under limits, and stop it for sure.

Limits (defaults in ``Limits``), and who enforces them:

- wall clock per notebook: the parent waits at most ``notebook_timeout`` seconds, then kills
  the child's whole process group (the child runs in its own session, so anything it forked
  dies with it, and a Ctrl-C in the grader's terminal does not reach it; ``kill_all`` stops
  the running children when the grader is interrupted);
- wall clock per cell and per exercise call: ``signal.setitimer`` in the child;
- memory: ``RLIMIT_AS`` (address space) set by the child before it imports NumPy, so a
  10 GB allocation fails with MemoryError instead of swapping the machine;
- CPU seconds: ``RLIMIT_CPU`` (SIGXCPU, then SIGKILL), a backstop for code that blocks the
  alarm signal;
- file size: ``RLIMIT_FSIZE``, so a submission cannot fill the disk.

The child runs with ``python -I`` (no user site-packages, no PYTHONPATH, no current folder
on sys.path), a minimal environment (one BLAS/OpenMP thread, Agg plots, HOME = its working
folder) and its stdout/stderr in files in the working folder.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CHILD = Path(__file__).resolve().parent / "child.py"

_live: set = set()
_live_lock = threading.Lock()
_stopping = threading.Event()
_live_pids: set = set()   # children forked by zygotes
_zygotes: set = set()


@dataclass(frozen=True)
class Limits:
    """notebook_timeout, cell_timeout, exercise_timeout: seconds (wall clock);
    memory_mb: address-space limit; cpu_seconds: CPU-time limit (0: notebook_timeout + 5);
    file_mb: largest file the child may write."""

    notebook_timeout: float = 300.0
    cell_timeout: float = 60.0
    exercise_timeout: float = 30.0
    memory_mb: int = 2048
    cpu_seconds: int = 0
    file_mb: int = 64

    def __post_init__(self):
        for name in ("notebook_timeout", "cell_timeout", "exercise_timeout"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {v!r}")
        for name in ("memory_mb", "cpu_seconds", "file_mb"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be an int >= 0 (0: no limit), got {v!r}")
        if 0 < self.memory_mb < 256:
            raise ValueError(f"memory_mb must be at least 256 (Python and NumPy need about "
                             f"100 MB to start), got {self.memory_mb}")

    def as_config(self) -> dict:
        cpu = self.cpu_seconds or int(self.notebook_timeout) + 5
        return {"memory_mb": self.memory_mb, "cpu_seconds": cpu, "file_mb": self.file_mb,
                "cell_timeout": self.cell_timeout, "exercise_timeout": self.exercise_timeout}


@dataclass(frozen=True)
class RunResult:
    """returncode: the child's exit code (negative: killed by that signal); timed_out: the
    parent killed it at the notebook limit; seconds: wall clock; stderr_tail: last lines."""

    returncode: int
    timed_out: bool
    seconds: float
    stderr_tail: str


def child_env(workdir: Path) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "TERM": "dumb",
        "TQDM_DISABLE": "1",
        "MPLCONFIGDIR": str(workdir / ".mpl"),
    }
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = "1"
    return env


_mpl_cache: dict = {}
_mpl_lock = threading.Lock()


def _matplotlib_font_cache() -> Path | None:
    """A matplotlib config folder with the font cache built once per grading run.

    Each child gets its own copy (so one submission cannot tamper with another's), which
    saves every child the font scan that an empty MPLCONFIGDIR triggers."""
    with _mpl_lock:
        if "dir" not in _mpl_cache:
            folder = Path(tempfile.mkdtemp(prefix="grade-mpl-"))
            atexit.register(shutil.rmtree, folder, True)
            env = dict(child_env(folder), MPLCONFIGDIR=str(folder))
            try:
                subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"],
                               env=env, cwd=str(folder), timeout=120, capture_output=True)
            except (OSError, subprocess.SubprocessError):
                pass
            _mpl_cache["dir"] = folder if any(folder.glob("fontlist-*.json")) else None
        return _mpl_cache["dir"]


def run_child(config_path: Path, cwd: Path, timeout: float) -> RunResult:
    """Run child.py on ``config_path`` with ``cwd`` as working folder; never raises on the
    child's behaviour (only on a missing interpreter)."""
    workdir = Path(config_path).parent
    cache = _matplotlib_font_cache()
    if cache is not None:
        (workdir / ".mpl").mkdir(exist_ok=True)
        for f in cache.glob("fontlist-*.json"):
            shutil.copyfile(f, workdir / ".mpl" / f.name)
    t0 = time.monotonic()
    with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
        with _live_lock:
            if _stopping.is_set():
                raise RuntimeError("grading was interrupted")
            proc = subprocess.Popen([sys.executable, "-I", str(CHILD), str(config_path)],
                                    cwd=str(cwd), env=child_env(workdir), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True)
            _live.add(proc)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc)
            with _live_lock:
                _live.discard(proc)
    seconds = time.monotonic() - t0
    return RunResult(proc.returncode, timed_out, seconds, _tail(workdir / "stderr.txt"))


def _kill_group(proc: subprocess.Popen) -> None:
    # Also after a normal exit: the student's code may have left children behind.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_all() -> None:
    """Kill every child still running and start no more (the grader was interrupted)."""
    with _live_lock:
        _stopping.set()
        procs = list(_live)
        pids = list(_live_pids)
        zygotes = list(_zygotes)
    for p in procs:
        _kill_group(p)
    for pid in pids:
        _killpg(pid)
    for z in zygotes:
        z.close()


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------- zygotes

ZYGOTE = Path(__file__).resolve().parent / "zygote.py"


class Zygote:
    """One ``zygote.py`` process (see its docstring); serves one request at a time."""

    def __init__(self, spec: dict, start_timeout: float = 300.0):
        self._buf = b""
        self.dead = False
        folder = _matplotlib_font_cache() or Path(tempfile.gettempdir())
        env = dict(child_env(folder), MPLCONFIGDIR=str(folder))
        self.proc = subprocess.Popen([sys.executable, "-I", str(ZYGOTE), json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, cwd=str(folder),
                                     start_new_session=True)
        with _live_lock:
            _zygotes.add(self)
        hello = self._readline(start_timeout)
        if not (isinstance(hello, dict) and hello.get("ready")):
            self.close()
            raise RuntimeError(f"zygote not usable: {hello!r}")

    def _readline(self, timeout: float):
        """The next JSON line from the zygote, or None after ``timeout`` seconds."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("the zygote exited")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, config_path: Path, cwd: Path, timeout: float) -> RunResult:
        workdir = Path(config_path).parent
        request = {"config": str(config_path), "cwd": str(cwd),
                   "stdout": str(workdir / "stdout.txt"), "stderr": str(workdir / "stderr.txt")}
        t0 = time.monotonic()
        with _live_lock:
            if _stopping.is_set():
                raise RuntimeError("grading was interrupted")
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        started = self._readline(60)
        if not isinstance(started, dict) or not isinstance(started.get("pid"), int):
            raise EOFError(f"the zygote did not start a child: {started!r}")
        pid = started["pid"]
        with _live_lock:
            _live_pids.add(pid)
        timed_out = False
        try:
            done = self._readline(timeout)
            if done is None:
                timed_out = True
                _killpg(pid)
                done = self._readline(30)
        except EOFError:
            # The zygote died while its child ran (killed by the submission?): the child
            # did run, so its outputs are graded as a crash; the pool starts a new zygote.
            self.dead = True
            done = {"status": -signal.SIGKILL}
        finally:
            _killpg(pid)  # leftovers of the student's code, as for a plain subprocess
            with _live_lock:
                _live_pids.discard(pid)
        if not isinstance(done, dict) or not isinstance(done.get("status"), int):
            raise EOFError(f"the zygote did not report the child's exit: {done!r}")
        return RunResult(done["status"], timed_out, time.monotonic() - t0,
                         _tail(workdir / "stderr.txt"))

    def close(self) -> None:
        with _live_lock:
            _zygotes.discard(self)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        _killpg(self.proc.pid)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class ZygotePool:
    """``jobs`` zygotes shared by the grading threads; ``run`` falls back to a plain
    subprocess when no zygote can be used (and replaces a zygote that died, e.g. killed by
    a submission)."""

    def __init__(self, spec: dict, jobs: int):
        self.spec = spec
        self._free: queue.Queue = queue.Queue()
        self.broken = False
        for _ in range(jobs):
            self._free.put(None)  # started lazily, in the grading threads

    def run(self, config_path: Path, cwd: Path, timeout: float) -> RunResult:
        z = self._free.get()
        try:
            if z is None and not self.broken:
                try:
                    z = Zygote(self.spec)
                except (RuntimeError, EOFError, OSError, ValueError):
                    self.broken = True  # e.g. a preloaded module starts threads
            if z is None:
                return run_child(config_path, cwd, timeout)
            try:
                result = z.run(config_path, cwd, timeout)
                if z.dead:
                    z.close()
                    z = None
                return result
            except (EOFError, OSError, ValueError):  # before the child started: run it plainly
                z.close()
                z = None
                if _stopping.is_set():
                    raise RuntimeError("grading was interrupted") from None
                return run_child(config_path, cwd, timeout)
        finally:
            self._free.put(z)

    def close(self) -> None:
        while not self._free.empty():
            z = self._free.get()
            if z is not None:
                z.close()


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
