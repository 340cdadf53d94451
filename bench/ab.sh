#!/bin/sh
# `make bench-ab BASE=REV`: the CLI job of `make bench` (save and restore of
# the ResNet-18 .npy tree, whole processes) by revision REV's CLI and this
# tree's, turn by turn in the same run (bench/ab_cli.py). REV is anything
# `git archive` takes: a commit, a tag, a branch.
#
# Environment: BENCH_AB_RUNS (default 21), BENCH_VARIANTS (default b),
# VS_PYTHON for another interpreter. Writes bench/out/ab.md.
set -eu

cd "$(dirname "$0")/.."
BASE=${BASE:?usage: make bench-ab BASE=REV (a commit, tag or branch)}
PY=${VS_PYTHON:-$(pwd)/.venv/bin/python}
RUNS=${BENCH_AB_RUNS:-21}
VARIANTS=${BENCH_VARIANTS:-b}
OUT=bench/out
AB=build-ab
say() { echo "bench-ab: $*"; }
die() { echo "bench-ab: ERROR: $*" >&2; exit 1; }

[ -x "$PY" ] || die "$PY not found (run: sh scripts/venv.sh test)"
rev=$(git rev-parse --verify --quiet "$BASE^{commit}") || die "no commit '$BASE'"
mkdir -p "$OUT" "$AB"
rm -rf "$AB/src" "$AB/work"
mkdir -p "$AB/src" "$AB/work"

say "building $BASE ($rev) in $AB/build"
git archive "$rev" | tar -x -C "$AB/src" || die "git archive $BASE failed"
{ cmake -S "$AB/src" -B "$AB/build" -DCMAKE_BUILD_TYPE=Release &&
  cmake --build "$AB/build" -j2 --target varstore_cli; } >"$OUT/ab-build.log" 2>&1 ||
    { tail -n 30 "$OUT/ab-build.log" >&2; die "building $BASE failed (see $OUT/ab-build.log)"; }
say "building this tree in build-rel"
{ cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DVS_PYTHON="$PY" &&
  cmake --build build-rel -j2 --target varstore_cli; } >>"$OUT/ab-build.log" 2>&1 ||
    { tail -n 30 "$OUT/ab-build.log" >&2; die "building this tree failed (see $OUT/ab-build.log)"; }
"$PY" bench/make_model.py --out bench/data --variants "$VARIANTS" || die "make_model.py failed"

head=$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + uncommitted changes')
{
    echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'); base $BASE ($(git rev-parse --short "$rev")), head $head"
    for v in $(echo "$VARIANTS" | tr ',' ' '); do
        say "variant $v: $RUNS runs" >&2
        echo ""
        "$PY" bench/ab_cli.py --base "$AB/build/tools/varstore" \
            --head build-rel/tools/varstore --data bench/data --variant "$v" \
            --work "$AB/work" --runs "$RUNS" || die "ab_cli.py failed on variant $v"
    done
} >"$OUT/ab.md"
rm -rf "$AB/work"
cat "$OUT/ab.md"
