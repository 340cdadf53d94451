#!/usr/bin/python3
"""Turns the JSON that ckpt_bench and peers.py wrote into Markdown tables
(medians), ratios of varstore to each peer and the targets of issue 5 with
PASS / MISS, and writes them to OUT/report.md. Prints the report too.

Usage: report.py OUTDIR DATADIR VARIANTS   (e.g. bench/out bench/data a,b)
Expects OUTDIR/ckpt_<v>.json, peers_lib_<v>.json, peers_e2e_<v>.json, and
optionally OUTDIR/conv_bench.txt, lookup_bench.txt, machine.txt, notes.txt.
A number that was not measured is printed as "n/a", never made up.
"""
import json
import os
import re
import statistics
import sys

MB = 1e6
H5_REF = "h5py gzip-1 + shuffle"
TORCH = "torch.save / torch.load"


def med(xs):
    return statistics.median(xs) if xs else None


def load(path):
    with open(path) as f:
        return json.load(f)


def fmt_s(x):
    return "n/a" if x is None else "%.3f" % x


def fmt_rate(raw, s):
    return "n/a" if s is None or s <= 0 else "%.0f" % (raw / s / MB)


def fmt_x(x, digits=2):
    return "n/a" if x is None else "%.*f×" % (digits, x)


def summarize(row):
    """{metric: median} of one row of runs."""
    return {k: med(v) for k, v in row.items() if isinstance(v, list)}


def speed_ratio(peer_s, vs_s):
    if peer_s is None or vs_s is None or vs_s <= 0:
        return None
    return peer_s / vs_s


def size_ratio(vs_b, peer_b):
    if vs_b is None or peer_b is None or peer_b <= 0:
        return None
    return vs_b / peer_b


def abs_table(rows, raw):
    out = ["| format | size MB | size/raw | save s | save MB/s | restore warm s "
           "| warm MB/s | restore cold s | cold MB/s |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, m in rows:
        size = m.get("size_bytes")
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, "n/a" if size is None else "%.1f" % (size / MB),
            "n/a" if size is None else "%.3f" % (size / raw),
            fmt_s(m.get("save_s")), fmt_rate(raw, m.get("save_s")),
            fmt_s(m.get("restore_warm_s")),
            fmt_rate(raw, m.get("restore_warm_s")),
            fmt_s(m.get("restore_cold_s")),
            fmt_rate(raw, m.get("restore_cold_s"))))
    return out


def ratio_table(vs_rows, peers):
    """vs_rows: [(label, medians)]; one group of 4 columns per label."""
    head = "| peer |"
    sep = "|---|"
    for label, _ in vs_rows:
        head += (" %s: save speed | %s: restore warm | %s: restore cold | "
                 "%s: size |" % ((label,) * 4))
        sep += "---|---|---|---|"
    out = [head, sep]
    for pname, p in peers:
        line = "| %s |" % pname
        for _, v in vs_rows:
            line += " %s | %s | %s | %s |" % (
                fmt_x(speed_ratio(p.get("save_s"), v.get("save_s"))),
                fmt_x(speed_ratio(p.get("restore_warm_s"),
                                  v.get("restore_warm_s"))),
                fmt_x(speed_ratio(p.get("restore_cold_s"),
                                  v.get("restore_cold_s"))),
                fmt_x(size_ratio(v.get("size_bytes"), p.get("size_bytes")), 3))
        out.append(line)
    return out


def target(results, what, value, goal, ok, unit="×", digits=2):
    if value is None:
        status, shown = "n/a", "not measured"
    else:
        status = "PASS" if ok(value) else "MISS"
        shown = "%.*f%s" % (digits, value, unit)
    results.append((status, what, shown, goal))


