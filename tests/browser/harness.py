"""End-to-end checks of lab notebooks in a real browser, as a student would run them.

A JupyterLab server (started with the command line of `scripts/jupyter_lab.py`, like
`bash scripts/lab.sh`) serves a temporary copy of the notebooks; headless Chromium, driven by
Playwright, opens each one, clears its stored outputs, clicks Run > Run All Cells, waits for
the kernel, and then inspects what is on the screen:

- no error output and no traceback (stderr text that is not a traceback, such as a warning,
  is reported as a note, not a failure);
- every code cell ran;
- every matplotlib figure is an image that loaded (not "<Figure size ...>" text);
- every widget rendered (no "Loading widget..." / "Error displaying widget");
- a slider moved with the arrow keys, or a text box typed into, changes what the widget shows
  (its linked output area); every lab has at least one such control;
- given cells show given text (a check cell its verdict: "✓" in a solution lab, "○ ... not
  attempted yet ... using the reference" in a student lab);

and saves a screenshot of the whole notebook.

The checks run as a coroutine (`check_notebooks`) over several notebooks at once, since the
kernels, not the browser, do the work.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

# Chromium on a closed network: without the background-networking flags it stalls trying to
# reach Google services. --no-sandbox because CI runs as root; --disable-dev-shm-usage because
# a container's small /dev/shm crashes the renderer on long notebooks. Playwright's launch()
# gives every run a fresh temporary profile.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
# A screenshot taller than this is cut (Chromium's limit for one capture is about 16k px).
MAX_SCREENSHOT_HEIGHT = 16000
# Interactive controls tried per notebook (one per output cell), so a lab with many widgets
# does not make the test slow.
MAX_INTERACTIONS = 4

# JupyterLab user settings for the test server: no news pop-up over the screenshot, and every
# cell attached to the page (the default windowing detaches off-screen cells, which would hide
# their outputs from the checks and from the full-notebook screenshot).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
        {"windowingMode": "none", "scrollPastEnd": False},
}


@dataclass
class LabReport:
    """What the browser found in one notebook. `problems` empty means the notebook passed."""

    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    run_seconds: float = 0.0
    screenshot: Path | None = None
    code_cells: int = 0
    images: int = 0
    widgets: int = 0
    interactions: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, for the timing report

    def summary(self) -> str:
        verdict = "ok" if not self.problems else f"{len(self.problems)} problem(s)"
        return (f"{self.name}: {verdict}; {self.code_cells} code cells, {self.images} images, "
                f"{self.widgets} widgets, {len(self.interactions)} interaction(s) checked; "
                f"run {self.run_seconds:.0f} s, total {self.seconds:.0f} s")

    def timing(self) -> str:
        return ", ".join(f"{k} {v:.0f} s" for k, v in self.phases.items())

    def explain(self) -> str:
        lines = [self.summary()]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  interaction: {i}" for i in self.interactions]
        if self.phases:
            lines.append(f"  timing: {self.timing()}")
        if self.screenshot:
            lines.append(f"  screenshot: {self.screenshot}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The JupyterLab server
# --------------------------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_root(dest: Path, repo_root: Path, notebooks: Sequence[Path]) -> Path:
    """Lay out a throw-away copy for JupyterLab to serve, so a save never touches the repo.

    The folder of each of `notebooks` (solutions/, notebooks/) is copied into dest/ (with the
    other files beside them, such as images they embed); every other top-level entry of the
    repository (utils/, data/, ...) is linked into dest/, so `..`-relative paths in a notebook
    resolve as they do in the repo. Returns dest, the folder to serve: a notebook is then at
    "<its folder's name>/<its name>".
    """
    if not isinstance(dest, Path) or not isinstance(repo_root, Path):
        raise TypeError("dest, repo_root: expected pathlib.Path objects")
    dest.mkdir(parents=True, exist_ok=True)
    sources = {nb.parent for nb in notebooks}
    skip = {".git", ".venv", "artifacts", ".pytest_cache"} | {src.name for src in sources}
    for entry in repo_root.iterdir():
        if entry.name not in skip and not (dest / entry.name).exists():
            (dest / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for src in sources:
        shutil.copytree(src, dest / src.name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


class LabServer:
    """JupyterLab on 127.0.0.1, a free port and no token, serving `root_dir`.

    Use as a context manager; the server and its kernels are shut down on exit.
    """

    def __init__(self, root_dir: Path, work_dir: Path, command, env: dict[str, str],
                 log_path: Path, startup_timeout: float = 120.0):
        self.root_dir = root_dir
        self.work_dir = work_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        settings = work_dir / "lab-settings"
        for rel, value in LAB_SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        self.argv = command(
            root_dir, port=self.port, token="",
            extra=[
                # Lets the test read the notebook model (output types, execution counts).
                "--LabApp.expose_app_in_browser=True",
                f"--LabApp.user_settings_dir={settings}",
                f"--LabApp.workspaces_dir={work_dir / 'lab-workspaces'}",
                "--ServerApp.port_retries=0",
            ],
        )
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> "LabServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        # A session of its own, so the server and its kernels can be ended as one group.
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.work_dir)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                self._close_log()
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode} while starting; "
                                   f"its log:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"JupyterLab did not answer on {self.url} within {self.startup_timeout:.0f} s; "
                                   f"its log:\n{self.log_tail()}")
            time.sleep(0.5)

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:  # a clean shutdown also shuts the kernels down
                req = urllib.request.Request(f"{self.url}/api/shutdown", method="POST", data=b"")
                urllib.request.urlopen(req, timeout=10).close()
            except (urllib.error.URLError, OSError):
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):  # whatever is left of the group
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(1)
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log and not self._log.closed:
            self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------------------------
# JavaScript run in the page (JupyterLab exposes its application as window.jupyterapp)
# --------------------------------------------------------------------------------------------

_FIND_PANEL = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.model) return w;
  }
  return null;
};
"""

