"""Rows 4-5 of the scale bench, on one file holding many checkpoints:
the cost of retention (max_to_keep) on saves, the time of `varstore
prune`, and the size a file settles at under max_to_keep."""
import sqlite3

from ctx import fmt_mib, fmt_s, ratio, verdict
from runner import BenchError, disk_bytes, median, rm, run


def steps_in(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return [r[0] for r in
                con.execute("SELECT step FROM checkpoints ORDER BY step")]
    finally:
        con.close()


def expect_steps(db, want, what):
    got = steps_in(db)
    if got != want:
        raise BenchError("%s: the file holds steps %s, expected %s" %
                         (what, got, want))


def save(ctx, model, db, step, *extra):
    """scale_save's result: {"saves": [seconds, ...], "raw_bytes", ...}."""
    c = run([ctx.prog("scale_save"), ctx.src(model), db, "--step",
             str(step), "--perturb"] + [str(x) for x in extra])
    return c.result


def retention(ctx, model="tf500"):
    """Four saves of distinct data with max_to_keep=2 and without; the
    mean time of saves 3 and 4."""
    means = {2: [], None: []}
    db = ctx.path("retention.db")
    for r in range(ctx.reps):
        ctx.log("retention: repetition %d/%d" % (r + 1, ctx.reps))
        for keep in (2, None):
            rm(db)
            extra = ["--max-to-keep", keep] if keep else []
            times = [save(ctx, model, db, s, *extra)["saves"][0]
                     for s in (1, 2, 3, 4)]
            expect_steps(db, [3, 4] if keep else [1, 2, 3, 4],
                         "retention (max_to_keep=%s)" % keep)
            means[keep].append((times[2] + times[3]) / 2)
            rm(db)
    kept, every = median(means[2]), median(means[None])
    r = ratio(kept, every)
    ctx.add("4 retention", "%s, 4 saves, mean of saves 3-4: max_to_keep=2 "
            "vs keep all" % ctx.desc(model), fmt_s(kept),
            "keep all %s" % fmt_s(every), "%.2fx" % r, "<= 1.10x",
            verdict(r, 1.10))


def prune_step_bytes(quick):
    """scale_save --max-bytes of the prune row's checkpoints: the first
    tensors of the 500 MB transformer within it, 335.7 MB, so that 8 of
    them make a file over 2 GiB with the default codec (0.84 of raw on
    these values); 16.8 MB of the 50 MB one with --quick."""
    return (27 if quick else 340) * 10 ** 6


def prune(ctx, model="tf500"):
    """`varstore prune FILE --keep 5` on a file of 8 checkpoints of
    prune_step_bytes of distinct data each."""
    if not ctx.have["cli"]:
        ctx.add("5 prune", "varstore prune", "skipped: no varstore CLI", "",
                "", "< 1 s")
        return
    db = ctx.path("prune.db")
    limit = prune_step_bytes(ctx.args.quick)
    rm(db)
    times, sizes, next_step = [], [], 1
    for r in range(ctx.reps):
        ctx.log("prune: repetition %d/%d" % (r + 1, ctx.reps))
        n = 8 if r == 0 else 3
        per_step = save(ctx, model, db, next_step, "--count", n,
                        "--max-bytes", limit)["raw_bytes"]
        next_step += n
        sizes.append(disk_bytes(db))
        c = run([ctx.cli, "prune", db, "--keep", "5"], want_json=False)
        times.append(c.wall_s)
        expect_steps(db, list(range(next_step - 5, next_step)), "prune")
    rm(db)
    t, size = median(times), median(sizes)
    ctx.add("5 prune", "varstore prune --keep 5 of 8 checkpoints, file %s = "
            "%.2f GB (%.1f MB of tensors per step)" % (
                fmt_mib(size), size / 1e9, per_step / 1e6),
            fmt_s(t), "", "", "< 1 s", verdict(t, 0.999999))


def steady_size(ctx, model="resnet", n=100, keep=3):
    """The file's size after n saves of a small changing model with
    max_to_keep=keep, against keep times one step's bytes."""
    db = ctx.path("size.db")
    rm(db)
    ctx.log("size: %d saves of the %s model, max_to_keep=%d" %
            (n, ctx.desc(model), keep))
    save(ctx, model, db, 1, "--count", n, "--max-to-keep", keep)
    expect_steps(db, list(range(n - keep + 1, n + 1)), "size")
    size, step = disk_bytes(db), ctx.models[model]["bytes"]
    rm(db)
    ctx.add("5 file size", "%s: after %d saves with max_to_keep=%d (file + "
            "-wal/-shm)" % (ctx.desc(model), n, keep), fmt_mib(size),
            "%d x step = %s" % (keep, fmt_mib(keep * step)),
            "%.2fx" % (size / (keep * step)), "", "")
