"""Rows 6-7 of the scale bench: a save with readers beside it, and the
time an async save blocks its caller."""
from ctx import fmt_s, ratio, verdict
from rows_io import manifest
from runner import Background, BenchError, check_manifest, median, rm, run


def vs_save_with(ctx, model, reader):
    """A fresh file with the small model as step 1, then the model as step
    2, timed; reader: None, "poll" or "restore" (of step 1)."""
    db = ctx.path("readers.db")
    rm(db)
    run([ctx.prog("scale_save"), ctx.src("resnet"), db, "--step", "1"])
    bg = None
    if reader:
        bg = Background([ctx.prog("scale_reader"), db, reader] +
                        (["1"] if reader == "restore" else []))
    try:
        c = run([ctx.prog("scale_save"), ctx.src(model), db, "--step", "2"])
    finally:
        seen = bg.stop() if bg else None
    rm(db)
    if seen and seen["errors"]:
        raise BenchError("scale_reader %s: %d failed reads (%s)" % (
            reader, seen["errors"], seen["last_error"]))
    return c.result["saves"][0], seen


def torch_save_with(ctx, model, reader):
    small, big = ctx.path("reader-small.pt"), ctx.path("readers.pt")
    bg = None
    if reader:
        run(ctx.peer("torch-save", ctx.src("resnet"), small))
        bg = Background(ctx.peer("torch-reader", small), env=ctx.env)
    try:
        c = run(ctx.peer("torch-save", ctx.src(model), big))
    finally:
        seen = bg.stop() if bg else None
    rm(big)
    if reader:
        rm(small)
    return c.result["seconds"], seen


def readers(ctx, model="tf2g"):
    t = {k: [] for k in ("alone", "poll", "restore", "t_alone", "t_reader")}
    polls, loops = [], []
    for r in range(ctx.reps):
        ctx.log("readers: repetition %d/%d" % (r + 1, ctx.reps))
        t["alone"].append(vs_save_with(ctx, model, None)[0])
        s, seen = vs_save_with(ctx, model, "poll")
        t["poll"].append(s)
        polls.append(seen["max_s"])
        s, seen = vs_save_with(ctx, model, "restore")
        t["restore"].append(s)
        loops.append(seen["loops"])
        if ctx.have["torch"]:
            t["t_alone"].append(torch_save_with(ctx, model, False)[0])
            t["t_reader"].append(torch_save_with(ctx, model, True)[0])
    m = {k: median(v) if v else None for k, v in t.items()}
    worst = max(polls)
    ctx.add("6 readers", "%s save: longest poll (open + latest step + close, "
            "every 10 ms; worst of %d saves)" % (ctx.desc(model), len(polls)),
            fmt_s(worst), "save with the poller %s" % fmt_s(m["poll"]), "",
            "<= ~0.1 s", verdict(worst, 0.1))
    r = ratio(m["restore"], m["alone"])
    tr = ratio(m["t_reader"], m["t_alone"])
    ctx.add("6 readers", "%s save with a reader restoring step 1 in a loop "
            "(%d restores) / alone %s" % (ctx.desc(model), median(loops),
                                          fmt_s(m["alone"])),
            fmt_s(m["restore"]),
            "torch.save with a torch.load loop %s / alone %s = %s" % (
                fmt_s(m["t_reader"]), fmt_s(m["t_alone"]),
                "n/a" if tr is None else "%.2fx" % tr),
            "%.2fx" % r, "<= 1.2x", verdict(r, 1.2))


def async_one(ctx, cmd, out, want, what):
    rm(out)
    c = run(cmd, env=ctx.env)
    if "manifest" in c.result:
        check_manifest(c.result["manifest"], want, what)
    return c.result


