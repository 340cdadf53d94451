#!/usr/bin/env python3
"""The TensorFlow oracle: builds the same programs in tf.compat.v1 (graph
mode) and in C (tests/oracle/oracle_driver, varstore's public API), and
compares them case by case: names, reuse decisions, error codes and texts
(in the C API's words, see tf_common.py), collections, partitions BIT FOR
BIT initializer values, and conv2d / pool outputs within a bound stated in
tf_values.op_value.

    oracle.py --driver PATH [--work DIR] [--write-fixtures] [CASE...]

Prints `PASS name`, `FAIL name: details` or `SKIP name: why` per case and
`N passed, M failed` at the end. Cases listed in known_mismatches.txt
still print FAIL (marked "known"); the exit status is 0 when the failures
are exactly those, 1 otherwise (a new mismatch, or a known one that now
passes: then take it off the list). Exit 77 without TensorFlow.

--write-fixtures writes what TF produced to tests/fixtures/oracle/ for
test_oracle_fixtures.c (manifest.tsv + one .txt or .bin per case).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
KNOWN = os.path.join(HERE, "known_mismatches.txt")
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures", "oracle")


def import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf  # noqa: F401
    except ImportError as exc:
        print("skipped: TensorFlow not importable (%s)" % exc)
        sys.exit(77)
    import logging
    tf.get_logger().setLevel(logging.ERROR)
    tf.compat.v1.disable_v2_behavior()
    return tf


def read_known():
    known = {}
    with open(KNOWN, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, _, why = line.rstrip("\n").partition("\t")
                known[name] = why
    return known


def driver_run(driver, work, names):
    """{name: result} from the driver: {"lines": [...]} or a tensor."""
    import numpy as np
    os.makedirs(work, exist_ok=True)
    out = subprocess.run([driver, "--run", work] + names, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    results = {}
    for line in out.splitlines():
        r = json.loads(line)
        if "file" in r:
            dt = {"bfloat16": np.uint16}.get(r["dtype"], r["dtype"])
            arr = np.fromfile(r["file"], dtype=dt).reshape(r["shape"])
            os.unlink(r["file"])
            r["value"] = arr
        results[r["name"]] = r
    return results


def tf_result(spec):
    """(kind, payload, tol) of TF for one case: ("lines", [...], 0) or
    ("tensor", ndarray, tol); ("skip", why, 0) when TF refuses the dtype
    of a value case."""
    import tf_scripts
    import tf_values
    from tf_common import error_line
    group = spec["group"]
    if group == "script":
        return "lines", tf_scripts.run_script(spec["name"]), 0.0
    try:
        if group == "init":
            return "tensor", tf_values.init_value(spec), 0.0
        value, tol = tf_values.op_value(spec)
        return "tensor", value, tol
    except (ValueError, TypeError) as exc:
        return "lines", [error_line(exc)], 0.0
    except Exception as exc:  # a kernel TF lacks for this dtype
        return "skip", str(exc).split("\n")[0], 0.0


def raw(arr):
    import numpy as np
    a = np.asarray(arr, order="C")
    if a.dtype.name == "bfloat16":
        a = a.view(np.uint16)
    return a


def compare(tf_kind, want, tol, got):
    """None when equal, else what differs."""
    import numpy as np
    if tf_kind == "lines":
        have = got.get("lines")
        if have is None:
            return "TF: %s; varstore: a %s tensor" % (want, got["dtype"])
        if have == want:
            return None
        diff = [(i, w, h) for i, (w, h) in
                enumerate(zip(want + [""] * len(have), have + [""] * len(want)))
                if w != h]
        i, w, h = diff[0]
        return "line %d: TF %r, varstore %r" % (i, w, h)
    if "value" not in got:
        return "TF: a tensor; varstore: %s" % got["lines"]
    have, want = got["value"], raw(want)
    name = str(np.dtype(want.dtype)) if want.dtype != np.uint16 else None
    if list(have.shape) != list(want.shape):
        return "shape: TF %s, varstore %s" % (list(want.shape),
                                              list(have.shape))
    if name and name != got["dtype"]:
        return "dtype: TF %s, varstore %s" % (name, got["dtype"])
    if tol == 0.0:
        if have.tobytes() == want.tobytes():
            return None
        bad = np.flatnonzero(have.reshape(-1) != want.reshape(-1))
        i = int(bad[0]) if bad.size else 0
        wide = np.abs(have.astype(np.float64) - want.astype(np.float64))
        return ("%d of %d elements differ (max |diff| %.3g); first at %d: "
                "TF %r, varstore %r" % (
                    bad.size, want.size, float(wide.max()), i,
                    want.reshape(-1)[i], have.reshape(-1)[i]))
    err = np.abs(have.astype(np.float64) - want.astype(np.float64))
    if float(err.max(initial=0)) <= tol:
        return None
    return "max |diff| %.3g > tolerance %.3g" % (float(err.max()), tol)


def within_note(kind, want, tol, got):
    """" (max |diff| d <= tolerance t)" for cases compared within a bound."""
    import numpy as np
    if kind != "tensor" or tol == 0.0:
        return ""
    d = np.abs(got["value"].astype(np.float64) - want.astype(np.float64))
    return " (max |diff| %.3g <= tolerance %.3g)" % (float(d.max(initial=0)),
                                                     tol)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--driver", required=True)
    ap.add_argument("--work", default="oracle-work")
    ap.add_argument("--write-fixtures", action="store_true")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    import_tf()
    import fixtures
    specs = [json.loads(l) for l in subprocess.run(
        [args.driver, "--list"], check=True, stdout=subprocess.PIPE,
        text=True).stdout.splitlines()]
    if args.cases:
        specs = [s for s in specs if s["name"] in args.cases]
    ours = driver_run(args.driver, args.work, [s["name"] for s in specs])
    known = read_known()
    passed, failed, skipped, unexpected = 0, 0, 0, []
    writer = fixtures.Writer(FIXTURES) if args.write_fixtures else None
    for spec in specs:
        name = spec["name"]
        kind, want, tol = tf_result(spec)
        got = ours[name]
        if kind == "lines" and spec["group"] != "script" and "value" in got:
            kind, want = "skip", want[0]  # TF refuses this dtype
        if writer:
            writer.add(name, kind, want, tol)
        if kind == "skip":
            print("SKIP %s: TF refuses it (%s); varstore gives %s" % (
                name, want, "values" if "value" in got else got["lines"]))
            skipped += 1
            continue
        diff = compare(kind, want, tol, got)
        if diff is None:
            passed += 1
            print("PASS " + name + within_note(kind, want, tol, got))
            if name in known:
                unexpected.append(name)
                print("FIXED %s: remove it from known_mismatches.txt" % name)
            continue
        failed += 1
        print("FAIL %s: %s%s" % (name, diff,
                                 " (known mismatch)" if name in known else ""))
        if name not in known:
            unexpected.append(name)
    if writer:
        writer.close()
    print("%d passed, %d failed (%d known), %d skipped" % (
        passed, failed, failed - len([u for u in unexpected
                                      if u not in known]), skipped))
    if unexpected:
        print("unexpected: " + " ".join(unexpected))
    sys.exit(1 if unexpected else 0)


if __name__ == "__main__":
    main()
