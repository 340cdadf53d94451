#!/usr/bin/env python3
"""NumPy interop check of the varstore CLI (run by CTest).

Exits 77 (CTest: skipped) when numpy is not importable. Saves arrays of
every dtype varstore and NumPy share (plus big-endian and Fortran-ordered
ones) with np.save, imports them with `varstore save --npy`, exports them
with `varstore restore --npy` and checks np.load gives the same bits; checks
`inspect --json` values and `inspect --tensor` text against NumPy's own; and
round-trips a safetensors file written here from the published format."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy is not importable by %s: skipped (configure with "
          "-DVS_PYTHON=/path/to/python, e.g. the project's .venv/bin/python)"
          % sys.executable)
    sys.exit(77)

VS = sys.argv[1]
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


def vs(*args, status=0):
    p = subprocess.run([VS] + list(args), capture_output=True, text=True)
    check(p.returncode == status,
          "varstore %s -> %d (want %d): %s" % (" ".join(args), p.returncode,
                                               status, p.stderr))
    return p


def same_bits(a, b):
    if a.dtype.newbyteorder("<") != b.dtype.newbyteorder("<"):
        return False
    if a.shape != b.shape:
        return False
    a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<")))
    b = np.ascontiguousarray(b.astype(b.dtype.newbyteorder("<")))
    return a.tobytes() == b.tobytes()


ST_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
            np.dtype(np.int64): "I64", np.dtype(np.int8): "I8",
            np.dtype(np.bool_): "BOOL", np.dtype(np.float16): "F16"}


def write_safetensors(path, header, entries):
    """Writes a safetensors file by the published format: header (a dict,
    __metadata__ and any entries given already) gets one entry per
    (name, dtype name, shape, raw bytes) of entries, in order. Returns
    (header, data section)."""
    blobs, off = [], 0
    for name, dt, shape, raw in entries:
        header[name] = {"dtype": dt, "shape": list(shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    body = b"".join(blobs)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)
    return header, body


def read_safetensors(path):
    """(header dict, data section) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def main():
    base = os.environ.get("VS_TEST_TMPDIR") or "/tmp"
    tmp = tempfile.mkdtemp(prefix="test_cli_numpy.", dir=base)
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("test_cli_numpy: %d failures" % len(FAILS))
    sys.exit(1 if FAILS else 0)