JS_KERNEL_STATE = "(path) => {" + _FIND_PANEL + """
  const panel = findPanel(path);
  if (!panel) return {ready: false, status: 'no notebook panel yet'};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const prompts = [...panel.node.querySelectorAll('.jp-InputPrompt')].map(e => e.textContent);
  return {
    ready: true,
    status: kernel ? kernel.status : 'no kernel',
    connection: kernel ? kernel.connectionStatus : '',
    queued: prompts.filter(t => t.includes('*')).length,
    dialog: !!document.querySelector('.jp-Dialog'),
  };
}"""

JS_PREPARE = "(path) => {" + _FIND_PANEL + """
  const app = window.jupyterapp;
  // More room for the notebook in the screenshot; a student can do the same (Ctrl+B).
  if (!app.shell.leftCollapsed) app.shell.collapseLeft();
  return app.commands.execute('notebook:clear-all-cell-outputs');
}"""

# Everything the checks need, from the notebook model (what ran, what it output) and from
# the page (what is actually displayed).
JS_COLLECT = "(path) => {" + _FIND_PANEL + """
  const panel = findPanel(path);
  const nb = panel.content;
  const cells = [];
  const text = (o) => {
    const t = o.text !== undefined ? o.text : (o.data && o.data['text/plain']);
    return Array.isArray(t) ? t.join('') : (t || '');
  };
  for (let i = 0; i < nb.model.cells.length; i++) {
    const cm = nb.model.cells.get(i);
    if (cm.type !== 'code') continue;
    const node = nb.widgets[i].node;
    const outputs = cm.outputs.toJSON().map(o => ({
      type: o.output_type,
      name: o.name || '',
      mimes: Object.keys(o.data || {}),
      text: text(o).slice(0, 400),
      ename: o.ename || '', evalue: (o.evalue || '').slice(0, 300),
    }));
    // Top-level output elements, in order, as displayed.
    const shown = [...node.querySelectorAll('.jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output')];
    const imgs = [...node.querySelectorAll('.jp-OutputArea-output img')];
    // Text anywhere in the outputs, including inside widgets (an interact's output area).
    const stderr = [...node.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map(e => e.textContent.slice(0, 2000));
    const source = cm.sharedModel.getSource();
    cells.push({
      index: i,
      count: cm.executionCount,
      firstLine: source.split('\\n')[0].slice(0, 80),
      outputs,
      shownWidgets: shown.filter(e => {
        const w = e.querySelector('.jupyter-widgets');
        return w && w.getBoundingClientRect().width > 0;
      }).length,
      images: imgs.length,
      imagesLoaded: imgs.filter(im => im.complete && im.naturalWidth > 0).length,
      stderr,
      outputText: (node.querySelector('.jp-Cell-outputArea') || {textContent: ''}).textContent.slice(0, 20000),
      controls: node.querySelectorAll('.jp-Cell-outputArea .noUi-handle, .jp-Cell-outputArea .widget-text input, .jp-Cell-outputArea .widget-textarea textarea').length,
    });
  }
  return {cells, widgets: panel.node.querySelectorAll('.jp-Cell-outputArea .jupyter-widgets').length};
}"""

