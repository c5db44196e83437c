"""The program that runs ONE student's notebook, inside its sandbox.

    python -I -B child.py LIB_FOLDER < task.json      (started by ``sandbox.Runner``)

Everything here runs in the student's process, so nothing here decides a score, and
nothing it writes is trusted: it runs the student's cells and sends raw outputs; the parent
(``scoring``) computes the reference outputs itself, checks every answer against their
shapes and dtypes and compares. Steps:

1. Read the task from stdin (one JSON object: cells, exercise names, limits, the hidden
   inputs, and for exercises that build on others the reference results they need), then
   set the resource limits (address space, CPU seconds, file size, open files, processes)
   before NumPy is imported, so the interpreter itself runs under them.
2. Keep the channel to the parent (the original stdout) on a private descriptor and send
   the student's own prints to /dev/null.
3. Import ``utils.checks`` and ``utils.replay`` from LIB_FOLDER (a copy without the graded
   references: calling one raises ``ReferenceUnavailableError``) and the extra exercise
   modules, before any student code runs. ``check`` is replaced by one that compares with
   the reference outputs of the check's own fixed cases, sent by the parent (they are
   public: the student's notebook prints them), and returns the student's function or the
   stub, as the notebook's ``check`` returns the reference.
4. Execute the cells one by one in one namespace (``__name__ == "__main__"``) with a per-cell
   alarm. A cell that raises (syntax error, MemoryError, SystemExit, timeout...) is reported
   and the next cell runs, like "run all" with errors allowed.
5. Right after the last cell that defines an exercise, call the function the student
   defined (not what ``check`` returned) on every case with ``utils.checks.run_cases`` and
   send the outputs (so an exercise already graded survives a later crash, loop or
   ``os._exit``). An exercise that builds on others (``uses``) is run twice: with the
   student's own functions, and with the reference results the parent sent (replayed in
   call order by ``utils.replay.replayer``); the parent keeps the first when the student's
   versions passed, as the notebook's check cells do.
6. Send ``{"event": "done"}``.

Messages, one JSON object a line: {"event": "start"|"end", "cell", "error", "seconds"},
{"event": "grading", "exercise"}, {"event": "result", "exercise", "defined", "timed_out",
"variants": {"own": [entry per case], "reference": [...]}} with an entry
{"outputs": {name: encoded array}} or {"error": CaseError dict}, and {"event": "done"}.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time


def _set_limits(cfg):
    def limit(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            # e.g. macOS does not support RLIMIT_AS: the wall-clock limits still hold
            print(f"grader: could not set resource limit {which}", file=sys.stderr)

    mb = int(cfg["memory_mb"])
    if mb > 0:
        limit(resource.RLIMIT_AS, mb * 2**20)
    cpu = int(cfg["cpu_seconds"])
    if cpu > 0:
        # SIGXCPU at the soft limit, SIGKILL at the hard one
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
        except (ValueError, OSError):
            print("grader: could not set the CPU limit", file=sys.stderr)
    fs = int(cfg["file_mb"])
    if fs > 0:
        limit(resource.RLIMIT_FSIZE, fs * 2**20)
    limit(resource.RLIMIT_NOFILE, int(cfg["open_files"]))
    limit(resource.RLIMIT_NPROC, int(cfg["processes"]))
    limit(resource.RLIMIT_CORE, 0)


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


def main(lib):
    task = json.loads(sys.stdin.buffer.read())
    _set_limits(task["limits"])
    # The channel: the original stdout, on a private descriptor; prints go to /dev/null.
    chan = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    here = os.path.dirname(os.path.abspath(__file__))
    fonts = os.path.join(os.path.dirname(here), "mpl")
    config = os.environ.get("MPLCONFIGDIR")
    if config and os.path.isdir(fonts):  # matplotlib's font list, built once per run
        import shutil
        os.makedirs(config, exist_ok=True)
        for name in os.listdir(fonts):
            shutil.copyfile(os.path.join(fonts, name), os.path.join(config, name))
    for p in (here, lib):
        if p not in sys.path:
            sys.path.insert(0, p)

    def note(**event):
        chan.write(json.dumps(event) + "\n")
        chan.flush()

    import builtins
    import importlib
    import linecache

    import numpy  # noqa: F401  (imported before the student's code, under the limits)

    import cases_io
    import labs
    if task.get("lab_modules") is not None:
        # only this lab's exercise modules: the others' imports (torch...) are not needed
        labs.load_only(task["lab_modules"])
    from utils import checks
    from utils.replay import replayer  # bound now, before any student code runs
    for module in task.get("exercise_modules", []):
        importlib.import_module(module)
    labs.complete_uses()
    names = list(task["exercises"])
    exercises = {n: checks.get_exercise(n) for n in names}
    stubs = {n: ex.reference for n, ex in exercises.items()}  # stubs in this view
    for ex in list(exercises.values()):
        for u in ex.uses:
            stubs.setdefault(u, checks.get_exercise(u).reference)
    run_cases = checks.run_cases
    CaseError = checks.CaseError
    # Each exercise's twins (utils/twins.py) and the code that replaces theirs while the
    # exercise is graded, taken now, before any student code runs.
    from utils import twins
    twin_codes = {n: [(fn, twins.stub_code(n, fn)) for fn in ex.twins]
                  for n, ex in exercises.items()}

    cases = {n: [checks.Case(tuple(cases_io.decode(a)), cases_io.decode(k), label)
                 for a, k, label in items] for n, items in task["cases"].items()}
    replay = {n: [[(u, cases_io.decode(v)) for u, v in calls] for calls in per_case]
              for n, per_case in task.get("replay", {}).items()}
    check_want = {n: [{k: cases_io.decode(v) for k, v in w.items()} for w in per_case]
                  for n, per_case in task["check"]["want"].items()}
    check_replay = {n: [[(u, cases_io.decode(v)) for u, v in calls] for calls in per_case]
                    for n, per_case in task["check"]["replay"].items()}
    del task["cases"], task["check"]
    original_check = checks.check

    def grading_check(name, fn, uses=None, **kwargs):
        """``check`` without the reference: the reference outputs of the check's own (public,
        fixed-seed) cases come from the parent, and so do the results of the references of
        the exercises it uses, standing in for a stub the notebook passes in ``uses`` (its own
        version failed). Returns ``fn`` when it passes, else the exercise's stub, as the
        notebook's check returns the reference."""
        if name not in check_want:
            return original_check(name, fn, uses, **kwargs)
        ex = checks.get_exercise(name)
        if not callable(fn):
            raise TypeError(f"check({name!r}, fn): fn must be the function you wrote, "
                            f"got {type(fn).__name__}")
        own = checks.make_cases(ex)
        got = []
        for i, case in enumerate(own):
            given = dict(uses or {})
            stubbed = [u for u in ex.uses
                       if given.get(u, stubs.get(u)) is checks.get_exercise(u).reference]
            if stubbed and name in check_replay:
                make = replayer(check_replay[name][i])
                given.update({u: make(u) for u in stubbed})
            with twins.disabled(ex, fn):
                got.append(run_cases(ex, fn, [case], given)[0])
        outcome = checks.evaluate(ex, own, got, check_want[name])
        print(checks.format_verdict(ex, outcome, fallback=True))
        return fn if outcome.passed else ex.reference

    checks.check = grading_check

    signal.signal(signal.SIGALRM, _on_alarm)
    ns = {"__name__": "__main__", "__builtins__": builtins}
    ns["get_ipython"] = lambda: _IPythonStub(ns)
    snapshot = {}  # exercise name -> the function the student defined
    graded = set()
    exercise_timeout = float(task["limits"]["exercise_timeout"])

    def run_variant(ex, fn, variant, budget_left):
        """(entries, timed_out) for one variant ("own" or "reference")."""
        entries, timed_out = [], False
        signal.setitimer(signal.ITIMER_REAL, max(budget_left, 0.01))
        try:
            for i, case in enumerate(cases[ex.name]):
                if variant == "own":
                    uses = {u: snapshot.get(u, stubs.get(u)) for u in ex.uses}
                else:
                    make = replayer(replay[ex.name][i])
                    uses = {u: make(u) for u in ex.uses}
                entries.append(run_cases(ex, fn, [case], uses)[0])
        except CellTimeout:
            timed_out = True
        except MemoryError:
            entries.append(CaseError("exception", "MemoryError", "ran out of memory"))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        while len(entries) < len(cases[ex.name]):
            entries.append(CaseError("exception", "TimeoutError" if timed_out else "MemoryError",
                                     f"took longer than {exercise_timeout:g} s" if timed_out
                                     else "ran out of memory"))
        return entries, timed_out

    def grade(name):
        graded.add(name)
        note(event="grading", exercise=name)
        ex = exercises[name]
        fn = snapshot.get(name)
        out = {"event": "result", "exercise": name, "defined": fn is not None and callable(fn),
               "timed_out": False, "variants": {}}
        results = {}
        if out["defined"]:
            variants = ["own"] + (["reference"] if ex.uses and name in replay else [])
            start = time.monotonic()
            own_code = [(twin, twin.__code__) for twin, _ in twin_codes[name]]
            for twin, code in twin_codes[name]:
                twin.__code__ = code  # the twins raise while the student's function runs
            try:
                for variant in variants:
                    left = exercise_timeout - (time.monotonic() - start)
                    entries, timed_out = run_variant(ex, fn, variant, left)
                    out["timed_out"] |= timed_out
                    results[variant] = entries
            finally:
                for twin, code in own_code:
                    twin.__code__ = code
            for variant, entries in results.items():
                encoded = []
                for e in entries:
                    if isinstance(e, CaseError):
                        encoded.append({"error": e.to_dict()})
                        continue
                    try:
                        encoded.append({"outputs": {k: cases_io.encode(v)["array"]
                                                    for k, v in e.items()}})
                    except (TypeError, KeyError) as err:
                        encoded.append({"error": CaseError("bad_return", message=str(err)).to_dict()})
                out["variants"][variant] = encoded
        note(**out)

    cell_timeout = float(task["limits"]["cell_timeout"])
    for cell in task["cells"]:
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
            if value is stubs[name] and "check(" in cell["source"]:
                continue  # the check cell's fallback to the reference, not the student's code
            snapshot[name] = value
        for name in cell.get("grade_after", []):
            if name in exercises and name not in graded:
                grade(name)
    for name in names:
        if name not in graded:
            grade(name)
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    note(event="done", cpu=round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 3))
    chan.close()
    # os._exit: skip interpreter shutdown, where student objects' __del__ / atexit hooks run
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
