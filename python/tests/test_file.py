"""varstore.File: steps, tensor rows, one-tensor loads, delete, prune,
verify, rename, retention; dedup keeps the file small."""
import contextlib
import fractions
import math
import os
import sqlite3

import numpy as np
import pytest

import varstore
from conftest import same_bits


@pytest.fixture
def three_steps(db):
    for step in (1, 2, 3):
        varstore.save(db, {"conv1/weights": np.full((3, 3), step, np.float32),
                           "conv1/biases": np.arange(4, dtype=np.int32),
                           "head/w": np.ones(2, np.float64)}, step=step)
    return db


def test_steps_latest_and_checkpoint_rows(three_steps):
    with varstore.File(three_steps) as f:
        assert f.steps == [1, 2, 3]
        assert f.latest == 3
        rows = f.checkpoints
        assert [r.step for r in rows] == [1, 2, 3]
        assert rows[0].n_tensors == 3
        assert rows[0].raw_bytes == 36 + 16 + 16
        assert rows[0].created_at.endswith("Z")
    assert f.closed


def test_tensor_rows_carry_dtype_shape_sizes_crc_and_stats(three_steps):
    import zlib
    rows = varstore.File(three_steps).tensors(2)
    assert [r.name for r in rows] == ["conv1/biases", "conv1/weights",
                                      "head/w"]
    b, w, _ = rows
    assert (b.dtype, b.shape, b.numel, b.raw_bytes) == ("int32", (4,), 4, 16)
    assert b.min is None and b.mean is None  # no stats for integers
    assert (w.dtype, w.shape, w.numel) == ("float32", (3, 3), 9)
    assert (w.min, w.max, w.mean, w.std) == (2.0, 2.0, 2.0, 0.0)
    assert (w.n_nan, w.n_inf) == (0, 0)
    assert w.crc32 == zlib.crc32(np.full((3, 3), 2, np.float32).tobytes())
    assert w._asdict()["codec"] == w.codec
    assert varstore.File(three_steps).tensors()[1].max == 3.0


def test_rows_make_a_dataframe():
    pd = pytest.importorskip("pandas", reason="pandas is not importable")
    rows = [varstore.TensorInfo("a", "float32", (2,), 2, 8, 8, "raw", 1,
                                0.0, 1.0, 0.5, 0.5, 0, 0)]
    df = pd.DataFrame(rows)
    assert list(df.columns) == list(varstore.TensorInfo._fields)


def test_load_one_tensor_of_a_step(three_steps):
    f = varstore.File(three_steps)
    assert same_bits(f.load("conv1/weights", step=1),
                     np.full((3, 3), 1, np.float32))
    assert same_bits(f.load("conv1/weights:0"),
                     np.full((3, 3), 3, np.float32))
    with pytest.raises(KeyError, match="not found"):
        f.load("conv2/weights")
    with pytest.raises(varstore.NotFoundError, match="no step 9"):
        f.load("conv1/weights", step=9)


def test_delete_prune_and_not_found(three_steps):
    f = varstore.File(three_steps)
    f.delete(2)
    assert f.steps == [1, 3]
    with pytest.raises(varstore.NotFoundError):
        f.delete(2)
    f.prune(1)
    assert f.steps == [3]
    with pytest.raises(varstore.InvalidArgumentError):
        f.prune(0)


def test_rename_in_every_step_or_one(three_steps):
    f = varstore.File(three_steps)
    f.rename("conv1/", "features/conv1/", step=3)
    assert "features/conv1/weights" in [r.name for r in f.tensors(3)]
    assert "conv1/weights" in [r.name for r in f.tensors(2)]
    f.rename("head/", "classifier/")
    for step in f.steps:
        assert "classifier/w" in [r.name for r in f.tensors(step)]
    with pytest.raises(varstore.AlreadyExistsError):
        f.rename("conv1/biases", "conv1/weights", step=1)
    assert same_bits(varstore.load(three_steps, names=["classifier/w"],
                                   step=1)["classifier/w"], np.ones(2))


def test_rename_prefixes_that_are_not_str_are_named(three_steps):
    f = varstore.File(three_steps)
    with pytest.raises(varstore.InvalidArgumentError,
                       match="old_prefix must be a str, got int"):
        f.rename(1, "x/")
    with pytest.raises(varstore.InvalidArgumentError,
                       match="new_prefix must be a str, got bytes"):
        f.rename("conv1/", b"x/")
    assert "conv1/weights" in [r.name for r in f.tensors(3)]


def test_retention_of_the_file_and_per_save(db):
    varstore.save(db, {"x": np.zeros(1)}, step=0)
    f = varstore.File(db)
    f.set_retention(2)
    for step in range(1, 5):
        varstore.save(db, {"x": np.full(1, step)}, step=step)
    assert f.steps == [3, 4]
    varstore.save(db, {"x": np.zeros(1)}, step=5, max_to_keep=varstore.KEEP_ALL)
    varstore.save(db, {"x": np.zeros(1)}, step=6, max_to_keep=varstore.KEEP_ALL)
    assert f.steps == [3, 4, 5, 6]
    varstore.save(db, {"x": np.zeros(1)}, step=7, max_to_keep=1)
    assert f.steps == [7]