def async_peers(ctx, model):
    """(who, runnable, why not, command for an output path, output name,
    copies the tensors) of each asynchronous save timed."""
    vs = lambda *extra: (lambda o: [ctx.prog("scale_async"), ctx.src(model),
                                    o, "--step", "1"] + list(extra))
    no_vs = "skipped: this varstore has no async save (VS_HAVE_ASYNC_SAVE)"
    return [("varstore vs_async_save_tensors", ctx.have["async"], no_vs,
             vs(), "async.db", True),
            ("varstore vs_async_save_tensors_nocopy", ctx.have["async"],
             no_vs, vs("--nocopy"), "async-nocopy.db", False),
            ("torch.distributed.checkpoint.async_save", ctx.have["torch"],
             "skipped: torch is not importable",
             lambda o: ctx.peer("dcp-async", ctx.src(model), o), "dcp", True),
            ("orbax StandardCheckpointer (async)",
             ctx.have["orbax.checkpoint"],
             "skipped: orbax-checkpoint is not importable "
             "(scripts/requirements-bench-scale.txt)",
             lambda o: ctx.peer("orbax-async", ctx.src(model), o), "orbax",
             False)]


def async_reps(ctx, cmd, name, who, want, ours):
    """Medians of blocked, total and next-blocked seconds over the reps
    (ours: varstore's, whose checkpoint is read back)."""
    blocked, total, nxt = [], [], []
    out = ctx.path(name)
    for r in range(ctx.reps):
        ctx.log("async %s: repetition %d/%d" % (name, r + 1, ctx.reps))
        res = async_one(ctx, cmd(out), out, want, who)
        if ours:
            check_varstore(ctx, out, want)
        blocked.append(res["blocked_s"])
        total.append(res["total_s"])
        if "next_blocked_s" in res:
            nxt.append(res["next_blocked_s"])
        rm(out)
    return (median(blocked), median(total),
            median(nxt) if nxt else None)


def async_save(ctx, model="tf500"):
    want = manifest(ctx, model)
    least = {}  # copies the tensors -> {"varstore"/"peers": least blocked}
    for who, ok, why, cmd, name, copies in async_peers(ctx, model):
        case = "%s, %s" % (ctx.desc(model), who)
        if not ok:
            ctx.add("7 async save", case, why)
            continue
        ours = who.startswith("varstore")
        try:
            blocked, total, nxt = async_reps(ctx, cmd, name, who, want, ours)
        except BenchError as e:
            if ours:
                raise
            ctx.add("7 async save", case, "failed to run: %s" % str(e)[-300:])
            continue
        side = "varstore" if ours else "peers"
        got = least.setdefault(copies, {})
        got[side] = min(blocked, got.get(side, blocked))
        ctx.add("7 async save", case + ": caller blocked / until durable",
                fmt_s(blocked), "durable after %s" % fmt_s(total))
        if nxt is not None:  # the same saver's next save
            ctx.add("7 async save", case + ": the same saver's next save, "
                    "caller blocked", fmt_s(nxt))
    async_verdicts(ctx, model, least)


def fmt_ratio(r):
    """"0.0025x", not "0.00x", for a ratio far below 1."""
    if r is None:
        return "n/a"
    return "%.2fx" % r if r >= 0.01 else "%.2gx" % r


def async_verdicts(ctx, model, least):
    """The target: varstore's save blocks no longer than the peers' that
    do the same (copy the tensors: torch; keep references: Orbax)."""
    for copies, what in ((True, "copying the tensors (vs torch)"),
                         (False, "not copying them (vs Orbax)")):
        got = least.get(copies, {})
        if "varstore" not in got or "peers" not in got:
            ctx.add("7 async save", "%s, caller blocked, %s" % (
                ctx.desc(model), what), "not measured: %s did not run" % (
                    "varstore" if "varstore" not in got else "the peer"),
                "", "", "<= 1.0x")
            continue
        r = ratio(got["varstore"], got["peers"])
        ctx.add("7 async save", "%s, caller blocked, %s" % (
            ctx.desc(model), what), fmt_s(got["varstore"]),
            fmt_s(got["peers"]), fmt_ratio(r),
            "<= 1.0x", verdict(r, 1.0))


def check_varstore(ctx, db, want):
    c = run([ctx.prog("scale_load"), db])
    check_manifest(c.result["manifest"], want, "the async save's checkpoint")
