"""Rows 1-3 of the scale bench: save, cold load, and peak RSS. Each
repetition saves the model with every tool into a fresh file (one process
per save), then loads that file cold (one process per load), then deletes
it; the runs of all tools are interleaved. The 5 MB model is also saved
into a file that already holds steps (the training loop's save). Every
save and load process reports its peak RSS."""
import json
import os
import time
from collections import defaultdict

from ctx import fmt_mib, fmt_s, ratio, verdict
from rows_file import expect_steps
from runner import check_manifest, make_cold, median, rm, run

# Which tools run on which model (the big tensor gets the library and
# both peers; its load target names torch only). The 2 GB embedding is in
# the RSS row by default (the CLI saving one 2 GB tensor); --models adds
# it here.
FULL = ("c", "cli", "py", "torch", "st")
TOOLS = {"resnet": FULL, "tf500": FULL, "tf2g": FULL,
         "emb2g": ("c", "torch", "st"), "big": ("c", "torch", "st")}
DEFAULT_MODELS = ("resnet", "tf500", "tf2g", "big")
RSS_MODELS = ("tf2g", "emb2g")
# Models whose save and load processes' peaks get a row 3 line each.
PEAK_MODELS = ("tf2g", "big")
# Models whose load target is torch.load alone (issue 16).
TORCH_ONLY_LOAD = ("big",)
# The save into a file that already holds steps: scale_save --count
# APPEND_SAVES --perturb, distinct data each step; the first APPEND_FILL
# saves fill the file and the others are timed.
APPEND_MODELS = ("resnet",)
APPEND_FILL, APPEND_SAVES = 3, 6


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
    return c.result


def note(m, key, seconds, peak):
    """Records one run's time under key, its peak RSS under peak_<key>."""
    m[key].append(seconds)
    if peak is not None:
        m["peak_" + key].append(peak)


def note_load(m, key, result):
    note(m, key, result["seconds"], result.get("peak_rss"))


def varstore_rep(ctx, model, tools, m, want, first):
    db = ctx.path(model + ".db")
    for codec in ("default", "raw"):
        if "c" in tools and (codec == "default" or model != "big"):
            rm(db)
            c = run([ctx.prog("scale_save"), ctx.src(model), db, "--step",
                     "1", "--codec", codec])
            note(m, "c_save_" + codec, c.result["saves"][0],
                 c.result.get("peak_rss"))
            note_load(m, "c_load_" + codec, cold_load(
                ctx, [ctx.prog("scale_load"), db], db, want,
                "scale_load of %s (%s)" % (model, codec)))
            if "py" in tools and ctx.have["varstore"]:
                note_load(m, "py_load_" + codec, cold_load(
                    ctx, ctx.peer("vs-load", db), db, want,
                    "varstore.load of %s (%s)" % (model, codec)))
            rm(db)
        if "cli" in tools and ctx.have["cli"]:
            # own_rss: the command's own peak (the whole process) and wall
            # time, not the wrapper's start-up
            c = run([ctx.cli, "save", db, "--step", "1", "--safetensors",
                     ctx.src(model)] + (["--codec", "raw"] if codec == "raw"
                                        else []), want_json=False,
                    own_rss=True)
            note(m, "cli_save_" + codec, c.wall_s, c.maxrss)
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
        note(m, tool + "_save", c.result["seconds"], c.result.get("peak_rss"))
        note_load(m, tool + "_load", cold_load(
            ctx, ctx.peer(load, p), p, want, "%s of %s" % (load, model)))
        rm(p)


def append_rep(ctx, model, m):
    """APPEND_SAVES saves of distinct data into one file, per codec; the
    saves after the first APPEND_FILL are kept under c_append_<codec>."""
    db = ctx.path(model + "-append.db")
    for codec in ("default", "raw"):
        rm(db)
        c = run([ctx.prog("scale_save"), ctx.src(model), db, "--step", "1",
                 "--count", str(APPEND_SAVES), "--perturb", "--codec",
                 codec])
        expect_steps(db, list(range(1, APPEND_SAVES + 1)),
                     "saves into a file holding steps (%s)" % codec)
        m["c_append_" + codec].extend(c.result["saves"][APPEND_FILL:])
        rm(db)


def summarize(m):
    """Medians of the times; the largest of the peaks (peak_*)."""
    return {k: (max if k.startswith("peak_") else median)(v)
            for k, v in m.items() if v}


def measure(ctx, model):
    tools = TOOLS[model]
    want = manifest(ctx, model)
    m = defaultdict(list)
    for r in range(ctx.reps):
        ctx.log("save/load %s: repetition %d/%d" % (model, r + 1, ctx.reps))
        varstore_rep(ctx, model, tools, m, want, r == 0)
        if model in APPEND_MODELS and "c" in tools:
            append_rep(ctx, model, m)
        peer_rep(ctx, model, tools, m, want)
    return summarize(m)


SAVE_TARGET = {"resnet": (2.0, 2.0), "tf500": (1.0, 0.9), "tf2g": (1.0, 0.9)}
SAVE_WHO = (("C vs_save_tensors", "c_save_"),
            ("CLI save --safetensors", "cli_save_"),
            ("C vs_save_tensors into a file holding %d-%d steps (saves %d-%d "
             "of %d per repetition, distinct data each; the peers: a new "
             "file)" % (APPEND_FILL, APPEND_SAVES - 1, APPEND_FILL + 1,
                        APPEND_SAVES, APPEND_SAVES), "c_append_"))