def _retention_row(path):
    with contextlib.closing(sqlite3.connect(path)) as con:
        return dict(con.execute(
            "SELECT key, value FROM meta WHERE key IN ('max_to_keep', "
            "'keep_checkpoint_every_n_hours')"))


@pytest.mark.parametrize("keep,hours,text", [
    (True, 1.0, "max_to_keep must be an int, got bool"),
    ("3", 1.0, "max_to_keep must be an int, got str"),
    (2.0, 1.0, "max_to_keep must be an int, got float"),
    (-1, 1.0, "max_to_keep must be >= 0, got -1"),
    (2 ** 31, 1.0, "max_to_keep must be <= 2147483647"),
    (3, "1", "keep_checkpoint_every_n_hours must be a real number or None, "
             "got str"),
    (3, True, "hours must be a real number or None, got bool"),
    (3, np.bool_(True), "hours must be a real number or None, got bool"),
    (3, 1j, "hours must be a real number or None, got complex"),
    (3, math.inf, "hours must be finite and >= 0, got inf"),
    (3, -math.inf, "hours must be finite and >= 0, got -inf"),
    (3, math.nan, "hours must be finite and >= 0, got nan"),
    (3, -0.5, "hours must be finite and >= 0, got -0.5"),
    (3, np.float32("inf"), "hours must be finite and >= 0"),
    (3, 2 ** 1100, "hours must be finite and >= 0"),
    # finite, but its seconds are not: the C library's check
    (3, 1e305, r"hours must be finite, >= 0 and at most 4\.99\d*e\+304, "
               r"got 1e\+305"),
], ids=["bool", "str", "float", "negative", "huge", "hours_str",
        "hours_bool", "hours_np_bool", "hours_complex", "inf", "minus_inf",
        "nan", "negative_hours", "np_inf", "int_beyond_double",
        "seconds_overflow"])
def test_set_retention_refuses_what_is_no_count_or_hours(db, keep, hours,
                                                         text):
    varstore.save(db, {"x": np.zeros(1)}, step=0)
    f = varstore.File(db)
    f.set_retention(2, 1.5)
    with pytest.raises(varstore.InvalidArgumentError, match=text):
        f.set_retention(keep, hours)
    assert _retention_row(db) == {"max_to_keep": 2,
                                  "keep_checkpoint_every_n_hours": 1.5}


def test_set_retention_takes_ints_and_finite_reals_and_none(db):
    varstore.save(db, {"x": np.zeros(1)}, step=0)
    f = varstore.File(db)
    for keep, hours, want in [(np.int64(4), np.float32(0.25), (4, 0.25)),
                              (5, fractions.Fraction(3, 4), (5, 0.75)),
                              (6, 2, (6, 2.0)), (0, None, (0, 0.0))]:
        f.set_retention(keep, hours)
        row = _retention_row(db)
        assert (row["max_to_keep"],
                row["keep_checkpoint_every_n_hours"]) == want


def test_empty_file_has_no_latest(db):
    varstore.save(db, {"x": np.zeros(1)}, step=0)
    f = varstore.File(db)
    f.delete(0)
    assert f.steps == [] and f.latest is None
    with pytest.raises(varstore.NotFoundError):
        varstore.load(db)
    assert varstore.save(db, {"x": np.zeros(1)}) == 0


def test_closed_file_refuses_use(three_steps):
    f = varstore.File(three_steps)
    f.close()
    for use in (lambda: f.steps, lambda: f.tensors(), lambda: f.delete(1),
                lambda: f.load("head/w")):
        with pytest.raises(ValueError, match="closed"):
            use()
    assert "closed" in repr(f)


def test_many_steps_dedup_file_grows_little_when_few_tensors_change(db):
    rng = np.random.default_rng(0)
    model = {f"layer{i}/w": rng.standard_normal((256, 256)).astype(np.float32)
             for i in range(8)}  # 2 MiB, incompressible
    varstore.save(db, model, step=0)
    one = os.path.getsize(db)
    history = [model["layer7/w"]]
    for step in range(1, 21):
        model["layer7/w"] = model["layer7/w"] + 1  # 1 of 8 tensors changes
        history.append(model["layer7/w"])
        varstore.save(db, model, step=step)
    grown = os.path.getsize(db) - one
    per_step = grown / 20
    layer = model["layer7/w"].nbytes
    assert per_step < 1.5 * layer, (one, grown)  # not the whole model
    assert varstore.File(db).checkpoints[-1].raw_bytes == 8 * layer
    for step in (0, 10, 20):
        w = varstore.load(db, step=step, names=["layer7/w"])["layer7/w"]
        assert same_bits(w, history[step])


def test_verify_sound_file_with_progress(three_steps):
    calls = []
    varstore.File(three_steps).verify(
        progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]
