#!/usr/bin/env bash
# Make sure the grader has its sandbox: Debian's bubblewrap at /usr/bin/bwrap, plus
# setpriv and unshare (util-linux, always there on Debian) for grading as root.
#
# Exits non-zero with the reason when bubblewrap is missing and cannot be installed; the
# caller (scripts/test.sh) then still runs the tests, and the grading tests fail saying so.
# On a machine without bubblewrap (macOS), tools/grade.py refuses to run unless given
# --unsafe-no-sandbox.
set -euo pipefail

say() { printf '[sandbox] %s\n' "$*"; }
die() { printf '[sandbox] ERROR: %s\n' "$*" >&2; exit 1; }

if command -v bwrap >/dev/null 2>&1; then
    say "found $(command -v bwrap) ($(bwrap --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi
[ "$(uname -s)" = Linux ] \
    || die "bubblewrap needs Linux; on $(uname -s), grade with tools/grade.py --unsafe-no-sandbox (rows are marked unsandboxed)."
source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"
apt_install bubblewrap "Debian's bubblewrap"
command -v bwrap >/dev/null 2>&1 || die "apt-get installed bubblewrap but there is no bwrap command."
say "installed $(command -v bwrap) ($(bwrap --version 2>/dev/null || echo 'version unknown'))"
