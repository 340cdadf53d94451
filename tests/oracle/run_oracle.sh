#!/bin/sh
# Runs oracle.py with the given Python; a missing interpreter is a skip
# (exit 77), as a Python without TensorFlow is (oracle.py says so itself).
py=$1
shift
if ! command -v "$py" >/dev/null 2>&1; then
    echo "skipped: TensorFlow not importable ($py not found)"
    exit 77
fi
exec "$py" "$@"
