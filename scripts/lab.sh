#!/usr/bin/env bash
# Set everything up, then start JupyterLab on the student labs in notebooks/. Same as
# `python course.py lab` (see course.py), which works on Windows too.
#
#   bash scripts/lab.sh                 # http://127.0.0.1:8888/lab?token=... (printed below)
#   bash scripts/lab.sh --port=9000     # extra arguments go to `jupyter lab`
#   bash scripts/lab.sh --ip=0.0.0.0    # listen on all interfaces (e.g. inside a container)
#
# No browser is opened (works on a headless machine); open the printed URL yourself.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_python.sh"
course lab "$@"
