"""Every lab opens outside `python course.py lab`: nbclient, no PYTHONPATH, an awkward path.

The repository's labs, utils/ and data/ are copied to a folder whose path holds a space and
non-ASCII letters (`cours é/dépôt rnn`: the `odd_copy` fixture of conftest.py). Labs are
executed there by nbclient, with the kernel started in the lab's own folder, no PYTHONPATH
and no MPLBACKEND, from the first cell up to and including the first check cell (the setup
cell, the imports, the first exercise and its check: the part that needs `utils`), in two
kinds of kernel:

- installed (every solution lab): a kernel of this Python (.venv), where the setup installed
  the course package: `utils` comes from it, and the first cell never walks the folders;
- bare checkout (every student lab): a kernel of another environment that has the packages
  of requirements.txt but not the course package (a venv whose only link to .venv is a .pth
  line naming .venv's site-packages, so .venv's editable-install hook never runs): `import
  utils` fails until the first cell finds the copy by walking up from the lab's folder.

Every student lab also runs end to end, installed, from the same kind of copy
(tests/test_notebooks.py). A probe cell is added at the top and at the end of the executed
(temporary) notebook: it prints whether `utils` can be found before the first cell and where
it was imported from after. The runs go two at a time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tools.first_cell import CELL_ID, first_cell_problems  # noqa: E402

GLOB = "[0-9][0-9]_*.ipynb"
LABS = sorted(REPO.glob(f"solutions/{GLOB}")) + sorted(REPO.glob(f"notebooks/{GLOB}"))
CHECK_CALL = re.compile(r"\bcheck\(\s*[\"']\w+[\"']")
PROBE_BEFORE = ("import importlib.util\n"
                "print('utils findable before the first cell:', importlib.util.find_spec('utils') is not None)")
PROBE_AFTER = "import utils\nprint('utils from:', utils.__file__)"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """A Python with every package of .venv but not the course package (no editable hook)."""
    env_dir = tmp_path_factory.mktemp("other env")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # A plain path line: .venv's site-packages goes on sys.path, but its own .pth files
    # (the editable install of `utils`) are not run.
    Path(purelib, "requirements-from-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    check = subprocess.run([str(python), "-c", "import numpy, ipykernel, importlib.util as u; "
                                               "print(u.find_spec('utils') is None)"],
                           capture_output=True, text=True, cwd=env_dir)
    assert check.stdout.strip() == "True", f"the bare environment is not what the test needs: {check}"
    return str(python)


def kernel_env() -> dict:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "MPLBACKEND"):
        env.pop(name, None)
    return env


def run_to_first_check(notebook: Path, python: str) -> tuple:
    """Execute `notebook` up to its first check cell in a kernel of `python` started in the
    notebook's folder. Returns (the executed cells, what the probes printed)."""
    nb = nbformat.read(notebook, as_version=4)
    first_check = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and CHECK_CALL.search(c.source))
    nb.cells = ([nbformat.v4.new_code_cell(PROBE_BEFORE)] + nb.cells[:first_check + 1]
                + [nbformat.v4.new_code_cell(PROBE_AFTER)])
    km = KernelManager(kernel_name="python3")
    km._kernel_spec = KernelSpec(argv=[python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                 display_name="lab kernel", language="python")
    client = NotebookClient(nb, km=km, timeout=300, allow_errors=False,
                            resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute(env=kernel_env(), cwd=str(notebook.parent))
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    text = lambda cell: "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    return nb.cells, text(nb.cells[0]), text(nb.cells[-1]), text(nb.cells[-2])


def lab_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


# Solution labs in the .venv kernel, student labs in the bare one (see the module docstring).
CASES = [(lab, "installed" if lab.parent.name == "solutions" else "bare checkout") for lab in LABS]


@pytest.fixture(scope="module")
def runs(request, odd_copy) -> dict:
    """{(lab, kernel): (cells, probe before, probe after, first verdict) or the exception},
    for the cases selected in this session, two at a time."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_lab_opens_anywhere" and item.callspec.params["case"]]
    pythons = {"installed": sys.executable}
    if any(kernel == "bare checkout" for _, kernel in selected):
        pythons["bare checkout"] = request.getfixturevalue("bare_python")

    def run(case):
        lab, kernel = case
        try:
            return run_to_first_check(odd_copy / lab.parent.name / lab.name, pythons[kernel])
        except Exception as e:  # reported by the test of that lab
            return e

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(selected, pool.map(run, selected)))


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES or [None], ids=[f"{lab_id(lab)}-{kernel}" for lab, kernel in CASES] or ["no-labs"])
def test_lab_opens_anywhere(case, runs, odd_copy):
    if case is None:
        pytest.fail("no lab in solutions/ or notebooks/", pytrace=False)
    lab, kernel = case
    notebook = odd_copy / lab.parent.name / lab.name
    assert " " in str(notebook) and "é" in str(notebook)
    result = runs[case]
    if isinstance(result, Exception):
        raise result
    cells, before, after, verdict = result
    assert first_cell_problems(nbformat.read(notebook, as_version=4), notebook.name) == []
    setup_cell = next(c for c in cells if c.get("id") == CELL_ID)
    assert setup_cell.outputs == [], f"the setup cell printed {setup_cell.outputs}"
    utils_file = Path(after.split("utils from:", 1)[1].strip())
    if kernel == "installed":
        assert "findable before the first cell: True" in before, before
        assert utils_file.parent == REPO / "utils", f"utils came from {utils_file}, not the installed package"
    else:
        assert "findable before the first cell: False" in before, before
        assert utils_file.parent == odd_copy / "utils", f"utils came from {utils_file}, not the copy"
    mark = "✓" if lab.parent.name == "solutions" else "○"
    assert verdict.startswith(mark), f"the first check of {lab_id(lab)} printed:\n{verdict}"
