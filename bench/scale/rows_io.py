"""Rows 1-3 of the scale bench: save, cold load, and the CLI's peak RSS.
Each repetition saves the model with every tool into a fresh file (one
process per save), then loads that file cold (one process per load), then
deletes it; the runs of all tools are interleaved."""
import json
import os
import time
from collections import defaultdict

from ctx import fmt_mib, fmt_s, ratio, verdict
from runner import check_manifest, make_cold, median, rm, run

# Which tools run on which model (the big tensor gets the library and
# torch, the peer its target names). The 2 GB embedding is in the RSS row
# by default (the CLI saving one 2 GB tensor); --models adds it here.
FULL = ("c", "cli", "py", "torch", "st")
TOOLS = {"resnet": FULL, "tf500": FULL, "tf2g": FULL,
         "emb2g": ("c", "torch", "st"), "big": ("c", "torch")}
DEFAULT_MODELS = ("resnet", "tf500", "tf2g", "big")
RSS_MODELS = ("tf2g", "emb2g")


def manifest(ctx, model):
    with open(ctx.src(model)[:-len(".safetensors")] + ".manifest.json") as f:
        return json.load(f)


# Files from which a load waits --settle seconds after the cache drop.
SETTLE_MIN_BYTES = 64 << 20


def cold_load(ctx, cmd, path, want, what):
    make_cold(path)
    # On this kind of VM, memory freed by a process (the saver that just
    # exited, the dropped page cache) goes back to the host a few seconds
    # later, and touching it again is slow: a load started at once or 5 s
    # later took 1.7-2.7 s or 4.2-4.4 s (2 GB). --settle makes every
    # tool's load wait the same time first (bench/README.md).
    size = os.path.getsize(path) if os.path.isfile(path) else SETTLE_MIN_BYTES
    if ctx.args.settle > 0 and size >= SETTLE_MIN_BYTES:
        time.sleep(ctx.args.settle)
    c = run(cmd, env=ctx.env)
    check_manifest(c.result["manifest"], want, what)
    return c.result["seconds"]


def varstore_rep(ctx, model, tools, m, want, first):
    db = ctx.path(model + ".db")
    for codec in ("default", "raw"):
        if "c" in tools and (codec == "default" or model != "big"):
            rm(db)
            c = run([ctx.prog("scale_save"), ctx.src(model), db, "--step",
                     "1", "--codec", codec])
            m["c_save_" + codec].append(c.result["saves"][0])
            m["c_load_" + codec].append(cold_load(
                ctx, [ctx.prog("scale_load"), db], db, want,
                "scale_load of %s (%s)" % (model, codec)))
            if "py" in tools and ctx.have["varstore"]:
                m["py_load_" + codec].append(cold_load(
                    ctx, ctx.peer("vs-load", db), db, want,
                    "varstore.load of %s (%s)" % (model, codec)))
            rm(db)
        if "cli" in tools and ctx.have["cli"]:
            c = run([ctx.cli, "save", db, "--step", "1", "--safetensors",
                     ctx.src(model)] + (["--codec", "raw"] if codec == "raw"
                                        else []), want_json=False)
            m["cli_save_" + codec].append(c.wall_s)
            m["cli_rss_st_" + codec].append(c.maxrss)
            if first:  # what the CLI saved, checked once (untimed)
                got = run([ctx.prog("scale_load"), db]).result["manifest"]
                check_manifest(got, want, "varstore save --safetensors of "
                               "%s (%s)" % (model, codec))
            rm(db)


def peer_rep(ctx, model, tools, m, want):
    for tool, suffix, save, load in (("torch", ".pt", "torch-save",
                                      "torch-load"),
                                     ("st", ".safetensors", "st-save",
                                      "st-load")):
        mod = "torch" if tool == "torch" else "safetensors"
        if tool not in tools or not ctx.have[mod] or not ctx.have["torch"]:
            continue
        p = ctx.path(model + suffix)
        c = run(ctx.peer(save, ctx.src(model), p))
        m[tool + "_save"].append(c.result["seconds"])
        m[tool + "_load"].append(cold_load(ctx, ctx.peer(load, p), p, want,
                                           "%s of %s" % (load, model)))
        rm(p)


