"""How the course starts JupyterLab: one command line for `scripts/lab.sh` and the browser test.

Run as a script (what `python course.py lab` does) it replaces itself with JupyterLab serving
the student labs in `notebooks/`; extra arguments are passed on to `jupyter lab`, and since
later options win, they can override the defaults (`--port=9000`, `--ip=0.0.0.0`).

Imported (by `tests/test_browser.py`), `lab_command(...)` and `lab_env(...)` give the same
command line and environment for another root folder, port and token.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
STUDENT_LABS = REPO_ROOT / "notebooks"
DEFAULT_IP = "127.0.0.1"


def lab_command(
    root_dir: os.PathLike | str,
    *,
    ip: str = DEFAULT_IP,
    port: int | None = None,
    token: str | None = None,
    extra: Iterable[str] = (),
    python: str | None = None,
) -> list[str]:
    """The `jupyter lab` command line (argv list) that serves `root_dir`.

    root_dir: the folder shown in JupyterLab's file browser.
    ip: address to listen on; loopback by default, so a lab is not exposed to the network.
    port: TCP port, or None for JupyterLab's default (8888, or the next free one).
    token: None lets JupyterLab make a random token (printed with the URL); "" disables the
        token, which is only sensible for a test server bound to 127.0.0.1.
    extra: further `jupyter lab` arguments, appended last so they override the defaults.
    python: interpreter to run JupyterLab with; defaults to the one running this code.
    """
    if not isinstance(root_dir, (str, os.PathLike)):
        raise TypeError(f"root_dir: expected a path (str or os.PathLike), got {type(root_dir).__name__}")
    if not isinstance(ip, str) or not ip:
        raise ValueError(f"ip: expected a non-empty address string such as '127.0.0.1', got {ip!r}")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise ValueError(f"port: expected an int in 1..65535 or None, got {port!r}")
    if token is not None and not isinstance(token, str):
        raise TypeError(f"token: expected a str or None, got {type(token).__name__}")
    if isinstance(extra, str):
        raise TypeError("extra: expected a list of arguments, got a single str (wrap it in a list)")

    argv = [
        python or sys.executable, "-m", "jupyterlab",
        # Headless-friendly: never try to open a browser on the machine running the server.
        "--no-browser",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.root_dir={Path(root_dir)}",
    ]
    if port is not None:
        argv.append(f"--ServerApp.port={port}")
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers and CI often run as root, which Jupyter refuses without this flag.
        argv.append("--allow-root")
    argv.extend(extra)
    return argv


def lab_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment JupyterLab (and so every kernel it starts) runs with.

    Nothing is added for `utils`: the setup installs it into .venv, so the kernels import it
    from any folder, as in any other front end that uses .venv.
    """
    env = dict(os.environ if base is None else base)
    # Use the standard per-user folders now, and silence Jupyter's warning about the move.
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    return env


def main(argv: list[str]) -> None:
    if not STUDENT_LABS.is_dir():
        sys.exit(f"[lab] {STUDENT_LABS.relative_to(REPO_ROOT)}/ does not exist yet: there are no student labs to open.")
    cmd = lab_command(STUDENT_LABS, extra=argv)
    print(f"[lab] starting JupyterLab on {STUDENT_LABS.relative_to(REPO_ROOT)}/; "
          "open the http://127.0.0.1:...?token=... URL printed below. Stop with Ctrl+C.", flush=True)
    if os.name == "nt":  # no exec on Windows: wait for JupyterLab and pass its exit code on
        try:
            sys.exit(subprocess.call(cmd, env=lab_env()))
        except KeyboardInterrupt:
            sys.exit(130)
    os.execvpe(cmd[0], cmd, lab_env())


if __name__ == "__main__":
    main(sys.argv[1:])