def targets_for(results, label, vs, vs_raws, vs_rows_second, peers):
    h5 = peers.get(H5_REF)
    tp = peers.get(TORCH)
    if vs is None:
        for w in ("compressed save speed", "compressed size",
                  "restore speed"):
            results.append(("n/a", "%s: %s" % (label, w), "varstore row "
                            "missing", ""))
    else:
        if h5 is None:
            results.append(("n/a", "%s: vs %s" % (label, H5_REF),
                            "peer skipped", ""))
        else:
            target(results, "%s: default save speed vs %s" % (label, H5_REF),
                   speed_ratio(h5.get("save_s"), vs.get("save_s")), ">= 3×",
                   lambda x: x >= 3.0)
            target(results, "%s: default file size vs %s" % (label, H5_REF),
                   size_ratio(vs.get("size_bytes"), h5.get("size_bytes")),
                   "<= 0.95×", lambda x: x <= 0.95, digits=3)
            for kind in ("warm", "cold"):
                k = "restore_%s_s" % kind
                target(results, "%s: restore speed (%s) vs %s" %
                       (label, kind, H5_REF),
                       speed_ratio(h5.get(k), vs.get(k)), ">= 2.5×",
                       lambda x: x >= 2.5)
    if not vs_raws:
        results.append(("n/a", "%s: raw save/restore vs torch" % label,
                        "no raw mode on this path", ""))
    elif tp is None:
        results.append(("n/a", "%s: raw vs torch" % label, "peer skipped", ""))
    for raw_label, vs_raw in (vs_raws if tp is not None else []):
        target(results, "%s: raw save speed vs torch.save (%s)" %
               (label, raw_label),
               speed_ratio(tp.get("save_s"), vs_raw.get("save_s")),
               ">= 0.5×", lambda x: x >= 0.5)
        for kind in ("warm", "cold"):
            k = "restore_%s_s" % kind
            target(results, "%s: raw restore speed (%s) vs torch.load (%s)" %
                   (label, kind, raw_label),
                   speed_ratio(tp.get(k), vs_raw.get(k)),
                   ">= 0.5×", lambda x: x >= 0.5)
    for name, m, raw in vs_rows_second:
        added = m.get("added_bytes")
        target(results, "%s: second unchanged save (%s), bytes added / raw"
               % (label, name), None if added is None else 100.0 * added / raw,
               "< 1 %", lambda x: x < 1.0, unit=" %", digits=3)


