"""End-to-end: each solution and student lab run in JupyterLab in headless Chromium, as a student would.

JupyterLab is started the way `python course.py lab` starts it (scripts/jupyter_lab.py), on
127.0.0.1 with no token and no PYTHONPATH, serving a temporary copy of solutions/ and
notebooks/. For every notebook the browser clears the outputs, runs all cells from the Run
menu, and checks that no error or traceback is shown, every cell ran, every figure is a loaded
image, every widget rendered, moving a slider or typing in a text box changes the widget's
output, and every check cell shows its verdict: "✓" for each exercise in a solution lab; in a
student lab, untouched, "○ ... not attempted yet" and the fall-back to the reference (see
tests/browser/harness.py). A screenshot of each goes to artifacts/screenshots/NN_name.png
(solution) and NN_name-student.png (student lab), which CI keeps, with summary.txt and the
server's log beside them.

Two demo notebooks (tests/browser/demo.py) run alongside: a good one that must pass and a
broken one whose every fault must be caught, so the checks are shown to be able to fail.

Needs Debian's chromium (scripts/install-browser.sh) and playwright (requirements.txt); the
test fails, never skips, when either is missing. Environment knobs: CHROMIUM_PATH,
BROWSER_TEST_CONCURRENCY (notebooks at once, default 2), BROWSER_TEST_RUN_TIMEOUT (seconds
per notebook, default 600), BROWSER_TEST_KERNEL_TIMEOUT (seconds to open a notebook and start
its kernel, default 120; a heavily loaded machine may need more).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from browser import demo, harness  # noqa: E402  (needs tests/ on sys.path)

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))
STUDENTS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
TIMINGS = SCREENSHOTS / "timings.json"  # seconds per lab in the last run, to schedule the next


def _env_number(name: str, default: str, kind: type):
    """A positive number from the environment, or a clear error naming the variable."""
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value <= 0:
        raise ValueError(f"{name}: expected a positive {kind.__name__}, got {raw!r}")
    return value


CHROMIUM = os.environ.get("CHROMIUM_PATH", harness.DEFAULT_CHROMIUM)
CONCURRENCY = _env_number("BROWSER_TEST_CONCURRENCY", "2", int)
RUN_TIMEOUT = _env_number("BROWSER_TEST_RUN_TIMEOUT", "600", float)
KERNEL_TIMEOUT = _env_number("BROWSER_TEST_KERNEL_TIMEOUT", "120", float)


def require_browser(chromium: str) -> None:
    """Fail (never skip) with the reason when the browser test cannot run here."""
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        pytest.fail(f"Chromium not found at {chromium}: the browser test cannot run. Install it with "
                    "`bash scripts/install-browser.sh` (as root: apt-get install --no-install-recommends "
                    "chromium) or point CHROMIUM_PATH at a Chromium executable.", pytrace=False)
    if importlib.util.find_spec("playwright") is None:
        pytest.fail("playwright is not installed in this Python environment: run `bash scripts/setup.sh` "
                    "(it is pinned in requirements.txt). Never `playwright install`: the test uses "
                    "Debian's Chromium.", pytrace=False)


def _lab_launcher():
    """scripts/jupyter_lab.py, the one place that knows how the course starts JupyterLab."""
    spec = importlib.util.spec_from_file_location("course_jupyter_lab", REPO_ROOT / "scripts" / "jupyter_lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _previous_timings() -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(TIMINGS.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _longest_first(labs: list[Path]) -> list[Path]:
    """Start the longest labs first, so that two at a time finish together rather than one
    long lab running alone at the end: by the last run's times when known (a local rerun),
    else later labs first (they train bigger models)."""
    previous = _previous_timings()
    by_course_order = sorted(labs, reverse=True)
    return sorted(by_course_order, key=lambda nb: -previous.get(nb.stem, float("inf")))


def _is_student(notebook: Path) -> bool:
    return notebook.parent.name == "notebooks"


def _key(notebook: Path) -> str:
    """The report name of a lab: NN_name for a solution, student/NN_name for a student lab."""
    return f"student/{notebook.stem}" if _is_student(notebook) else notebook.stem


def _screenshot(notebook: Path) -> Path:
    return SCREENSHOTS / (f"{notebook.stem}-student.png" if _is_student(notebook) else f"{notebook.stem}.png")


CHECK_CALL = re.compile(r"\bcheck\(\s*[\"'](\w+)[\"']")


def expected_verdicts(notebook: Path) -> dict[int, list[str]]:
    """{cell index: texts its output must show} for every check cell of `notebook`: a pass for
    each exercise in a solution lab; "not attempted yet" and the reference in a student lab."""
    import nbformat

    from utils.checks import PASS_MARK, TODO_MARK

    nb = nbformat.read(notebook, as_version=4)
    expected = {}
    for index, cell in enumerate(nb.cells):
        names = CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []
        if not names:
            continue
        if _is_student(notebook):
            expected[index] = [f"{TODO_MARK} {name} (exercise" for name in names] + \
                              ["not attempted yet"] + [f"using the reference {name}" for name in names]
        else:
            expected[index] = [f"{PASS_MARK} {name} (exercise" for name in names]
    return expected


def _selected(session) -> tuple[list[Path], bool]:
    """The lab notebooks and whether the demos are needed by the tests that will run
    (after -k / -m selection), so `pytest -k 03_lstm` opens only that lab."""
    labs, demos = [], False
    for item in session.items:
        if getattr(item, "module", None) is not sys.modules[__name__]:
            continue
        if item.originalname in ("test_solution_notebook_in_browser", "test_student_notebook_in_browser"):
            notebook = item.callspec.params["notebook"]
            if notebook is not None:
                labs.append(notebook)
        elif item.originalname in ("test_checks_pass_a_good_lab", "test_checks_catch_a_broken_lab"):
            demos = True
    return sorted(set(labs)), demos


@pytest.fixture(scope="module")
def reports(request, tmp_path_factory) -> dict[str, harness.LabReport]:
    """Run the selected lab notebooks and the demo notebooks in the browser, once."""
    require_browser(CHROMIUM)
    launcher = _lab_launcher()
    labs, with_demos = _selected(request.session)
    work = tmp_path_factory.mktemp("browser")
    served = harness.prepare_root(work / "root", REPO_ROOT, labs)
    demos = demo.write_demos(served / "_browser_selftest") if with_demos else {}

    items = [(_key(nb), f"{nb.parent.name}/{nb.name}", _screenshot(nb), {"expect_text": expected_verdicts(nb)})
             for nb in _longest_first(labs)]
    # Short demos last: they fill the gaps while the long labs finish.
    # The broken demo's dead slider needs no long wait to show that nothing changes.
    items += [(f"selftest/{stem}", f"_browser_selftest/{path.name}", SCREENSHOTS / "selftest" / f"{stem}.png",
               {"interaction_timeout": 10.0}) for stem, path in demos.items()]
    # A stale picture (of a notebook about to be checked, or of a lab that no longer exists)
    # would mislead whoever reads the artifact.
    current_labs = {_screenshot(nb).name for nb in SOLUTIONS + STUDENTS}
    for old in SCREENSHOTS.glob("*.png"):
        if old.name not in current_labs:
            old.unlink()
    for _, _, shot, *_ in items:
        shot.unlink(missing_ok=True)

    env = harness.lab_env_for_test(launcher.lab_env())
    started = time.monotonic()
    with harness.LabServer(served, work, launcher.lab_command, env, SCREENSHOTS / "jupyter-server.log") as server:
        server_seconds = time.monotonic() - started
        results = asyncio.run(harness.check_notebooks(server.url, items, chromium=CHROMIUM,
                                                      concurrency=CONCURRENCY, run_timeout=RUN_TIMEOUT,
                                                      kernel_timeout=KERNEL_TIMEOUT))
    elapsed = time.monotonic() - started

    students = sum(_is_student(nb) for nb in labs)
    lines = [f"browser test: {len(items)} notebooks ({len(labs) - students} solution labs, {students} student "
             f"labs, {len(demos)} self-test demos), "
             f"{CONCURRENCY} at a time, {elapsed:.0f} s in total (JupyterLab start {server_seconds:.0f} s)"]
    lines += [results[name].explain() for name, *_ in items]
    (SCREENSHOTS / "summary.txt").write_text("\n".join(lines) + "\n")
    TIMINGS.write_text(json.dumps({**_previous_timings(),
                                   **{_key(nb): round(results[_key(nb)].seconds, 1) for nb in labs}}, indent=1))
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line("")
        for name, *_ in items:
            terminal.write_line("[browser] " + results[name].summary())
        terminal.write_line(f"[browser] {lines[0]}; screenshots in {SCREENSHOTS.relative_to(REPO_ROOT)}/")
    return results


@pytest.mark.browser
@pytest.mark.parametrize("notebook", SOLUTIONS or [None], ids=[nb.stem for nb in SOLUTIONS] or ["no-solutions"])
def test_solution_notebook_in_browser(notebook, request):
    if notebook is None:
        pytest.fail("there is no notebook in solutions/: the browser test has nothing to check "
                    "(it runs every solutions/*.ipynb).", pytrace=False)
    report = request.getfixturevalue("reports")[_key(notebook)]
    assert not report.problems, "what a student would see is broken:\n" + report.explain()
    assert report.screenshot is not None and report.screenshot.stat().st_size > 10_000, report.explain()


@pytest.mark.browser
@pytest.mark.parametrize("notebook", STUDENTS or [None], ids=[nb.stem for nb in STUDENTS] or ["no-students"])
def test_student_notebook_in_browser(notebook, request):
    """The student lab as generated, nothing attempted: runs to the end, every check says
    "not attempted" and falls back to the reference, figures and widgets work."""
    if notebook is None:
        pytest.fail("there is no notebook in notebooks/: run python tools/generate.py", pytrace=False)
    report = request.getfixturevalue("reports")[_key(notebook)]
    assert not report.problems, "what a student would see is broken:\n" + report.explain()
    assert report.screenshot is not None and report.screenshot.stat().st_size > 10_000, report.explain()


@pytest.mark.browser
def test_checks_pass_a_good_lab(reports):
    report = reports["selftest/demo_ok"]
    assert not report.problems, report.explain()
    # The static figure and the slider's figure.
    assert report.images >= 2, report.explain()
    # The slider and the text box both changed what their widget shows.
    assert len(report.interactions) == 2, report.explain()
    assert all(i.endswith("output changed") for i in report.interactions), report.explain()
    assert report.screenshot is not None and report.screenshot.stat().st_size > 10_000, report.explain()


@pytest.mark.browser
@pytest.mark.parametrize("fault, evidence", [
    ("an error output", "raised ValueError: demo failure"),
    ("the cell after the error, never run", "1 code cell(s) did not run (Run All stops at the first error)"),
    ("a figure shown as text", "a matplotlib figure appeared as text '<Figure size 300x200"),
    ("a widget that failed to render", "widget(s) in the output but only 0 rendered"),
    ("a slider whose output never changes", "widget did not respond"),
])
def test_checks_catch_a_broken_lab(reports, fault, evidence):
    report = reports["selftest/demo_broken"]
    assert any(evidence in p for p in report.problems), \
        f"the browser checks missed {fault} (looked for {evidence!r}):\n{report.explain()}"


def test_missing_browser_fails_loudly(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="Chromium not found at .*cannot run"):
        require_browser(str(tmp_path / "no-such-chromium"))


# ---- fast checks of the pieces, no browser needed ------------------------------------------

def _cell(**overrides):
    cell = {"index": 0, "count": 1, "firstLine": "x = 1", "outputs": [], "shownWidgets": 0, "images": 0,
            "imagesLoaded": 0, "stderr": [], "outputText": "", "controls": 0}
    cell.update(overrides)
    return cell


def test_analyse_tells_tracebacks_from_warnings_and_progress_bars():
    report = harness.LabReport("unit")
    harness.analyse({"widgets": 0, "cells": [
        _cell(index=0, stderr=["/x.py:3: UserWarning: mind the gap\n  warnings.warn("]),
        _cell(index=1, stderr=[" 40%|####      | 2/5 [00:01<00:01,  1.90it/s]"]),
        _cell(index=2, stderr=["Exception in callback\nTraceback (most recent call last):\n  ...\nKeyError: 'h'"]),
    ]}, report)
    assert report.problems == ["cell 3 (In [1]: 'x = 1'): a traceback is shown: \"KeyError: 'h'\""]
    assert len(report.notes) == 1 and "UserWarning: mind the gap" in report.notes[0]


def test_analyse_counts_figures_widgets_and_cells_that_did_not_run():
    report = harness.LabReport("unit")
    png = {"type": "display_data", "name": "", "mimes": ["image/png", "text/plain"], "text": "<Figure size 6x4>",
           "ename": "", "evalue": ""}
    view = {"type": "display_data", "name": "", "mimes": ["application/vnd.jupyter.widget-view+json"],
            "text": "", "ename": "", "evalue": ""}
    interactive = harness.analyse({"widgets": 1, "cells": [
        _cell(index=0, outputs=[png, png], images=2, imagesLoaded=1),      # one image broken
        _cell(index=1, outputs=[view, view], shownWidgets=1, controls=1),   # one widget missing
        _cell(index=2, count=None),
    ]}, report)
    assert [c["index"] for c in interactive] == [1]
    assert report.images == 1
    assert any("1 of 2 images did not load" in p for p in report.problems), report.problems
    assert any("2 widget(s) in the output but only 1 rendered" in p for p in report.problems), report.problems
    assert any(p.startswith("1 code cell(s) did not run: cell 3") for p in report.problems), report.problems
    assert len(report.problems) == 3, report.problems


def test_check_cells_must_show_their_verdict():
    student = next((nb for nb in STUDENTS), None)
    if student is None:
        pytest.fail("there is no notebook in notebooks/: run python tools/generate.py", pytrace=False)
    expected = expected_verdicts(student)
    index, texts = next(iter(expected.items()))
    assert texts[0].startswith("○ ") and "not attempted yet" in texts
    solution_texts = expected_verdicts(REPO_ROOT / "solutions" / student.name)[index]
    assert solution_texts[0].startswith("✓ ")
    name = texts[0].split()[1]
    shown = {"○": f"○ {name} (exercise 1.1): not attempted yet (NotImplementedError): using the reference {name} "
                  "from utils.data for the rest of the lab.",
             "✓": f"✓ {name} (exercise 1.1): passed 5 cases."}
    for mark, text in shown.items():
        report = harness.LabReport("unit")
        harness.check_shown_text({"cells": [_cell(index=index, outputText=text)]}, {index: texts}, report)
        assert (report.problems == []) == (mark == "○"), report.problems
    report = harness.LabReport("unit")
    harness.check_shown_text({"cells": []}, {index: texts}, report)
    assert report.problems and "found none" in report.problems[0]


def test_lab_command_is_the_one_lab_sh_uses():
    launcher = _lab_launcher()
    argv = launcher.lab_command("labs", port=9999, token="", extra=["--ServerApp.port=1234"])
    assert argv[1:3] == ["-m", "jupyterlab"]
    assert "--no-browser" in argv and "--ServerApp.ip=127.0.0.1" in argv
    assert "--ServerApp.root_dir=labs" in argv and "--IdentityProvider.token=" in argv
    assert argv[-1] == "--ServerApp.port=1234"  # extra arguments come last, so they win
    assert ("--allow-root" in argv) == (os.geteuid() == 0)
    # Nothing is added for `utils`: kernels import the course package installed in .venv.
    assert "PYTHONPATH" not in launcher.lab_env({"PATH": "/bin"})
    assert launcher.lab_env({"PYTHONPATH": "/elsewhere"})["PYTHONPATH"] == "/elsewhere"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"root_dir": 3}, TypeError, "root_dir: expected a path"),
    ({"root_dir": "x", "port": 70000}, ValueError, "port: expected an int in 1..65535 or None, got 70000"),
    ({"root_dir": "x", "ip": ""}, ValueError, "ip: expected a non-empty address"),
    ({"root_dir": "x", "token": 5}, TypeError, "token: expected a str or None, got int"),
    ({"root_dir": "x", "extra": "--debug"}, TypeError, "extra: expected a list of arguments"),
])
def test_lab_command_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        _lab_launcher().lab_command(**kwargs)
