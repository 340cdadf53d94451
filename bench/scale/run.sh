#!/bin/sh
# `make bench-scale`: varstore against torch.save/torch.load and safetensors
# at 5 MB, 500 MB and 2 GB and on one tensor over 2 GiB (bench/README.md,
# "The scale bench"). Writes bench/out/scale.md.
#
#   sh bench/scale/run.sh [--quick] [--reps N] [--rows LIST] [--models LIST]
#                         [--hold-memory]
#
# Environment: BENCH_NO_INSTALL=1 installs nothing into the venv;
# VS_PYTHON picks another interpreter (default: the project's .venv);
# BENCH_SCALE_ARGS adds arguments (make bench-scale BENCH_SCALE_ARGS=--quick).
# Exit status: non-zero on any real error (a build failure, a crashed
# program, a failed save, a load that is not bit-exact).
set -eu

cd "$(dirname "$0")/../.."
PY=${VS_PYTHON:-$(pwd)/.venv/bin/python}
BUILD=build-rel
OUT=bench/out
say() { echo "bench-scale: $*"; }
die() { echo "bench-scale: ERROR: $*" >&2; exit 1; }
mkdir -p "$OUT"

if [ -z "${BENCH_NO_INSTALL:-}" ]; then
    sh scripts/venv.sh test torch bench-scale ||
        say "the venv is incomplete (see above): peers that are missing are skipped"
fi
[ -x "$PY" ] || die "$PY not found (run: sh scripts/venv.sh test torch bench-scale)"
"$PY" -c "import numpy" >/dev/null 2>&1 || die "numpy is required (scripts/requirements-test.txt)"

say "building a Release tree in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVS_PYTHON="$PY" >"$OUT/scale-build.log" 2>&1 ||
    { tail -n 30 "$OUT/scale-build.log" >&2; die "cmake configure failed (see $OUT/scale-build.log)"; }
cmake --build "$BUILD" -j2 >>"$OUT/scale-build.log" 2>&1 ||
    { tail -n 30 "$OUT/scale-build.log" >&2; die "cmake build failed (see $OUT/scale-build.log)"; }
for p in scale_save scale_load scale_reader; do
    [ -x "$BUILD/bench/scale/$p" ] || die "$BUILD/bench/scale/$p was not built"
done

# shellcheck disable=SC2086
exec "$PY" bench/scale/scale.py --build "$BUILD" --python "$PY" ${BENCH_SCALE_ARGS:-} "$@"
