"""save -> load round trips: every dtype, NumPy and PyTorch, scalars, empty
and non-contiguous tensors, array-likes; bad tensors rejected cleanly."""
import os

import numpy as np
import pytest

import varstore
from conftest import same_bits

try:
    import ml_dtypes
except ImportError:  # bfloat16 through NumPy needs it
    ml_dtypes = None

NUMPY_DTYPES = [np.float32, np.float64, np.float16, np.int8, np.uint8,
                np.int32, np.int64, np.bool_]


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype,
                            endpoint=True)
    x = rng.standard_normal(shape).astype(dtype)
    if x.size >= 4:  # values whose bits must survive
        x.flat[:4] = [np.nan, -0.0, np.inf, -np.inf]
    return x


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_numpy_dtype_round_trips_bit_exact(db, dtype):
    tensors = {"scope/x": sample(dtype, (3, 5, 7)),
               "scalar": sample(dtype, ()),
               "empty": sample(dtype, (0, 4))}
    assert varstore.save(db, tensors, step=1) == 1
    out = varstore.load(db)
    assert list(out) == sorted(tensors)
    for name, x in tensors.items():
        assert same_bits(out[name], x), name


@pytest.mark.skipif(ml_dtypes is None, reason="ml_dtypes is not importable")
def test_numpy_bfloat16_round_trips_as_ml_dtypes(db):
    x = sample(np.float32, (4, 6)).astype(ml_dtypes.bfloat16)
    varstore.save(db, {"b": x}, step=0)
    out = varstore.load(db)["b"]
    assert out.dtype == np.dtype(ml_dtypes.bfloat16)
    assert same_bits(out, x)
    assert varstore.File(db).tensors()[0].dtype == "bfloat16"


def test_bfloat16_without_ml_dtypes_loads_raw_bits(db, monkeypatch):
    torch = pytest.importorskip("torch", reason="torch is not importable")
    t = torch.randn(3, 4).to(torch.bfloat16)
    varstore.save(db, {"b": t}, step=0)
    from varstore import _convert
    monkeypatch.setitem(_convert._NUMPY_BY_NAME, "bfloat16",
                        np.dtype(np.uint16))
    out = varstore.load(db)["b"]
    assert out.dtype == np.uint16
    assert out.tobytes() == t.view(torch.int16).numpy().tobytes()


def test_non_contiguous_and_big_endian_inputs_are_stored_in_c_order(db):
    base = np.arange(60, dtype=np.float64).reshape(6, 10)
    views = {"transposed": base.T, "strided": base[::2, 1::3],
             "fortran": np.asfortranarray(base),
             "reversed": base[::-1],
             "big_endian": base.astype(">f8"),
             "big_endian_i32": np.arange(5, dtype=">i4")}
    varstore.save(db, views, step=0)
    out = varstore.load(db)
    for name, v in views.items():
        want = np.ascontiguousarray(v).astype(v.dtype.newbyteorder("="))
        assert same_bits(out[name], want), name
        assert out[name].flags.c_contiguous


def test_array_likes_buffer_protocol_and_python_scalars(db):
    class HasArray:
        def __array__(self, dtype=None, copy=None):
            return np.array([[1, 2], [3, 4]], dtype=np.int32)

    tensors = {"list": [[1.5, 2.5], [3.5, 4.5]], "float": 2.0, "int": 7,
               "bool": True,
               "memoryview": memoryview(np.arange(6, dtype=np.uint8)),
               "read_only": np.frombuffer(b"\x01\x02\x03\x04", np.int32),
               "array_like": HasArray()}
    varstore.save(db, tensors, step=0)
    out = varstore.load(db)
    assert same_bits(out["list"], np.array([[1.5, 2.5], [3.5, 4.5]]))
    assert same_bits(out["float"], np.float64(2.0))
    assert same_bits(out["int"], np.int64(7))
    assert same_bits(out["bool"], np.bool_(True))
    assert same_bits(out["memoryview"], np.arange(6, dtype=np.uint8))
    assert same_bits(out["read_only"],
                     np.frombuffer(b"\x01\x02\x03\x04", np.int32))
    assert same_bits(out["array_like"], np.array([[1, 2], [3, 4]], np.int32))


