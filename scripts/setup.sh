#!/usr/bin/env bash
# Set up the course on this machine: a Python 3.11 virtual environment in .venv with the
# pinned packages of requirements.txt, and the verified Shakespeare corpus in data/.
#
# Safe to run any number of times: packages are installed only when requirements.txt has
# changed since the last successful install (its sha256 is stamped inside .venv).
#
# Environment: PYTHON=/path/to/python3.11 picks the interpreter that creates .venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
VENV_PY="$VENV/bin/python"
REQS="$ROOT/requirements.txt"
STAMP="$VENV/.requirements.sha256"
CORPUS="data/tinyshakespeare.txt"
CORPUS_SHA256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
# The corpus is committed; a checkout without it can take it from the shared folder that
# sits beside the repository (never from the network).
CORPUS_FALLBACK="$ROOT/../shared/data/tinyshakespeare.txt"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. an interpreter for the virtual environment -------------------------------------
find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV_PY" ]; then
    BASE_PY="$(find_python)" || die "Python 3.11 was not found (tried \$PYTHON, python3.11, python3). Install Python 3.11 or set PYTHON=/path/to/python3.11."
    say "creating .venv with $BASE_PY ($("$BASE_PY" -V 2>&1))"
    "$BASE_PY" -m venv "$VENV" || die "'$BASE_PY -m venv .venv' failed (on Debian/Ubuntu: apt-get install python3.11-venv)."
fi
"$VENV_PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die ".venv runs $("$VENV_PY" -V 2>&1), not Python 3.11: delete .venv and run this script again."

# --- 2. packages, only when requirements.txt changed ----------------------------------
sha256_of() { "$VENV_PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }

install_requirements() {
    local want have=""
    want="$(sha256_of "$REQS")"
    [ -f "$STAMP" ] && have="$(cat "$STAMP")"
    if [ "$want" = "$have" ]; then
        say "packages up to date (requirements.txt unchanged since the last install)"
        return 0
    fi
    say "installing requirements.txt into .venv (new or changed since the last install; a first install takes a few minutes)"
    local quiet=()
    # In a log (CI, redirected output) pip's per-package lines and progress bars are noise;
    # errors are still printed.
    [ -t 1 ] || quiet=(--quiet --progress-bar off)
    "$VENV_PY" -m pip install --disable-pip-version-check "${quiet[@]}" -r "$REQS" \
        || die "pip could not install requirements.txt (see the messages above)."
    # Stamp only after a complete install, so an interrupted one is retried next time.
    printf '%s\n' "$want" > "$STAMP"
    say "packages installed"
}

if command -v flock >/dev/null 2>&1; then
    # lab.sh and test.sh started together must not run pip into the same .venv at once.
    exec 9>"$VENV/.setup.lock"
    flock 9
fi
install_requirements

# --- 3. the corpus, verified ------------------------------------------------------------
if [ ! -f "$CORPUS" ]; then
    [ -f "$CORPUS_FALLBACK" ] || die "$CORPUS is missing and there is no copy in ../shared/data/ beside the repository."
    say "copying $CORPUS from ../shared/data/"
    mkdir -p data
    cp "$CORPUS_FALLBACK" "$CORPUS"
fi
got="$(sha256_of "$CORPUS")"
[ "$got" = "$CORPUS_SHA256" ] \
    || die "$CORPUS has sha256 $got, expected $CORPUS_SHA256: the file is damaged; restore it (git checkout -- $CORPUS)."
say "corpus $CORPUS verified (sha256 ok)"
say "ready: $("$VENV_PY" -V 2>&1) in .venv"
