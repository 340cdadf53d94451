"""Shared fixtures of the varstore Python tests.

Run by CTest (python_tests) with PYTHONPATH at the built package and
VS_CLI at the built `varstore` command; by hand, from the repository:

    PYTHONPATH=build/python VS_CLI=build/tools/varstore \
        .venv/bin/python -m pytest python/tests
"""
import os
import shutil

import numpy as np
import pytest


@pytest.fixture
def db(tmp_path):
    """A path for a new checkpoint file."""
    return str(tmp_path / "model.db")


@pytest.fixture
def cli():
    """The varstore command (env VS_CLI), or skip."""
    path = os.environ.get("VS_CLI") or shutil.which("varstore")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("the varstore command is not available (set VS_CLI)")
    return path


def same_bits(a, b):
    """Equal dtype, shape and bytes (NaN payloads and -0.0 included)."""
    a, b = np.asarray(a), np.asarray(b)
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes()
            == np.ascontiguousarray(b).tobytes())
