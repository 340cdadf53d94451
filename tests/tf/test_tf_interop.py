"""TensorFlow reads what varstore's C writer writes, and varstore reads what
TensorFlow writes, bit-exact (names, shapes, dtypes, values).

Run by CTest (tests/tf.cmake) as `VS_PYTHON tests/tf/test_tf_interop.py
DRIVER`, or with pytest and VS_TF_DRIVER set to the tf_driver binary.
Skipped (exit 77 / pytest skip) when TensorFlow cannot be imported.
"""
import os
import subprocess
import sys
import tempfile

if __name__ == "__main__":
    try:  # TensorFlow (and numpy with it) or skip, before anything else
        import tensorflow  # noqa: F401
    except Exception as exc:  # any import failure means: no TF here
        print("skipped: TensorFlow cannot be imported (%s)" % exc)
        sys.exit(77)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402  (the variables and their formula)

try:
    import pytest
except ImportError:  # run as a plain script
    pytest = None


def _tf():
    import tensorflow as tf  # noqa: F401
    tf.compat.v1.disable_eager_execution()
    return tf


def _driver():
    return os.environ["VS_TF_DRIVER"]


def _bytes(a):
    return np.ascontiguousarray(a).tobytes()


def _expected(dtype, shape, seed):
    v = make_fixtures.values(dtype, shape, seed)
    if dtype == "bfloat16":
        import tensorflow as tf
        v = v.astype(tf.bfloat16.as_numpy_dtype)
    return v


def _c_writes(tmp):
    prefix = os.path.join(tmp, "model.ckpt")
    subprocess.run([_driver(), "write", prefix], check=True)
    return prefix


def test_tf_lists_and_loads_what_c_wrote():
    tf = _tf()
    with tempfile.TemporaryDirectory() as tmp:
        prefix = _c_writes(tmp)
        listed = dict(tf.train.list_variables(tmp))
        want = {n: s for n, _, s, _, _ in make_fixtures.VARIABLES}
        assert listed == want
        reader = tf.train.load_checkpoint(prefix)
        dtypes = reader.get_variable_to_dtype_map()
        for name, dtype, shape, seed, _ in make_fixtures.VARIABLES:
            got = reader.get_tensor(name)
            assert dtypes[name].name == dtype, name
            assert list(got.shape) == shape, name
            assert _bytes(got) == _bytes(_expected(dtype, shape, seed)), name
        assert tf.train.latest_checkpoint(tmp) == prefix


def test_tf_saver_restores_what_c_wrote_into_scoped_graph():
    tf = _tf()
    with tempfile.TemporaryDirectory() as tmp:
        prefix = _c_writes(tmp)
        graph = tf.Graph()
        with graph.as_default():
            make_fixtures.build_graph(tf)  # same scopes; partitioned too
            saver = tf.compat.v1.train.Saver()
            with tf.compat.v1.Session() as sess:
                saver.restore(sess, prefix)
                by_name = {v.op.name: v for v in
                           tf.compat.v1.global_variables()}
                for name, dtype, shape, seed, parts in make_fixtures.VARIABLES:
                    if parts:
                        pieces = [by_name["%s/part_%d" % (name, i)]
                                  for i in range(parts)]
                        got = np.concatenate(sess.run(pieces), axis=0)
                    else:
                        got = sess.run(by_name[name])
                    assert _bytes(got) == _bytes(
                        _expected(dtype, shape, seed)), name


def test_tf_reads_a_c_index_of_several_blocks():
    tf = _tf()
    n = 8000
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "many.ckpt")
        subprocess.run([_driver(), "many", prefix, str(n)], check=True)
        assert os.path.getsize(prefix + ".index") > 2 * 256 * 1024
        listed = tf.train.list_variables(prefix)
        assert len(listed) == n
        reader = tf.train.load_checkpoint(prefix)
        for i in range(0, n, 331):
            name = ("layer_%06d/a_rather_long_scope_name_for_a_big_index/"
                    "kernel" % i)
            assert reader.get_tensor(name).tolist() == [i]


def test_c_writer_bytes_equal_tf_saver_bytes():
    """TF's Saver and the C writer, same tensors: the same two files."""
    tf = _tf()
    with tempfile.TemporaryDirectory() as tmp:
        graph = tf.Graph()
        with graph.as_default():
            for name, dtype, shape, seed, parts in make_fixtures.VARIABLES:
                if not parts:  # the C writer writes whole tensors only
                    tf.compat.v1.get_variable(name, initializer=tf.constant(
                        make_fixtures.values(dtype, shape, seed),
                        dtype=tf.as_dtype(dtype)))
            saver = tf.compat.v1.train.Saver()
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                saver.save(sess, os.path.join(tmp, "tf.ckpt"),
                           write_meta_graph=False, write_state=False)
        subprocess.run([_driver(), "copy", os.path.join(tmp, "tf.ckpt"),
                        os.path.join(tmp, "c.ckpt")], check=True)
        for suffix in (".index", ".data-00000-of-00001"):
            with open(os.path.join(tmp, "tf.ckpt" + suffix), "rb") as f:
                want = f.read()
            with open(os.path.join(tmp, "c.ckpt" + suffix), "rb") as f:
                got = f.read()
            assert got == want, suffix


