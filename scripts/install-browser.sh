#!/usr/bin/env bash
# Make sure the browser test has a browser: Debian's Chromium at /usr/bin/chromium
# (or the executable named by CHROMIUM_PATH). Playwright itself comes from requirements.txt;
# its own browser download (`playwright install`) is never used.
#
# Exits non-zero with the reason when Chromium is missing and cannot be installed; the
# caller (scripts/test.sh) then still runs the tests, and the browser test fails saying so.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
say() { printf '[browser] %s\n' "$*"; }
die() { printf '[browser] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -x "$CHROMIUM" ]; then
    say "found $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi
[ "$CHROMIUM" = /usr/bin/chromium ] || die "CHROMIUM_PATH=$CHROMIUM is not an executable file."
source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"
apt_install chromium "Debian's chromium (about a minute)"
# Ubuntu's 'chromium' package is only a stub for a snap, which gives no /usr/bin/chromium.
[ -x "$CHROMIUM" ] || die "apt-get installed 'chromium' but $CHROMIUM does not exist (Ubuntu's package is a snap stub; use Debian, or set CHROMIUM_PATH)."
say "installed $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
