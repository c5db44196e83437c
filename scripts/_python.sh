# Sourced by the scripts in this folder: run course.py with a Python found on PATH.
# course.py itself picks the Python for .venv (the newest of 3.11 to 3.14, or $PYTHON).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
course() {
    local py
    for py in "${PYTHON:-}" python3 python; do
        [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 && exec "$py" "$ROOT/course.py" "$@"
    done
    printf '[setup] ERROR: no python3 or python on PATH: install Python 3.14 (or any of 3.11 to 3.14).\n' >&2
    exit 1
}
