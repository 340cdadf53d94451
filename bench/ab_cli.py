#!/usr/bin/python3
"""Two builds of the varstore CLI doing the CLI job of peers.py e2e, in the
same run, turn by turn: a regression check that does not depend on the
peers' versions or on the machine's mood of the day.

  ab_cli.py --base OLD/varstore --head NEW/varstore --data bench/data \\
            --variant b --work DIR [--runs 21]

Each run, in alternating order, each build: `save --npy` (default codec),
then `save --codec raw --journal rollback` and `--journal wal`, each
followed by `restore --npy` warm (just written) and cold (after
posix_fadvise(POSIX_FADV_DONTNEED) on the file). Every job is a whole
process, timed from start to exit; each build writes and reads its own
files (an older build may not read a newer file format). The first run's
restores are checked bit for bit against the source tree. Prints the
medians and head's speed relative to base (base time / head time: above
1x = head faster). `make bench-ab BASE=REV` builds REV and runs this.
"""
import argparse
import os
import statistics
import sys

import peers

JOBS = (("default", []),
        ("raw, rollback journal", ["--codec", "raw", "--journal", "rollback"]),
        ("raw, WAL", ["--codec", "raw", "--journal", "wal"]))
STEPS = ("save", "restore warm", "restore cold")


def one_job(cli, db, src, out, flags, verify, ref):
    """(save s, restore warm s, restore cold s) of one build doing one job."""
    peers.rm(db)
    times = []
    dt, _ = peers.timed(lambda: peers.run_cli(
        [cli, "save", db, "--step", "1", "--npy", src] + flags))
    times.append(dt)
    for kind in ("warm", "cold"):
        peers.clear_tree(out)
        if kind == "cold":
            peers.make_cold(db)
        dt, _ = peers.timed(lambda: peers.run_cli(
            [cli, "restore", db, "--step", "1", "--npy", out]))
        times.append(dt)
        if verify:
            peers.check_equal(ref, peers.read_tree(out),
                              "%s restore --npy (%s)" % (cli, kind))
    peers.rm(db)
    return times


def measure(args):
    src = os.path.join(args.data, args.variant)
    ref = peers.read_tree(src)
    builds = (("base", args.base), ("head", args.head))
    res = {(b, j, s): [] for b, _ in builds for j, _ in JOBS for s in STEPS}
    for r in range(args.runs):
        order = builds if r % 2 == 0 else builds[::-1]
        for name, cli in order:
            db = os.path.join(args.work, "ab_%s.db" % name)
            out = os.path.join(args.work, "ab_out")
            for job, flags in JOBS:
                times = one_job(cli, db, src, out, flags, r == 0, ref)
                for step, t in zip(STEPS, times):
                    res[(name, job, step)].append(t)
        peers.clear_tree(os.path.join(args.work, "ab_out"))
    return res


def report(args, res):
    print("CLI job on variant %s, %d runs, medians (s); speed = base / head"
          % (args.variant, args.runs))
    print("base: %s\nhead: %s\n" % (args.base, args.head))
    print("| job | step | base s | head s | head speed |")
    print("|---|---|---|---|---|")
    for job, _ in JOBS:
        for step in STEPS:
            b = statistics.median(res[("base", job, step)])
            h = statistics.median(res[("head", job, step)])
            print("| %s | %s | %.4f | %.4f | %.2fx |" % (job, step, b, h,
                                                        b / h))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="the older varstore CLI")
    ap.add_argument("--head", required=True, help="the newer varstore CLI")
    ap.add_argument("--data", required=True, help="make_model.py's folder")
    ap.add_argument("--variant", default="b")
    ap.add_argument("--work", required=True, help="a scratch folder")
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    for cli in (args.base, args.head):
        if not os.access(cli, os.X_OK):
            sys.exit("ab_cli.py: %s is not an executable" % cli)
    if args.runs < 1:
        sys.exit("ab_cli.py: --runs must be at least 1")
    os.makedirs(args.work, exist_ok=True)
    report(args, measure(args))


if __name__ == "__main__":
    main()
