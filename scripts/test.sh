#!/usr/bin/env bash
# Set everything up, then run the whole test suite. Same as `python course.py test` (see
# course.py), which works on Windows too:
#   (a) python -m pytest tests      unit, notebook, grading and browser tests
#   (b) python -m pytest --nbval    stored outputs of solutions/*.ipynb, compared strictly
#
#   bash scripts/test.sh               # everything
#   bash scripts/test.sh -k vocab      # extra arguments go to stage (a) only
#
# Exits non-zero if any stage fails; "no tests collected" (pytest exit 5) is a failure too.
# Machine-level installs before the stages (Chromium for the browser test, bubblewrap for
# the grader's sandbox) are listed in
# course.py's INSTALL_STEPS.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_python.sh"
course test "$@"