@pytest.mark.parametrize("bad", [np.zeros(3, np.int16),
                                 np.zeros(3, np.complex64),
                                 np.array(["a", "b"]),
                                 np.array([object()])],
                         ids=["int16", "complex64", "str", "object"])
def test_unsupported_dtypes_raise_dtype_error_and_write_nothing(db, bad):
    with pytest.raises(varstore.DTypeError, match="not supported") as e:
        varstore.save(db, {"ok": np.zeros(2), "bad": bad}, step=0)
    assert isinstance(e.value, TypeError)
    import os
    assert not os.path.exists(db)


def test_bad_arguments_raise_invalid_argument_error(db):
    x = {"x": np.zeros(2)}
    cases = [
        lambda: varstore.save(db, {"x": np.zeros((1,) * 9)}),
        lambda: varstore.save(db, {3: np.zeros(2)}),
        lambda: varstore.save(db, x, step=-1),
        lambda: varstore.save(db, x, step=1.5),
        lambda: varstore.save(db, x, codec="lz4"),
        lambda: varstore.save(db, x, level=-2),
        lambda: varstore.save(db, x, max_to_keep=0),
        lambda: varstore.save(db, [np.zeros(2)]),
        lambda: varstore.save(db, x, progress=3),
        lambda: varstore.save(db, {"a\0b": np.zeros(2)}),
        lambda: varstore.save(db, {"": np.zeros(2)}),
    ]
    for i, case in enumerate(cases):
        with pytest.raises((varstore.InvalidArgumentError, ValueError)):
            case()
            pytest.fail(f"case {i} did not raise")


@pytest.mark.parametrize("bad", ["a\0b", "a\udcffb"], ids=["nul", "surrogate"])
def test_names_that_cannot_be_c_strings_are_invalid_argument_errors(db, bad):
    varstore.save(db, {"x": np.zeros(2)}, step=0)
    calls = [lambda: varstore.save(db, {"x": np.ones(2), bad: np.ones(1)}),
             lambda: varstore.load(db, names=[bad]),
             lambda: varstore.File(db).load(bad),
             lambda: varstore.File(db).rename(bad, "y"),
             lambda: varstore.File(db).rename("x", bad)]
    for call in calls:
        with pytest.raises(varstore.InvalidArgumentError,
                           match="(tensor name|prefix) .*(NUL|surrogate)"):
            call()
    with varstore.AsyncSaver() as saver:
        with pytest.raises(varstore.InvalidArgumentError, match="tensor name"):
            saver.save(db, {bad: np.ones(1)}, step=1)
    assert varstore.File(db).steps == [0]
    assert [t.name for t in varstore.File(db).tensors()] == ["x"]


@pytest.mark.parametrize("bad", ["m\0.db", b"m\0.db"], ids=["str", "bytes"])
def test_paths_with_a_nul_are_invalid_argument_errors(tmp_path, bad):
    path = os.path.join(os.fsencode(tmp_path) if isinstance(bad, bytes)
                        else str(tmp_path), bad)
    for call in (lambda: varstore.save(path, {"x": np.ones(1)}),
                 lambda: varstore.load(path),
                 lambda: varstore.File(path)):
        with pytest.raises(varstore.InvalidArgumentError,
                           match="path .* contains a NUL"):
            call()
    with varstore.AsyncSaver() as saver:
        with pytest.raises(varstore.InvalidArgumentError, match="NUL"):
            saver.save(path, {"x": np.ones(1)}, step=0)
    assert os.listdir(tmp_path) == []


def test_load_arguments_checked(db):
    varstore.save(db, {"x": np.zeros(2)}, step=0)
    with pytest.raises(varstore.InvalidArgumentError):
        varstore.load(db, framework="jax")
    with pytest.raises(varstore.InvalidArgumentError):
        varstore.load(db, names="x")
    with pytest.raises(varstore.InvalidArgumentError):
        varstore.load(db, step=-3)


