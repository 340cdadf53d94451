"""The scripted cases in TensorFlow (tf.compat.v1, graph mode): the same
steps as tests/oracle/oc_names.c, oc_reuse.c and oc_partition.c, printing
the same lines. A step prints only what it shows or its error."""
import tensorflow as tf

from tf_common import error_line, shape_str

v1 = tf.compat.v1


class Prog:
    """One program on a fresh graph: scopes entered and left by hand, as
    the C calls do, and the lines it printed."""

    def __init__(self):
        self.lines = []
        self.stack = []

    def out(self, line):
        self.lines.append(line)

    def step(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            self.out(error_line(exc))
            return None

    def _enter(self, cm):
        cm.__enter__()
        self.stack.append(cm)
        return cm

    def vpush(self, name, reuse=None, **kw):
        """Enters a variable scope and shows it (scope, name scope)."""
        cm = self.step(lambda: self._enter(
            v1.variable_scope(name, reuse=reuse, **kw)))
        if cm is not None:
            self.scope_line()
            self.name_scope_line()
        return cm

    def npush(self, name):
        """Enters a name scope and shows it."""
        cm = self.step(lambda: self._enter(v1.name_scope(name)))
        if cm is not None:
            self.name_scope_line()
        return cm

    def pop(self):
        self.stack.pop().__exit__(None, None, None)

    def name_scope_line(self):
        cur = v1.get_default_graph().get_name_scope()
        self.out("name_scope " + (cur + "/" if cur else ""))

    def scope_line(self):
        s = v1.get_variable_scope()
        reuse = {True: "True", False: "False"}.get(s.reuse, "AUTO")
        self.out("scope %s %s reuse=%s" % (s.name, s.original_name_scope,
                                           reuse))

    def var(self, v):
        self.out("var %s %s %s trainable=%d" % (
            v.name, shape_str(v.shape), v.dtype.base_dtype.name,
            int(v.trainable)))

    def getv(self, name, shape=None, dtype=tf.float32, **kw):
        v = self.step(v1.get_variable, name, shape=shape, dtype=dtype, **kw)
        if v is not None:
            self.var(v)
        return v

    def variable(self, name=None):
        v = self.step(v1.Variable, 0.0, name=name)
        if v is not None:
            self.var(v)
        return v

    def same(self, a, b):
        self.out("same %d" % int(a is not None and a is b))

    def collection(self, key, regex=None):
        names = [v.name for v in v1.get_collection(key, regex)]
        self.out("collection %s%s:%s" % (
            key, " " + regex if regex else "",
            "".join(" " + n for n in names)))


GLOBAL = v1.GraphKeys.GLOBAL_VARIABLES
TRAINABLE = v1.GraphKeys.TRAINABLE_VARIABLES
LOCAL = v1.GraphKeys.LOCAL_VARIABLES


def names_name_scope_unique(p):
    steps = ["a", None, "a", "b", None, None, "a/", "c", None, None,
             "a_1", "_x", None, None]
    for step in steps:
        if step is None:
            p.pop()
        else:
            p.npush(step)


def names_invalid_scope_names(p):
    p.npush("_x")
    p.npush("a")
    p.npush("b c")
    p.pop()
    p.vpush("_v")
    p.getv("bad name", [2])


def names_shared_namespace(p):
    p.getv("x/y", [2])
    p.npush("x"); p.pop()
    p.variable("foo")
    p.vpush("foo"); p.getv("v", [2]); p.pop()
    p.npush("Foo"); p.pop()


def names_trailing_slash_ops(p):
    p.getv("x", [2]); p.variable("x/")
    p.variable("y/"); p.variable("y"); p.variable("y")
    p.vpush("s"); p.getv("v/", [2]); p.getv("v", [2]); p.pop()
    p.collection(GLOBAL)


def names_empty_variable_name(p):
    p.getv("", [2])


def names_scope_dtype(p):
    def getv(name, dtype=None):
        v = p.step(v1.get_variable, name, shape=[2],
                   **({"dtype": dtype} if dtype else {}))
        if v is not None:
            p.var(v)
    p.vpush("h", dtype=tf.float16); getv("a"); getv("b", tf.float64)
    p.vpush("inner"); getv("c"); p.pop()
    p.vpush("d", dtype=tf.float64); getv("e"); p.pop(); p.pop()
    getv("f")


def names_unique_name(p):
    g = v1.get_default_graph()

    def unique(name, mark):
        p.out("unique " + g.unique_name(name, mark_as_used=mark))
    unique("op", True); unique("op", True); unique("Op", True)
    unique("op_1", True); unique("x", False); unique("x", False)
    p.npush("s"); unique("op", True); p.pop()
    unique("s", True)


def names_variable_scope(p):
    p.vpush("foo"); p.getv("v", [2])
    p.vpush("bar")
    p.getv("w", [2, 3]); p.pop(); p.pop()
    p.vpush("foo", reuse=True)
    p.getv("v"); p.pop()
    p.npush("ns"); p.vpush("inner")
    p.getv("u", []); p.pop(); p.pop()


def names_variable_scope_reenter(p):
    cm = p.vpush("foo")
    s = v1.get_variable_scope()
    p.getv("v", [2]); p.pop()
    p.vpush(s); p.getv("w", [2])
    p.pop()
    p.vpush("outer"); p.vpush(s)
    p.getv("x", [2]); p.pop(); p.pop()
    del cm


def names_default_name(p):
    for _ in range(2):
        p.vpush(None, default_name="layer"); p.getv("k", [2]); p.pop()
    p.vpush("layer"); p.pop()
    p.vpush("named", default_name="ignored"); p.pop()
    p.vpush("aux", auxiliary_name_scope=False); p.getv("a", [2]); p.pop()


def names_empty_default_name(p):
    def push(aux=True):
        p.vpush(None, default_name="", auxiliary_name_scope=aux)
    push(); p.getv("v", [2]); p.variable("t"); p.pop()
    push(); p.pop()
    p.npush("n"); p.vpush("a")
    push(); p.getv("v", [2]); p.variable("t"); p.pop()
    push(); p.pop(); p.pop()
    push(aux=False); p.variable("u"); p.pop()
    p.pop()


def names_default_name_refused(p):
    p.vpush(None, reuse=True, default_name="d")
    p.vpush(None, reuse=v1.AUTO_REUSE, default_name="d")
    p.vpush(None)
    p.name_scope_line()


def names_tf_variable(p):
    p.variable(); p.variable(); p.variable("w"); p.variable("w")
    p.npush("ns"); p.variable(); p.getv("g", [2]); p.pop()
    p.vpush("vs"); p.variable(); p.pop()
    p.getv("w2", [2]); p.variable("w2"); p.variable("ns")


def names_collections(p):
    def quiet(name, **kw):
        p.step(v1.get_variable, name, shape=[2], **kw)
    quiet("t"); quiet("frozen", trainable=False)
    quiet("custom", collections=["my_vars", GLOBAL])
    quiet("hidden", collections=["my_vars"])
    p.step(v1.get_local_variable, "loc", shape=[2])
    p.variable("plain")
    p.vpush("s"); quiet("x"); p.pop()
    quiet("sx")
    p.collection(GLOBAL); p.collection(TRAINABLE); p.collection(LOCAL)
    p.collection("my_vars"); p.collection(GLOBAL, "s")
    p.collection(GLOBAL, "s/"); p.collection(TRAINABLE, "f|c")


def reuse_true(p):
    p.vpush("foo"); a = p.getv("v", [2, 3]); p.pop()
    p.vpush("foo", reuse=True)
    b = p.getv("v", [2, 3]); c = p.getv("v")
    p.same(a, b); p.same(a, c); p.pop()


def reuse_auto_reuse(p):
    p.vpush("a", reuse=v1.AUTO_REUSE)
    a = p.getv("v", [2]); b = p.getv("v", [2]); p.same(a, b)
    p.vpush("b")
    a = p.getv("w", []); b = p.getv("w", []); p.same(a, b)
    p.pop(); p.pop()
    p.vpush("a"); p.getv("v", [2]); p.pop()


def reuse_inherit(p):
    p.vpush("r", reuse=True)
    p.vpush("inner"); p.getv("x", [1]); p.pop(); p.pop()
    p.vpush("top"); p.getv("y", [1]); p.pop()


def reuse_reuse_variables(p):
    p.vpush("rv"); a = p.getv("v", [1])
    v1.get_variable_scope().reuse_variables(); p.scope_line()
    b = p.getv("v", [1]); p.same(a, b); p.getv("new", [1])
    p.vpush("child"); p.pop(); p.pop()
    p.vpush("rv"); p.pop()


def reuse_error_exists(p):
    p.vpush("foo"); p.getv("v", [1]); p.getv("v", [1]); p.pop()
    p.getv("top", []); p.getv("top", [])


def reuse_error_not_found(p):
    p.vpush("foo", reuse=True); p.getv("w", [1]); p.getv("w"); p.pop()


def reuse_error_shape(p):
    p.vpush("foo"); p.getv("v", [1]); p.pop()
    p.vpush("foo", reuse=True); p.getv("v", [2]); p.getv("v", [2, 3])
    p.getv("v", []); p.pop()
    p.vpush("foo", reuse=v1.AUTO_REUSE); p.getv("v", [2]); p.pop()


def reuse_error_dtype(p):
    p.vpush("foo"); p.getv("v", [1]); p.pop()
    p.vpush("foo", reuse=True); p.getv("v", [1], tf.int32)
    p.getv("v", [1], tf.float64); p.pop()


def reuse_error_no_shape(p):
    p.vpush("foo"); p.getv("v")
    p.getv("z", initializer=v1.zeros_initializer()); p.pop()


def reuse_error_uninitialized(p):
    p.vpush("foo"); v = p.getv("v", [2]); p.pop()
    if v is not None:
        with v1.Session() as sess:
            if p.step(sess.run, v) is not None:
                p.out("ok")


def partitioned(p, name, shape, partitioner, dtype=tf.float32, **kw):
    v = p.step(v1.get_variable, name, shape=shape, dtype=dtype,
               partitioner=partitioner, **kw)
    if v is None:
        return None
    p.out("partitioned %s %s %s partitions %s" % (
        v.name, shape_str(v.get_shape()), v.dtype.base_dtype.name,
        list(v._get_partitions())))
    for part in v:
        info = part._get_save_slice_info()
        p.out("part %s offset %s %s" % (part.name, list(info.var_offset),
                                        shape_str(part.shape)))
    return v


def partition_fixed_size(p):
    fixed = v1.fixed_size_partitioner
    partitioned(p, "v", [10, 4], fixed(3))
    partitioned(p, "axis1", [4, 3], fixed(5, axis=1))
    partitioned(p, "one", [10, 4], fixed(1))
    partitioned(p, "rank3", [2, 5, 3], fixed(2, axis=1), tf.float64)


def partition_variable_axis_size(p):
    vas = v1.variable_axis_size_partitioner
    partitioned(p, "v", [100, 8], vas(1000))
    partitioned(p, "capped", [100, 8], vas(1000, max_shards=3))
    partitioned(p, "axis1", [6, 50], vas(100, axis=1), tf.float64)
    partitioned(p, "tiny", [6, 50], vas(1))


def partition_min_max(p):
    mm = v1.min_max_variable_partitioner
    partitioned(p, "v", [64, 16], mm(4, min_slice_size=1024))
    partitioned(p, "half", [64, 16], mm(4, min_slice_size=3000))
    partitioned(p, "dflt", [300, 256], mm(8))
    partitioned(p, "rows", [3, 1000], mm(10, min_slice_size=64))


def partition_reuse(p):
    fixed = v1.fixed_size_partitioner
    p.vpush("s")
    partitioned(p, "v", [10, 4], fixed(3))
    partitioned(p, "v", [10, 4], fixed(3))
    p.pop()
    p.vpush("s", reuse=True)
    partitioned(p, "v", None, None)
    partitioned(p, "v", [10, 4], fixed(3))
    partitioned(p, "v", [10, 4], fixed(2))
    partitioned(p, "missing", [10, 4], fixed(3))
    p.pop()
    p.collection(GLOBAL); p.collection(TRAINABLE)


def partition_scope_partitioner(p):
    p.vpush("sp")
    v1.get_variable_scope().set_partitioner(v1.fixed_size_partitioner(2))
    partitioned(p, "w", [6, 2], None)
    p.getv("scalar", [])
    p.vpush("child"); partitioned(p, "c", [6, 2], None); p.pop()
    p.pop()


def partition_errors(p):
    fixed = v1.fixed_size_partitioner
    partitioned(p, "p", [4, 2], fixed(2))
    p.getv("u", [4, 2])
    partitioned(p, "u", [4, 2], fixed(2))
    p.vpush("", reuse=v1.AUTO_REUSE)
    p.getv("p", [4, 2])
    partitioned(p, "p", [4, 2], fixed(2))
    p.pop()
    p.vpush("", reuse=True)
    partitioned(p, "p", [5, 2], fixed(2))
    partitioned(p, "p", [4, 2], fixed(2), tf.float64)
    p.pop()
    partitioned(p, "q", None, fixed(2))


def partition_zero_dims(p):
    fixed = v1.fixed_size_partitioner
    mm = v1.min_max_variable_partitioner
    partitioned(p, "a", [4, 0], fixed(2))
    partitioned(p, "b", [0, 4], fixed(2))
    partitioned(p, "c", [4, 0, 2], fixed(2))
    partitioned(p, "d", [0, 4], mm(2))
    partitioned(p, "e", [5, 0], mm(2, axis=1))
    partitioned(p, "f", [4, 0], fixed(1))
    partitioned(p, "a", [4, 2], fixed(2))
    p.collection(GLOBAL)


def partition_reuse_missing(p):
    fixed = v1.fixed_size_partitioner
    p.vpush("a"); partitioned(p, "v", [6, 2], fixed(2)); p.pop()
    p.vpush("a", reuse=True)
    partitioned(p, "v", [6, 2], None)
    partitioned(p, "w", [6, 2], None)
    partitioned(p, "w", None, None)
    partitioned(p, "w", [6, 2], fixed(2))
    p.pop()


SCRIPTS = {
    "partition.errors": partition_errors,
    "partition.reuse_missing": partition_reuse_missing,
    "partition.zero_dims": partition_zero_dims,
    "names.name_scope_unique": names_name_scope_unique,
    "names.invalid_scope_names": names_invalid_scope_names,
    "names.unique_name": names_unique_name,
    "names.scope_dtype": names_scope_dtype,
    "names.shared_namespace": names_shared_namespace,
    "names.trailing_slash_ops": names_trailing_slash_ops,
    "names.empty_variable_name": names_empty_variable_name,
    "names.variable_scope": names_variable_scope,
    "names.variable_scope_reenter": names_variable_scope_reenter,
    "names.default_name": names_default_name,
    "names.empty_default_name": names_empty_default_name,
    "names.default_name_refused": names_default_name_refused,
    "names.tf_variable": names_tf_variable,
    "names.collections": names_collections,
    "reuse.true": reuse_true,
    "reuse.auto_reuse": reuse_auto_reuse,
    "reuse.inherit": reuse_inherit,
    "reuse.reuse_variables": reuse_reuse_variables,
    "reuse.error_exists": reuse_error_exists,
    "reuse.error_not_found": reuse_error_not_found,
    "reuse.error_shape": reuse_error_shape,
    "reuse.error_dtype": reuse_error_dtype,
    "reuse.error_no_shape": reuse_error_no_shape,
    "reuse.error_uninitialized": reuse_error_uninitialized,
    "partition.fixed_size": partition_fixed_size,
    "partition.variable_axis_size": partition_variable_axis_size,
    "partition.min_max": partition_min_max,
    "partition.reuse": partition_reuse,
    "partition.scope_partitioner": partition_scope_partitioner,
}


def run_script(name):
    """The lines TF prints for scripted case `name`."""
    p = Prog()
    with tf.Graph().as_default():
        SCRIPTS[name](p)
    return p.lines
