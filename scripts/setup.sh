#!/usr/bin/env bash
# Set up the course: .venv with the newest Python from 3.11 to 3.14, the pinned packages of
# requirements.txt and the course package, and the verified corpus. Same as
# `python course.py setup` (see course.py); PYTHON=/path/to/python picks the interpreter.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_python.sh"
course setup "$@"
