#!/usr/bin/env bash
# Set everything up, then start JupyterLab on the student labs in notebooks/.
#
#   bash scripts/lab.sh                 # http://127.0.0.1:8888/lab?token=... (printed below)
#   bash scripts/lab.sh --port=9000     # extra arguments go to `jupyter lab`
#   bash scripts/lab.sh --ip=0.0.0.0    # listen on all interfaces (e.g. inside a container)
#
# No browser is opened (works on a headless machine); open the printed URL yourself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
# The command line lives in scripts/jupyter_lab.py so that the browser test starts
# JupyterLab exactly the same way.
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/jupyter_lab.py" "$@"
