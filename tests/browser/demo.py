"""Two small notebooks that show the browser checks can pass and can fail.

`demo_ok` is what a good lab looks like (a figure, an interact slider, a text box, a tqdm
bar); `demo_broken` shows each failure the checks must catch. Both run in a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

IMPORTS = """import numpy as np
import matplotlib.pyplot as plt
import ipywidgets as widgets
from tqdm.auto import trange"""

FIGURE = """x = np.linspace(0, 2 * np.pi, 200)
fig, ax = plt.subplots(figsize=(5, 2.5))
ax.plot(x, np.sin(x))
ax.set(title="A sine wave", xlabel="x (rad)", ylabel="sin(x)")
plt.show()"""

SLIDER = """def show_wave(freq=2):
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.plot(x, np.sin(freq * x))
    ax.set(title=f"sin({freq} x)", xlabel="x (rad)", ylabel="amplitude")
    plt.show()
    print(f"frequency = {freq}")

widgets.interact(show_wave, freq=widgets.IntSlider(value=2, min=1, max=8, description="freq"));"""

TEXT_BOX = """widgets.interact(lambda name="world": print(f"hello, {name}!"),
                 name=widgets.Text(value="world", description="name"));"""

PROGRESS = """total = 0
for i in trange(5, desc="training"):
    total += i
print("total =", total)"""

# What a student sees when the kernel has no inline backend (MPLBACKEND=Agg inherited):
# the figure's text form instead of the picture.
FIGURE_AS_TEXT = """from IPython.display import display
display({"text/plain": "<Figure size 300x200 with 1 Axes>"}, raw=True)"""

# A widget view whose model the page does not have: "Error displaying widget".
MISSING_WIDGET = """display({"application/vnd.jupyter.widget-view+json":
             {"model_id": "0123456789abcdef", "version_major": 2, "version_minor": 0},
         "text/plain": "IntSlider(value=1)"}, raw=True)"""

# An interact whose output ignores the control: moving the slider changes nothing shown.
DEAD_SLIDER = """widgets.interact(lambda level=3: print("always the same"),
                 level=widgets.IntSlider(value=3, min=0, max=10));"""

RAISES = """raise ValueError("demo failure: this cell raises on purpose")"""

NEVER_RUNS = """print("not reached: Run All stops at the error above")"""


def _notebook(title: str, cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}")] + [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def write_demos(folder: Path) -> dict[str, Path]:
    """Write demo_ok.ipynb and demo_broken.ipynb into `folder`; returns {stem: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    demos = {
        "demo_ok": _notebook("Browser self-test: a good lab", [IMPORTS, FIGURE, SLIDER, TEXT_BOX, PROGRESS]),
        "demo_broken": _notebook("Browser self-test: a broken lab",
                                 [IMPORTS, FIGURE_AS_TEXT, MISSING_WIDGET, DEAD_SLIDER, RAISES, NEVER_RUNS]),
    }
    paths = {}
    for stem, nb in demos.items():
        paths[stem] = folder / f"{stem}.ipynb"
        nbformat.write(nb, paths[stem])
    return paths
