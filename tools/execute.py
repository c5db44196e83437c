"""Execute solution notebooks in place, the same way on every machine.

    python tools/execute.py                       # every solutions/NN_*.ipynb
    python tools/execute.py solutions/02_rnn.ipynb

Each notebook runs in a fresh kernel with nbclient, with one BLAS/OpenMP thread
(OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS = 1; torch reads OMP_NUM_THREADS),
PYTHONHASHSEED=0 and the notebook's folder as working directory; the kernel imports ``utils``
as a student's does (the course package installed in .venv, or found by the lab's first cell). Widget state and per-cell timing metadata are not
stored, so the stored outputs depend only on the code. A notebook that raises, or stores an
error output, makes the command fail. At the end a table gives each notebook's execution
time and the series total: wall-clock seconds, and the kernel's CPU seconds (a fairer figure
on a busy machine).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
try:
    import resource  # the kernel's CPU time; not on Windows
except ImportError:
    resource = None
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent

PINNED_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    # Plain-text progress bars and no colour codes: outputs must not depend on the terminal.
    "TERM": "dumb",
    # Jupyter's standard per-user folders, as scripts/test.sh sets for nbval.
    "JUPYTER_PLATFORM_DIRS": "1",
}


def kernel_env(threads: int = 1) -> dict:
    """The environment for the kernel: this one, with pinned threads and seeds."""
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    env = dict(os.environ)
    # An inherited MPLBACKEND=Agg would store "<Figure size ...>" instead of the inline image;
    # without it the kernel uses its inline backend, as under nbval.
    env.pop("MPLBACKEND", None)
    env.update(PINNED_ENV)
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS"):
        env[key] = str(threads)
    return env


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean(nb) -> None:
    """Remove what varies between runs without being output: widget state, cell timings.

    A widget output (a tqdm.auto progress bar) keeps its text/plain fallback; its random
    model_id, which points at widget state that is not stored, is replaced by one derived
    from the cell id so that re-executing an unchanged notebook gives the same file.
    """
    nb.metadata.pop("widgets", None)
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        cell.metadata.pop("widgets", None)
        for k, out in enumerate(cell.get("outputs", [])):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if isinstance(view, dict) and "model_id" in view:
                seed = f"{cell.get('id', index)}:{k}".encode()
                view["model_id"] = hashlib.sha1(seed).hexdigest()[:32]


def error_outputs(nb) -> list:
    """[(cell index, 'ename: evalue')] for every stored error output."""
    errors = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append((index, f"{out.get('ename')}: {out.get('evalue')}"))
    return errors


def current_env_kernel_manager() -> KernelManager:
    """A kernel manager for a kernel of this very interpreter (like nbval --nbval-current-env).

    Not the "python3" kernelspec, which a user-level install may point at another Python.
    """
    km = KernelManager(kernel_name="python3")
    km._kernel_spec = KernelSpec(  # read by km.kernel_spec; set so no kernelspec is looked up
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name="Python 3 (this environment)", language="python")
    return km


def ignore_widget_comms(client: NotebookClient) -> None:
    """Make nbclient ignore widget comms, so an ipywidgets.interact cell can never stall.

    nbclient's Output-widget handler answers the kernel's widget messages by sending comm
    messages on the shell socket, from the task that reads IOPub, while another task is
    waiting on that same socket for the cell's execute_reply. With zmq.asyncio a send can
    consume the edge-triggered wake-up of the pending receive (pyzmq issue 1203, nbclient
    issue 312): the reply is lost and the cell waits for its whole timeout while the kernel is
    idle. Without the handler nothing is sent, and what an Output widget displays while the
    cell runs is stored as the cell's own output (which is what a static notebook shows).
    """
    client.comm_open_handlers = {}


def _children_cpu() -> float:
    if resource is None:
        return float("nan")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute(path: Path, timeout: int = 600, threads: int = 1, write: bool = True,
            timings: dict | None = None):
    """Execute one notebook in a fresh kernel; return (executed notebook, wall-clock seconds).

    timings: a dict that receives "wall" and "cpu", the kernel's CPU seconds (user + system),
    which, unlike wall-clock time, does not grow when other processes share the cores.

    Raises nbclient's CellExecutionError when a cell raises, RuntimeError when an error
    output is stored anyway. The file is rewritten only when ``write`` and no error.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    km = current_env_kernel_manager()
    client = NotebookClient(
        nb, km=km, timeout=timeout, allow_errors=False,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        # store_widget_state must stay True: with False, nbclient 0.11 crashes on an Output
        # widget (ipywidgets.interact) with a KeyError. The state is dropped by clean() below.
        record_timing=False, store_widget_state=True,
    )
    ignore_widget_comms(client)
    start, cpu_start = time.perf_counter(), _children_cpu()
    try:
        # nbclient passes these on to the kernel manager's start_kernel.
        client.execute(env=kernel_env(threads), cwd=str(path.parent.resolve()))
    finally:
        if km.has_kernel:  # nbclient leaves a kernel it did not create running
            km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - start
    if timings is not None:
        # the kernel process has been reaped by shutdown_kernel, so it counts as a child
        timings.update(wall=seconds, cpu=_children_cpu() - cpu_start)
    clean(nb)
    errors = error_outputs(nb)
    if errors:
        raise RuntimeError(f"{path.name}: error outputs in cells {errors}")
    if write:
        nbformat.write(nb, path)
    return nb, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to execute (default: every solutions/NN_*.ipynb)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP threads in the kernel (default 1, as stored outputs use)")
    parser.add_argument("--no-write", action="store_true", help="execute but do not save")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print("error: no notebooks to execute (solutions/ has no NN_*.ipynb)", file=sys.stderr)
        return 2
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
        return 2

    rows, failed = [], []
    for path in paths:
        print(f"executing {_rel(path)} ...", flush=True)
        timings = {}
        try:
            execute(path, timeout=args.timeout, threads=args.threads, write=not args.no_write,
                    timings=timings)
        except Exception as e:  # any failure: report it, go on with the next notebook
            failed.append(path)
            print(f"FAILED {_rel(path)}:\n{_short(e)}", file=sys.stderr, flush=True)
            rows.append((_rel(path), None, None))
            continue
        rows.append((_rel(path), timings["wall"], timings["cpu"]))

    width = max(len("notebook"), *(len(r[0]) for r in rows))
    rule = f"{'-' * width}  {'-' * 8}  {'-' * 8}"
    print()
    print(f"{'notebook':<{width}}  {'seconds':>8}  {'cpu s':>8}")
    print(rule)
    for name, wall, cpu in rows:
        if wall is None:
            print(f"{name:<{width}}  {'FAILED':>8}")
        else:
            print(f"{name:<{width}}  {wall:8.1f}  {cpu:8.1f}")
    print(rule)
    total_wall = sum(r[1] for r in rows if r[1] is not None)
    total_cpu = sum(r[2] for r in rows if r[2] is not None)
    print(f"{'total':<{width}}  {total_wall:8.1f}  {total_cpu:8.1f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(seconds: wall clock; cpu s: the kernel's CPU time; threads={args.threads}, "
          f"{os.cpu_count()} cores, load average {load:.1f} at the end)")
    if failed:
        print(f"error: {len(failed)} notebook(s) failed: {', '.join(_rel(p) for p in failed)}",
              file=sys.stderr)
        return 1
    return 0


def _short(e: Exception, lines: int = 30) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()  # no colour codes
    return "\n".join(text[-lines:])


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
