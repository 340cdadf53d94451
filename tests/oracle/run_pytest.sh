#!/bin/sh
# Runs pytest on the given files with the given Python; a Python without
# pytest is a skip (exit 77).
py=$1
shift
if ! command -v "$py" >/dev/null 2>&1 || ! "$py" -c "import pytest" 2>/dev/null
then
    echo "skipped: pytest not importable with $py"
    exit 77
fi
exec "$py" -m pytest -q -p no:cacheprovider "$@"
