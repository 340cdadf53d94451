"""TensorFlow checkpoints load through varstore.load as varstore files do:
the committed fixtures written by TF's Saver (tests/fixtures/tf), every
value checked against the formula tests/tf/make_fixtures.py wrote."""
import os
import sys

import numpy as np
import pytest

import varstore

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(REPO, "tests", "fixtures", "tf")
sys.path.insert(0, os.path.join(REPO, "tests", "tf"))
import make_fixtures  # noqa: E402  (the generator: VARIABLES and values())


def expected(name):
    for vname, dtype, shape, seed, _parts in make_fixtures.VARIABLES:
        if vname == name:
            v = make_fixtures.values(dtype, shape, seed)
            if dtype == "bfloat16":  # raw bits, as TF stores them
                v = (v.astype(np.float32).view(np.uint32) >> 16).astype(
                    np.uint16)
            return dtype, v
    raise KeyError(name)


def raw_bits(a):
    a = np.asarray(a)
    return a.view(np.uint16) if a.dtype.itemsize == 2 and \
        a.dtype.kind not in "iu" else a


@pytest.mark.parametrize("where", ["", "model.ckpt", "saved_model"])
def test_every_tf_variable_loads_bit_exact(where):
    path = os.path.join(FIX, where) if where else FIX
    got = varstore.load(path)
    names = sorted(v[0] for v in make_fixtures.VARIABLES)
    if where == "saved_model":
        names = [n for n in names if n in got]
        assert names, "the SavedModel holds the fixture's variables"
    else:
        assert sorted(got) == names
    for name in names:
        dtype, want = expected(name)
        a = np.asarray(got[name])
        assert a.shape == want.shape, name
        if dtype == "bfloat16":
            assert np.array_equal(a.view(np.uint16), want), name
        else:
            assert np.array_equal(a, want), name
            assert a.dtype == want.dtype, name


def test_tf_partitioned_variable_loads_whole_into_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    got = varstore.load(FIX, names=["part/emb", "outer/bf:0"],
                        framework="torch")
    _, emb = expected("part/emb")
    assert torch.equal(got["part/emb"], torch.from_numpy(emb))
    _, bf = expected("outer/bf")
    assert got["outer/bf:0"].dtype == torch.bfloat16
    assert np.array_equal(got["outer/bf:0"].view(torch.int16).numpy()
                          .view(np.uint16), bf)


def test_tf_missing_name_and_step_raise_not_found():
    with pytest.raises(KeyError, match="Key nowhere/v not found"):
        varstore.load(FIX, names=["nowhere/v"])
    with pytest.raises(varstore.NotFoundError, match="has no step 5"):
        varstore.load(FIX, step=5)
    assert set(varstore.load(FIX, step=0, names=["flags"])) == {"flags"}


def test_tf_load_checks_step_and_names_as_for_varstore_files():
    for step in (-1, 1.5, True, 2**64):
        with pytest.raises(varstore.InvalidArgumentError, match="step"):
            varstore.load(FIX, step=step)
    for name in (3, b"flags", None):
        with pytest.raises(varstore.InvalidArgumentError,
                           match="names must be str"):
            varstore.load(FIX, names=["flags", name])


def test_tf_progress_counts_colon_zero_and_repeated_names_once():
    calls = []
    got = varstore.load(FIX, names=["flags:0", "dense/bias", "flags:0"],
                        progress=lambda done, total: calls.append(
                            (done, total)))
    assert list(got) == ["flags:0", "dense/bias"]
    total = got["flags:0"].nbytes + got["dense/bias"].nbytes
    assert calls == [(got["flags:0"].nbytes, total), (total, total)]
