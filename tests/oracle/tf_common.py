"""What the TensorFlow side of the oracle shares: TF's messages in the C
API's words, and TF's error classes as varstore's codes.

The mapping is the one varstore documents (docs/API.md, "Errors", and
docs/TF_DIFFERENCES.md): the C names (VS_REUSE, VS_AUTO_REUSE, vs_get_variable(),
"the variable scope") stand for Python's (reuse=True, tf.AUTO_REUSE,
tf.get_variable(), VarScope), the "already exists" text stops before TF's
Python traceback, and dtypes print without TF's "_ref" suffix. Nothing
else is rewritten: any other difference is a mismatch.
"""
import re

# (TF's words, the C API's words), applied in order.
C_NAMES = [
    ("reuse=tf.AUTO_REUSE", "reuse=VS_AUTO_REUSE"),
    ("reuse=True", "reuse=VS_REUSE"),
    ("reuse=False", "reuse=VS_REUSE_INHERIT"),
    ("in VarScope?", "in the variable scope?"),
]


def c_message(msg, partitioned=False):
    """TF's exception text in the words varstore uses."""
    msg = str(msg)
    cut = msg.find(" Originally defined at:")
    if cut >= 0:
        msg = msg[:cut]
    # A runtime error: TF 2 puts "Graph execution error:" first and the
    # node after the message; the message is the first other line.
    lines = [l.rstrip() for l in msg.split("\n")
             if l.strip() and l.strip() != "Graph execution error:"]
    msg = lines[0] if lines else ""
    for tf_words, c_words in C_NAMES:
        msg = msg.replace(tf_words, c_words)
    getter = ("vs_get_partitioned_variable()"
              if msg.startswith("PartitionedVariable ")
              else "vs_get_variable()")
    msg = msg.replace("tf.get_variable()", getter)
    msg = re.sub(r"\b(\w+)_ref\b", r"\1", msg)
    return msg


# TF raises ValueError (or TypeError) for almost every rule; varstore has
# one code per rule. The class is read from TF's text, first match wins.
CODE_RULES = [
    (r"already exists", "VS_EEXIST"),
    (r"does not exist", "VS_ENOTFOUND"),
    (r"^Trying to (share|reuse partitioned) variable .*specified shape",
     "VS_ESHAPE"),
    (r"^Trying to (share|reuse partitioned) variable .*specified dtype",
     "VS_EDTYPE"),
    (r"uninitialized value", "VS_EUNINIT"),
]


def c_code(msg):
    for pattern, code in CODE_RULES:
        if re.search(pattern, msg):
            return code
    return "VS_EINVAL"


def error_line(exc):
    msg = c_message(getattr(exc, "message", None) or str(exc))
    return "error %s: %s" % (c_code(msg), msg)


def shape_str(shape):
    """TF's TensorShape text: (2, 3), (5,), ()."""
    dims = list(shape)
    if len(dims) == 1:
        return "(%d,)" % dims[0]
    return "(" + ", ".join(str(d) for d in dims) + ")"
