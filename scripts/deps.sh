#!/bin/sh
# Checks that the system packages varstore builds and tests with are there,
# and installs the missing ones where it can.
#
#   sh scripts/deps.sh [--check] [EXTRA_DEBIAN_PACKAGE ...]
#
# On Debian (dpkg and apt-get present): the packages already installed are
# left alone; missing ones are installed with apt-get when running as root
# (saying which), else the exact command is printed and the script fails.
# With --check nothing is installed: missing packages are only reported.
# Elsewhere (another package manager): the tools and libraries are probed
# (cc, cmake, pkg-config modules) and what is missing is reported as a
# warning; the build goes on and CMake says what it cannot find.
set -eu
check_only=0
if [ "${1:-}" = "--check" ]; then
    check_only=1
    shift
fi
PKGS="gcc make cmake pkg-config libsqlite3-dev zlib1g-dev libcmocka-dev sqlite3"
[ $# -gt 0 ] && PKGS="$PKGS $*"

probe_other_system() {
    missing=""
    for tool in cc make cmake pkg-config; do
        command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
    done
    if command -v pkg-config >/dev/null 2>&1; then
        for mod in sqlite3 zlib cmocka; do
            pkg-config --exists "$mod" || missing="$missing $mod(pkg-config)"
        done
    fi
    if [ -n "$missing" ]; then
        echo "deps: warning: not a Debian system (no dpkg-query/apt-get);" \
            "missing:$missing. Install them with your package manager." >&2
    fi
    exit 0
}

if ! command -v dpkg-query >/dev/null 2>&1 ||
    ! command -v apt-get >/dev/null 2>&1; then
    probe_other_system
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$check_only" = 1 ]; then
    echo "deps: warning: missing Debian packages:$missing" >&2
    echo "deps: install them with:  sudo apt-get install -y$missing" >&2
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing missing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: install them with:  sudo apt-get install -y$missing" >&2
    exit 1
fi