# What a widget shows, without the control itself (whose own readout changes when moved):
# the text and images of the rest of the cell's output area.
JS_OUTPUT_SIGNATURE = "([path, index]) => {" + _FIND_PANEL + """
  const node = findPanel(path).content.widgets[index].node;
  const area = node.querySelector('.jp-Cell-outputArea').cloneNode(true);
  area.querySelectorAll('.widget-slider, .widget-text, .widget-textarea, .widget-readout, .widget-label')
    .forEach(e => e.remove());
  const imgs = [...area.querySelectorAll('img')].map(im => im.src.length + ':' + im.src.slice(-64));
  return area.textContent + '|' + imgs.join(',');
}"""

# The notebook scrolls inside its own panel (.jp-WindowedPanel-outer), not the page.
_SCROLLER = "document.querySelector('.jp-NotebookPanel-notebook .jp-WindowedPanel-outer') || document.querySelector('.jp-NotebookPanel-notebook')"
JS_NOTEBOOK_HEIGHT = "() => { const s = " + _SCROLLER + "; return s ? s.scrollHeight - s.clientHeight : 0; }"
JS_SCROLL_TOP = "() => { const s = " + _SCROLLER + "; if (s) s.scrollTop = 0; }"

TRACEBACK_MARKERS = ("Traceback (most recent call last)",)
WIDGET_FAILURE_MARKERS = ("Error displaying widget", "Error rendering", "Loading widget...",
                          "Failed to load model class", "model not found")


# --------------------------------------------------------------------------------------------
# Checking one notebook
# --------------------------------------------------------------------------------------------