def test_c_reads_what_tf_saver_wrote_at_random():
    tf = _tf()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        graph = tf.Graph()
        values = {}
        with graph.as_default():
            init = {
                "r/a": rng.standard_normal((4, 5)).astype(np.float32),
                "r/b": rng.integers(-2**40, 2**40, (3,), dtype=np.int64),
                "r/c": rng.standard_normal((2, 2, 2)).astype(np.float16),
            }
            for name, val in init.items():
                tf.compat.v1.get_variable(name, initializer=tf.constant(val))
                values[name] = val
            part = rng.standard_normal((70, 3)).astype(np.float64)
            with tf.compat.v1.variable_scope("p"):
                pv = tf.compat.v1.get_variable(
                    "w", shape=part.shape, dtype=tf.float64,
                    initializer=tf.compat.v1.constant_initializer(0.0),
                    partitioner=tf.compat.v1.fixed_size_partitioner(4))
            values["p/w"] = part
            assigns = []
            for p in pv:
                info = p._get_save_slice_info()
                o, s = info.var_offset, info.var_shape
                assigns.append(tf.compat.v1.assign(
                    p, part[o[0]:o[0] + s[0], o[1]:o[1] + s[1]]))
            saver = tf.compat.v1.train.Saver()
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                sess.run(assigns)
                saver.save(sess, os.path.join(tmp, "tf.ckpt"))
        out = subprocess.run([_driver(), "dump", tmp], check=True,
                             capture_output=True, text=True).stdout
        got = {}
        for line in out.splitlines():
            name, dtype, dims, hexdata = line.split("\t")
            got[name] = (dtype, dims, hexdata)
        assert sorted(got) == sorted(values)
        for name, val in values.items():
            dtype, dims, hexdata = got[name]
            assert dtype == val.dtype.name, name
            assert dims == ",".join(str(d) for d in val.shape), name
            assert hexdata == _bytes(val).hex(), name


def _save_v2(tf, prefix, names, specs, values):
    """TF's SaveV2 op: slices as given (holes and overlaps included)."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        sess.run(tf.raw_ops.SaveV2(
            prefix=prefix, tensor_names=names, shape_and_slices=specs,
            tensors=[tf.constant(v) for v in values]))


def _tf_error(prefix, name):
    import tensorflow as tf
    try:
        tf.train.load_checkpoint(prefix).get_tensor(name)
    except Exception as exc:  # TF's reader raises several types
        return str(exc)
    raise AssertionError("TF read %s of %s" % (name, prefix))


def test_c_reads_slices_on_two_axes_as_tf():
    tf = _tf()
    spec = "2 3 4 "
    parts = [("-:0,2:0,2", (2, 2, 2)), ("-:2,1:0,2", (2, 1, 2)),
             ("-:0,2:2,2", (2, 2, 2)), ("-:2,1:2,2", (2, 1, 2))]
    vals = [np.arange(np.prod(s), dtype=np.float64).reshape(s) + 100 * k
            for k, (_, s) in enumerate(parts)]
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "p")
        _save_v2(tf, prefix, ["w"] * 4, [spec + p for p, _ in parts], vals)
        want = tf.train.load_checkpoint(prefix).get_tensor("w")
        out = subprocess.run([_driver(), "dump", prefix], check=True,
                             capture_output=True, text=True).stdout
        assert out.split("\t")[:3] == ["w", "float64", "2,3,4"]
        assert out.split("\t")[3].strip() == _bytes(want).hex()


def test_c_errors_on_damaged_checkpoints_carry_tf_text():
    tf = _tf()
    ones = np.ones((2, 2), np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        prefix = os.path.join(tmp, "hole")  # rows 2..3 saved by no slice
        _save_v2(tf, prefix, ["v", "big"], ["4 2 0,2:-", ""],
                 [ones, np.zeros(100, np.float32)])
        cases.append((prefix, "v", "Does not have sufficient slices"))
        prefix = os.path.join(tmp, "lone")  # and no other data either
        _save_v2(tf, prefix, ["v"], ["4 2 0,2:-"], [ones])
        cases.append((prefix, "v", "Does not have sufficient slices"))
        prefix = os.path.join(tmp, "overlap")
        _save_v2(tf, prefix, ["v", "v"], ["4 2 0,2:-", "4 2 1,3:-"],
                 [ones, np.ones((3, 2), np.float32)])
        cases.append((prefix, "v", "Overlapping slices"))
        prefix = os.path.join(tmp, "flipped")
        _save_v2(tf, prefix, ["x"], [""], [np.arange(6, dtype=np.float32)])
        with open(prefix + ".data-00000-of-00001", "r+b") as f:
            f.write(b"\x01")
        cases.append((prefix, "x", "Checksum does not match"))
        prefix = os.path.join(tmp, "noshard")
        _save_v2(tf, prefix, ["x"], [""], [np.arange(6, dtype=np.float32)])
        os.unlink(prefix + ".data-00000-of-00001")
        cases.append((prefix, "x", "noshard.data-00000-of-00001; No such"))
        for prefix, name, what in cases:
            tf_text = _tf_error(prefix, name)
            assert what in tf_text, tf_text
            tf_text = tf_text[tf_text.index(what):]
            got = subprocess.run([_driver(), "dump", prefix],
                                 capture_output=True, text=True)
            assert got.returncode == 1, prefix
            assert tf_text in got.stderr, (tf_text, got.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: test_tf_interop.py TF_DRIVER")
        sys.exit(2)
    os.environ["VS_TF_DRIVER"] = os.path.abspath(sys.argv[1])
    if pytest is not None:
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", __file__]))
    failed = 0
    for fn in [v for k, v in sorted(globals().items()) if k.startswith("test_")]:
        try:
            fn()
            print("PASSED", fn.__name__)
        except Exception as exc:  # report every test, then fail
            failed += 1
            print("FAILED", fn.__name__, repr(exc))
    sys.exit(1 if failed else 0)
elif pytest is not None:
    pytest.importorskip("tensorflow",
                        reason="TensorFlow cannot be imported")
    if "VS_TF_DRIVER" not in os.environ:
        pytest.skip("VS_TF_DRIVER (the tf_driver binary) is not set",
                    allow_module_level=True)
