#!/bin/sh
# Creates and updates the project's Python environment, .venv/ at the top
# of the checkout, and installs into it the Python packages of the named
# groups (scripts/requirements-GROUP.txt). It installs only what is missing
# and says what it installs; a group that cannot be installed (no network,
# no wheel for this Python) fails with pip's message, and the caller
# decides whether its tests skip.
#
#   sh scripts/venv.sh test            # pytest, NumPy, safetensors
#   sh scripts/venv.sh test torch tf   # plus PyTorch (CPU) and TensorFlow
#
# VS_PYTHON picks the interpreter that creates the venv (default python3).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
venv="$top/.venv"
py=${VS_PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    if ! command -v "$py" >/dev/null 2>&1; then
        echo "venv: no $py on PATH: Python tests cannot run" >&2
        exit 1
    fi
    echo "venv: creating $venv with $($py --version 2>&1)"
    "$py" -m venv "$venv"
fi
for group in "$@"; do
    req="$top/scripts/requirements-$group.txt"
    if [ ! -f "$req" ]; then
        echo "venv: no such group: $group ($req)" >&2
        exit 2
    fi
    stamp="$venv/.installed-$group"
    if [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
        continue
    fi
    echo "venv: installing the '$group' group into $venv:" \
        "$(grep -v '^#' "$req" | tr '\n' ' ')"
    "$venv/bin/python" -m pip install -q -r "$req"
    cp "$req" "$stamp"
done
