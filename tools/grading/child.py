"""The program that runs ONE student's code, in its own sandboxed process.

    python -I tools/grading/child.py WORKDIR/config.json

Everything here runs in the student's process, so nothing here decides a score: it runs the
student's cells and records raw outputs; the parent (``scoring``) computes the reference
outputs and compares. Steps:

1. Set the resource limits first (address space, CPU seconds, file size), before NumPy
   is imported, so the interpreter itself runs under them.
2. Import ``utils.checks`` (which registers the labs' exercises) and the extra exercise
   modules, and keep the reference functions and their code locations *before* any student
   code runs (a student who patches ``utils.layers`` cannot change them).
3. Load the hidden inputs (``inputs.json``/``inputs.npz``, written by the parent) into memory
   and delete the files.
4. Execute the cells one by one in one namespace (``__name__ == "__main__"``) with a per-cell
   alarm. A cell that raises (syntax error, MemoryError, SystemExit, timeout...) is logged to
   ``cells.jsonl`` and the next cell runs, like "run all" with errors allowed.
5. Right after the last cell that defines an exercise, call the function the student
   defined (not what ``check`` returned) on every case with ``utils.checks.run_cases`` and
   save the outputs to ``out_<name>.json/.npz``. While the student's function runs, a
   profile hook records whether the exercise's own reference code is entered (flagged by the
   parent). An exercise that builds on others (``uses``) is run twice: with the student's own
   functions and with the references; the parent keeps the first when the student's versions
   passed, as the notebook's check cells do.
6. Write ``done.json``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time


def _set_limits(cfg):
    def limit(which, soft, hard):
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            # e.g. macOS does not support RLIMIT_AS: the wall-clock limits still hold
            print(f"grader: could not set resource limit {which}", file=sys.stderr)

    mb = int(cfg["memory_mb"])
    if mb > 0:
        limit(resource.RLIMIT_AS, mb * 2**20, mb * 2**20)
    cpu = int(cfg["cpu_seconds"])
    if cpu > 0:
        # SIGXCPU at the soft limit, SIGKILL at the hard one
        limit(resource.RLIMIT_CPU, cpu, cpu + 2)
    fs = int(cfg["file_mb"])
    if fs > 0:
        limit(resource.RLIMIT_FSIZE, fs * 2**20, fs * 2**20)
    limit(resource.RLIMIT_CORE, 0, 0)


class CellTimeout(BaseException):
    """Raised by the alarm; a BaseException so ``except Exception`` in student code misses it."""


def _on_alarm(signum, frame):
    raise CellTimeout()


class _IPythonStub:
    """Enough of ``get_ipython()`` for transformed magics: line magics and shell calls are
    skipped (no shell in grading), the body of %%time / %%capture / %%timeit still runs."""

    def __init__(self, ns):
        self._ns = ns

    def run_line_magic(self, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, body):
        if name in ("time", "capture", "timeit"):
            exec(compile(body, "<cell magic>", "exec"), self._ns)

    def system(self, *args, **kwargs):
        return None

    def getoutput(self, *args, **kwargs):
        return []

    def __getattr__(self, name):
        return lambda *a, **k: None


def _transform(source):
    """IPython syntax (%magic, !shell) to plain Python, only when the cell has some."""
    if not any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:  # no IPython: drop the magic lines
        return "\n".join("pass  # " + l if l.lstrip().startswith(("%", "!")) else l
                         for l in source.splitlines())
    return TransformerManager().transform_cell(source)


def main(config_path):
    with open(config_path) as f:
        cfg = json.load(f)
    _set_limits(cfg)
    workdir = os.path.dirname(os.path.abspath(config_path))
    for p in reversed([cfg["repo"], *cfg.get("extra_paths", []), os.path.dirname(__file__)]):
        if p not in sys.path:
            sys.path.insert(0, p)

    log = open(os.path.join(workdir, "cells.jsonl"), "a", buffering=1)

    def note(**event):
        log.write(json.dumps(event) + "\n")
        log.flush()

    import builtins
    import importlib
    import linecache

    import numpy  # noqa: F401  (imported before the student's code, under the limits)

    import cases_io
    import labs
    if cfg.get("lab_modules") is not None:
        # only this lab's exercise modules: the others' imports (torch...) are not needed
        labs.load_only(cfg["lab_modules"])
    from utils import checks
    for module in cfg.get("exercise_modules", []):
        importlib.import_module(module)
    labs.complete_uses()
    names = list(cfg["exercises"])
    exercises = {n: checks.get_exercise(n) for n in names}
    refs = {n: ex.reference for n, ex in exercises.items()}
    for ex in exercises.values():
        for u in ex.uses:
            refs.setdefault(u, checks.get_exercise(u).reference)
    ref_keys = {}
    for n, r in refs.items():
        code = getattr(r, "__code__", None)
        if code is not None:
            ref_keys[n] = (code.co_filename, code.co_name, code.co_firstlineno)
    run_cases = checks.run_cases
    CaseError = checks.CaseError

    stem = os.path.join(workdir, "inputs")
    spec, arrays = cases_io.load(stem)
    cases = {}
    for n, items in spec.items():
        cases[n] = [checks.Case(tuple(cases_io.decode(a, arrays)), cases_io.decode(k, arrays), label)
                    for a, k, label in items]
    for ext in (".json", ".npz"):
        os.remove(stem + ext)
    del spec, arrays

    signal.signal(signal.SIGALRM, _on_alarm)
    ns = {"__name__": "__main__", "__builtins__": builtins}
    ns["get_ipython"] = lambda: _IPythonStub(ns)
    snapshot = {}  # exercise name -> the function the student defined
    graded = set()
    exercise_timeout = float(cfg["exercise_timeout"])

    def run_variant(ex, fn, uses, budget_left):
        """(entries, timed_out, reference_entered) for one set of `uses`."""
        key = ref_keys.get(ex.name)
        entered = [False]

        def profile(frame, event, arg):
            if event == "call" and key is not None:
                c = frame.f_code
                if (c.co_filename, c.co_name, c.co_firstlineno) == key:
                    entered[0] = True

        entries, timed_out = [], False
        signal.setitimer(signal.ITIMER_REAL, max(budget_left, 0.01))
        try:
            for case in cases[ex.name]:
                sys.setprofile(profile)
                try:
                    result = run_cases(ex, fn, [case], uses)[0]
                finally:
                    sys.setprofile(None)
                entries.append(result)
        except CellTimeout:
            timed_out = True
        except MemoryError:
            entries.append(CaseError("exception", "MemoryError", "ran out of memory"))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.setprofile(None)
        while len(entries) < len(cases[ex.name]):
            entries.append(CaseError("exception", "TimeoutError" if timed_out else "MemoryError",
                                     f"took longer than {exercise_timeout:g} s" if timed_out
                                     else "ran out of memory"))
        return entries, timed_out, entered[0]

    def grade(name):
        graded.add(name)
        note(event="grading", exercise=name)
        ex = exercises[name]
        fn = snapshot.get(name)
        out = {"defined": fn is not None, "is_reference": fn is not None and fn is refs[name],
               "reference_entered": False, "timed_out": False, "variants": {}}
        arrays = {}
        if fn is not None and callable(fn):
            variants = {"own": {u: snapshot.get(u, refs[u]) for u in ex.uses}}
            if ex.uses:
                variants["reference"] = {u: refs[u] for u in ex.uses}
            start = time.monotonic()
            for vname, uses in variants.items():
                left = exercise_timeout - (time.monotonic() - start)
                entries, timed_out, entered = run_variant(ex, fn, uses, left)
                out["timed_out"] |= timed_out
                out["reference_entered"] |= entered
                encoded = []
                for e in entries:
                    if isinstance(e, CaseError):
                        encoded.append({"error": e.to_dict()})
                    else:
                        try:
                            encoded.append({"outputs": {k: cases_io.encode(v, arrays)
                                                        for k, v in e.items()}})
                        except TypeError as err:
                            encoded.append({"error": CaseError("bad_return", message=str(err)).to_dict()})
                out["variants"][vname] = encoded
        elif fn is not None:
            out["defined"] = False
        cases_io.save(os.path.join(workdir, f"out_{name}"), out, arrays)
        note(event="graded", exercise=name, timed_out=out["timed_out"])

    cell_timeout = float(cfg["cell_timeout"])
    for cell in cfg["cells"]:
        index = cell["index"]
        filename = f"<cell {index}>"
        note(event="start", cell=index)
        t0 = time.monotonic()
        error = None
        try:
            source = _transform(cell["source"])
            # Register the source so tracebacks (CaseError.where) can quote the line.
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            code = compile(source, filename, "exec")
        except SyntaxError as e:
            error = {"type": type(e).__name__, "message": str(e.msg), "line": e.lineno}
        except Exception as e:
            error = {"type": type(e).__name__, "message": str(e)[:200], "line": None}
        if error is None:
            signal.setitimer(signal.ITIMER_REAL, cell_timeout)
            try:
                exec(code, ns)
            except CellTimeout:
                error = {"type": "Timeout", "message": f"took longer than {cell_timeout:g} s"}
            except BaseException as e:  # SystemExit, KeyboardInterrupt, MemoryError, bugs
                line = None
                tb = e.__traceback__
                while tb is not None:
                    if tb.tb_frame.f_code.co_filename == filename:
                        line = tb.tb_lineno
                    tb = tb.tb_next
                msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
                error = {"type": type(e).__name__, "message": msg, "line": line}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        note(event="end", cell=index, error=error, seconds=round(time.monotonic() - t0, 3))
        for name in names:
            value = ns.get(name)
            if value is None or value is snapshot.get(name):
                continue
            if value is refs[name] and "check(" in cell["source"]:
                continue  # the check cell's fallback to the reference, not the student's code
            snapshot[name] = value
        for name in cell.get("grade_after", []):
            if name in exercises and name not in graded:
                grade(name)
    for name in names:
        if name not in graded:
            grade(name)
    with open(os.path.join(workdir, "done.json"), "w") as f:
        json.dump({"done": True}, f)
    log.close()
    # os._exit: skip interpreter shutdown, where student objects' __del__ / atexit hooks run
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