async def _wait_for(page, path: str, predicate, timeout: float, what: str) -> dict:
    """Poll JS_KERNEL_STATE until predicate(state) holds; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = await page.evaluate(JS_KERNEL_STATE, path)
        if state.get("dialog"):
            return state
        if predicate(state):
            return state
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{what}: still not done after {timeout:.0f} s (last state {state})")


async def _dismiss_dialog(page, report: LabReport) -> None:
    """A dialog (e.g. 'Select Kernel' for a notebook whose kernel name is unknown) blocks a
    student too: note what it said and accept its default."""
    dialog = page.locator(".jp-Dialog")
    if await dialog.count():
        text = " ".join((await dialog.first.inner_text()).split())[:200]
        report.problems.append(f"JupyterLab showed a dialog when opening the notebook: {text!r}")
        await page.locator(".jp-Dialog .jp-mod-accept").first.click()
        await asyncio.sleep(1)


def _cell_label(cell: dict) -> str:
    count = cell["count"]
    prompt = f"In [{count}]" if count else "In [ ]"
    return f"cell {cell['index'] + 1} ({prompt}: {cell['firstLine']!r})"


def analyse(collected: dict, report: LabReport) -> list[dict]:
    """Turn the collected page state into problems and notes. Returns the cells that hold
    interactive controls (slider or text box), for the interaction check."""
    cells = collected["cells"]
    report.code_cells = len(cells)
    report.widgets = collected["widgets"]
    not_run = [c for c in cells if c["count"] is None]
    errored = False
    for c in cells:
        label = _cell_label(c)
        for o in c["outputs"]:
            if o["type"] == "error":
                errored = True
                report.problems.append(f"{label} raised {o['ename']}: {o['evalue']}")
            is_figure_text = o["text"].startswith("<Figure size") and "image/png" not in o["mimes"]
            if is_figure_text:
                report.problems.append(f"{label}: a matplotlib figure appeared as text {o['text'][:60]!r} "
                                       "instead of an image (MPLBACKEND set, or matplotlib.use('agg') called?)")
        model_images = sum(1 for o in c["outputs"] if {"image/png", "image/jpeg"} & set(o["mimes"]))
        report.images += c["imagesLoaded"]
        if c["imagesLoaded"] < c["images"]:
            report.problems.append(f"{label}: {c['images'] - c['imagesLoaded']} of {c['images']} images did not load")
        if c["images"] < model_images:
            report.problems.append(f"{label}: {model_images} figure(s) in the output but {c['images']} shown as images")
        model_widgets = sum(1 for o in c["outputs"] if "application/vnd.jupyter.widget-view+json" in o["mimes"])
        if c["shownWidgets"] < model_widgets:
            report.problems.append(f"{label}: {model_widgets} widget(s) in the output but only "
                                   f"{c['shownWidgets']} rendered")
        shown_failures = [m for m in WIDGET_FAILURE_MARKERS if m in c["outputText"]]
        if shown_failures:
            report.problems.append(f"{label}: the output says {shown_failures[0]!r}")
        for text in c["stderr"]:
            if any(m in text for m in TRACEBACK_MARKERS):
                # Tracebacks printed inside widgets (an interact callback that raised) land here
                # too; top-level errors are already reported above from the model.
                if not any(o["type"] == "error" for o in c["outputs"]):
                    report.problems.append(f"{label}: a traceback is shown: {_last_line(text)!r}")
            elif text.strip() and not _is_progress_bar(text):
                report.notes.append(f"{label} wrote to stderr: {' '.join(text.split())[:160]!r}")
    if not_run:
        first = ", ".join(_cell_label(c) for c in not_run[:3])
        more = f" and {len(not_run) - 3} more" if len(not_run) > 3 else ""
        why = " (Run All stops at the first error)" if errored else ""
        report.problems.append(f"{len(not_run)} code cell(s) did not run{why}: {first}{more}")
    return [c for c in cells if c["controls"] > 0]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def _is_progress_bar(text: str) -> bool:
    # tqdm falls back to text on stderr when it cannot draw a widget: "  40%|####  | 2/5 [...]".
    return "%|" in text and ("it/s" in text or "s/it" in text)


async def _try_control(page, path: str, cell: dict, timeout: float) -> tuple[bool, str]:
    """Move the first slider (arrow keys) or type into the first text box of `cell`, and wait
    for the rest of its output area to change. Returns (changed, description)."""
    index = cell["index"]
    node = page.locator(".jp-Notebook .jp-Cell").nth(index)
    before = await page.evaluate(JS_OUTPUT_SIGNATURE, [path, index])
    handle = node.locator(".jp-Cell-outputArea .noUi-handle").first
    label = _cell_label(cell)
    if await handle.count():
        value = await handle.get_attribute("aria-valuenow")
        top = await handle.get_attribute("aria-valuemax")
        key = "ArrowLeft" if value is not None and value == top else "ArrowRight"
        await handle.scroll_into_view_if_needed()
        await handle.focus()
        for _ in range(3):
            await handle.press(key)
        after_value = await handle.get_attribute("aria-valuenow")
        what = f"{label}: slider {value} -> {after_value} ({key} x3)"
        if after_value == value:
            return False, f"{what}: the slider did not move"
    else:
        box = node.locator(".jp-Cell-outputArea .widget-text input, .jp-Cell-outputArea .widget-textarea textarea").first
        await box.scroll_into_view_if_needed()
        old = await box.input_value()
        new = "7" if (await box.get_attribute("type")) == "number" and old != "7" else (old + " x" if old else "abc")
        await box.fill(new)
        await box.press("Enter")  # for boxes that update only on Enter (continuous_update=False)
        what = f"{label}: text box {old!r} -> {new!r}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = await page.evaluate(JS_OUTPUT_SIGNATURE, [path, index])
        if now != before:
            # Each key press is one update; wait for the last one to settle (1 s unchanged).
            settled = time.monotonic() + 1.0
            while time.monotonic() < min(settled, deadline):
                await asyncio.sleep(0.25)
                latest = await page.evaluate(JS_OUTPUT_SIGNATURE, [path, index])
                if latest != now:
                    now, settled = latest, time.monotonic() + 1.0
            return True, f"{what}: output changed"
    return False, f"{what}: the displayed output did not change within {timeout:.0f} s"


def check_shown_text(collected: dict, expect_text: dict, report: LabReport) -> None:
    """Each {cell index: [texts]} of `expect_text` must be shown in that cell's output area."""
    by_index = {c["index"]: c for c in collected["cells"]}
    for index, texts in sorted(expect_text.items()):
        cell = by_index.get(index)
        if cell is None:
            report.problems.append(f"cell {index + 1}: expected a code cell showing {texts[0]!r}, found none")
            continue
        absent = [t for t in texts if t not in cell["outputText"]]
        if absent:
            shown = " ".join(cell["outputText"].split())[:200]
            report.problems.append(f"{_cell_label(cell)}: expected {absent[0]!r} in the output, shown: {shown!r}")


