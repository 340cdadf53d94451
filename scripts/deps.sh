#!/bin/sh
# Installs the Debian packages varstore needs when they are missing.
# As root (as on CI) it runs apt-get itself and says what it installs;
# otherwise it prints the exact command and fails.
set -eu
PKGS="gcc make cmake pkg-config libsqlite3-dev zlib1g-dev libcmocka-dev sqlite3"
[ $# -gt 0 ] && PKGS="$PKGS $*"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
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
