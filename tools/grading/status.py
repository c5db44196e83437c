"""The status and cell problems of one run, from the child's messages (untrusted).

``run_status`` turns the sandbox's result (exit code, timeout, overflow) and the cell events
the child sent into the CSV status (``report`` lists them), a one-sentence detail naming the
cell or exercise where it stopped, and one line per cell problem for the feedback. Text that
came from the child is cleaned (``scoring.clean``) before it is quoted.
"""

from __future__ import annotations

import signal

from . import scoring


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            s = line.strip().replace("`", "'")
            return s if len(s) <= 60 else s[:57] + "..."
    return ""


def events(messages: list) -> list:
    """The cell events among the child's messages, with their fields type-checked."""
    out = []
    for e in messages:
        if e.get("event") in ("start", "end") and isinstance(e.get("cell"), int):
            out.append(e)
        elif e.get("event") in ("grading", "result") and isinstance(e.get("exercise"), str):
            out.append({"event": "grading" if e["event"] == "grading" else "graded",
                        "exercise": e["exercise"]})
    return out


_SIGNALS = {-s.value: s.name for s in signal.Signals}


def run_status(run, events, cells_by_index, limits, done):
    """(status, detail, cell problems [str], n other cell errors)."""
    problems, kinds = [], set()
    n_errors = 0
    last_started = grading = None
    for e in events:
        if e.get("event") == "start":
            last_started, grading = e.get("cell"), None
        elif e.get("event") == "end":
            last_started = None
        elif e.get("event") == "grading":
            grading = scoring.clean(e.get("exercise", ""), 80)
        elif e.get("event") == "graded":
            grading = None
        if e.get("event") != "end" or not e.get("error"):
            continue
        err = e["error"]
        if not isinstance(err, dict):
            continue
        cell = cells_by_index.get(e.get("cell"))
        where = f"cell {int(e['cell']) + 1}" if cell is not None else "a cell"
        if cell is not None and _first_line(cell.source):
            where += f" (`{_first_line(cell.source)}`)"
        etype = scoring.clean(err.get("type", ""), 60)
        msg = scoring.clean(err.get("message", ""))
        line = f", line {err['line']}" if isinstance(err.get("line"), int) else ""
        if etype == "Timeout":
            kinds.add("timeout")
            problems.append(f"{where}: stopped after {limits.cell_timeout:g} s (time limit per cell).")
        elif etype == "MemoryError":
            kinds.add("memory")
            problems.append(f"{where}: MemoryError{line} (memory limit {limits.memory_mb} MB).")
        elif etype in ("SyntaxError", "IndentationError", "TabError"):
            kinds.add("syntax-error")
            problems.append(f"{where}: {etype}{line}: {msg}")
        else:
            n_errors += 1
            problems.append(f"{where}: raised {etype}{line}" + (f": {msg}" if msg else ""))
    running = cells_by_index.get(last_started)
    at = ""
    if grading:
        at = f" while calling {grading} on the hidden cases"
    elif running is not None:
        at = f" while running cell {last_started + 1}"
        if _first_line(running.source):
            at += f" (`{_first_line(running.source)}`)"
    if run.overflow:
        return ("crashed", f"the notebook sent more than {limits.channel_mb} MB of answers{at}",
                problems, n_errors)
    if run.timed_out:
        return ("timeout", f"the notebook was stopped after {limits.notebook_timeout:g} s{at}",
                problems, n_errors)
    if not done:
        err = run.stderr_tail
        if "MemoryError" in err or "bad_alloc" in err or "Cannot allocate memory" in err:
            return "memory", f"the process ran out of memory{at}", problems, n_errors
        if run.returncode == -signal.SIGXCPU:
            return "timeout", f"the CPU time limit was reached{at}", problems, n_errors
        how = (f"killed by {_SIGNALS.get(run.returncode, run.returncode)}" if run.returncode < 0
               else f"exited with code {run.returncode}")
        return "crashed", f"the process {how}{at}", problems, n_errors
    for status in ("timeout", "memory", "syntax-error"):
        if status in kinds:
            return status, problems[0] if len(problems) == 1 else f"{len(problems)} cell problems", \
                problems, n_errors
    return "ok", "", problems, n_errors
