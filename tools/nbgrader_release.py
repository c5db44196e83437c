"""nbgrader's ClearSolutions, writing the stubs `tools/generate.py` writes.

nbgrader replaces a solution region with one fixed stub (``raise NotImplementedError()``); the
course's student notebooks name the exercise in it (``raise NotImplementedError("exercise
2.1: rnn_step_forward")``), which the checks and the grader quote. This preprocessor, put in
ClearSolutions' place by the ``nbgrader_config.py`` that ``tools/nbgrader_course.py`` writes,
replaces each region with generate.py's own code, so nbgrader's release of a lab is our
student notebook up to nbgrader's metadata. Imported by nbgrader's process only (it needs
nbgrader, not the course's packages: the exercise numbers come in through the config).
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearSolutions
from traitlets import Dict

from tools.generate import BEGIN_SOLUTION, _transform_source


class ClearSolutionsAsGenerate(ClearSolutions):
    numbers = Dict(help="{exercise name: number} from the exercise registry "
                        "(utils/exercises/labNN.py), written by tools/nbgrader_course.py"
                   ).tag(config=True)

    def _replace_solution_region(self, cell, language: str) -> bool:
        if not any(line.strip() == BEGIN_SOLUTION for line in cell.source.split("\n")):
            return False
        where = f"cell {cell.get('id', '?')}"
        cell.source = _transform_source(cell.source, cell.cell_type, dict(self.numbers), where, [], 0)
        return True
