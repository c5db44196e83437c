# Sourced by scripts/install-*.sh: install one Debian package with apt-get, as root or through
# passwordless sudo. The caller defines say() and die() (their messages carry its prefix).
#
#   apt_install PACKAGE "what the caller is about to install, for the log"

apt_install() {
    local package="$1" what="$2"
    command -v apt-get >/dev/null 2>&1 \
        || die "$package is not installed and there is no apt-get to install it: install your distribution's $package package."
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "$package is not installed and installing it needs root (not root, no passwordless sudo). Run as root: apt-get update && apt-get install -y --no-install-recommends $package"
        fi
    fi
    say "installing $what with apt-get (needs root)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        || die "apt-get update failed (see above)."
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null \
        || die "apt-get install $package failed (see above)."
}