def variant_section(out_dir, data_dir, v, results):
    ck = load(os.path.join(out_dir, "ckpt_%s.json" % v))
    pl = load(os.path.join(out_dir, "peers_lib_%s.json" % v))
    pe = load(os.path.join(out_dir, "peers_e2e_%s.json" % v))
    raw = ck["raw_bytes"]
    if pl["raw_bytes"] != raw or pe["raw_bytes"] != raw:
        raise SystemExit("report: the runs disagree on the model size")
    info = ""
    try:
        with open(os.path.join(data_dir, v + ".info")) as f:
            f.readline()
            info = f.readline().strip()
    except OSError:
        pass
    L = ["", "## Variant %s" % v, "",
         "%d tensors, %.1f MB raw float32. %s. Medians of %d runs (varstore "
         "library), %d (peers in-process), %d (CLI job)." % (
             ck["n_tensors"], raw / MB, info, ck["runs"], pl["runs"],
             pe["runs"])]
    for name, why in sorted({**pl["skipped"], **pe["skipped"]}.items()):
        L.append("")
        L.append("**Skipped peer %s**: %s." % (name, why))

    # --- library / in-process ---
    vd = summarize(ck["rows"]["default"])
    v1 = summarize(ck["rows"]["default_t1"])
    vr = summarize(ck["rows"]["raw"])
    # Rows added with the journal-mode setting (absent from older runs).
    vrr = summarize(ck["rows"]["raw_rollback"]) \
        if "raw_rollback" in ck["rows"] else None
    vdr = summarize(ck["rows"]["default_rollback"]) \
        if "default_rollback" in ck["rows"] else None
    vrs = summarize(ck["rows"]["raw_shared"]) \
        if "raw_shared" in ck["rows"] else None
    vds = summarize(ck["rows"]["default_shared"]) \
        if "default_shared" in ck["rows"] else None
    rb = [r for r in (("**varstore VS_CODEC_RAW, rollback-journal file**",
                       vrr),
                      ("varstore default codec, rollback-journal file", vdr),
                      ("varstore VS_CODEC_RAW, WAL kept (readers_never_wait)",
                       vrs),
                      ("varstore default codec, WAL kept "
                       "(readers_never_wait)", vds))
          if r[1] is not None]
    peers = [(n, summarize(r)) for n, r in pl["rows"].items()]
    L += ["", "### Through the library (in-process; peers from numpy arrays "
          "in memory)", ""]
    L += abs_table([("**varstore vs_save / vs_restore (default codec)**", vd),
                    ("varstore default codec, 1 thread", v1),
                    ("**varstore VS_CODEC_RAW**", vr)] + rb + peers, raw)
    L += ["", "varstore's stored payload (sum of its chunks, from "
          "vs_list_checkpoints): default codec %.2f MB (%.3f of raw), raw "
          "%.2f MB; the rest of the file size is SQLite's (pages, catalogue)."
          % (vd["stored_bytes"] / MB, vd["stored_bytes"] / raw,
             vr["stored_bytes"] / MB)]
    L += ["", "varstore restores are into a freshly built graph (variables "
          "created, not initialized). Into an already initialized graph "
          "(warm): default %s s, 1 thread %s s, raw %s s." % (
              fmt_s(vd.get("restore_inited_s")),
              fmt_s(v1.get("restore_inited_s")),
              fmt_s(vr.get("restore_inited_s"))),
          ]
    L += ["", "Every save goes into a new file, which has a rollback "
          "journal (the default for new files); the rows that say "
          "rollback-journal file set it explicitly first "
          "(vs_set_journal_mode(VS_JOURNAL_ROLLBACK), the same path). The "
          "\"WAL kept\" rows make the file a WAL file first "
          "(VS_JOURNAL_WAL, as files of earlier releases are) and set "
          "vs_save_opts.readers_never_wait, which keeps the save a WAL one "
          "(pages written to the -wal file, then into the file), as when "
          "a reader has a WAL file open."]
    L += ["", "Ratios, varstore to each peer (speed: peer time / varstore "
          "time, above 1× = varstore faster; size: varstore / peer, below "
          "1× = smaller):", ""]
    L += ratio_table([("default", vd), ("1 thread", v1), ("raw", vr)] +
                     [(n, m) for n, m in (("raw, rollback", vrr),
                                          ("default, rollback", vdr),
                                          ("raw, WAL kept", vrs),
                                          ("default, WAL kept", vds))
                      if m is not None], peers)

    # --- end to end (CLI) ---
    L += ["", "### End to end: the CLI's job (.npy tree -> file -> .npy "
          "tree)", ""]
    erows = []
    cli = None
    cli_raws = []
    if "cli" in pe:
        cli = summarize(pe["cli"])
        erows.append(("**varstore save/restore --npy (CLI process)**", cli))
        for jm, label in (("wal", "WAL file"),
                          ("rollback", "rollback-journal file")):
            if jm in pe.get("cli_raw", {}):
                m = summarize(pe["cli_raw"][jm])
                cli_raws.append((label, m))
                erows.append(("varstore save --codec raw --journal %s / "
                              "restore --npy (CLI process)" % jm, m))
    else:
        L += ["**varstore CLI row missing**: %s." % pe["cli_missing"], ""]
    epeers = [(n, summarize(r)) for n, r in pe["rows"].items()]
    L += abs_table(erows + epeers, raw)
    st = med(pe.get("python_startup_s", []))
    L += ["", "Peers run inside one Python process (reading the .npy files "
          "with np.load and writing them with np.save are timed; interpreter "
          "start-up and `import %s` are not: %s s, median of 3). The varstore "
          "CLI is timed as a whole process, start-up included." % (
              ", ".join(pe.get("python_startup_imports", [])), fmt_s(st))]
    if cli is not None:
        L += ["", "Ratios, CLI to each peer doing the same job:", ""]
        L += ratio_table([("CLI", cli)] +
                         [("CLI raw, " + lb, m) for lb, m in cli_raws],
                         epeers)

    # --- second save ---
    L += ["", "### Second save of unchanged weights", "",
          "| path | codec | second save s | file bytes added | % of raw |",
          "|---|---|---|---|---|"]
    second = [("library", "default", vd), ("library", "raw", vr)]
    if vrr is not None:
        second.append(("library", "raw, rollback-journal file", vrr))
    if cli is not None:
        second.append(("CLI", "default", cli))
    for path, codec, m in second:
        a = m.get("added_bytes")
        L.append("| %s | %s | %s | %s | %s |" % (
            path, codec, fmt_s(m.get("save2_s")),
            "n/a" if a is None else "%d" % a,
            "n/a" if a is None else "%.3f %%" % (100.0 * a / raw)))
    if cli is not None and cli.get("used_added_bytes") is not None:
        L += ["", "(CLI file: in-use pages, page_count - freelist_count, "
              "grew by %d bytes.)" % cli["used_added_bytes"]]

    # --- targets ---
    pdict = dict(peers)
    edict = dict(epeers)
    before = len(results)
    raws = [("WAL file", vr)]
    if vrr is not None:
        raws.append(("rollback-journal file", vrr))
    targets_for(results, "%s library" % v, vd, raws,
                [("default", vd, raw), ("raw", vr, raw)], pdict)
    targets_for(results, "%s CLI" % v, cli, cli_raws,
                [("default", cli, raw)] if cli is not None else [], edict)
    L += ["", "### Targets (issue 5)", "", "| result | target | measured "
          "| goal |", "|---|---|---|---|"]
    for status, what, shown, goal in results[before:]:
        L.append("| %s | %s | %s | %s |" % (status, what, shown, goal))
    return L


