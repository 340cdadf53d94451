"""What the save paths take: array-likes are saved as their values or
refused with a way out, never stored with information lost; arguments
that make no sense are refused as InvalidArgumentError."""
import os

import numpy as np
import pytest

import varstore
from conftest import same_bits

MASKED = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])


def _async_save(copy):
    def run(path, tensors, step):
        with varstore.AsyncSaver() as saver:
            saver.save(path, tensors, step, copy=copy)
    return run


# Every public call that saves tensors, as f(path, tensors, step).
SAVES = {"save": varstore.save, "async": _async_save(True),
         "async_nocopy": _async_save(False)}


@pytest.mark.parametrize("how", ["save", "async", "async_nocopy"])
@pytest.mark.parametrize("masked", [
    MASKED, np.ma.masked_array([1.0, 2.0]),  # no entry masked: refused too
    [MASKED, MASKED], [[np.zeros(3)], [MASKED]], (1.0, 2.0, MASKED[:1])],
    ids=["masked", "nothing_masked", "list", "nested_list", "tuple"])
def test_masked_arrays_are_refused_naming_the_tensor_and_the_way_out(
        db, how, masked):
    save = SAVES[how]
    with pytest.raises(varstore.InvalidArgumentError) as e:
        save(db, {"ok": np.zeros(2), "w": masked}, 0)
    text = str(e.value)
    assert text.startswith("tensor w: a numpy masked array")
    assert "arr.filled(value)" in text and "np.asarray(arr)" in text
    assert not os.path.exists(db)


def test_masked_arrays_save_as_filled_or_as_their_data_when_asked(db):
    varstore.save(db, {"filled": MASKED.filled(0.0),
                       "data": np.asarray(MASKED)}, step=0)
    out = varstore.load(db)
    assert same_bits(out["filled"], np.array([1.0, 0.0, 3.0]))
    assert same_bits(out["data"], MASKED.data)


@pytest.mark.parametrize("how", ["save", "async", "async_nocopy"])
@pytest.mark.parametrize("raw", [b"", b"\x00\xffabc", bytearray(b"xyz\x80")],
                         ids=["empty", "bytes", "bytearray"])
def test_bytes_and_bytearray_save_as_memoryview_of_them_does(db, how, raw):
    save = SAVES[how]
    save(db, {"b": raw, "m": memoryview(raw)}, 0)
    out = varstore.load(db)
    want = np.frombuffer(bytes(raw), np.uint8)
    assert same_bits(out["b"], want) and same_bits(out["m"], want)
    assert out["b"].tobytes() == bytes(raw)


def test_bools_are_stored_as_0_and_1_whatever_byte_says_true(db):
    import torch

    raw = np.array([2, 0, 1, 255], np.uint8)
    before = raw.copy()
    varstore.save(db, {"np": raw.view(np.bool_),
                       "torch": torch.from_numpy(raw).view(torch.bool)},
                  step=0)
    assert same_bits(raw, before)  # the caller's array is left as it was
    want = np.array([1, 0, 1, 1], np.uint8)
    out = varstore.load(db)
    assert same_bits(out["np"].view(np.uint8), want)
    assert same_bits(out["torch"].view(np.uint8), want)
    t = varstore.load(db, framework="torch")["torch"]
    assert torch.equal(t, torch.tensor([True, False, True, True]))


def test_torch_views_with_the_negative_or_conjugate_bit_save_their_values(db):
    import torch

    x = torch.tensor([1.0 + 2.0j, -3.0 - 4.0j], dtype=torch.complex64)
    views = {"imag": x.conj().imag,           # strided: made contiguous
             "scalar": x[0].conj().imag,      # 0-d: contiguous as it is
             "one": x[1:].conj().imag,        # one element: likewise
             "neg": torch.ones(2)._neg_view()}
    assert all(v.is_neg() for v in views.values())
    varstore.save(db, views, step=0)
    out = varstore.load(db)
    assert same_bits(out["imag"], np.array([-2.0, 4.0], np.float32))
    assert same_bits(out["scalar"], np.float32(-2.0))
    assert same_bits(out["one"], np.array([4.0], np.float32))
    assert same_bits(out["neg"], np.array([-1.0, -1.0], np.float32))


def test_torch_tensors_without_data_are_refused_naming_the_tensor(db):
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        fake = torch.zeros(2)
    with pytest.raises(varstore.InvalidArgumentError,
                       match=r"tensor fake: its values cannot be read"):
        varstore.save(db, {"ok": torch.ones(2), "fake": fake}, step=0)

    def inside_grad(x):
        with pytest.raises(varstore.InvalidArgumentError,
                           match=r"tensor w: its values cannot be read"):
            varstore.save(db, {"w": x}, step=0)
        return x.sum()

    torch.func.grad(inside_grad)(torch.ones(2))
    assert not os.path.exists(db)


def test_torch_running_out_of_memory_is_an_out_of_memory_error(db,
                                                              monkeypatch):
    import torch
    from varstore import _convert

    def no_memory(t):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(_convert, "_torch_bytes", no_memory)
    with pytest.raises(varstore.OutOfMemoryError,
                       match=r"tensor w: CUDA out of memory \(simulated\)"):
        varstore.save(db, {"w": torch.ones(2)}, step=0)
    assert not os.path.exists(db)