def measure(ctx, model):
    tools = TOOLS[model]
    want = manifest(ctx, model)
    m = defaultdict(list)
    for r in range(ctx.reps):
        ctx.log("save/load %s: repetition %d/%d" % (model, r + 1, ctx.reps))
        varstore_rep(ctx, model, tools, m, want, r == 0)
        peer_rep(ctx, model, tools, m, want)
    return {k: median(v) for k, v in m.items()}


SAVE_TARGET = {"resnet": (2.0, 2.0), "tf500": (1.0, 0.9), "tf2g": (1.0, 0.9)}


def save_rows(ctx, model, med):
    torch_s, st_s = med.get("torch_save"), med.get("st_save")
    peers = "torch.save %s; safetensors %s" % (fmt_s(torch_s), fmt_s(st_s))
    for who, key in (("C vs_save_tensors", "c_save_"),
                     ("CLI save --safetensors", "cli_save_")):
        for i, codec in enumerate(("default", "raw")):
            t = med.get(key + codec)
            if t is None:
                continue
            limit = SAVE_TARGET.get(model, (None, None))[i]
            r = ratio(t, torch_s)
            ctx.add("1 save", "%s, %s, %s codec" % (ctx.desc(model), who,
                                                   codec), fmt_s(t), peers,
                    "%s torch, %s st" % (fx(r), fx(ratio(t, st_s))),
                    "" if limit is None else "<= %.1fx torch.save" % limit,
                    verdict(r, limit))


def fx(r):
    return "n/a" if r is None else "%.2fx" % r


def missing_rows(ctx, model):
    """Says which of the model's varstore rows could not run, and why."""
    tools = TOOLS[model]
    if "cli" in tools and not ctx.have["cli"]:
        ctx.add("1 save", "%s, CLI save --safetensors" % ctx.desc(model),
                "skipped: the varstore CLI was not built")
    if "py" in tools and not ctx.have["varstore"]:
        ctx.add("2 cold load", "%s, Python varstore.load" % ctx.desc(model),
                "skipped: the varstore Python module is not importable "
                "(not built in build-rel?)")


def load_rows(ctx, model, med):
    missing_rows(ctx, model)
    torch_s, st_s = med.get("torch_load"), med.get("st_load")
    peers = "torch.load %s; load_file %s" % (fmt_s(torch_s), fmt_s(st_s))
    for who, key in (("C vs_ckpt_load_many", "c_load_"),
                     ("Python varstore.load", "py_load_")):
        for codec in ("default", "raw"):
            t = med.get(key + codec)
            if t is None:
                continue
            rt, rs = ratio(t, torch_s), ratio(t, st_s)
            ok = [verdict(rt, 1.0)] + ([] if st_s is None else
                                       [verdict(rs, 1.0)])
            ctx.add("2 cold load", "%s, %s, %s codec" % (
                ctx.desc(model), who, codec), fmt_s(t), peers,
                "%s torch, %s st" % (fx(rt), fx(rs)),
                "<= 1.0x torch.load" + ("" if st_s is None else
                                        ", <= 1.0x load_file"),
                "MISS" if "MISS" in ok else ("PASS" if "PASS" in ok else ""))


def rss_rows(ctx, model, med):
    """Peak RSS of `varstore save` from the .npy tree and from the
    safetensors file, the command's own (runner.run's own_rss), measured
    once: the peak does not vary from run to run."""
    limit = 256 * 2 ** 20
    if not ctx.have["cli"]:
        ctx.add("3 peak RSS", ctx.desc(model), "skipped: no varstore CLI")
        return
    db = ctx.path(model + ".db")
    got = {}
    for what, arg, path in (("--npy tree", "--npy", ctx.tree(model)),
                            ("--safetensors", "--safetensors",
                             ctx.src(model))):
        c = run([ctx.cli, "save", db, "--step", "1", arg, path],
                want_json=False, own_rss=True)
        rm(db)
        got[what] = (c.maxrss, c.wall_s)
    for what, (rss, t) in got.items():
        ctx.add("3 peak RSS", "%s, varstore save %s (%s)" % (
            ctx.desc(model), what, fmt_s(t)), fmt_mib(rss), "", "",
            "<= 256 MiB", verdict(rss, limit))
