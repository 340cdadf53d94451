#!/bin/sh
# Checks that `pip install ./python` builds and installs varstore into a
# fresh, throwaway venv (pip's isolated build fetches scikit-build-core and
# NumPy from the package index), and that the README's Python example runs
# with it, from a folder outside the repository.
#
# usage: sh python/tests/pip_install_check.sh [PYTHON]
#   PYTHON: the interpreter the venv is made from (default: python3).
# Needs network access to the package index; exit 0 on success.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
base=${1:-python3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/varstore-pip.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

"$base" -m venv "$tmp/venv"
py="$tmp/venv/bin/python"
"$py" -m pip install --quiet "$repo/python"

# the example, extracted from the README, run outside the repository
"$py" - "$repo/README.md" > "$tmp/example.py" <<'PY'
import re, sys
blocks = re.findall(r"```python\n(.*?)```", open(sys.argv[1]).read(), re.S)
assert len(blocks) == 1, "README.md should hold one Python example"
print(blocks[0])
PY
mkdir "$tmp/run"
(cd "$tmp/run" && "$py" "$tmp/example.py") > "$tmp/out.txt"
head -1 "$tmp/out.txt" | grep -qx '\[0, 1, 2\]'

# installed from the wheel, with the typing marker, module compiled in;
# progress callbacks (their exception handling differs from CPython 3.12)
(cd "$tmp/run" && "$py" -c '
import os, varstore
d = os.path.dirname(varstore.__file__)
assert "site-packages" in d, d
assert os.path.exists(os.path.join(d, "py.typed"))
assert varstore.c_library_version == varstore.__version__
# an exception from a progress callback reaches the caller
import numpy as np
def progress(done, total):
    raise LookupError("from progress")
try:
    varstore.save("p.db", {"x": np.zeros(1 << 20)}, step=0, progress=progress)
    raise SystemExit("the progress exception was lost")
except LookupError:
    pass
assert varstore.File("p.db").steps == [0]
')
echo "pip install ./python: OK ($("$py" -c 'import varstore; print(varstore.__file__)' 2>/dev/null || true))"
