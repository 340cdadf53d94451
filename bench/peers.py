#!/usr/bin/python3
"""Peer formats (NumPy, h5py, PyTorch) and the varstore CLI, measured on the
reference model that make_model.py writes. Not a test: it measures, checks
every restore bit for bit, and writes one JSON file of every run's figures
(report.py takes the medians). Any error is fatal (non-zero exit); a peer
whose module cannot be imported is skipped and listed with the reason.

  peers.py lib --data bench/data --variant b --work DIR --out FILE
      In-process: the tensors are numpy arrays in memory; save = write the
      file + fsync; restore = read every tensor into memory.
  peers.py e2e --data bench/data --variant b --work DIR --out FILE --cli PATH
      The CLI's job: save = read the .npy tree DIR/<name>.npy and write the
      file + fsync; restore = read the file and write a .npy tree back.
      Peers do it inside one Python process (interpreter start and imports
      not timed; measured once and reported apart); the varstore CLI is timed
      as a whole process (`varstore save FILE --step 1 --npy DIR`,
      `varstore restore FILE --step 1 --npy OUT`), start-up included.

Warm: the file is in the page cache (just written). Cold: after
os.posix_fadvise(POSIX_FADV_DONTNEED) on the file (and a varstore file's
-wal/-shm), once it is durable. Each run writes a fresh file.
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import numpy as np

try:
    import h5py
except ImportError as e:  # skipped, and said so
    h5py = None
    H5_ERR = str(e)
try:
    import torch
except ImportError as e:
    torch = None
    TORCH_ERR = str(e)


def fsync_path(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_cold(p):
    for q in (p, p + "-wal", p + "-shm"):
        if q != p and not os.path.exists(q):
            continue
        fd = os.open(q, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def disk_bytes(p):
    return sum(os.path.getsize(q) for q in (p, p + "-wal", p + "-shm")
               if os.path.exists(q))


def rm(p):
    for q in (p, p + "-wal", p + "-shm"):
        if os.path.exists(q):
            os.unlink(q)


SYNC_DELETES = True


def clear_tree(d):
    """Deletes an output tree before the next job writes one (untimed).

    Then syncs: on a journal-less ext4 (this machine's) the kernel skips,
    when it allocates an inode, every inode deleted in the last 5 minutes
    whose inode-table block is still dirty. Without the sync each job's
    deleted tree slows every later file creation, for every peer alike, and
    writing a .npy tree drifted from 0.04 to 0.11 s within one bench run
    (back to 0.04 s whenever writeback happened to clean the blocks)."""
    shutil.rmtree(d, ignore_errors=True)
    if SYNC_DELETES:
        os.sync()


# ---- the peer formats: save(dict of arrays, path), load(path) -> dict ----

def npz_save(compressed):
    def save(data, path):
        (np.savez_compressed if compressed else np.savez)(path, **data)
    return save


def npz_load(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def h5_save(level, shuffle):
    def save(data, path):
        with h5py.File(path, "w") as f:
            for k, v in data.items():
                f.create_dataset(k, data=v, compression="gzip",
                                 compression_opts=level, shuffle=shuffle)
    return save


def h5_load(path):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def torch_save(data, path):
    torch.save({k: torch.from_numpy(v) for k, v in data.items()}, path)


def torch_load(path):
    return {k: v.numpy() for k, v in torch.load(path).items()}


def peers():
    """[(name, file suffix, save, load)] and {skipped name: reason}."""
    rows, skipped = [], {}
    rows.append(("np.savez", ".npz", npz_save(False), npz_load))
    rows.append(("np.savez_compressed", ".npz", npz_save(True), npz_load))
    h5names = [("h5py gzip-1", 1, False), ("h5py gzip-1 + shuffle", 1, True),
               ("h5py gzip-6", 6, False), ("h5py gzip-6 + shuffle", 6, True)]
    for name, lvl, sh in h5names:
        if h5py is None:
            skipped[name] = "import h5py failed: " + H5_ERR
        else:
            rows.append((name, ".h5", h5_save(lvl, sh), h5_load))
    if torch is None:
        skipped["torch.save / torch.load"] = "import torch failed: " + TORCH_ERR
    else:
        torch.set_num_threads(1)
        rows.append(("torch.save / torch.load", ".pt", torch_save, torch_load))
    return rows, skipped


# ---- the model ----

def read_tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for fn in files:
            if fn.endswith(".npy"):
                p = os.path.join(d, fn)
                out[os.path.relpath(p, root)[:-4]] = np.load(p)
    return out


def write_tree(data, root):
    for k, v in data.items():
        p = os.path.join(root, k + ".npy")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        np.save(p, v)


def load_model(data_dir, v):
    ref = {}
    raw = np.fromfile(os.path.join(data_dir, v + ".f32"), dtype="<f4")
    with open(os.path.join(data_dir, v + ".tsv")) as f:
        for line in f:
            name, shape, off, nb = line.rstrip("\n").split("\t")
            shape = tuple(int(x) for x in shape.split(","))
            off, nb = int(off), int(nb)
            ref[name] = raw[off // 4:(off + nb) // 4].reshape(shape).copy()
    return ref, raw.nbytes


def check_equal(ref, got, what):
    if set(ref) != set(got):
        missing = sorted(set(ref) - set(got))[:3]
        extra = sorted(set(got) - set(ref))[:3]
        raise SystemExit("peers: %s: tensor names differ (missing %s, extra "
                         "%s)" % (what, missing, extra))
    for k, a in ref.items():
        b = got[k]
        if b.dtype != a.dtype or b.shape != a.shape or \
                b.tobytes() != a.tobytes():
            raise SystemExit("peers: %s: %s is not bit-exact" % (what, k))


def timed(fn):
    t0 = time.perf_counter()
    r = fn()
    return time.perf_counter() - t0, r


# ---- modes ----

def run_lib(args, ref, raw_bytes):
    rows, skipped = peers()
    res = {n: {"save_s": [], "restore_warm_s": [], "restore_cold_s": [],
               "size_bytes": []} for n, _, _, _ in rows}
    for r in range(args.runs):
        for name, suf, save, load in rows:
            path = os.path.join(args.work, "peer" + suf)
            rm(path)
            dt, _ = timed(lambda: (save(ref, path), fsync_path(path)))
            res[name]["save_s"].append(dt)
            res[name]["size_bytes"].append(os.path.getsize(path))
            dt, got = timed(lambda: load(path))
            res[name]["restore_warm_s"].append(dt)
            check_equal(ref, got, name + " warm load")
            del got
            make_cold(path)
            dt, got = timed(lambda: load(path))
            res[name]["restore_cold_s"].append(dt)
            check_equal(ref, got, name + " cold load")
            del got
            rm(path)
        print("peers lib %s: run %d/%d done" % (args.variant, r + 1,
                                                  args.runs), file=sys.stderr)
    return {"rows": res, "skipped": skipped}


def pages_used(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        ps = con.execute("PRAGMA page_size").fetchone()[0]
        pc = con.execute("PRAGMA page_count").fetchone()[0]
        fl = con.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        con.close()
    return (pc - fl) * ps


def run_cli(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (
            " ".join(cmd), p.returncode,
            p.stderr.decode(errors="replace").strip()[:500]))


def run_e2e(args, ref, raw_bytes):
    rows, skipped = peers()
    src = os.path.join(args.data, args.variant)
    out_dir = os.path.join(args.work, "npy_out")
    check_equal(ref, read_tree(src), "source .npy tree")
    res = {n: {"save_s": [], "restore_warm_s": [], "restore_cold_s": [],
               "size_bytes": []} for n, _, _, _ in rows}
    cli = {"save_s": [], "save2_s": [], "restore_warm_s": [],
           "restore_cold_s": [], "size_bytes": [], "added_bytes": [],
           "used_added_bytes": []}
    cli_missing = None
    if not args.cli or not os.access(args.cli, os.X_OK):
        cli_missing = "varstore CLI not built (%s)" % (args.cli or "no path")
    # The CLI's raw mode (--codec raw), into a WAL file (the default) and
    # into a rollback-journal file (--journal rollback), for the raw targets
    # against torch doing the same job.
    cli_raw = {k: {"save_s": [], "restore_warm_s": [], "restore_cold_s": [],
                   "size_bytes": []} for k in ("wal", "rollback")}

    def restore_job(load, path):
        got = load(path)
        write_tree(got, out_dir)

    for r in range(args.runs):
        verify = r == 0
        if cli_missing is None:
            db = os.path.join(args.work, "cli.db")
            rm(db)
            try:
                dt, _ = timed(lambda: run_cli(
                    [args.cli, "save", db, "--step", "1", "--npy", src]))
                cli["save_s"].append(dt)
                cli["size_bytes"].append(disk_bytes(db))
                used1 = pages_used(db)
                for kind in ("warm", "cold"):
                    clear_tree(out_dir)
                    if kind == "cold":
                        make_cold(db)
                    dt, _ = timed(lambda: run_cli(
                        [args.cli, "restore", db, "--step", "1", "--npy",
                         out_dir]))
                    cli["restore_%s_s" % kind].append(dt)
                    if verify:
                        check_equal(ref, read_tree(out_dir),
                                    "varstore restore --npy (%s)" % kind)
                size1 = disk_bytes(db)
                dt, _ = timed(lambda: run_cli(
                    [args.cli, "save", db, "--step", "2", "--npy", src]))
                cli["save2_s"].append(dt)
                cli["added_bytes"].append(disk_bytes(db) - size1)
                cli["used_added_bytes"].append(pages_used(db) - used1)
                rm(db)
                for jm, row in cli_raw.items():
                    rm(db)
                    dt, _ = timed(lambda: run_cli(
                        [args.cli, "save", db, "--step", "1", "--npy", src,
                         "--codec", "raw", "--journal", jm]))
                    row["save_s"].append(dt)
                    row["size_bytes"].append(disk_bytes(db))
                    for kind in ("warm", "cold"):
                        clear_tree(out_dir)
                        if kind == "cold":
                            make_cold(db)
                        dt, _ = timed(lambda: run_cli(
                            [args.cli, "restore", db, "--step", "1", "--npy",
                             out_dir]))
                        row["restore_%s_s" % kind].append(dt)
                        if verify:
                            check_equal(ref, read_tree(out_dir),
                                        "varstore raw %s restore --npy (%s)"
                                        % (jm, kind))
                    rm(db)
            except RuntimeError as e:
                cli_missing = "varstore CLI failed: %s" % e
                print("peers: " + cli_missing, file=sys.stderr)
        for name, suf, save, load in rows:
            path = os.path.join(args.work, "peer" + suf)
            rm(path)
            dt, _ = timed(lambda: (save(read_tree(src), path),
                                   fsync_path(path)))
            res[name]["save_s"].append(dt)
            res[name]["size_bytes"].append(os.path.getsize(path))
            for kind in ("warm", "cold"):
                clear_tree(out_dir)
                if kind == "cold":
                    make_cold(path)
                dt, _ = timed(lambda: restore_job(load, path))
                res[name]["restore_%s_s" % kind].append(dt)
                if verify:
                    check_equal(ref, read_tree(out_dir),
                                "%s restore job (%s)" % (name, kind))
            rm(path)
        print("peers e2e %s: run %d/%d done" % (args.variant, r + 1,
                                                  args.runs), file=sys.stderr)
    clear_tree(out_dir)
    # Python start-up + imports, which the peer rows do not include.
    mods = ["numpy"] + (["h5py"] if h5py else []) + (["torch"] if torch else [])
    starts = []
    for _ in range(3):
        dt, _ = timed(lambda: subprocess.run(
            [sys.executable, "-c", "import " + ", ".join(mods)], check=True))
        starts.append(dt)
    out = {"rows": res, "skipped": skipped, "python_startup_s": starts,
           "python_startup_imports": mods}
    if cli_missing is None:
        out["cli"] = cli
        out["cli_raw"] = cli_raw
    else:
        out["cli_missing"] = cli_missing
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("lib", "e2e"))
    ap.add_argument("--data", required=True)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cli")
    ap.add_argument("--no-sync-deletes", action="store_true",
                    help="do not sync after deleting an output tree "
                    "(see clear_tree)")
    args = ap.parse_args()
    global SYNC_DELETES
    SYNC_DELETES = not args.no_sync_deletes
    if args.runs < 1:
        raise SystemExit("peers: --runs must be at least 1")
    os.makedirs(args.work, exist_ok=True)
    ref, raw_bytes = load_model(args.data, args.variant)
    res = run_lib(args, ref, raw_bytes) if args.mode == "lib" else \
        run_e2e(args, ref, raw_bytes)
    res.update({"mode": args.mode, "variant": args.variant,
                "runs": args.runs, "raw_bytes": raw_bytes,
                "n_tensors": len(ref),
                "versions": {"python": sys.version.split()[0],
                             "numpy": np.__version__,
                             "h5py": h5py.__version__ if h5py else None,
                             "torch": torch.__version__ if torch else None}})
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    if str(res.get("cli_missing", "")).startswith("varstore CLI failed"):
        sys.exit(3)  # written, but a real error: run.sh fails after the report


if __name__ == "__main__":
    main()
