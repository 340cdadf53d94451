"""The Python example of the project's README (and of python/README.md,
which repeats it) runs as written, in a scratch folder."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
READMES = [os.path.join(HERE, "..", "..", "README.md"),
           os.path.join(HERE, "..", "README.md")]


def readme_example(readme):
    text = open(readme, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "README.md should hold one Python example"
    return blocks[0]


@pytest.mark.parametrize("readme", READMES, ids=["README", "python-README"])
def test_readme_example_runs(tmp_path, readme):
    import varstore  # the package under test, wherever it was found
    env = dict(os.environ)
    where = os.path.dirname(os.path.dirname(os.path.abspath(
        varstore.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [where] + [p for p in [env.get("PYTHONPATH")] if p])
    p = subprocess.run([sys.executable, "-c", readme_example(readme)],
                       cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "[0, 1, 2]"
    assert lines[1].startswith("dense/bias float32 (10,)")
    assert lines[2].startswith("dense/kernel float32 (784, 10)")
