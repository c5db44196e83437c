"""Other code that computes an exercise, switched off while the exercise is checked or graded.

The grader's sandbox has no reference implementations (tools/grading/stage.py), but some of
the course's code computes an exercise too and must keep working for the lab's other cells:
a model's method (``Decoder.step``, exercise 7.4), a module (``AdditiveAttention.forward``,
7.3), the private softmax of the attention modules (7.1 and 7.2). An exercise lists them in
``Exercise.twins``. While the student's function runs on the exercise's cases (the
notebook's ``check``, nbgrader's hidden tests and the grader's sandbox:
``tools/grading/child.py``), each twin's code object is swapped for one that raises
``ReferenceUnavailableError``, as the sandbox's stubs do; so are the functions of the
exercise's catalogue of known mistakes, which the check runs only afterwards, to choose a
hint. The function object stays the same, so every way of reaching it fails alike:
``type(dec).step(dec, ...)``, an alias, ``getattr`` with a built name, ``importlib``, a
reference saved earlier, a thread. The message starts with "the reference NAME", which the
grader flags as ``calls-reference:NAME`` (and scores 0).
"""

from __future__ import annotations

import threading
import types
from contextlib import contextmanager

__all__ = ["ERROR_CLASS", "check_twin", "disabled", "message", "stub_code", "switched_off"]

ERROR_CLASS = "ReferenceUnavailableError"


def message(name: str, twin) -> str:
    return (f"the reference {name} is not available here: {twin.__qualname__} computes it, so "
            f"it is switched off while {name} is checked and graded; write {name} with your "
            f"own code")


def check_twin(name: str, twin) -> None:
    """TypeError unless ``twin`` can have its code swapped: a plain Python function (a
    method is its class's function, ``Decoder.step``) without closure variables."""
    if not isinstance(twin, types.FunctionType):
        raise TypeError(f"Exercise {name}: twins must be plain Python functions (a method as "
                        f"Class.method), got {type(twin).__name__}")
    if twin.__code__.co_freevars:
        raise TypeError(f"Exercise {name}: the twin {twin.__qualname__} uses closure variables "
                        f"{twin.__code__.co_freevars} (e.g. super()): its code cannot be swapped")


def stub_code(name: str, twin) -> types.CodeType:
    """The code object that replaces ``twin``'s: self-contained (no global), raising
    ReferenceUnavailableError with ``message``."""
    source = ("def stub(*args, **kwargs):\n"
              f"    raise type({ERROR_CLASS!r}, (RuntimeError,), {{}})({message(name, twin)!r})\n")
    namespace: dict = {}
    exec(compile(source, f"<{twin.__qualname__}, off while {name} is checked>", "exec"), namespace)
    return namespace["stub"].__code__


def switched_off(exercise, fn=None) -> list:
    """The functions ``disabled`` switches off: the exercise's twins, and its catalogue of
    known mistakes (each mistake is the reference with one thing changed, and the helpers
    of its module that a mistake calls, e.g. ``tbptt_variant``, are the reference itself with their
    default switches), unless ``fn``, the function being checked, is one of the mistakes
    (the tests check the catalogue itself). A mistake written as a class is left alone (the
    grader's sandbox has no working catalogue at all: tools/grading/stage.py)."""
    found = list(exercise.twins)
    if any(fn is bug.fn for bug in exercise.bugs):
        return found
    todo = [bug.fn for bug in exercise.bugs if isinstance(bug.fn, types.FunctionType)]
    while todo:
        fn = todo.pop()
        if fn in found or fn.__code__.co_freevars:
            continue
        found.append(fn)
        for name in fn.__code__.co_names:
            helper = fn.__globals__.get(name)
            if isinstance(helper, types.FunctionType) and helper.__module__ == fn.__module__:
                todo.append(helper)
    return found


# twin -> [its own code, number of runs that have it switched off]
_OFF: dict = {}
_LOCK = threading.Lock()


@contextmanager
def disabled(exercise, checked=None):
    """Switch off the exercise's twins and catalogue (``switched_off``; checked: the
    function about to run) inside the block (nested and concurrent blocks are counted: a
    function comes back when the last block that switched it off ends)."""
    off = [(fn, stub_code(exercise.name, fn)) for fn in switched_off(exercise, checked)]
    with _LOCK:
        for fn, code in off:
            entry = _OFF.setdefault(fn, [fn.__code__, 0])
            entry[1] += 1
            fn.__code__ = code
    try:
        yield
    finally:
        with _LOCK:
            for fn, _ in off:
                entry = _OFF[fn]
                entry[1] -= 1
                if entry[1] == 0:
                    fn.__code__ = entry[0]
                    del _OFF[fn]