def run(tmp):
    rng = np.random.default_rng(1234)
    arrays = {
        "net/conv1/weights": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
        "net/conv1/biases": np.array([0.5, np.nan, np.inf, -0.0], np.float32),
        "net/fc/kernel": rng.standard_normal((20, 60)).astype(np.float64),
        "half": rng.standard_normal(7).astype(np.float16),
        "i8": np.array([-128, 0, 127], np.int8),
        "u8": np.arange(256, dtype=np.uint8).reshape(16, 16),
        "i32": rng.integers(-2**31, 2**31, size=(5,), dtype=np.int32),
        "i64": np.array([-2**63, 2**63 - 1, 0], np.int64),
        "flags": np.array([[True, False], [False, True]]),
        "scalar": np.float64(3.25).reshape(()),
        "empty": np.zeros((0, 4), np.float32),
        "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
        "big_f8": np.array([1.5, -2.0], ">f8"),
        "fortran": np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
    }
    src = os.path.join(tmp, "src")
    for name, a in arrays.items():
        path = os.path.join(src, name + ".npy")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, a)
    db = os.path.join(tmp, "m.db")
    vs("save", db, "--step", "1", "--npy", src)
    out = os.path.join(tmp, "out")
    vs("restore", db, "--npy", out)
    for name, a in arrays.items():
        b = np.load(os.path.join(out, name + ".npy"))
        check(same_bits(a, b), "round trip of %s" % name)
        check(b.dtype.byteorder in ("<", "|", "="), "%s little-endian" % name)
        check(b.flags["C_CONTIGUOUS"], "%s C order" % name)
        # files of little-endian C-order arrays are NumPy's own bytes
        if a.dtype.byteorder != ">" and not (a.ndim > 1 and a.flags["F_CONTIGUOUS"]
                                             and not a.flags["C_CONTIGUOUS"]):
            with open(os.path.join(src, name + ".npy"), "rb") as f1, \
                    open(os.path.join(out, name + ".npy"), "rb") as f2:
                check(f1.read() == f2.read(), "bytes of %s.npy" % name)

    # inspect --json values
    p = vs("inspect", db, "--json", "--all-tensors", "--stats")
    doc = json.loads(p.stdout)
    check(doc["step"] == 1, "json step")
    by = {t["name"]: t for t in doc["tensors"]}
    check(sorted(by) == sorted(arrays), "json names")
    for name in ("net/conv1/weights", "net/fc/kernel", "i64", "u8", "half"):
        a = arrays[name]
        v = np.array(by[name]["values"], dtype=a.dtype.newbyteorder("="))
        check(v.shape == a.shape and np.array_equal(v, a), "json values of %s" % name)
        check(by[name]["shape"] == list(a.shape), "json shape of %s" % name)
    w = arrays["net/conv1/weights"]
    st = by["net/conv1/weights"]["stats"]
    check(abs(st["mean"] - float(w.mean(dtype=np.float64))) < 1e-6, "stats mean")
    check(abs(st["std"] - float(w.std(dtype=np.float64))) < 1e-6, "stats std")
    check(st["min"] == float(w.min()) and st["max"] == float(w.max()), "stats min/max")
    check(by["net/conv1/biases"]["stats"]["n_nan"] == 1, "stats nan count")

    # inspect --tensor prints what NumPy's str() prints
    more = {
        "p/a": np.array([[1.0, 2.5], [-3.0, 0.125]], np.float32),
        "p/b": np.arange(12, dtype=np.int64).reshape(3, 4) - 5,
        "p/c": np.arange(5000, dtype=np.int32).reshape(50, 100),
        "p/d": np.array([True, False, True]),
        "p/e": np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 4,
        "p/f": np.arange(120, dtype=np.float64).reshape(3, 40) / 3,
        "p/g": np.arange(3000, dtype=np.float32).reshape(30, 100) * 1.5,
        "p/h": rng.standard_normal((4, 5, 6, 7)).astype(np.float32),
        "p/i": np.array([1e-5, 1.0, np.nan, -np.inf], np.float32),
        "p/j": rng.standard_normal(20).astype(np.float16),
        "p/k": (rng.standard_normal((50, 50)) * 100).astype(np.float32),
        "p/l": np.array([-0.0, 0.0, 100.25]),
        "p/m": np.array([1e200, 1e-200]),
        "p/n": np.arange(2000, dtype=np.int64).reshape(2, 10, 100),
    }
    src2 = os.path.join(tmp, "src2")
    for name, a in more.items():
        path = os.path.join(src2, name + ".npy")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, a)
    vs("save", db, "--step", "2", "--npy", src2)
    for name, a in more.items():
        p = vs("inspect", db, "--tensor", name)
        text = p.stdout.split("\n", 2)[2].rstrip("\n")
        check(text == str(a), "inspect text of %s:\n%s\nvs NumPy:\n%s" % (name, text, str(a)))

    # --full: every value, as NumPy with threshold=sys.maxsize
    p = vs("inspect", db, "--tensor", "p/n", "--full")
    text = p.stdout.split("\n", 2)[2].rstrip("\n")
    with np.printoptions(threshold=sys.maxsize):
        check(text == str(more["p/n"]), "inspect --full text of p/n")

    # safetensors written here from the published format
    tens = {"a/w": arrays["net/conv1/weights"], "b": arrays["i64"],
            "c": arrays["flags"], "d": arrays["half"]}
    names = ST_NAMES
    stf = os.path.join(tmp, "in.safetensors")
    write_safetensors(stf, {"__metadata__": {"source": "numpy"}},
                      [(name, names[a.dtype], a.shape,
                        np.ascontiguousarray(a).tobytes())
                       for name, a in tens.items()])
    vs("save", db, "--step", "3", "--safetensors", stf)
    outst = os.path.join(tmp, "out.safetensors")
    vs("restore", db, "--safetensors", outst)
    hdr, body = read_safetensors(outst)
    check(hdr["__metadata__"]["step"] == "3", "safetensors step metadata")
    for name, a in tens.items():
        e = hdr[name]
        check(e["dtype"] == names[a.dtype] and e["shape"] == list(a.shape),
              "safetensors entry %s" % name)
        b0, b1 = e["data_offsets"]
        check(body[b0:b1] == np.ascontiguousarray(a).tobytes(),
              "safetensors data %s" % name)

    # restore --npy streams each chunk (1 MiB) into its place in the file:
    # tensors of several chunks, of every element size, and a bfloat16 one
    # of several chunks (widened to float32: each chunk lands at twice its
    # offset) come out bit-exact
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 1 << 16, size=700001, dtype=np.uint16)
    bits[(bits & 0x7f80) == 0x7f80] &= 0xbfff  # no NaN payload games
    multi = {"m/f4": rng.standard_normal((3, 300000)).astype(np.float32),
             "m/f8": rng.standard_normal(200001),
             "m/i1": rng.integers(-128, 128, 2500001, dtype=np.int8),
             "m/f2": rng.standard_normal(1048577).astype(np.float16)}
    mst = os.path.join(tmp, "multi.safetensors")
    header, mbody = write_safetensors(
        mst, {}, [("m/bf", "BF16", bits.shape, bits.tobytes())] +
        [(name, ST_NAMES[a.dtype], a.shape,
          np.ascontiguousarray(a).tobytes()) for name, a in multi.items()])
    mdb = os.path.join(tmp, "multi.db")
    vs("save", mdb, "--step", "1", "--safetensors", mst)
    mout = os.path.join(tmp, "multi_out")
    p = vs("restore", mdb, "--npy", mout)
    check("bfloat16 tensor 'm/bf' written as float32" in p.stderr,
          "bfloat16 note: %r" % p.stderr)
    for name, a in multi.items():
        got = np.load(os.path.join(mout, name + ".npy"))
        check(same_bits(got, a), "multi-chunk %s" % name)
    got = np.load(os.path.join(mout, "m/bf.npy"))
    want = (bits.astype(np.uint32) << 16).view(np.float32)
    check(got.dtype == np.float32 and same_bits(got, want),
          "multi-chunk bfloat16 widened")
    # the same checkpoint streamed into one safetensors file: every
    # tensor's bytes (bfloat16 kept) at the offsets its header gives
    mst2 = os.path.join(tmp, "multi_out.safetensors")
    vs("restore", mdb, "--safetensors", mst2)
    hdr, body = read_safetensors(mst2)
    check(len(body) == len(mbody), "multi-chunk safetensors data size")
    for name, e in header.items():
        g = hdr.get(name, {})
        b0, b1 = e["data_offsets"]
        g0, g1 = g.get("data_offsets", [0, -1])
        check(g.get("dtype") == e["dtype"] and g.get("shape") == e["shape"]
              and body[g0:g1] == mbody[b0:b1],
              "multi-chunk safetensors %s" % name)


if __name__ == "__main__":
    main()