CONV_LINE = re.compile(r"^(.*?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+"
                       r"([\d.]+)\s+([\d.]+)\s+([\d.]+)x$")


def conv_section(out_dir, results):
    """conv_bench against torch_conv.py (torch.nn.functional.conv2d, same
    cases, same method), and the conv2d and lookup targets of issue 5."""
    L = []
    cpath = os.path.join(out_dir, "conv_bench.txt")
    tpath = os.path.join(out_dir, "torch_conv.json")
    vs_c = {}
    if os.path.exists(cpath):
        with open(cpath) as f:
            for line in f:
                m = CONV_LINE.match(line.rstrip("\n"))
                if m:
                    vs_c[m.group(1).strip()] = {
                        "us_1": float(m.group(3)),
                        "gflops_1": float(m.group(4)),
                        "us_2": float(m.group(5)),
                        "gflops_2": float(m.group(6)),
                        "speedup": float(m.group(7))}
    tc = load(tpath).get("cases", {}) if os.path.exists(tpath) else {}
    if vs_c:
        L += ["", "## conv2d against torch.nn.functional.conv2d", "",
              "Both measured in this run, same cases and method (NHWC, "
              "float32, median per call; bench/conv_bench, "
              "bench/torch_conv.py). Ratio = varstore GFLOP/s / torch "
              "GFLOP/s at the same thread count.", "",
              "| case | varstore 1 thread | torch 1 thread | ratio | "
              "varstore 2 threads | torch 2 threads | ratio | varstore "
              "2-thread speedup |", "|---|---|---|---|---|---|---|---|"]
        for name, v in vs_c.items():
            t = tc.get(name)

            def cell(row, k):
                if row is None:
                    return "n/a"
                if name.startswith("seed"):
                    return "%.2f µs" % row["us_%d" % k]
                return "%.1f GFLOP/s" % row["gflops_%d" % k]

            def rat(k):
                if t is None or t["gflops_%d" % k] <= 0:
                    return None
                return v["gflops_%d" % k] / t["gflops_%d" % k]
            L.append("| %s | %s | %s | %s | %s | %s | %s | %.2f× |" % (
                name, cell(v, 1), cell(t, 1), fmt_x(rat(1)), cell(v, 2),
                cell(t, 2), fmt_x(rat(2)), v["speedup"]))
            goal = None
            if "3x3x64x64" in name:
                goal = 0.5
            elif "7x7x3x64" in name:
                goal = 0.3
            if goal is not None:
                for k in (1, 2):
                    target(results, "conv2d %s, %d thread%s: vs torch" %
                           (name, k, "s" if k == 2 else ""), rat(k),
                           ">= %.1f×" % goal, lambda x, g=goal: x >= g)
            if name.startswith("8x56x56x64"):
                target(results, "conv2d %s: 2-thread speedup" % name,
                       v["speedup"], ">= 1.8× (near 2×)",
                       lambda x: x >= 1.8)
        if not tc:
            L += ["", "torch_conv.py did not run (see the notes): no "
                  "ratios."]
    lpath = os.path.join(out_dir, "lookup_bench.txt")
    if os.path.exists(lpath):
        with open(lpath) as f:
            m = re.search(r"pure reuse lookups.*= (\d+) lookups/s", f.read())
        target(results, "get_variable reuse lookups per second",
               float(m.group(1)) if m else None, ">= 1,000,000",
               lambda x: x >= 1e6, unit="", digits=0)
    before = [r for r in results if r[1].startswith(("conv2d", "get_var"))]
    if before:
        L += ["", "### Targets (issue 5): conv2d and lookups", "",
              "| result | target | measured | goal |", "|---|---|---|---|"]
        for status, what, shown, goal in before:
            L.append("| %s | %s | %s | %s |" % (status, what, shown, goal))
    return L


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: report.py OUTDIR DATADIR VARIANTS")
    out_dir, data_dir, variants = sys.argv[1], sys.argv[2], sys.argv[3]
    L = ["# varstore checkpoint benchmark", ""]
    mpath = os.path.join(out_dir, "machine.txt")
    if os.path.exists(mpath):
        with open(mpath) as f:
            L += [line.rstrip("\n") for line in f]
    L += ["", "MB = 10^6 bytes; MB/s counts raw float32 bytes. Save times "
          "include making the file durable (fsync; varstore's vs_save "
          "returns durable). Cold = after posix_fadvise(POSIX_FADV_DONTNEED) "
          "on the file (not a whole-cache drop). varstore uses all cores by "
          "default (2 here); every peer is single-threaded (torch with 1 "
          "thread), so the 1-thread varstore row is shown too."]
    npath = os.path.join(out_dir, "notes.txt")
    if os.path.exists(npath):
        with open(npath) as f:
            notes = [line.rstrip("\n") for line in f if line.strip()]
        if notes:
            L += ["", "Notes from the run:", ""] + ["- " + n for n in notes]
    results = []
    for v in variants.split(","):
        L += variant_section(out_dir, data_dir, v, results)
    L += conv_section(out_dir, results)
    n_pass = sum(1 for r in results if r[0] == "PASS")
    n_miss = sum(1 for r in results if r[0] == "MISS")
    n_na = sum(1 for r in results if r[0] == "n/a")
    L += ["", "## Target summary", "",
          "%d PASS, %d MISS, %d not measured." % (n_pass, n_miss, n_na)]
    for status, what, shown, goal in results:
        if status != "PASS":
            L.append("- %s: %s: %s (goal %s)" % (status, what, shown, goal))
    for name, title in (("lookup_bench.txt", "get_variable reuse lookups "
                         "(bench/lookup_bench)"),
                        ("conv_bench.txt", "conv2d (bench/conv_bench)")):
        p = os.path.join(out_dir, name)
        if os.path.exists(p):
            with open(p) as f:
                body = f.read().rstrip("\n")
            L += ["", "## " + title, "", "```", body, "```"]
    text = "\n".join(L) + "\n"
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
