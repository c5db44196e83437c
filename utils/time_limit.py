"""Run a function with a time limit, without signals, so it works inside a Jupyter kernel.

A notebook kernel may run cells outside the main thread, and a SIGALRM left armed by an
interrupted cell would fire in a later one, so the check uses a worker thread instead:

    result = run_with_time_limit(fn, seconds=10.0)     # fn() -> result, or raises TimeLimit

What happens to a function that does not finish in time: the worker thread is asked to stop
by raising ``StopWork`` inside it (``PyThreadState_SetAsyncExc``). Python delivers that
exception between two bytecode instructions, so a pure-Python loop (``while True: ...``)
stops within a few milliseconds. A single call into C that never returns (a NumPy operation
on a huge array, ``time.sleep(1e9)``) cannot be interrupted: the thread keeps running in the
background (it is a daemon thread, so it never keeps the interpreter from exiting) and stops
at the first bytecode after that call returns. The caller gets ``TimeLimit`` either way.

A KeyboardInterrupt (the notebook's stop button) while waiting stops the worker the same way
and is re-raised, so the caller decides what an interrupted check means.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Callable

__all__ = ["TimeLimit", "StopWork", "run_with_time_limit"]


class TimeLimit(Exception):
    """The function did not return within the limit. ``seconds``: the limit."""

    def __init__(self, seconds: float, stopped: bool):
        super().__init__(f"took longer than {seconds:g} s")
        self.seconds = seconds
        self.stopped = stopped      # False: the worker is still inside a C call


class StopWork(BaseException):
    """Raised inside an overdue worker thread to stop it (a BaseException, so a student's
    ``except Exception`` inside the loop cannot swallow it)."""


def _stop(thread: threading.Thread, grace: float = 0.5) -> bool:
    """Ask `thread` to raise StopWork; True when it has finished within `grace` seconds."""
    if thread.ident is None or not thread.is_alive():
        return True
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                               ctypes.py_object(StopWork))
    thread.join(grace)
    return not thread.is_alive()


def run_with_time_limit(fn: Callable[[], Any], seconds: float) -> Any:
    """fn() run in a daemon thread; its result, or its exception re-raised here.

    seconds: the limit (> 0). Raises TimeLimit when fn has not returned in time (see the
    module docstring for what happens to the thread). Context that is per thread, such as
    ``np.errstate``, must be set inside fn.
    """
    if not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"run_with_time_limit: seconds must be a number > 0, got {seconds!r}")
    box: dict = {}

    def work():
        try:
            box["result"] = fn()
        except StopWork:
            box["stopped"] = True
        except BaseException as e:  # handed to the caller, re-raised there
            box["error"] = e

    thread = threading.Thread(target=work, name="check-worker", daemon=True)
    thread.start()
    try:
        thread.join(seconds)
    except KeyboardInterrupt:
        _stop(thread)
        raise
    if thread.is_alive():
        raise TimeLimit(seconds, stopped=_stop(thread))
    if "error" in box:
        raise box["error"]
    return box.get("result")
