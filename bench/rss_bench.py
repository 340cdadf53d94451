"""Peak resident memory of `varstore save` on a large model (issue 16).

  rss_bench.py --cli PATH --work DIR [--mb 2048]

Writes a model of MB megabytes (MiB) of float32 weights (N(0, 0.02),
numpy default_rng(16); 16 tensors of MB/16 and 16 small biases) as a .npy
tree, then as one safetensors file, and runs `varstore save` on each
(default codec, into a new file), measuring the child's peak resident
size (ru_maxrss from wait4: it counts the touched pages of file mappings
too) and its wall time. Prints a Markdown section with the target
(<= 256 MB for a 2 GB model); deletes everything it wrote. Exit 1 if a
save fails.
"""

import argparse
import json
import os
import shutil
import struct
import sys
import time

import numpy as np

# The scale bench's child runner: the command's own peak RSS.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "scale"))
import runner  # noqa: E402

TARGET_MB = 256


def write_tree(root, mb):
    rng = np.random.default_rng(16)
    cols = 4096
    rows = max(1, (mb << 20) // 16 // (cols * 4))
    names = []
    for i in range(16):
        d = os.path.join(root, "layer%02d" % i)
        os.makedirs(d, exist_ok=True)
        w = rng.standard_normal((rows, cols), dtype=np.float32) * 0.02
        np.save(os.path.join(d, "kernel.npy"), w)
        np.save(os.path.join(d, "bias.npy"),
                rng.standard_normal(cols, dtype=np.float32) * 0.02)
        names += ["layer%02d/bias" % i, "layer%02d/kernel" % i]
        del w
    return sorted(names)


def write_safetensors(root, names, path):
    """The tree's tensors as one safetensors file, a block at a time."""
    hdr, off = {}, 0
    for n in names:
        a = np.load(os.path.join(root, n + ".npy"), mmap_mode="r")
        hdr[n] = {"dtype": "F32", "shape": list(a.shape),
                  "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(h)))
        out.write(h)
        for n in names:
            a = np.load(os.path.join(root, n + ".npy"), mmap_mode="r")
            step = max(1, (16 << 20) // max(1, a.itemsize * a[0:1].size))
            for k in range(0, a.shape[0], step):
                out.write(np.ascontiguousarray(a[k:k + step]).tobytes())
    return off


def rm_db(db):
    for s in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(db + s):
            os.remove(db + s)


def run_save(cli, db, args):
    """`varstore save db --step 1 ARGS`: (wall s, peak RSS bytes), the
    command's own peak (bench/scale/runner.py: a child started from this
    process would count this process's peak too)."""
    rm_db(db)
    c = runner.run([cli, "save", db, "--step", "1"] + args, want_json=False,
                   own_rss=True)
    rm_db(db)
    return c.wall_s, c.maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--mb", type=int, default=2048)
    a = ap.parse_args()
    work = os.path.join(a.work, "rss")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    tree = os.path.join(work, "npy")
    st = os.path.join(work, "model.safetensors")
    db = os.path.join(work, "model.db")
    rows = []
    try:
        names = write_tree(tree, a.mb)
        raw = sum(os.path.getsize(os.path.join(tree, n + ".npy"))
                  for n in names)
        dt, rss = run_save(a.cli, db, ["--npy", tree])
        rows.append(("--npy DIR (%d files)" % len(names), dt, rss))
        write_safetensors(tree, names, st)
        shutil.rmtree(tree)
        dt, rss = run_save(a.cli, db, ["--safetensors", st])
        rows.append(("--safetensors SRC", dt, rss))
    except Exception as e:  # reported, and the bench notes the failure
        print("rss_bench: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mb = 1e6
    print("Model: %.0f MB of float32 (%d tensors), default codec, a new "
          "file each time. Peak RSS is the command's own ru_maxrss, "
          "which counts touched pages of file mappings too.\n" %
          (raw / mb, len(names)))
    print("| varstore save | wall s | save MB/s | peak RSS MB |")
    print("|---|---|---|---|")
    for what, dt, rss in rows:
        print("| %s | %.1f | %.0f | %.1f |" % (what, dt, raw / mb / dt,
                                               rss / mb))
    print("")
    print("| result | target | measured | bound |")
    print("|---|---|---|---|")
    for what, _, rss in rows:
        ok = rss / mb <= TARGET_MB
        print("| %s | CLI save %s: peak RSS, %.0f MB model | %.1f MB | "
              "<= %d MB |" % ("PASS" if ok else "MISS", what, raw / mb,
                              rss / mb, TARGET_MB))
    return 0


if __name__ == "__main__":
    sys.exit(main())
