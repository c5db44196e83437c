"""nbgrader's Execute preprocessor, made unable to stall on a widget cell.

nbgrader's autograder executes each submission with nbclient, whose Output-widget handler
answers the kernel's widget messages on the shell socket while another task waits on that
socket for the cell's reply; the reply can be lost (pyzmq issue 1203, nbclient issue 312) and
an ``ipywidgets.interact`` cell then waits out its whole timeout with the kernel idle. It is
the stall ``tools/execute.py`` avoids with ``ignore_widget_comms``, and the same remedy is used
here: no Output-widget handler, so what a widget displays while the cell runs is stored as the
cell's own output. ``tools/nbgrader_course.py`` writes the ``nbgrader_config.py`` that puts
this class in place of nbgrader's Execute. Imported by nbgrader's process only.
"""

from __future__ import annotations

from nbgrader.preprocessors import Execute


class ExecuteIgnoringWidgets(Execute):
    def on_comm_open_jupyter_widget(self, msg):
        return None   # no Output-widget mimicry: nothing is sent back to the kernel
