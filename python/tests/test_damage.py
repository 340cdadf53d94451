"""Hostile and damaged files give varstore exceptions, never a crash or
wrong data: bit flips, truncation, files that are not checkpoints."""
import os
import shutil
import sqlite3
import zlib

import numpy as np
import pytest

import varstore
from conftest import same_bits

PATTERN = np.arange(4096, dtype=np.uint32) * np.uint32(2654435761)


def make_file(db):
    tensors = {"a/pattern": PATTERN.view(np.float32).copy(),
               "b/other": np.linspace(0, 1, 3000).astype(np.float64),
               "c/ints": np.arange(500, dtype=np.int64)}
    varstore.save(db, tensors, step=1, codec="raw")
    varstore.save(db, {"b/other": tensors["b/other"] * 2}, step=2)
    return tensors


def flip(path, offset, mask=0x10):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ mask]))


def test_bit_flip_in_chunk_data_is_corrupt_error_naming_the_tensor(db):
    tensors = make_file(db)
    data = open(db, "rb").read()
    offset = data.find(PATTERN[100:120].tobytes())
    assert offset > 0
    flip(db, offset + 7)
    with pytest.raises(varstore.CorruptError, match="a/pattern"):
        varstore.load(db, step=1)
    with pytest.raises(varstore.CorruptError):
        varstore.File(db).load("a/pattern", step=1)
    # the other tensors are intact and still load
    out = varstore.load(db, step=1, names=["b/other", "c/ints"])
    assert same_bits(out["c/ints"], tensors["c/ints"])
    with pytest.raises(varstore.CorruptError, match="a/pattern") as e:
        varstore.File(db).verify()
    assert e.value.n_bad == 1
    assert e.value.code == -8  # VS_ECORRUPT


def test_random_bit_flips_never_give_wrong_data(db, tmp_path):
    tensors = make_file(db)
    size = os.path.getsize(db)
    rng = np.random.default_rng(11)
    outcomes = {"error": 0, "ok": 0}
    for i in range(60):
        copy = str(tmp_path / f"flip{i}.db")
        shutil.copyfile(db, copy)
        flip(copy, int(rng.integers(0, size)), 1 << int(rng.integers(0, 8)))
        try:
            out = varstore.load(copy, step=1)
        except varstore.Error:
            outcomes["error"] += 1
            continue
        outcomes["ok"] += 1
        for name, x in tensors.items():
            assert same_bits(out[name], x), (i, name)
    assert outcomes["error"] > 0


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.6, 0.95])
def test_truncated_files_raise_varstore_errors(db, fraction):
    make_file(db)
    size = os.path.getsize(db)
    with open(db, "r+b") as f:
        f.truncate(int(size * fraction))
    with pytest.raises(varstore.Error):
        varstore.load(db, step=1)
        varstore.File(db).verify()


@pytest.mark.parametrize("content", [b"", b"hello world\n" * 100,
                                     os.urandom(8192),
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_not_a_varstore_file(tmp_path, content):
    path = tmp_path / "junk.db"
    path.write_bytes(content)
    for use in (lambda: varstore.load(path), lambda: varstore.File(path),
                lambda: varstore.save(path, {"x": np.zeros(1)}, step=0)):
        with pytest.raises(varstore.Error):
            use()
    assert path.read_bytes() == content  # never overwritten


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE tensors (x)")
    con.commit()
    con.close()
    with pytest.raises(varstore.Error, match="not a varstore"):
        varstore.load(path)
    with pytest.raises(varstore.Error):
        varstore.save(path, {"x": np.zeros(1)}, step=0)


def test_a_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(varstore.Error):
        varstore.load(tmp_path)
    with pytest.raises(varstore.Error):
        varstore.save(tmp_path, {"x": np.zeros(1)}, step=0)


def test_catalogue_lies_about_shape_are_caught(db):
    make_file(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE tensor_rows SET shape = '[9999999]' WHERE id IN "
                "(SELECT id FROM tensors WHERE name = 'c/ints')")
    con.commit()
    con.close()
    with pytest.raises(varstore.CorruptError, match="c/ints"):
        varstore.load(db, step=1, names=["c/ints"])


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_catalogue_claiming_a_huge_tensor_is_a_clean_error(db, framework):
    if framework == "torch":
        pytest.importorskip("torch", reason="torch is not importable")
    make_file(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE tensor_rows SET shape = '[100000000000]', "
                "numel = 100000000000, raw_bytes = 800000000000 "
                "WHERE id IN (SELECT id FROM tensors WHERE name = 'c/ints')")
    con.execute("UPDATE tensor_rows SET numel = 12 WHERE id IN "
                "(SELECT id FROM tensors WHERE name = 'b/other')")
    con.commit()
    con.close()
    with pytest.raises((varstore.OutOfMemoryError, varstore.CorruptError)):
        varstore.load(db, step=1, names=["c/ints"], framework=framework)
    with pytest.raises(varstore.CorruptError, match="do not agree"):
        varstore.load(db, step=1, names=["b/other"], framework=framework)


def _meta_crc(name, dtype, shape):
    c = zlib.crc32(name.encode() + b"\0")
    c = zlib.crc32(dtype.encode() + b"\0", c)
    return zlib.crc32(shape.encode(), c)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_huge_tensor_with_checksums_recomputed_is_corrupt_error(db,
                                                                framework):
    """A row whose shape, numel, raw_bytes and meta_crc all agree on 800
    GB: too large to allocate, and the library, asked, finds its chunk
    rows do not hold it (before: OutOfMemoryError)."""
    if framework == "torch":
        pytest.importorskip("torch", reason="torch is not importable")
    make_file(db)
    con = sqlite3.connect(db)
    shape = "[100000000000]"
    con.execute("UPDATE tensor_rows SET shape = ?, numel = 100000000000, "
                "raw_bytes = 800000000000, meta_crc = ? WHERE id IN "
                "(SELECT id FROM tensors WHERE name = 'c/ints')",
                (shape, _meta_crc("c/ints", "int64", shape)))
    con.commit()
    con.close()
    with pytest.raises(varstore.CorruptError, match="c/ints.*chunk rows"):
        varstore.load(db, step=1, names=["c/ints"], framework=framework)


def test_tensor_name_that_is_not_utf8_is_corrupt_error(db):
    make_file(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE names SET name = CAST(X'FF61' AS TEXT) "
                "WHERE name = 'c/ints'")
    con.commit()
    con.close()
    with pytest.raises(varstore.CorruptError, match="not UTF-8"):
        varstore.File(db).tensors(1)
    with pytest.raises(varstore.CorruptError, match="not UTF-8"):
        varstore.load(db, step=1)
