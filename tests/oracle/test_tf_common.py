"""The oracle's reading of TF's messages (tf_common.py) rewrites only the
documented C names, and nothing that would hide a real difference."""
from tf_common import c_code, c_message, error_line, shape_str


class FakeOpError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def test_exists_message_gets_c_names_and_loses_the_traceback():
    tf_text = ("Variable foo/v already exists, disallowed. Did you mean to "
               "set reuse=True or reuse=tf.AUTO_REUSE in VarScope? "
               "Originally defined at:\n\n  File \"x.py\", line 3, in f\n")
    assert c_message(tf_text) == (
        "Variable foo/v already exists, disallowed. Did you mean to set "
        "reuse=VS_REUSE or reuse=VS_AUTO_REUSE in the variable scope?")
    assert c_code(c_message(tf_text)) == "VS_EEXIST"


def test_partitioned_not_found_names_the_partitioned_getter():
    msg = c_message("PartitionedVariable s/m does not exist, or was not "
                    "created with tf.get_variable(). Did you mean to set "
                    "reuse=False or reuse=tf.AUTO_REUSE in VarScope?")
    assert "vs_get_partitioned_variable()" in msg
    assert "reuse=VS_REUSE_INHERIT or reuse=VS_AUTO_REUSE" in msg
    assert c_code(msg) == "VS_ENOTFOUND"


def test_ref_dtypes_lose_their_suffix_only():
    msg = c_message("Trying to share variable foo/v, but specified dtype "
                    "int32 and found dtype float32_ref.")
    assert msg.endswith("specified dtype int32 and found dtype float32.")
    assert c_code(msg) == "VS_EDTYPE"
    assert c_message("name my_ref_count") == "name my_ref_count"


def test_runtime_error_is_its_message_line_without_the_node():
    exc = FakeOpError("Graph execution error:\n\nAttempting to use "
                      "uninitialized value foo/v\n\t [[{{node x}}]]")
    assert error_line(exc) == ("error VS_EUNINIT: Attempting to use "
                               "uninitialized value foo/v")


def test_other_texts_are_kept_word_for_word():
    text = ("Shape of a new variable (foo/v) must be fully defined, but "
            "instead was <unknown>.")
    assert c_message(text) == text
    assert c_code(text) == "VS_EINVAL"
    assert c_code("Trying to reuse partitioned variable p, but specified "
                  "shape (5, 2) and found shape (4, 2).") == "VS_ESHAPE"


def test_shapes_print_as_tensorshape():
    assert shape_str([2, 3]) == "(2, 3)"
    assert shape_str([5]) == "(5,)"
    assert shape_str([]) == "()"
