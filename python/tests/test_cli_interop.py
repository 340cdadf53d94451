"""Files written by Python are read by the C command `varstore` (path in
VS_CLI, set by CTest), and files it writes are read by Python."""
import json
import os
import subprocess

import numpy as np
import pytest

import varstore
from conftest import same_bits


def run(cli, *args):
    p = subprocess.run([cli, *args], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def mixed_tensors():
    rng = np.random.default_rng(3)
    return {"conv1/weights":
            rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
            "conv1/biases": np.linspace(-1, 1, 4).astype(np.float64),
            "bn/count": np.array(7, np.int64),
            "mask": rng.integers(0, 2, (5,)).astype(np.bool_),
            "half": rng.standard_normal(6).astype(np.float16),
            "bytes": np.arange(10, dtype=np.uint8),
            "i8": np.arange(-3, 3, dtype=np.int8),
            "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
            "empty": np.zeros((0, 2), np.float32)}


def test_python_file_is_inspected_and_restored_by_the_cli(cli, db, tmp_path):
    tensors = mixed_tensors()
    varstore.save(db, tensors, step=4)
    doc = json.loads(run(cli, "inspect", db, "--json"))
    assert doc["step"] == 4
    assert [c["step"] for c in doc["checkpoints"]] == [4]
    rows = {r.name: r for r in varstore.File(db).tensors()}
    assert sorted(t["name"] for t in doc["tensors"]) == sorted(tensors)
    for t in doc["tensors"]:
        r = rows[t["name"]]
        assert (t["dtype"], tuple(t["shape"]), t["crc32"], t["raw_bytes"]) \
            == (r.dtype, r.shape, r.crc32, r.raw_bytes)
    out = tmp_path / "restored"
    run(cli, "restore", db, "--npy", str(out))
    for name, x in tensors.items():
        assert same_bits(np.load(out / (name + ".npy")), x), name


def test_python_values_printed_by_the_cli(cli, db):
    x = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    varstore.save(db, {"w": x}, step=0)
    doc = json.loads(run(cli, "inspect", db, "--json", "--tensor", "w"))
    assert doc["tensors"][0]["values"] == x.tolist()


def test_cli_verify_accepts_python_file(cli, db):
    varstore.save(db, mixed_tensors(), step=0, codec="raw")
    varstore.save(db, mixed_tensors(), step=1)
    run(cli, "verify", db)


def test_cli_file_is_read_by_python(cli, db, tmp_path):
    tensors = mixed_tensors()
    src = tmp_path / "npy"
    for name, x in tensors.items():
        path = src / (name + ".npy")
        os.makedirs(path.parent, exist_ok=True)
        np.save(path, x)
    run(cli, "save", db, "--step", "9", "--npy", str(src))
    run(cli, "save", db, "--step", "10", "--npy", str(src), "--codec", "raw")
    for step in (9, 10):
        out = varstore.load(db, step=step)
        assert sorted(out) == sorted(tensors)
        for name, x in tensors.items():
            assert same_bits(out[name], x), (step, name)
    assert varstore.File(db).steps == [9, 10]


def test_cli_rename_and_prune_seen_by_python(cli, db):
    for step in range(3):
        varstore.save(db, {"old/w": np.full(2, step, np.float32)}, step=step)
    run(cli, "rename", db, "old/", "new/")
    run(cli, "prune", db, "--keep", "2")
    f = varstore.File(db)
    assert f.steps == [1, 2]
    assert same_bits(f.load("new/w", step=1), np.full(2, 1, np.float32))


def test_bfloat16_from_torch_restored_by_cli_as_float32(cli, db, tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not importable")
    t = torch.randn(4, 4).to(torch.bfloat16)
    varstore.save(db, {"b": t}, step=0)
    run(cli, "restore", db, "--npy", str(tmp_path / "o"))
    assert same_bits(np.load(tmp_path / "o" / "b.npy"), t.float().numpy())