@pytest.mark.parametrize("bad,hint", [
    (np.zeros(2, [("a", "<f4"), ("b", "<i4")]), r"save each field"),
    (np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f4")]),
     r"save each field"),
    (None, r"NoneType as Python objects"),
    ({1, 2}, r"set as Python objects"),
    ([2 ** 70], r"list as Python objects"),
    (np.array([1.5], dtype=object), r"ndarray as Python objects"),
    ("text", r"save its encoded bytes"),
    (np.array([b"ab", b"c"]), r"save its encoded bytes"),
], ids=["structured", "recarray", "none", "set", "bigint", "object",
        "str", "bytes_strings"])
def test_unsupported_dtypes_say_how_to_proceed(db, bad, hint):
    with pytest.raises(varstore.DTypeError, match=hint) as e:
        varstore.save(db, {"w": bad}, step=0)
    assert str(e.value).startswith("tensor w: dtype ")
    assert not os.path.exists(db)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_matrix_and_memmap_are_saved_as_their_values(db, tmp_path):
    m = np.matrix([[1, 2], [3, 4]], dtype=np.float32)
    mm = np.memmap(tmp_path / "mm.bin", np.int32, "w+", shape=(3,))
    mm[:] = [7, 8, 9]
    varstore.save(db, {"matrix": m, "memmap": mm}, step=0)
    out = varstore.load(db)
    assert type(out["matrix"]) is np.ndarray
    assert same_bits(out["matrix"], np.array([[1, 2], [3, 4]], np.float32))
    assert same_bits(out["memmap"], np.array([7, 8, 9], np.int32))


def test_numpy_integers_are_taken_where_ints_are(db):
    x = {"x": np.zeros(2)}
    assert varstore.save(db, x, step=np.int64(1), level=np.int8(3),
                         threads=np.int32(1), max_to_keep=np.int64(5)) == 1
    assert varstore.save(db, x, step=np.uint8(2),
                         max_to_keep=np.int64(varstore.KEEP_ALL)) == 2
    with varstore.AsyncSaver() as saver:
        assert saver.save(db, x, step=np.int16(3)) == 3
    assert set(varstore.load(db, step=np.int64(1))) == {"x"}
    f = varstore.File(db)
    assert f.load("x", step=np.uint32(2)).shape == (2,)
    assert [t.name for t in f.tensors(np.int64(3))] == ["x"]
    f.delete(np.int64(1))
    f.prune(np.int64(1))
    assert f.steps == [3]
    f.set_retention(np.int64(4), np.float32(1.5))
    f.rename("x", "y", step=np.int64(3))
    assert [t.name for t in f.tensors()] == ["y"]


@pytest.mark.parametrize("arg,value,text", [
    ("step", np.bool_(True), "step must be an int, got bool"),
    ("step", True, "step must be an int, got bool"),
    ("step", np.float64(1.0), "step must be an int, got float64"),
    ("step", np.uint64(2 ** 64 - 1), "step must be <= 9223372036854775807"),
    ("threads", np.int64(-1), "threads must be >= 0, got -1"),
    ("max_to_keep", np.int64(0), "max_to_keep must be >= 1, got 0"),
])
def test_numpy_values_that_are_no_such_int_are_refused(db, arg, value, text):
    with pytest.raises(varstore.InvalidArgumentError, match=text):
        varstore.save(db, {"x": np.zeros(2)}, **{"step": 0, arg: value})
    assert not os.path.exists(db)


@pytest.mark.parametrize("codec", [[], None, 0, b"raw"],
                         ids=["list", "none", "int", "bytes"])
def test_a_codec_that_is_not_a_str_is_an_invalid_argument_error(db, codec):
    with pytest.raises(varstore.InvalidArgumentError,
                       match='codec must be "default" or "raw"'):
        varstore.save(db, {"x": np.zeros(2)}, step=0, codec=codec)
    assert not os.path.exists(db)


def test_names_that_are_not_a_list_are_an_invalid_argument_error(db):
    varstore.save(db, {"x": np.zeros(2)}, step=0)
    with pytest.raises(varstore.InvalidArgumentError,
                       match="names must be a list of names or None, got int"):
        varstore.load(db, names=5)


def test_an_empty_name_to_load_is_named_as_such(db):
    varstore.save(db, {"x": np.zeros(2)}, step=0)
    for call in (lambda: varstore.load(db, names=["x", ""]),
                 lambda: varstore.File(db).load("")):
        with pytest.raises(varstore.InvalidArgumentError,
                           match="names must not be empty strings"):
            call()


@pytest.mark.parametrize("copy", [None, 0, 1, "no", np.bool_(False)],
                         ids=["none", "zero", "one", "str", "np_bool"])
def test_async_copy_must_be_true_or_false(db, copy):
    with varstore.AsyncSaver() as saver:
        with pytest.raises(varstore.InvalidArgumentError,
                           match="copy must be True or False, got "):
            saver.save(db, {"x": np.zeros(2)}, step=0, copy=copy)
    assert not os.path.exists(db)
