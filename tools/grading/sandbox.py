"""Run ``child.py`` for one submission inside a bubblewrap sandbox, and stop it for sure.

One fresh sandbox per submission (``bwrap``, Debian's ``bubblewrap``):

- new user, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``), no way to make
  more user namespaces (``--disable-userns``), no capabilities, ``--new-session`` (no
  terminal to inject into) and ``--die-with-parent`` (the sandbox dies with the grader);
- a filesystem that holds only: ``/usr`` and the interpreter with its packages (read-only),
  the grading view built by ``stage`` at ``/grader`` (read-only: the child program and a
  copy of ``utils`` without the graded references), the course's ``data/`` (read-only) and
  one private tmpfs of ``tmpfs_mb`` at ``/tmp``, the only writable place. No home, no
  repository, no ``solutions/``, no submissions, no output folder, no other student;
- an empty environment but for a few fixed variables (``--clearenv``);
- when the grader runs as root, the sandbox runs as ``nobody`` (``setpriv``), so a process
  limit applies and nothing it could reach outside is owned by it. Folders that ``nobody``
  cannot open (an interpreter under ``/root``) are first bind-mounted, in a private mount
  namespace of that one sandbox (``unshare --mount``), to a reachable place;
- resource limits set by the child before any student code runs: address space, CPU
  seconds, file size, open files, processes (``child.py``); wall clock per notebook
  enforced here (the whole sandbox is killed).

The child reads its task from stdin and writes its answers to stdout, one JSON message a
line; this module reads at most ``channel_mb`` from it and keeps the last few KB of stderr.
Nothing the child writes goes anywhere else: its tmpfs vanishes with it.

``--unsafe-no-sandbox`` (``Runner(sandboxed=False)``): the same child, protocol and limits,
as a plain process of the grading user in a temporary folder. For a machine without
bubblewrap (macOS); every row is then marked ``unsandboxed``.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
VIEW_MOUNT = "/grader"          # the read-only grading view inside the sandbox
WORK = "/tmp/work/notebooks"    # the child's working folder (like notebooks/: ../data works)

_live: set = set()
_live_lock = threading.Lock()
_stopping = threading.Event()


@dataclass(frozen=True)
class Limits:
    """notebook_timeout, cell_timeout, exercise_timeout: seconds (wall clock);
    memory_mb: address space; cpu_seconds: CPU time (0: notebook_timeout + 5); file_mb:
    largest file; tmpfs_mb: the sandbox's whole writable space; processes, open_files:
    counts; channel_mb: most the grader reads from the child's answers."""

    notebook_timeout: float = 300.0
    cell_timeout: float = 60.0
    exercise_timeout: float = 30.0
    memory_mb: int = 2048
    cpu_seconds: int = 0
    file_mb: int = 64
    tmpfs_mb: int = 256
    processes: int = 64
    open_files: int = 256
    channel_mb: int = 32

    def __post_init__(self):
        for name in ("notebook_timeout", "cell_timeout", "exercise_timeout"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {v!r}")
        for name in ("memory_mb", "cpu_seconds", "file_mb", "tmpfs_mb", "processes",
                     "open_files", "channel_mb"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be an int >= 0 (0: no limit), got {v!r}")
        if 0 < self.memory_mb < 256:
            raise ValueError(f"memory_mb must be at least 256 (Python and NumPy need about "
                             f"100 MB to start), got {self.memory_mb}")
        for name in ("tmpfs_mb", "processes", "open_files", "channel_mb"):
            if getattr(self, name) == 0:
                raise ValueError(f"{name} must be > 0, got 0")

    def as_config(self) -> dict:
        cpu = self.cpu_seconds or int(self.notebook_timeout) + 5
        return {"memory_mb": self.memory_mb, "cpu_seconds": cpu, "file_mb": self.file_mb,
                "processes": self.processes, "open_files": self.open_files,
                "cell_timeout": self.cell_timeout, "exercise_timeout": self.exercise_timeout}


@dataclass
class RunResult:
    """returncode: the sandbox's exit code (negative: killed by that signal); timed_out: killed
    at the notebook limit; overflow: killed for writing more than channel_mb; messages: the
    JSON objects the child wrote (untrusted); stderr_tail: its last bytes of stderr;
    received: for each message, the seconds from the start at which this process read it
    (the grader's own clock: the child cannot change it)."""

    returncode: int
    timed_out: bool
    overflow: bool
    seconds: float
    messages: list
    stderr_tail: str
    received: list = None


def child_env(home: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
           "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": f"{home}/.mpl", "TERM": "dumb", "TQDM_DISABLE": "1"}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = "1"
    return env


def interpreter() -> tuple:
    """(python to run, folders it needs): the running interpreter, by real paths."""
    prefix = Path(os.path.realpath(sys.prefix))
    python = prefix / "bin" / Path(sys.executable).name
    if not python.exists():
        python = Path(os.path.realpath(sys.executable))
    folders = {prefix, Path(os.path.realpath(sys.base_prefix)),
               Path(os.path.realpath(sys.executable)).parent.parent}
    folders = sorted(f for f in folders if not str(f).startswith("/usr/"))
    # keep only the outermost folders (a venv inside its base would be mounted twice)
    outer = [f for f in folders if not any(f != g and g in f.parents for g in folders)]
    return str(python), outer


def _reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can open ``path`` (o+x on every parent, o+rx on it)."""
    p = Path(path)
    for parent in [*reversed(p.parents)]:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    mode = os.stat(p).st_mode
    return bool(mode & stat.S_IROTH and mode & stat.S_IXOTH)


class Runner:
    """Builds and runs the sandbox command for one grading run.

    view: the folder from ``stage.build`` (its ``mnt/`` subfolder is used for remounts; its
    ``lib/data`` appears as ``data/`` beside the child's working folder, as in the repository)."""

    def __init__(self, view: Path, limits: Limits, sandboxed: bool = True):
        self.view = Path(view)
        self.limits = limits
        self.sandboxed = sandboxed
        self.mode = "bwrap" if sandboxed else "unsandboxed"
        self.python, self.folders = interpreter()

    # ------------------------------------------------------------------ the command

    def command(self) -> list:
        """The argv that runs the child (sandboxed or not)."""
        if not self.sandboxed:
            return [sys.executable, "-I", "-B", str(self.view / "grader" / "child.py"),
                    str(self.view / "lib")]
        root = os.geteuid() == 0
        binds, remounts = [], []
        for i, folder in enumerate([*self.folders, self.view]):
            src = folder
            if root and not _reachable_by_others(folder):
                src = self.view / "mnt" / str(i)
                remounts += [str(folder), str(src)]
            dest = VIEW_MOUNT if folder == self.view else str(folder)
            binds += ["--ro-bind", str(src), dest]
        tmpfs = self.limits.tmpfs_mb * 2**20
        bw = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
              "--new-session", "--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY),
              "--hostname", "grader", "--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                bw += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                bw += ["--ro-bind", top, top]
        for f in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime", "/etc/fonts"):
            bw += ["--ro-bind-try", f, f]
        bw += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmpfs), "--tmpfs", "/tmp",
               "--dir", WORK, "--dir", "/tmp/home", *binds,
               "--symlink", f"{VIEW_MOUNT}/lib/data", "/tmp/work/data", "--chdir", WORK, "--clearenv"]
        for k, v in child_env("/tmp/home").items():
            bw += ["--setenv", k, v]
        bw += ["--", self.python, "-I", "-B", f"{VIEW_MOUNT}/grader/child.py", f"{VIEW_MOUNT}/lib"]
        if not root:
            return bw
        drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
        if not remounts:
            return drop + bw
        for src in remounts[1::2]:
            Path(src).mkdir(parents=True, exist_ok=True)
        script = ('while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 125; shift 2; done; '
                  'shift; exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
                "sh", *remounts, "--", *drop, *bw]

    # ------------------------------------------------------------------ running

    def run(self, task: bytes, timeout: float) -> RunResult:
        """Run one child with ``task`` (a JSON line) on its stdin; never raises on what the
        child does."""
        # (inside the view: removed with it, also by the next run after a crash)
        with tempfile.TemporaryDirectory(prefix="plain-", dir=self.view) as tmp:
            cwd, env = None, None
            if not self.sandboxed:
                home = Path(tmp) / "home"
                cwd = Path(tmp) / "work" / "notebooks"
                home.mkdir()
                cwd.mkdir(parents=True)
                if (self.view / "lib" / "data").is_dir():
                    (Path(tmp) / "work" / "data").symlink_to(self.view / "lib" / "data")
                env = child_env(str(home))
            return self._run(self.command(), task, timeout, cwd, env)

    def _run(self, argv, task, timeout, cwd, env) -> RunResult:
        t0 = time.monotonic()
        with _live_lock:
            if _stopping.is_set():
                raise RuntimeError("grading was interrupted")
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=cwd,
                                    env=env if env is not None else {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                                    start_new_session=True)
            _live.add(proc)
        writer = threading.Thread(target=_feed, args=(proc.stdin, task), daemon=True)
        writer.start()
        cap = self.limits.channel_mb * 2**20
        out, err = bytearray(), bytearray()
        arrivals = []  # (bytes of out read so far, seconds): when each line arrived
        timed_out = overflow = False
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        deadline = t0 + timeout
        try:
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                for key, _ in sel.select(min(left, 1.0)):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    key.data.extend(chunk)
                    if key.data is out:
                        arrivals.append((len(out), time.monotonic() - t0))
                    if key.data is err and len(err) > 8192:
                        del err[:-4096]
                    if len(out) > cap:
                        overflow = True
                        break
                if overflow:
                    break
        finally:
            sel.close()
            if not (timed_out or overflow):
                try:  # let bwrap reap the child and exit on its own (CPU time accounted)
                    proc.wait(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    pass
            _kill(proc)
            with _live_lock:
                _live.discard(proc)
            for f in (proc.stdout, proc.stderr):
                f.close()
        del out[out.rfind(b"\n") + 1:]  # an unfinished last line is never read
        messages, received = [], []
        end, k = 0, 0
        for line in out.split(b"\n"):
            end += len(line) + 1
            while k < len(arrivals) - 1 and arrivals[k][0] < end:
                k += 1
            if not line.strip():
                continue
            try:
                m = json.loads(line)
            except (ValueError, RecursionError):
                continue  # a line the student's code may have mangled
            if isinstance(m, dict):
                messages.append(m)
                received.append(arrivals[k][1])
        code = proc.returncode
        if self.sandboxed and 128 < code < 128 + 65:
            code = 128 - code  # bwrap exits with 128 + N when its child dies of signal N
        return RunResult(code, timed_out, overflow, time.monotonic() - t0, messages,
                         bytes(err[-4000:]).decode("utf-8", "replace"), received)


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _kill(proc: subprocess.Popen) -> None:
    # Also after a normal exit: bwrap's PID namespace ends with it, which kills anything the
    # student's code left behind; killing the group covers the unsandboxed mode.
    for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
        try:
            kill()
        except (ProcessLookupError, PermissionError, OSError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def allow_runs() -> None:
    """A new grading run starts: lift the stop an earlier, interrupted one left."""
    _stopping.clear()


def kill_all() -> None:
    """Kill every sandbox still running and start no more (the grader was interrupted)."""
    with _live_lock:
        _stopping.set()
        procs = list(_live)
    for p in procs:
        _kill(p)


def unavailable(runner: Runner) -> str:
    """Why the sandbox cannot run here ("" when it can): runs ``true`` in it once."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    for tool in ("bwrap", "setpriv", "unshare") if os.geteuid() == 0 else ("bwrap",):
        if shutil.which(tool) is None:
            return (f"{tool} is not installed (scripts/install-sandbox.sh installs bubblewrap: "
                    f"apt-get install bubblewrap)")
    argv = runner.command()
    at = len(argv) - 1 - argv[::-1].index("--")
    probe = argv[: at + 1] + [runner.python, "-I", "-c", "import numpy"]
    try:
        r = subprocess.run(probe, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    except (OSError, subprocess.SubprocessError) as e:
        return f"bubblewrap could not start: {e}"
    if r.returncode != 0:
        return "bubblewrap could not start the interpreter: " + r.stderr.decode("utf-8", "replace")[-400:]
    return ""
