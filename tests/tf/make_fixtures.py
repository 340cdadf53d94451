"""Writes the TensorFlow checkpoint fixtures of tests/fixtures/tf/ with TF's
own Saver (tf.compat.v1, graph mode), for the C reader's tests.

    ./.venv/bin/python tests/tf/make_fixtures.py [OUTDIR]   (default: the fixtures dir)
    ./.venv/bin/python tests/tf/make_fixtures.py --check    (regenerate in a temp dir,
                                                             compare byte for byte)

Every value comes from one formula, recomputed by tests/test_tf_bundle.c:
element i (row-major) of the variable with seed s is k = (7 * i + s) % 23 and
  floats:  (k - 11) * 0.125          (exact in float16 and bfloat16 too)
  int8:    k - 11        int32: (k - 11) * 100000    int64: (k - 11) * 10**12
  uint8:   k * 10        bool:  k % 3 == 0
The partitioned variables' slices follow tf.compat.v1.fixed_size_partitioner.
The `checkpoint` state file is written here (no timestamps), so that
regenerating gives the same bytes.
"""
import filecmp
import os
import shutil
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # main() reports it (skipped under --check)
    np = None

# (name, dtype name, shape, seed, partitions or 0)
VARIABLES = [
    ("dense/kernel", "float32", [3, 4], 1, 0),
    ("dense/bias", "float32", [4], 2, 0),
    ("outer/inner/w64", "float64", [2, 3], 3, 0),
    ("outer/inner/h16", "float16", [5], 4, 0),
    ("outer/bf", "bfloat16", [2, 2], 5, 0),
    ("ints/i32", "int32", [3], 6, 0),
    ("ints/i64", "int64", [2, 2], 7, 0),
    ("ints/i8", "int8", [4], 8, 0),
    ("ints/u8", "uint8", [6], 9, 0),
    ("flags", "bool", [7], 10, 0),
    ("global_step", "int64", [], 11, 0),
    ("empty", "float32", [0, 3], 12, 0),
    ("part/emb", "float32", [10, 3], 13, 3),
    ("bigpart/w", "float32", [130, 2], 14, 2),
]

# Written with Saver(sharded=True) on two CPU devices into sharded/: two
# data shards (model.ckpt.data-0000{0,1}-of-00002). (name, dtype, shape,
# seed, device)
SHARDED = [
    ("s/a", "float32", [2, 3], 15, "/cpu:0"),
    ("s/b", "int64", [4], 16, "/cpu:1"),
]

# Written by TF 2's object-based tf.train.Checkpoint (eager, in a child
# process) into tf2/: keys "<path>/.ATTRIBUTES/VARIABLE_VALUE" plus the
# string tensor _CHECKPOINTABLE_OBJECT_GRAPH. (attribute, dtype, shape, seed)
TF2_OBJECTS = [
    ("dense", "float32", [2, 3], 17),
    ("step", "int64", [], 18),
]


def values(dtype, shape, seed):
    n = int(np.prod(shape)) if shape else 1
    k = (7 * np.arange(n, dtype=np.int64) + seed) % 23
    if dtype in ("float32", "float64", "float16"):
        v = ((k - 11) * 0.125).astype(dtype)
    elif dtype == "bfloat16":
        v = ((k - 11) * 0.125).astype(np.float32)
    elif dtype == "int8":
        v = (k - 11).astype(np.int8)
    elif dtype == "int32":
        v = ((k - 11) * 100000).astype(np.int32)
    elif dtype == "int64":
        v = ((k - 11) * 10**12).astype(np.int64)
    elif dtype == "uint8":
        v = (k * 10).astype(np.uint8)
    elif dtype == "bool":
        v = (k % 3) == 0
    else:
        raise ValueError(dtype)
    return v.reshape(shape)


def build_graph(tf):
    """The variables (in nested scopes) and one assign op per piece."""
    assigns = []
    for name, dtype, shape, seed, parts in VARIABLES:
        scope, _, leaf = name.rpartition("/")
        full = values(dtype, shape, seed)
        tfdtype = tf.as_dtype(dtype)
        with tf.compat.v1.variable_scope(scope or tf.compat.v1.get_variable_scope()):
            part = (tf.compat.v1.fixed_size_partitioner(parts) if parts else None)
            var = tf.compat.v1.get_variable(
                leaf, shape=shape, dtype=tfdtype,
                initializer=tf.compat.v1.zeros_initializer(), partitioner=part)
        pieces = list(var) if parts else [var]
        for p in pieces:
            if parts:
                info = p._get_save_slice_info()
                idx = tuple(slice(o, o + s) for o, s in
                            zip(info.var_offset, info.var_shape))
                val = full[idx]
            else:
                val = full
            assigns.append(tf.compat.v1.assign(p, tf.constant(val, dtype=tfdtype)))
    return assigns


