"""A pre-loaded parent that forks one fresh child per submission (faster start-up).

    python -I tools/grading/zygote.py SPEC_JSON
    (SPEC: {"repo", "extra_paths", "lab_modules", "exercise_modules", "preload"})

Importing NumPy, matplotlib, the lab's ``utils`` modules and (for labs that use it) torch
costs each child one to two CPU seconds, most of a lab 02 grading run. The zygote imports
them once and then, for every request, forks: the child is a new process (own session, own
working folder, own limits) that starts with those modules already imported and runs
``child.main``. The zygote itself never runs student code, so every child starts from the
same clean state.

Protocol (one zygote serves one grading thread at a time), one JSON line each way:
  parent -> zygote: {"config": path, "cwd": path, "stdout": path, "stderr": path}
  zygote -> parent: {"pid": pid}   then, when the child has ended: {"status": returncode}
(returncode as ``subprocess``: negative for a signal). The parent kills the child's process
group at its wall-clock limit, exactly as for a plain subprocess. The zygote exits when its
stdin closes.

Only safe because the zygote is single-threaded when it forks (one BLAS thread, nothing
started in the background by the preloaded modules).
"""

from __future__ import annotations

import importlib
import json
import os
import sys


def _child(request) -> None:
    """In the forked child: detach, redirect, run child.main; never returns."""
    code = 1
    try:
        os.setsid()
        fd_in = os.open(os.devnull, os.O_RDONLY)
        fd_out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        fd_err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((fd_in, 0), (fd_out, 1), (fd_err, 2)):
            os.dup2(fd, target)
            os.close(fd)
        workdir = os.path.dirname(os.path.abspath(request["config"]))
        os.environ["HOME"] = workdir
        os.chdir(request["cwd"])
        import child

        child.main(request["config"])  # ends with os._exit(0)
        code = 0
    except BaseException:  # report, then leave without ever returning to the zygote loop
        try:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(code)


def main(argv) -> None:
    spec = json.loads(argv[0])
    here = os.path.dirname(os.path.abspath(__file__))
    for p in reversed([spec["repo"], *spec.get("extra_paths", []), here]):
        if p not in sys.path:
            sys.path.insert(0, p)
    import labs

    if spec.get("lab_modules") is not None:
        labs.load_only(spec["lab_modules"])
    for module in [*spec.get("exercise_modules", []), *spec.get("preload", [])]:
        try:
            importlib.import_module(module)
        except Exception:  # a module that fails here fails again, visibly, in the child
            pass
    import child  # noqa: F401  (imported once, here)

    # Forking is only safe from a single-threaded process: refuse (the parent then starts
    # plain subprocesses) if a preloaded module started a thread.
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    out = sys.stdout
    out.write(json.dumps({"ready": threads == 1, "threads": threads}) + "\n")
    out.flush()
    if threads != 1:
        return
    for line in iter(sys.stdin.readline, ""):
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            break
        pid = os.fork()
        if pid == 0:
            _child(request)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        out.write(json.dumps({"status": code}) + "\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
