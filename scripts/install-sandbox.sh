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
command -v apt-get >/dev/null 2>&1 \
    || die "bubblewrap is not installed and there is no apt-get to install it: install your distribution's bubblewrap package."

SUDO=()
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        die "bubblewrap is not installed and installing it needs root (not root, no passwordless sudo). Run as root: apt-get update && apt-get install -y --no-install-recommends bubblewrap"
    fi
fi

say "installing Debian's bubblewrap with apt-get (needs root)"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    || die "apt-get update failed (see above)."
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null \
    || die "apt-get install bubblewrap failed (see above)."
command -v bwrap >/dev/null 2>&1 || die "apt-get installed bubblewrap but there is no bwrap command."
say "installed $(command -v bwrap) ($(bwrap --version 2>/dev/null || echo 'version unknown'))"