def write_state(dirname, basename):
    with open(os.path.join(dirname, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "%s"\n' % basename)
        f.write('all_model_checkpoint_paths: "%s"\n' % basename)


def generate_tf2(outdir):
    """Runs in a child process: eager mode, tf.train.Checkpoint."""
    import tensorflow as tf
    os.makedirs(outdir, exist_ok=True)
    model = tf.Module()
    for attr, dtype, shape, seed in TF2_OBJECTS:
        setattr(model, attr, tf.Variable(values(dtype, shape, seed)))
    tf.train.Checkpoint(model=model).write(os.path.join(outdir, "model.ckpt"))


def generate(outdir):
    import subprocess
    subprocess.run([sys.executable, os.path.abspath(__file__), "--tf2",
                    os.path.join(outdir, "tf2")], check=True)
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    os.makedirs(outdir, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        assigns = build_graph(tf)
        saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V2)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(assigns)
            saver.save(sess, os.path.join(outdir, "model.ckpt"),
                       write_meta_graph=False, write_state=False)
            vdir = os.path.join(outdir, "saved_model", "variables")
            os.makedirs(vdir, exist_ok=True)
            saver.save(sess, os.path.join(vdir, "variables"),
                       write_meta_graph=False, write_state=False)
    write_state(outdir, "model.ckpt")
    check_with_tf(tf, os.path.join(outdir, "model.ckpt"))
    generate_sharded(tf, os.path.join(outdir, "sharded"))


def generate_sharded(tf, outdir):
    os.makedirs(outdir, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        for name, dtype, shape, seed, device in SHARDED:
            with tf.device(device):
                tf.compat.v1.get_variable(name, initializer=tf.constant(
                    values(dtype, shape, seed), dtype=tf.as_dtype(dtype)))
        saver = tf.compat.v1.train.Saver(sharded=True)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with tf.compat.v1.Session(config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, os.path.join(outdir, "model.ckpt"),
                       write_meta_graph=False, write_state=False)
    names = sorted(os.listdir(outdir))
    assert names == ["model.ckpt.data-00000-of-00002",
                     "model.ckpt.data-00001-of-00002",
                     "model.ckpt.index"], names


def check_with_tf(tf, prefix):
    """What TF reads back is the formula (guards the generator itself)."""
    reader = tf.train.load_checkpoint(prefix)
    for name, dtype, shape, seed, _ in VARIABLES:
        got = reader.get_tensor(name)
        want = values(dtype, shape, seed)
        if dtype == "bfloat16":
            got = np.asarray(got, dtype=np.float32)
        assert list(got.shape) == shape, name
        assert np.array_equal(got, want), name


def check(fixtures):
    tmp = tempfile.mkdtemp(prefix="vs_tf_fixtures_")
    try:
        generate(tmp)
        bad = []
        for root, _, files in os.walk(tmp):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), tmp)
                ref = os.path.join(fixtures, rel)
                if not os.path.exists(ref) or not filecmp.cmp(
                        os.path.join(root, f), ref, shallow=False):
                    bad.append(rel)
        if bad:
            print("regenerated fixtures differ: " + ", ".join(sorted(bad)))
            return 1
        print("fixtures regenerate byte for byte")
        return 0
    finally:
        shutil.rmtree(tmp)


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = os.path.join(here, "..", "fixtures", "tf")
    if len(argv) > 2 and argv[1] == "--tf2":
        generate_tf2(argv[2])
        return 0
    if len(argv) > 1 and argv[1] == "--check":
        try:
            import tensorflow  # noqa: F401
        except Exception as exc:  # no TF here: CTest counts it skipped
            print("skipped: TensorFlow cannot be imported (%s)" % exc)
            return 77
        return check(fixtures)
    generate(argv[1] if len(argv) > 1 else fixtures)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