def save_target(model, i):
    """The limit (x torch.save) of the model's save, codec i (0 default,
    1 raw), and its text."""
    limit = SAVE_TARGET.get(model, (None, None))[i]
    return limit, "" if limit is None else "<= %.1fx torch.save" % limit


def save_rows(ctx, model, med):
    torch_s, st_s = med.get("torch_save"), med.get("st_save")
    peers = "torch.save %s; safetensors %s" % (fmt_s(torch_s), fmt_s(st_s))
    for who, key in SAVE_WHO:
        for i, codec in enumerate(("default", "raw")):
            t = med.get(key + codec)
            if t is None:
                continue
            limit, target = save_target(model, i)
            r = ratio(t, torch_s)
            ctx.add("1 save", "%s, %s, %s codec" % (ctx.desc(model), who,
                                                   codec), fmt_s(t), peers,
                    "%s torch, %s st" % (fx(r), fx(ratio(t, st_s))),
                    target, verdict(r, limit))


def fx(r):
    return "n/a" if r is None else "%.2fx" % r


def load_peers(model, st_measured):
    """The loads a cold load's target names (<= 1.0x each): torch.load,
    and load_file when it was measured, but for TORCH_ONLY_LOAD."""
    if st_measured and model not in TORCH_ONLY_LOAD:
        return ("torch.load", "load_file")
    return ("torch.load",)


def load_target(model, rt, rs):
    """(target text, verdict) of a cold load whose time is rt x
    torch.load's and rs x load_file's (None: not measured)."""
    names = load_peers(model, rs is not None)
    ok = [verdict({"torch.load": rt, "load_file": rs}[n], 1.0)
          for n in names]
    return (", ".join("<= 1.0x " + n for n in names),
            "MISS" if "MISS" in ok else ("PASS" if "PASS" in ok else ""))


def missing_rows(ctx, model):
    """Says which of the model's varstore rows could not run, and why;
    each keeps its target, so the tally counts it as not measured."""
    tools = TOOLS[model]
    for i, codec in enumerate(("default", "raw")):
        if "cli" in tools and not ctx.have["cli"]:
            ctx.add("1 save", "%s, CLI save --safetensors, %s codec" % (
                ctx.desc(model), codec),
                "skipped: the varstore CLI was not built", "", "",
                save_target(model, i)[1])
        if "py" in tools and not ctx.have["varstore"]:
            ctx.add("2 cold load", "%s, Python varstore.load, %s codec" % (
                ctx.desc(model), codec),
                "skipped: the varstore Python module is not importable "
                "(not built in build-rel?)", "", "",
                ", ".join("<= 1.0x " + n for n in load_peers(model, True)))


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
            target, result = load_target(model, rt, rs)
            ctx.add("2 cold load", "%s, %s, %s codec" % (
                ctx.desc(model), who, codec), fmt_s(t), peers,
                "%s torch, %s st" % (fx(rt), fx(rs)), target, result)


def rss_rows(ctx, model, med):
    """Peak RSS of `varstore save` from the .npy tree and from the
    safetensors file, the command's own (runner.run's own_rss), measured
    once: the peak does not vary from run to run."""
    limit = 256 * 2 ** 20
    if not ctx.have["cli"]:
        for what in ("--npy tree", "--safetensors"):
            ctx.add("3 peak RSS", "%s, varstore save %s" % (
                ctx.desc(model), what), "skipped: no varstore CLI", "", "",
                "<= 256 MiB")
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


PEAK_SAVES = (("C default", "c_save_default"), ("C raw", "c_save_raw"),
              ("CLI default", "cli_save_default"),
              ("CLI raw", "cli_save_raw"))
PEAK_SAVE_PEERS = (("torch.save", "torch_save"), ("save_file", "st_save"))
PEAK_LOADS = (("C default", "c_load_default"), ("C raw", "c_load_raw"),
              ("Python default", "py_load_default"),
              ("Python raw", "py_load_raw"))
PEAK_LOAD_PEERS = (("torch.load", "torch_load"), ("load_file", "st_load"))


def peaks(med, who_keys):
    """"C default 1950 MiB; ..." for the keys measured, or "n/a"."""
    got = ["%s %s" % (who, fmt_mib(med["peak_" + k]))
           for who, k in who_keys if "peak_" + k in med]
    return "; ".join(got) or "n/a"


def peak_rows(ctx, model, med):
    """The peak RSS of rows 1-2's save and load processes (measure's
    peak_* keys): each process's own from just before its operation, the
    CLI's of its whole process; no target."""
    size = fmt_mib(ctx.models[model]["bytes"])
    for what, ours, theirs in (
            ("row 1's saves: each process's peak RSS from the save's start "
             "(the %s model in memory; the CLI: its whole process)" % size,
             PEAK_SAVES, PEAK_SAVE_PEERS),
            ("row 2's cold loads: each process's peak RSS from the load's "
             "start", PEAK_LOADS, PEAK_LOAD_PEERS)):
        ctx.add("3 peak RSS", "%s, %s" % (ctx.desc(model), what),
                peaks(med, ours), peaks(med, theirs))
