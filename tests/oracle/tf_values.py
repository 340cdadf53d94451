"""The value cases in TensorFlow: initializers through get_variable (graph
and op seeds set), conv2d and pools on the driver's LCG inputs. Each spec
is the driver's (`oracle_driver --list`)."""
import math

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1

# Core variance scaling wrappers of TF 1.x init_ops, as (scale, mode,
# distribution).
NAMED_VS = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
}


def xavier(uniform, seed):
    """tf.contrib.layers.xavier_initializer (TF 1.x contrib, removed in TF
    2): contrib's variance_scaling_initializer(factor=1, mode='FAN_AVG',
    uniform), rebuilt from TF's random ops. Its fans come from the shard
    shape (it ignores partition_info)."""
    def init(shape, dtype=tf.float32, partition_info=None):
        del partition_info
        if not tf.as_dtype(dtype).is_floating:
            raise TypeError(
                "Cannot create initializer for non-floating point type.")
        dims = [int(d) for d in shape]
        fan_in = float(dims[-2] if len(dims) > 1 else dims[-1]) if dims else 1.0
        fan_out = float(dims[-1]) if dims else 1.0
        for d in dims[:-2]:
            fan_in *= float(d)
            fan_out *= float(d)
        n = (fan_in + fan_out) / 2.0
        if uniform:
            limit = math.sqrt(3.0 / n)
            return tf.random.uniform(dims, -limit, limit, dtype, seed=seed)
        return v1.random.truncated_normal(dims, 0.0, math.sqrt(1.3 / n),
                                          dtype, seed=seed)
    return init


def initializer(spec):
    """TF's initializer for a driver spec. The named wrappers (glorot, he,
    lecun) are taken from the case's name, so that a wrong scale or mode in
    varstore's constructor shows; the others from its parameters."""
    kind, seed = spec["kind"], spec.get("op_seed")
    a, b = spec["a"], spec["b"]
    if kind == "none":
        return None  # get_variable's default for the dtype
    named = [k for k in NAMED_VS if spec["init"].endswith(k)]
    if named:
        scale, mode, dist = NAMED_VS[named[0]]
        return v1.variance_scaling_initializer(scale, mode, dist, seed)
    if kind == "xavier":
        return xavier("uniform" in spec["init"], seed)
    if kind == "random_uniform" and spec["dtype"].startswith("int"):
        return v1.random_uniform_initializer(int(a), int(b), seed)
    make = {
        "zeros": lambda: v1.zeros_initializer(),
        "ones": lambda: v1.ones_initializer(),
        "constant": lambda: v1.constant_initializer(spec.get("values", a)),
        "random_normal": lambda: v1.random_normal_initializer(a, b, seed),
        "truncated_normal":
            lambda: v1.truncated_normal_initializer(a, b, seed),
        "random_uniform": lambda: v1.random_uniform_initializer(a, b, seed),
        "variance_scaling": lambda: v1.variance_scaling_initializer(
            a, spec["mode"], spec["distribution"], seed),
        "orthogonal": lambda: v1.orthogonal_initializer(a, seed),
        "identity": lambda: v1.initializers.identity(a),
    }
    return make[kind]()


def init_value(spec):
    """The variable's value after global_variables_initializer."""
    dtype = tf.as_dtype(spec["dtype"])
    with tf.Graph().as_default():
        if "graph_seed" in spec:
            v1.set_random_seed(spec["graph_seed"])
        part = (v1.fixed_size_partitioner(spec["parts"])
                if spec.get("parts") else None)
        if spec.get("via_scope"):
            with v1.variable_scope("s", initializer=initializer(spec),
                                   dtype=dtype):
                v = v1.get_variable("v", shape=spec["shape"])
        else:
            v = v1.get_variable("v", shape=spec["shape"], dtype=dtype,
                                initializer=initializer(spec),
                                partitioner=part)
        parts = list(v) if part else [v]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            values = sess.run(parts)
    return np.concatenate(values, axis=0) if part else values[0]


def lcg(seed, shape):
    """oc_lcg_fill: the driver's op inputs, exactly."""
    n = int(np.prod(shape))
    out = np.empty(n, np.float32)
    s = seed
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = np.float32(((s >> 8) - (1 << 23)) / float(1 << 23))
    return out.reshape(shape)


U = 2.0 ** -24  # float32 unit roundoff


def gamma(k):
    return k * U / (1 - k * U)


def op_value(spec):
    """(TF's output, the tolerance) of an op case.

    Tolerance: both sides compute in float32 (TF may reorder the sums: Eigen
    or oneDNN blocking), so each differs from the exact result by at most
    gamma_K * sum|x_i w_i| for a sum of K products (Higham, Accuracy and
    Stability, 3.1); two of them differ by at most twice that. The bound
    is taken at its largest output (sum|x||w| from a float64 conv of the
    absolute values). Max pool compares values, no arithmetic: exact. Avg
    pool: a sum of k values (|x| < 1) then one division: 2 (gamma_k + u).
    """
    x = lcg(spec["input_seed"], spec["input"])
    group = spec["group"]
    with tf.Graph().as_default():
        if group == "conv2d":
            w = lcg(spec["filter_seed"], spec["filter"])
            y = tf.nn.conv2d(x, w, spec["strides"], spec["padding"],
                             dilations=spec["dilations"])
            bound = tf.nn.conv2d(np.abs(x).astype(np.float64),
                                 np.abs(w).astype(np.float64),
                                 spec["strides"], spec["padding"],
                                 dilations=spec["dilations"])
            k = int(np.prod(spec["filter"][:3]))
        elif group == "max_pool":
            y = v1.nn.max_pool(x, spec["ksize"], spec["strides"],
                               spec["padding"])
            bound, k = None, 0
        else:
            y = v1.nn.avg_pool(x, spec["ksize"], spec["strides"],
                               spec["padding"])
            bound = None
            k = int(np.prod(spec["ksize"]))
        with v1.Session() as sess:
            out = sess.run(y)
            big = float(np.max(sess.run(bound))) if bound is not None else 0
    if group == "conv2d":
        tol = 2 * gamma(k) * big
    elif group == "avg_pool":
        tol = 2 * (gamma(k) + U)
    else:
        tol = 0.0
    return out, tol