def test_each_name_keeps_its_tensor_whatever_order_keys_gives(db):
    class SortedKeys(dict):  # keys() in another order than items()
        def keys(self):
            return sorted(super().keys())

    tensors = SortedKeys(b=np.ones(2), a=np.zeros(3, np.int32))
    varstore.save(db, tensors, step=0)
    with varstore.AsyncSaver() as saver:
        saver.save(db, tensors, step=1)
    for step in (0, 1):
        out = varstore.load(db, step=step)
        assert same_bits(out["a"], np.zeros(3, np.int32))
        assert same_bits(out["b"], np.ones(2))


def test_step_none_appends_after_the_newest(db):
    assert varstore.save(db, {"x": np.zeros(2)}) == 0
    assert varstore.save(db, {"x": np.ones(2)}) == 1
    assert varstore.save(db, {"x": np.ones(2)}, step=10) == 10
    assert varstore.save(db, {"x": np.full(2, 2.0)}) == 11
    assert varstore.File(db).steps == [0, 1, 10, 11]
    assert same_bits(varstore.load(db)["x"], np.full(2, 2.0))
    assert same_bits(varstore.load(db, step=1)["x"], np.ones(2))


def test_step_none_after_the_largest_step_is_a_clear_error(db):
    last = 2**63 - 1
    assert varstore.save(db, {"x": np.zeros(2)}, step=last) == last
    with pytest.raises(varstore.InvalidArgumentError,
                       match="newest step .* is 9223372036854775807"):
        varstore.save(db, {"x": np.ones(2)})
    with varstore.AsyncSaver() as saver:
        with pytest.raises(varstore.InvalidArgumentError, match="largest"):
            saver.save(db, {"x": np.ones(2)})
    assert varstore.File(db).steps == [last]
    assert same_bits(varstore.load(db)["x"], np.zeros(2))


def test_saving_an_existing_step_replaces_it(db):
    varstore.save(db, {"x": np.zeros(2), "y": np.zeros(1)}, step=5)
    varstore.save(db, {"x": np.ones(2)}, step=5)
    assert list(varstore.load(db, step=5)) == ["x"]
    assert same_bits(varstore.load(db, step=5)["x"], np.ones(2))


def test_names_select_in_the_given_order_and_accept_colon_zero(db):
    varstore.save(db, {"a": np.zeros(1), "b": np.ones(1), "c": np.ones(3)},
                  step=0)
    out = varstore.load(db, names=["c", "a:0", "c"])
    assert list(out) == ["c", "a:0"]
    assert same_bits(out["a:0"], np.zeros(1))
    assert same_bits(out["c"], np.ones(3))


def test_missing_names_and_steps_raise_not_found_key_error(db):
    varstore.save(db, {"a": np.zeros(1)}, step=0)
    with pytest.raises(KeyError, match="Key nope not found in checkpoint"):
        varstore.load(db, names=["a", "nope"])
    with pytest.raises(varstore.NotFoundError):
        varstore.load(db, step=7)
    with pytest.raises(varstore.NotFoundError):
        varstore.load(db + ".missing")


def test_codecs_and_levels_round_trip(tmp_path):
    x = np.tile(np.arange(1000, dtype=np.float32), 300)
    raw_db, packed_db = str(tmp_path / "raw.db"), str(tmp_path / "z.db")
    varstore.save(raw_db, {"x": x}, step=0, codec="raw")
    varstore.save(packed_db, {"x": x}, step=0, level=9, threads=1)
    raw = varstore.File(raw_db).tensors()[0]
    packed = varstore.File(packed_db).tensors()[0]
    assert raw.codec == "raw" and raw.stored_bytes == x.nbytes
    assert packed.codec != "raw" and packed.stored_bytes < x.nbytes // 4
    for path in (raw_db, packed_db):
        assert same_bits(varstore.load(path)["x"], x)
