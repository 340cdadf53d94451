#!/usr/bin/env python3
"""`make bench-scale`: varstore against torch.save/torch.load and
safetensors at 5 MB, 500 MB and 2 GB and on one tensor over 2 GiB (see
bench/README.md, "The scale bench"). Every timed operation runs in a
fresh process of its own; every load is checked bit for bit. Prints one
Markdown table and writes it to OUT/scale.md. Exit 1 on any real error
(a crashed program, a failed save, a load that is not bit-exact), after
writing what was measured.

  scale.py --build build-rel [--quick] [--reps 3] [--rows LIST]
"""
import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import time

import memory
import models
import rows_conc
import rows_file
import rows_io
from ctx import Ctx
from runner import BenchError

ROWS = ("save", "rss", "retention", "prune", "size", "readers", "async")
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(TOP, "build-rel"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes: 5 MB, 50 MB, 200 MB, a 300 MiB tensor")
    ap.add_argument("--reps", type=int, default=3,
                    help="repetitions of each figure (the median is shown)")
    ap.add_argument("--rows", default=",".join(ROWS),
                    help="which rows: " + ",".join(ROWS) + " (save includes "
                    "the cold loads)")
    ap.add_argument("--models", default=",".join(rows_io.DEFAULT_MODELS),
                    help="models of the save/load rows, of " +
                    ",".join(rows_io.TOOLS))
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds between dropping a file of 64 MiB or "
                    "more from the page cache and loading it (default 0)")
    ap.add_argument("--hold-memory", action="store_true",
                    help="turn the VM's free page reporting off for the "
                    "run (root; see memory.py)")
    ap.add_argument("--data", help="default: bench/scale/data/{quick,full}")
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "out"))
    a = ap.parse_args()
    a.rows = [r for r in a.rows.split(",") if r]
    a.models = [m for m in a.models.split(",") if m]
    bad = [r for r in a.rows if r not in ROWS] + \
        [m for m in a.models if m not in rows_io.TOOLS]
    if bad or a.reps < 1 or a.settle < 0:
        ap.error("unknown row or model %s, --reps below 1 or --settle "
                 "below 0" % bad)
    a.data = a.data or os.path.join(HERE, "data",
                                    "quick" if a.quick else "full")
    a.work = os.path.join(a.out, "scale-work")
    return a


def needed_models(a):
    need = set(a.models) if "save" in a.rows else set()
    for row, ms in (("rss", set(rows_io.RSS_MODELS)), ("retention", {"tf500"}), ("prune", {"tf500"}),
                    ("size", {"resnet"}), ("readers", {"tf2g", "resnet"}),
                    ("async", {"tf500"})):
        if row in a.rows:
            need |= ms
    return need


VERSIONS = """import sys
from importlib import metadata
v = ["Python " + sys.version.split()[0]]
for p in ("numpy", "torch", "safetensors", "jax", "orbax-checkpoint"):
    try:
        v.append(p + " " + metadata.version(p))
    except metadata.PackageNotFoundError:
        pass
print(", ".join(v))"""


def source():
    def git(*a):
        return subprocess.run(["git", "-C", TOP] + list(a),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    head = git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
    dirty = git("diff", "--quiet", "HEAD").returncode != 0
    return head + (" + uncommitted changes" if dirty else "")


def header(ctx, start, load0):
    py = subprocess.run([ctx.py, "-c", VERSIONS], stdout=subprocess.PIPE,
                        text=True).stdout.strip()
    lines = ["# varstore scale bench (make bench-scale%s)" %
             (", --quick" if ctx.args.quick else ""), "",
             "Run %s on %s, %d CPUs, %.1f GiB; load average at start %s; "
             "%s; source %s; %d repetitions per figure (median)." % (
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(start)),
                 platform.node(), os.cpu_count(),
                 os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                 / 2 ** 30, load0, py, source(), ctx.reps), "", "Models (float32, normal random values):", ""]
    for m, info in ctx.models.items():
        lines.append("- %s: %s, %d tensors, %.1f MB" % (
            m, info["desc"], info["n_tensors"], info["bytes"] / 1e6))
    return lines


def table(ctx):
    out = ["| row | case | varstore | peers | ratio | target | result |",
           "|---|---|---|---|---|---|---|"]
    # by row number, in the order measured within a row
    for r in sorted(ctx.table, key=lambda r: r[0].split()[0]):
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return out


def tally(rows):
    """"Targets: N PASS, M MISS, K not measured" over the rows that have a
    target or a verdict; one with a target and no PASS or MISS (a peer
    missing, a row skipped) was not measured."""
    judged = [r[6] for r in rows if r[5] or r[6] in ("PASS", "MISS")]
    n_pass, n_miss = judged.count("PASS"), judged.count("MISS")
    return "Targets: %d PASS, %d MISS, %d not measured" % (
        n_pass, n_miss, len(judged) - n_pass - n_miss)


def run_rows(ctx, a):
    if "save" in a.rows:
        for m in a.models:
            med = rows_io.measure(ctx, m)
            rows_io.save_rows(ctx, m, med)
            rows_io.load_rows(ctx, m, med)
            if m in rows_io.RSS_MODELS and "rss" in a.rows:
                rows_io.rss_rows(ctx, m, med)
            if m in rows_io.PEAK_MODELS and "rss" in a.rows:
                rows_io.peak_rows(ctx, m, med)
    if "rss" in a.rows:
        for m in rows_io.RSS_MODELS:
            if "save" not in a.rows or m not in a.models:
                rows_io.rss_rows(ctx, m, {})
    steps = (("retention", rows_file.retention), ("prune", rows_file.prune),
             ("size", rows_file.steady_size), ("readers", rows_conc.readers),
             ("async", rows_conc.async_save))
    for name, fn in steps:
        if name in a.rows:
            fn(ctx)


def main():
    a = parse()
    start = time.time()
    load0 = " ".join(open("/proc/loadavg").read().split()[:3])
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    os.makedirs(a.out, exist_ok=True)
    if a.hold_memory:
        memory.check()  # before the models, which may take minutes
    info = models.ensure(a.data, a.quick, needed_models(a), Ctx.log)
    ctx = Ctx(a, info)
    err = None
    held = memory.HeldMemory(a.python, Ctx.log) if a.hold_memory \
        else contextlib.nullcontext()
    with held:
        mem0 = memory.describe(a.python, a.hold_memory)
        try:
            run_rows(ctx, a)
        except BenchError as e:
            err = str(e)
            Ctx.log("ERROR: " + err)
        mem1 = memory.describe(a.python, a.hold_memory)
    shutil.rmtree(a.work, ignore_errors=True)
    lines = header(ctx, start, load0) + ["", mem0 + " (at the start).", ""]
    lines += table(ctx) + ["", tally(ctx.table), ""]
    lines.append("Whole run: %.0f s (model writing included); load average "
                 "at the end %s." % (time.time() - start, " ".join(
                     open("/proc/loadavg").read().split()[:3])))
    lines.append(mem1 + " (at the end).")
    if err:
        lines += ["", "**ERROR** (the run stopped here): " + err]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(a.out, "scale.md"), "w") as f:
        f.write(text)
    return 1 if err else 0


if __name__ == "__main__":
    sys.exit(main())
