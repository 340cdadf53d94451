#!/bin/sh
# `make bench`: the checkpoint benchmark against NumPy, h5py and PyTorch on
# the ResNet-18 reference model, plus the conv2d and lookup benchmarks when
# they are built. See bench/README.md. Writes bench/out/report.md.
#
# Environment: BENCH_RUNS (default 7, at least 5 for quoted numbers),
# BENCH_VARIANTS (default a,b), BENCH_NO_INSTALL=1 to install nothing into
# the venv, VS_PYTHON for another interpreter, BENCH_RSS_MB (default 2048;
# 0 skips) for the size of the model whose `varstore save` peak memory is
# measured.
# Exit status: non-zero on any real error (a build failure, a failed save or
# restore, a restore that is not bit-exact, a crashed benchmark program).
set -eu

cd "$(dirname "$0")/.."
PY=${VS_PYTHON:-$(pwd)/.venv/bin/python} # the project's venv
RUNS=${BENCH_RUNS:-7}
VARIANTS=${BENCH_VARIANTS:-a,b}
OUT=bench/out
DATA=bench/data
WORK=$OUT/work
BUILD=build-rel
STATUS=0
START=$(date +%s)

say() { echo "bench: $*"; }
note() { echo "$*" >>"$OUT/notes.txt"; echo "bench: $*"; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

mkdir -p "$OUT"
rm -rf "$WORK"
rm -f "$OUT"/*.json "$OUT"/*.txt "$OUT/report.md" "$OUT/rss_bench.md"
mkdir -p "$WORK"
: >"$OUT/notes.txt"

# ---- 1. The peers, in the project's venv (scripts/venv.sh) ---------------
if [ -z "${BENCH_NO_INSTALL:-}" ]; then
    sh scripts/venv.sh test torch bench ||
        note "the venv is incomplete (see above): peers that are missing are skipped"
fi
[ -x "$PY" ] || die "$PY not found (run: sh scripts/venv.sh test torch bench)"
"$PY" -c "import numpy" >/dev/null 2>&1 || die "numpy is required (scripts/requirements-test.txt)"
"$PY" -c "import h5py" >/dev/null 2>&1 || note "h5py unavailable: the four h5py peers are skipped"
"$PY" -c "import torch" >/dev/null 2>&1 || note "torch unavailable: the torch.save/torch.load peer is skipped, and variant b uses make_model.py's numpy approximation"

# ---- 2. Release build ------------------------------------------------------
say "building a Release tree in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVS_PYTHON="$PY" >"$OUT/build.log" 2>&1 ||
    { tail -n 30 "$OUT/build.log" >&2; die "cmake configure failed (see $OUT/build.log)"; }
cmake --build "$BUILD" -j2 >>"$OUT/build.log" 2>&1 ||
    { tail -n 30 "$OUT/build.log" >&2; die "cmake build failed (see $OUT/build.log)"; }
CKPT=./$BUILD/bench/ckpt_bench
CLI=./$BUILD/tools/varstore
[ -x "$CKPT" ] || die "$CKPT was not built"
if [ ! -x "$CLI" ]; then
    note "the varstore CLI ($CLI) was not built: its end-to-end rows are missing"
    CLI=
fi

# ---- 3. the reference model ------------------------------------------------
"$PY" bench/make_model.py --out "$DATA" --variants "$VARIANTS" || die "make_model.py failed"

# ---- the machine -----------------------------------------------------------
{
    echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $RUNS runs per figure."
    echo ""
    echo "| machine | |"
    echo "|---|---|"
    echo "| CPU | $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(nproc) CPUs |"
    echo "| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) |"
    echo "| kernel | $(uname -r) |"
    echo "| disk | $(df -T "$OUT" | awk 'NR == 2 {print $2}') ($(df "$OUT" | awk 'NR == 2 {print $1}')) |"
    echo "| compiler | $(cc --version | head -n 1) (CMAKE_BUILD_TYPE=Release) |"
    echo "| software | $("$PY" -c 'import sys, sqlite3, numpy
v = ["Python " + sys.version.split()[0], "SQLite " + sqlite3.sqlite_version, "numpy " + numpy.__version__]
for m in ("h5py", "torch"):
    try:
        v.append(m + " " + __import__(m).__version__)
    except ImportError:
        pass
print(", ".join(v))') |"
    echo "| source | $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes') |"
    echo "| load average at start | $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure) |"
    echo "| OPENBLAS_* | ${OPENBLAS_CORETYPE:+CORETYPE=$OPENBLAS_CORETYPE }${OPENBLAS_L2_SIZE:+L2_SIZE=$OPENBLAS_L2_SIZE} (left as found) |"
} >"$OUT/machine.txt"

# ---- 4-5. varstore and the peers, per variant ------------------------------
for v in $(echo "$VARIANTS" | tr ',' ' '); do
    say "variant $v: varstore through the library ($RUNS runs)"
    "$CKPT" "$DATA/$v" "$WORK" "$RUNS" >"$OUT/ckpt_$v.json" || die "ckpt_bench failed on variant $v"
    say "variant $v: peers in-process ($RUNS runs)"
    "$PY" bench/peers.py lib --data "$DATA" --variant "$v" --work "$WORK" \
        --runs "$RUNS" --out "$OUT/peers_lib_$v.json" || die "peers.py lib failed on variant $v"
    say "variant $v: end to end, CLI and peers doing its job ($RUNS runs)"
    rc=0
    "$PY" bench/peers.py e2e --data "$DATA" --variant "$v" --work "$WORK" \
        --runs "$RUNS" --out "$OUT/peers_e2e_$v.json" ${CLI:+--cli "$CLI"} || rc=$?
    if [ $rc = 3 ]; then
        note "the varstore CLI failed on variant $v: its rows are missing (see the report)"
        STATUS=1
    elif [ $rc != 0 ]; then
        die "peers.py e2e failed on variant $v"
    fi
done

# ---- other parts' benchmarks, when built -----------------------------------
if [ -x "./$BUILD/bench/lookup_bench" ]; then
    say "running lookup_bench"
    if ! timeout 300 "./$BUILD/bench/lookup_bench" >"$OUT/lookup_bench.txt" 2>&1; then
        note "lookup_bench failed or timed out (output in the report)"
        STATUS=1
    fi
else
    note "lookup_bench not built: skipped"
fi
if [ -x "./$BUILD/bench/conv_bench" ]; then
    say "running conv_bench"
    if ! timeout 300 "./$BUILD/bench/conv_bench" >"$OUT/conv_bench.txt" 2>&1; then
        note "conv_bench failed or timed out (output in the report)"
        STATUS=1
    fi
else
    note "conv_bench not built: skipped"
fi
# its peer: torch.nn.functional.conv2d on the same cases
say "running torch_conv.py (torch.nn.functional.conv2d, the conv peer)"
rc=0
timeout 300 "$PY" bench/torch_conv.py --out "$OUT/torch_conv.json" \
    2>"$OUT/torch_conv.txt" || rc=$?
if [ $rc = 3 ]; then
    note "torch_conv.py skipped: $(tail -n 1 "$OUT/torch_conv.txt")"
elif [ $rc != 0 ]; then
    note "torch_conv.py failed or timed out ($(tail -n 1 "$OUT/torch_conv.txt"))"
    STATUS=1
fi

# ---- 6. Python: the binding against what a Python user would pick -------
# (bench/python_bench.py; its own report, appended to report.md below)
if [ -d "$BUILD/python/varstore" ] || ls "$BUILD"/python/varstore* >/dev/null 2>&1; then
    say "Python binding against torch, safetensors, h5py, np.savez"
    PYTHONPATH="$BUILD/python" timeout 900 "$PY" bench/python_bench.py \
        ${BENCH_PY_ARGS:-} >"$OUT/python_bench.md" 2>"$OUT/python_bench.err" ||
        { note "python_bench.py failed ($(tail -n 1 "$OUT/python_bench.err"))"; STATUS=1; }
else
    note "the Python module was not built in $BUILD: the Python part is skipped"
fi

# ---- 7. peak memory of `varstore save` on a large model (issue 16) --------
# (bench/rss_bench.py: writes the model under $WORK, deletes it after)
RSS_MB=${BENCH_RSS_MB:-2048}
if [ -n "$CLI" ] && [ "$RSS_MB" != 0 ]; then
    say "varstore save of a $RSS_MB MiB model: peak resident size"
    timeout 900 "$PY" bench/rss_bench.py --cli "$CLI" --work "$WORK" \
        --mb "$RSS_MB" >"$OUT/rss_bench.md" 2>"$OUT/rss_bench.err" ||
        { note "rss_bench.py failed ($(tail -n 1 "$OUT/rss_bench.err"))"; STATUS=1; }
fi

# ---- 8. the report ---------------------------------------------------------
{
    echo ""
    echo "Whole bench: $(( $(date +%s) - START )) s (build and model included); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} >>"$OUT/machine.txt"
"$PY" bench/report.py "$OUT" "$DATA" "$VARIANTS" || die "report.py failed"
if [ -s "$OUT/python_bench.md" ]; then
    { echo ""; echo "## Python (bench/python_bench.py)"; echo "";
      cat "$OUT/python_bench.md"; } >>"$OUT/report.md"
fi
if [ -s "$OUT/rss_bench.md" ]; then
    { echo ""; echo "## Peak memory of varstore save (bench/rss_bench.py)";
      echo ""; cat "$OUT/rss_bench.md"; } >>"$OUT/report.md"
fi
rm -rf "$WORK"
say "report written to $OUT/report.md"
[ $STATUS = 0 ] || say "FAILED: see the notes at the top of the report"
exit $STATUS