async def check_notebook(browser, base_url: str, path: str, name: str, screenshot: Path | None, *,
                         run_timeout: float = 300.0, kernel_timeout: float = 120.0,
                         interaction_timeout: float = 30.0, expect_text: dict | None = None) -> LabReport:
    """Open `path` (relative to the server's root) in a fresh browser context, run all cells
    and check what is displayed. Never raises for a problem in the notebook: problems are
    collected in the returned LabReport.

    expect_text: {cell index: [texts]} that must appear in those cells' outputs (check verdicts).
    """
    report = LabReport(name=name)
    started = time.monotonic()
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)[:200]))
    try:
        # A workspace of its own per notebook, reset: two tabs never share layout state.
        workspace = "w" + "".join(ch if ch.isalnum() else "-" for ch in name)
        await page.goto(f"{base_url}/lab/workspaces/{workspace}/tree/{path}?reset", timeout=kernel_timeout * 1000)
        state = await _wait_for(page, path, lambda s: s.get("status") == "idle", kernel_timeout,
                                "opening the notebook and starting its kernel")
        if state.get("dialog"):
            await _dismiss_dialog(page, report)
            await _wait_for(page, path, lambda s: s.get("status") == "idle", kernel_timeout, "starting the kernel")
        report.phases["open + kernel start"] = time.monotonic() - started
        await page.evaluate(JS_PREPARE, path)
        # Run > Run All Cells, from the menu bar as a student does.
        await page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        # Exactly "Run All Cells", not "Restart Kernel and Run All Cells...".
        await page.locator(".lm-Menu-item").filter(
            has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).first.click()
        run_start = time.monotonic()
        # Queued cells show [*] until they run; the kernel is idle only between cells.
        await asyncio.sleep(1.0)
        state = await _wait_for(
            page, path,
            lambda s: s.get("queued") == 0 and s.get("status") in ("idle", "dead", "unknown"),
            run_timeout, "running all cells")
        report.run_seconds = time.monotonic() - run_start
        report.phases["run all"] = report.run_seconds
        checks_start = time.monotonic()
        if state.get("status") != "idle":
            report.problems.append(f"the kernel is {state.get('status')!r} after Run All (did it crash?)")
        # Let widgets and images finish rendering before looking.
        for _ in range(20):
            collected = await page.evaluate(JS_COLLECT, path)
            if not any("Loading widget..." in c["outputText"] or c["imagesLoaded"] < c["images"]
                       for c in collected["cells"]):
                break
            await asyncio.sleep(0.5)
        interactive = analyse(collected, report)
        check_shown_text(collected, expect_text or {}, report)
        if not interactive:
            report.problems.append("no slider or text box in any output: every lab should have at least "
                                   "one interactive widget whose output the student can change")
        for cell in interactive[:MAX_INTERACTIONS]:
            ok, what = await _try_control(page, path, cell, interaction_timeout)
            report.interactions.append(what)
            if not ok:
                report.problems.append(f"widget did not respond: {what}")
        if interactive:  # let the last callback finish before looking and taking the picture
            try:
                await _wait_for(page, path, lambda s: s.get("status") == "idle", interaction_timeout,
                                "the kernel after the widget interactions")
            except TimeoutError as exc:
                report.problems.append(str(exc))
        # An interaction may itself have raised (the traceback shows in the widget's output).
        after = await page.evaluate(JS_COLLECT, path)
        for c in after["cells"]:
            if c["imagesLoaded"] < c["images"]:
                msg = f"{_cell_label(c)}: {c['images'] - c['imagesLoaded']} of {c['images']} images did not load"
                if msg not in report.problems:
                    report.problems.append(msg + " after the widget interactions")
            if any(o["type"] == "error" for o in c["outputs"]):
                continue  # already reported from the model
            for text in c["stderr"]:
                if any(m in text for m in TRACEBACK_MARKERS):
                    msg = f"{_cell_label(c)}: a traceback is shown: {_last_line(text)!r}"
                    if msg not in report.problems:
                        report.problems.append(msg)
        for err in page_errors:
            report.notes.append(f"JavaScript error in the page: {err}")
        report.phases["checks + widgets"] = time.monotonic() - checks_start
        if screenshot is not None:
            shot_start = time.monotonic()
            await _screenshot(page, screenshot, report)
            report.phases["screenshot"] = time.monotonic() - shot_start
    except Exception as exc:  # a timeout or a browser failure: report it, with a picture
        report.problems.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}")
        if screenshot is not None:
            try:
                await _screenshot(page, screenshot, report)
            except Exception:  # the page may be gone
                pass
    finally:
        await context.close()
        report.seconds = time.monotonic() - started
    return report


async def _screenshot(page, path: Path, report: LabReport) -> None:
    """The whole notebook in one picture: grow the viewport to the notebook's height, since
    JupyterLab scrolls inside a panel and a 'full page' capture would stop at the window."""
    extra = await page.evaluate(JS_NOTEBOOK_HEIGHT)
    height = VIEWPORT["height"] + max(0, int(extra))
    if height > MAX_SCREENSHOT_HEIGHT:
        report.notes.append(f"screenshot cut at {MAX_SCREENSHOT_HEIGHT} px (notebook is {height} px tall)")
        height = MAX_SCREENSHOT_HEIGHT
    await page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    await page.evaluate(JS_SCROLL_TOP)
    await asyncio.sleep(0.5)
    # Images that were off-screen are decoded lazily: without this, a figure can still be a
    # blank box in the capture although it has loaded.
    await page.evaluate("() => Promise.all([...document.images].map(i => i.decode().catch(() => null)))")
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    await asyncio.sleep(0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path))
    report.screenshot = path


async def check_notebooks(base_url: str, items: Sequence[tuple], *,
                          chromium: str = DEFAULT_CHROMIUM, concurrency: int = 2,
                          **kwargs) -> dict[str, LabReport]:
    """Check several notebooks, `concurrency` at a time, in one headless Chromium.

    items: (name, path relative to the server root, screenshot file or None), optionally with a
        fourth element, a dict of check_notebook keyword arguments for that notebook only.
    kwargs: check_notebook keyword arguments for every notebook.
    Returns {name: LabReport}.
    """
    from playwright.async_api import async_playwright

    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency: expected an int >= 1, got {concurrency!r}")
    gate = asyncio.Semaphore(concurrency)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            async def one(name, path, shot, options=None):
                async with gate:
                    return await check_notebook(browser, base_url, path, name, shot, **{**kwargs, **(options or {})})
            reports = await asyncio.gather(*(one(*item) for item in items))
        finally:
            await browser.close()
    return {r.name: r for r in reports}


def lab_env_for_test(base_env: dict[str, str]) -> dict[str, str]:
    """The test server's environment: the lab's, with pinned threads (two kernels share two
    cores) and no MPLBACKEND (a kernel that inherits one draws no inline figures)."""
    env = dict(base_env)
    env.pop("MPLBACKEND", None)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONHASHSEED="0", JUPYTER_PLATFORM_DIRS="1")
    # The kernels must be this interpreter's (the project's .venv), whatever PATH says.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env
